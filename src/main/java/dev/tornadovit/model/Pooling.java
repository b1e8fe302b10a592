package dev.tornadovit.model;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import dev.tornadovit.tensor.PoolMode;

/** How the model turns its tokens into the one vector the head classifies. */
public enum Pooling {
    /** The class token, after the final LayerNorm (timm's global_pool "token"). */
    CLS("cls", PoolMode.CLS, false),
    /** The final LayerNorm on every token, then their average (big_vision's "gap"). */
    GAP("gap", PoolMode.MEAN, false),
    /**
     * The average of the tokens, then a LayerNorm on it: timm's global_pool "avg" with fc_norm, whose parameters are
     * named fc_norm.* instead of norm.*.
     */
    GAP_FC_NORM("gap_fc_norm", PoolMode.MEAN, true);

    private final String configName;
    private final PoolMode mode;
    private final boolean fcNorm;

    Pooling(String configName, PoolMode mode, boolean fcNorm) {
        this.configName = configName;
        this.mode = mode;
        this.fcNorm = fcNorm;
    }

    /** The name in config files and on the command line. */
    @JsonValue
    public String configName() {
        return configName;
    }

    /** What the backend's pool operation takes: the class token or the mean. */
    public PoolMode mode() {
        return mode;
    }

    /** Whether the final LayerNorm normalises the pooled vector rather than every token. */
    public boolean normalisesPooled() {
        return fcNorm;
    }

    /** @throws ConfigException naming {@code field} for any other name */
    public static Pooling parse(String field, String name) {
        for (Pooling p : values()) {
            if (p.configName.equalsIgnoreCase(name)) return p;
        }
        throw new ConfigException(field, "\"cls\", \"gap\" or \"gap_fc_norm\"", name);
    }

    @JsonCreator
    static Pooling fromJson(String name) {
        return parse("pool", name);
    }
}
