package dev.tornadovit.tensor;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

/** How the token sequence becomes one feature vector: the cls token, or the mean of all tokens (gap). */
public enum PoolMode {
    CLS("cls"), MEAN("gap");

    private final String configName;

    PoolMode(String configName) {
        this.configName = configName;
    }

    /** The name in config files and on the command line: "cls" or "gap" (big_vision's and timm's word). */
    @JsonValue
    public String configName() {
        return configName;
    }

    /** @throws IllegalArgumentException naming the expected values for any other name */
    @JsonCreator
    public static PoolMode fromConfigName(String name) {
        for (PoolMode p : values()) {
            if (p.configName.equalsIgnoreCase(name)) return p;
        }
        throw new IllegalArgumentException("expected \"cls\" or \"gap\", found '" + name + "'");
    }
}
