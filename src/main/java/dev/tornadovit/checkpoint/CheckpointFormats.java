package dev.tornadovit.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tornadovit.io.Safetensors;
import dev.tornadovit.io.SafetensorsException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Reads a ViT checkpoint in any format TornadoViT knows, deciding by what the file holds: a TornadoViT checkpoint
 * (its "config" metadata), timm's layout ({@code patch_embed.proj.weight} …), or Hugging Face transformers' layout
 * ({@code vit.embeddings.patch_embeddings.projection.weight} …). {@code path} is a .safetensors file, or a hub
 * folder holding model.safetensors and config.json (and, for transformers, preprocessor_config.json).
 */
public final class CheckpointFormats {
    private static final ObjectMapper JSON = new ObjectMapper();

    private CheckpointFormats() {
    }

    public static PretrainedModel read(Path path) {
        Path weights = path;
        boolean folder = Files.isDirectory(path);
        if (folder) {
            weights = path.resolve("model.safetensors");
            if (!Files.isRegularFile(weights)) {
                throw new SafetensorsException(path + ": the folder has no model.safetensors; expected a .safetensors "
                        + "file or a timm / Hugging Face model folder (model.safetensors and config.json)");
            }
        } else if (!Files.isRegularFile(path)) {
            throw new SafetensorsException(path + ": no such file or folder");
        }
        Safetensors.Contents contents = Safetensors.read(weights);
        if (contents.metadata().containsKey("config")) {
            // The model's tensors only: a resumable checkpoint also holds the optimiser's moments.
            Map<String, Safetensors.Entry> model = new LinkedHashMap<>();
            contents.tensors().forEach((name, e) -> {
                if (!name.startsWith(Checkpoint.OPT_M) && !name.startsWith(Checkpoint.OPT_V)) model.put(name, e);
            });
            return new PretrainedModel(weights, "tornadovit", Checkpoint.readConfig(contents, weights), true, model,
                    Preprocessing.from(contents, weights));
        }
        // A config.json belongs to the weights in a hub folder (model.safetensors), not to any file beside it.
        Path dir = weights.toAbsolutePath().getParent();
        boolean hubFile = folder || "model.safetensors".equals(weights.getFileName().toString());
        JsonNode config = hubFile ? json(dir.resolve("config.json")) : null;
        if (HuggingFaceLayout.matches(contents.tensors())) {
            return HuggingFaceLayout.read(weights, contents.tensors(), config,
                    hubFile ? json(dir.resolve("preprocessor_config.json")) : null);
        }
        if (contents.tensors().containsKey("patch_embed.proj.weight")) {
            return TimmLayout.read(weights, contents.tensors(), config);
        }
        throw new SafetensorsException(weights + ": not a ViT checkpoint TornadoViT can read: it has no 'config' "
                + "metadata (TornadoViT), no 'patch_embed.proj.weight' tensor (timm) and no "
                + "'vit.embeddings.patch_embeddings.projection.weight' tensor (Hugging Face transformers)");
    }

    private static JsonNode json(Path file) {
        if (!Files.isRegularFile(file)) return null;
        try {
            JsonNode n = JSON.readTree(Files.readString(file));
            if (n == null || !n.isObject()) throw new SafetensorsException(file + ": expected a JSON object");
            return n;
        } catch (IOException e) {
            throw new SafetensorsException(file + ": not valid JSON (" + e.getMessage() + ")", e);
        }
    }
}
