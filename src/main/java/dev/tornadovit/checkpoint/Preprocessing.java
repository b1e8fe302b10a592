package dev.tornadovit.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tornadovit.data.Normalization;
import dev.tornadovit.io.Safetensors;
import dev.tornadovit.io.SafetensorsException;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The normalisation and class names a checkpoint was trained with (its "preprocessing" metadata). */
public record Preprocessing(Normalization normalization, List<String> classNames) {

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
            return new Preprocessing(norm, names);
        } catch (Exception e) {
            throw new SafetensorsException(file + ": metadata 'preprocessing' is not valid (" + e.getMessage()
                    + "); expected {\"mean\": [...], \"std\": [...], \"class_names\": [...]}");
        }
    }

    private static float[] floats(JsonNode array) {
        float[] f = new float[array.size()];
        for (int i = 0; i < f.length; i++) f[i] = (float) array.get(i).asDouble();
        return f;
    }
}
