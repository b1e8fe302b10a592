package dev.tornadovit.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tornadovit.data.Normalization;
import dev.tornadovit.io.Safetensors;
import dev.tornadovit.io.SafetensorsException;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/**
 * What the timm and Hugging Face readers share: tensors taken by name with their shapes checked, a record of which
 * were used (a tensor left over is one we cannot represent, and is refused by name), and the output map under
 * TornadoViT's names.
 */
final class LayoutReader {
    final Path file;
    final Map<String, Safetensors.Entry> in;
    final Map<String, Safetensors.Entry> out = new LinkedHashMap<>();
    private final Set<String> used = new LinkedHashSet<>();

    LayoutReader(Path file, Map<String, Safetensors.Entry> in) {
        this.file = file;
        this.in = in;
    }

    boolean has(String name) {
        return in.containsKey(name);
    }

    SafetensorsException refuse(String what) {
        return new SafetensorsException(file + ": " + what);
    }

    /** The tensor {@code name} with exactly {@code shape}, marked as used. */
    Safetensors.Entry take(String name, long... shape) {
        Safetensors.Entry e = in.get(name);
        if (e == null) throw refuse("tensor '" + name + "' is missing");
        if (!Arrays.equals(e.shape(), shape)) {
            throw refuse("tensor '" + name + "' has shape " + Arrays.toString(e.shape()) + ", expected "
                    + Arrays.toString(shape));
        }
        used.add(name);
        return e;
    }

    /** Copies {@code name} to {@code ours} after checking its shape. */
    void map(String name, String ours, long... shape) {
        Safetensors.Entry e = take(name, shape);
        out.put(ours, new Safetensors.Entry(ours, e.dtype(), e.shape(), e.data()));
    }

    void put(String ours, long[] shape, double[] values) {
        out.put(ours, Safetensors.Entry.of(ours, shape, values));
    }

    void ignore(String name) {
        used.add(name);
    }

    long[] shape(String name) {
        Safetensors.Entry e = in.get(name);
        if (e == null) throw refuse("tensor '" + name + "' is missing");
        return e.shape();
    }

    /** Refuses the first tensor no mapping used, naming it. */
    void requireAllUsed(String format) {
        for (String name : in.keySet()) {
            if (!used.contains(name)) {
                throw refuse("tensor '" + name + "' has no counterpart in TornadoViT's ViT; this " + format
                        + " model cannot be represented");
            }
        }
    }

    /** Blocks numbered 0..depth-1 under {@code prefix} (e.g. "blocks."), from the tensor names. */
    int depth(String prefix) {
        int depth = 0;
        for (String name : in.keySet()) {
            if (!name.startsWith(prefix)) continue;
            String rest = name.substring(prefix.length());
            int dot = rest.indexOf('.');
            try {
                depth = Math.max(depth, Integer.parseInt(rest.substring(0, dot < 0 ? rest.length() : dot)) + 1);
            } catch (NumberFormatException e) {
                throw refuse("tensor '" + name + "' is not numbered like a block (" + prefix + "N.)");
            }
        }
        if (depth == 0) throw refuse("no transformer blocks ('" + prefix + "0.*' tensors)");
        return depth;
    }

    /** Per-channel mean and std from a config, or null where absent; refused when they do not fit the channels. */
    Normalization normalization(JsonNode mean, JsonNode std, int channels, String field) {
        if (mean == null || std == null || !mean.isArray() || !std.isArray()) return null;
        if (mean.size() != channels || std.size() != channels) {
            throw refuse(field + ": mean and std have " + mean.size() + " and " + std.size()
                    + " values, expected one per channel (" + channels + ")");
        }
        try {
            return Normalization.of(Preprocessing.floats(mean), Preprocessing.floats(std));
        } catch (IllegalArgumentException e) {
            throw refuse(field + ": " + e.getMessage());
        }
    }

    static long[] shape(long... s) {
        return s;
    }
}
