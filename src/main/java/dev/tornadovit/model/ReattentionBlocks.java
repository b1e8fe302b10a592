package dev.tornadovit.model;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

/** Which blocks have Re-attention: all of them, or the last K (DeepViT-S and -L use it in their last blocks). */
public sealed interface ReattentionBlocks {
    All ALL = new All();

    /** Every block. */
    record All() implements ReattentionBlocks {
        @Override
        public boolean includes(int index, int depth) {
            return true;
        }

        @Override
        public String configName() {
            return "all";
        }
    }

    /** The last {@code count} blocks. */
    record Last(int count) implements ReattentionBlocks {
        public Last {
            if (count < 0) throw new ConfigException("attention.reattention_blocks", "last:K with K >= 0", "last:" + count);
        }

        @Override
        public boolean includes(int index, int depth) {
            return index >= depth - count;
        }

        @Override
        public String configName() {
            return "last:" + count;
        }
    }

    /** Whether block {@code index} (from 0) of a model {@code depth} blocks deep is included. */
    boolean includes(int index, int depth);

    /** "all" or "last:K", as in config files and on the command line. */
    @JsonValue
    String configName();

    /** Parses "all" or "last:K"; throws naming {@code field} otherwise. */
    static ReattentionBlocks parse(String field, String text) {
        if (text == null || text.equalsIgnoreCase("all")) return ALL;
        if (text.startsWith("last:")) {
            try {
                int k = Integer.parseInt(text.substring(5));
                if (k >= 0) return new Last(k);
            } catch (NumberFormatException ignored) {
                // reported below
            }
        }
        throw new ConfigException(field, "\"all\" or \"last:K\" with K >= 0", text);
    }

    @JsonCreator
    static ReattentionBlocks fromJson(String text) {
        return parse("attention.reattention_blocks", text);
    }
}
