package dev.tornadovit.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tornadovit.data.Normalization;
import dev.tornadovit.io.Safetensors;
import dev.tornadovit.model.AttentionConfig;
import dev.tornadovit.model.ConfigException;
import dev.tornadovit.model.Pooling;
import dev.tornadovit.model.PositionEmbedding;
import dev.tornadovit.model.ViTConfig;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Hugging Face transformers' ViT ({@code ViTForImageClassification}, {@code ViTModel}) as saved by
 * {@code save_pretrained}: model.safetensors with config.json ({@code hidden_size}, {@code num_attention_heads},
 * {@code image_size}, {@code patch_size}, {@code hidden_act}, {@code id2label}) and, when present,
 * preprocessor_config.json (mean, std, resize and crop). Separate query/key/value projections become one qkv.
 * DeiT's distillation token is refused: TornadoViT's ViT has one prefix token, the class token.
 */
final class HuggingFaceLayout {
    private HuggingFaceLayout() {
    }

    /** Whether the tensors look like a transformers ViT/DeiT (with or without the "vit."/"deit." prefix). */
    static boolean matches(Map<String, Safetensors.Entry> tensors) {
        return tensors.keySet().stream().anyMatch(n -> n.endsWith("embeddings.patch_embeddings.projection.weight"));
    }

    static PretrainedModel read(Path file, Map<String, Safetensors.Entry> tensors, JsonNode config, JsonNode processor) {
        LayoutReader r = new LayoutReader(file, tensors);
        String patchName = tensors.keySet().stream()
                .filter(n -> n.endsWith("embeddings.patch_embeddings.projection.weight")).findFirst().orElseThrow();
        String m = patchName.substring(0, patchName.length() - "embeddings.patch_embeddings.projection.weight".length());
        if (r.has(m + "embeddings.distillation_token")) {
            throw r.refuse("tensor '" + m + "embeddings.distillation_token': DeiT's distillation token cannot be "
                    + "represented by TornadoViT's ViT (one class token, no second prefix token)");
        }
        if (config == null) {
            throw r.refuse("a transformers checkpoint needs its config.json beside it (num_attention_heads, image_size, "
                    + "hidden_act); none found");
        }
        String act = config.path("hidden_act").asText("gelu");
        if (!"gelu".equals(act)) {
            throw r.refuse("config.json hidden_act is '" + act + "'; TornadoViT's MLP uses exact GELU ('gelu')");
        }
        long[] patchShape = r.shape(patchName);
        if (patchShape.length != 4 || patchShape[2] != patchShape[3]) {
            throw r.refuse("tensor '" + patchName + "' has shape " + java.util.Arrays.toString(patchShape)
                    + ", expected [hidden_size, channels, p, p] (square patches)");
        }
        long d = patchShape[0], channels = patchShape[1], p = patchShape[2];
        if (!config.path("num_attention_heads").isInt()) {
            throw r.refuse("config.json has no num_attention_heads; expected the transformers ViT config");
        }
        int heads = config.get("num_attention_heads").asInt();
        boolean legacy = r.has(m + "encoder.layer.0.layernorm_before.weight");
        String layers = legacy ? m + "encoder.layer." : m + "layers.";
        int depth = r.depth(layers);
        String fc1 = legacy ? "intermediate.dense" : "mlp.fc1", fc2 = legacy ? "output.dense" : "mlp.fc2";
        long mlp = r.shape(layers + "0." + fc1 + ".weight")[0];
        long posTokens = r.shape(m + "embeddings.position_embeddings")[1];
        int[] hw = imageSize(config.get("image_size"));
        int gh, gw;
        if (hw != null && (long) (hw[0] / p) * (hw[1] / p) + 1 == posTokens) {
            gh = hw[0] / (int) p;
            gw = hw[1] / (int) p;
        } else {
            long side = Math.round(Math.sqrt(posTokens - 1));
            if (side * side != posTokens - 1) {
                throw r.refuse("tensor '" + m + "embeddings.position_embeddings' holds " + posTokens
                        + " positions, which fit neither config.json image_size nor a square grid and a class token");
            }
            gh = gw = (int) side;
        }
        int numClasses = r.has("classifier.weight") ? (int) r.shape("classifier.weight")[0] : 0;
        ViTConfig vit;
        try {
            vit = new ViTConfig(gh * (int) p, gw * (int) p, (int) channels, (int) p, Math.max(numClasses, 2), (int) d,
                    depth, heads, (int) mlp, Pooling.CLS, PositionEmbedding.LEARNED, AttentionConfig.softmax(), 0).validated();
        } catch (ConfigException e) {
            throw r.refuse("the inferred model is not valid: " + e.getMessage());
        }

        r.map(m + "embeddings.cls_token", "cls_token", 1, 1, d);
        r.map(m + "embeddings.position_embeddings", "pos_embed", 1, posTokens, d);
        r.map(patchName, "patch_embed.proj.weight", d, channels, p, p);
        r.map(m + "embeddings.patch_embeddings.projection.bias", "patch_embed.proj.bias", d);
        if (r.has(m + "embeddings.mask_token")) r.ignore(m + "embeddings.mask_token"); // masked image modelling only
        for (int i = 0; i < depth; i++) {
            String h = layers + i + ".", b = "blocks." + i + ".";
            String[] qkv = legacy
                    ? new String[]{"attention.attention.query", "attention.attention.key", "attention.attention.value"}
                    : new String[]{"attention.q_proj", "attention.k_proj", "attention.v_proj"};
            double[] w = new double[(int) (3 * d * d)], bias = new double[(int) (3 * d)];
            for (int k = 0; k < 3; k++) {
                System.arraycopy(r.take(h + qkv[k] + ".weight", d, d).values(), 0, w, (int) (k * d * d), (int) (d * d));
                // qkv_bias=False: a zero bias is the same model
                if (r.has(h + qkv[k] + ".bias")) {
                    System.arraycopy(r.take(h + qkv[k] + ".bias", d).values(), 0, bias, (int) (k * d), (int) d);
                }
            }
            r.put(b + "attn.qkv.weight", LayoutReader.shape(3 * d, d), w);
            r.put(b + "attn.qkv.bias", LayoutReader.shape(3 * d), bias);
            String out = legacy ? "attention.output.dense" : "attention.o_proj";
            r.map(h + out + ".weight", b + "attn.proj.weight", d, d);
            r.map(h + out + ".bias", b + "attn.proj.bias", d);
            r.map(h + "layernorm_before.weight", b + "norm1.weight", d);
            r.map(h + "layernorm_before.bias", b + "norm1.bias", d);
            r.map(h + "layernorm_after.weight", b + "norm2.weight", d);
            r.map(h + "layernorm_after.bias", b + "norm2.bias", d);
            r.map(h + fc1 + ".weight", b + "mlp.fc1.weight", mlp, d);
            r.map(h + fc1 + ".bias", b + "mlp.fc1.bias", mlp);
            r.map(h + fc2 + ".weight", b + "mlp.fc2.weight", d, mlp);
            r.map(h + fc2 + ".bias", b + "mlp.fc2.bias", d);
        }
        r.map(m + "layernorm.weight", "norm.weight", d);
        r.map(m + "layernorm.bias", "norm.bias", d);
        // ViTModel's pooler (dense + tanh on the class token) is not used by ViTForImageClassification either.
        for (String n : List.copyOf(tensors.keySet())) if (n.startsWith(m + "pooler.")) r.ignore(n);
        if (numClasses > 0) {
            r.map("classifier.weight", "head.weight", numClasses, d);
            r.map("classifier.bias", "head.bias", numClasses);
        }
        r.requireAllUsed("transformers");
        return new PretrainedModel(file, "transformers", vit, numClasses > 0, r.out,
                preprocessing(r, config, processor, (int) channels, numClasses));
    }

    private static int[] imageSize(JsonNode size) {
        if (size == null) return null;
        if (size.isInt()) return new int[]{size.asInt(), size.asInt()};
        if (size.isArray() && size.size() == 2) return new int[]{size.get(0).asInt(), size.get(1).asInt()};
        return null;
    }

    private static Preprocessing preprocessing(LayoutReader r, JsonNode config, JsonNode processor, int channels,
                                               int numClasses) {
        List<String> names = new ArrayList<>();
        JsonNode labels = config.get("id2label");
        if (labels != null && labels.isObject()) {
            for (int i = 0; i < numClasses && labels.has(Integer.toString(i)); i++) {
                names.add(labels.get(Integer.toString(i)).asText());
            }
        }
        if (processor == null) return new Preprocessing(null, names);
        Normalization norm = processor.path("do_normalize").asBoolean(true)
                ? r.normalization(processor.get("image_mean"), processor.get("image_std"), channels,
                "preprocessor_config.json image_mean/image_std")
                : null;
        double crop = 0;
        if (processor.path("do_center_crop").asBoolean(false)) {
            double cropSize = side(processor.get("crop_size")), resize = side(processor.get("size"));
            if (cropSize > 0 && resize > 0 && cropSize <= resize) crop = cropSize / resize;
        }
        return new Preprocessing(norm, names, crop);
    }

    /** A size entry's side: an int, {"shortest_edge": n} or {"height": h, ...}. */
    private static double side(JsonNode size) {
        if (size == null) return 0;
        if (size.isInt()) return size.asInt();
        if (size.has("shortest_edge")) return size.get("shortest_edge").asInt();
        return size.path("height").asInt(0);
    }
}
