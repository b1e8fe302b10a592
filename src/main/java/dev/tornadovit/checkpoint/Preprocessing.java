package dev.tornadovit.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tornadovit.data.Normalization;
import dev.tornadovit.io.Safetensors;
import dev.tornadovit.io.SafetensorsException;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * How images are prepared for a checkpoint's model: the normalisation, the class names, and how an image is brought
 * to the model's input size.
 *
 * @param cropFraction 0: the image is stretched to the input size (how TornadoViT trains); otherwise its shorter side
 *                     is resized to input size / cropFraction and the centre input-size square is cut out (timm's
 *                     {@code crop_pct}, Hugging Face's crop_size / shortest_edge)
 */
public record Preprocessing(Normalization normalization, List<String> classNames, double cropFraction) {

    public Preprocessing {
        if (!(cropFraction == 0 || cropFraction > 0 && cropFraction <= 1)) {
            throw new IllegalArgumentException("crop fraction must be 0 (stretch) or in (0, 1], got " + cropFraction);
        }
        classNames = List.copyOf(classNames);
    }

    public Preprocessing(Normalization normalization, List<String> classNames) {
        this(normalization, classNames, 0);
    }

    /** The class name of index {@code c}, or "class c" where the checkpoint names none. */
    public String className(int c) {
        return c < classNames.size() ? classNames.get(c) : "class " + c;
    }

    /** From a TornadoViT checkpoint's "preprocessing" metadata. */
    public static Preprocessing from(Safetensors.Contents contents, Path file) {
        String json = contents.metadata().get("preprocessing");
        if (json == null) return new Preprocessing(null, List.of());
        try {
            JsonNode n = new ObjectMapper().readTree(json);
            Normalization norm = null;
            if (n.has("mean")) {
                norm = Normalization.of(floats(n.get("mean")), floats(n.get("std")));
            }
            List<String> names = new ArrayList<>();
            if (n.has("class_names")) n.get("class_names").forEach(c -> names.add(c.asText()));
            double crop = n.has("crop_pct") ? n.get("crop_pct").asDouble() : 0;
            return new Preprocessing(norm, names, crop);
        } catch (Exception e) {
            throw new SafetensorsException(file + ": metadata 'preprocessing' is not valid (" + e.getMessage()
                    + "); expected {\"mean\": [...], \"std\": [...], \"class_names\": [...]}");
        }
    }

    static float[] floats(JsonNode array) {
        float[] f = new float[array.size()];
        for (int i = 0; i < f.length; i++) f[i] = (float) array.get(i).asDouble();
        return f;
    }
}
