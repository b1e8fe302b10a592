package dev.tornadovit.model;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

/** Where the tokens' positions come from: learned (timm's pos_embed) or fixed 2-D sin-cos (big_vision's). */
public enum PositionEmbedding {
    LEARNED("learned"), SINCOS2D("sincos2d");

    private final String configName;

    PositionEmbedding(String configName) {
        this.configName = configName;
    }

    /** The name in config files and on the command line. */
    @JsonValue
    public String configName() {
        return configName;
    }

    /** @throws ConfigException naming {@code field} for any other name */
    public static PositionEmbedding parse(String field, String name) {
        for (PositionEmbedding p : values()) {
            if (p.configName.equalsIgnoreCase(name)) return p;
        }
        throw new ConfigException(field, "\"learned\" or \"sincos2d\"", name);
    }

    @JsonCreator
    static PositionEmbedding fromJson(String name) {
        return parse("pos_embed", name);
    }
}
