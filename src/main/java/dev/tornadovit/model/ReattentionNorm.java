package dev.tornadovit.model;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The norm after Re-attention's head mixing: none (no Re-attention), BatchNorm over each head's maps with running
 * statistics (DeepViT's official code), or LayerNorm over the head axis at each (query, key) (per sample).
 */
public enum ReattentionNorm {
    NONE, BATCHNORM, LAYERNORM;

    /** The name in config files and on the command line. */
    @JsonValue
    public String configName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** "none, batchnorm, layernorm", for messages and help texts. */
    public static String names() {
        return Arrays.stream(values()).map(ReattentionNorm::configName).collect(Collectors.joining(", "));
    }

    /** @throws ConfigException naming {@code field} when {@code name} is none of {@link #names()} */
    public static ReattentionNorm parse(String field, String name) {
        for (ReattentionNorm n : values()) {
            if (n.configName().equalsIgnoreCase(name)) return n;
        }
        throw new ConfigException(field, "one of " + names(), name);
    }

    @JsonCreator
    static ReattentionNorm fromJson(String name) {
        return parse("attention.reattention", name);
    }
}
