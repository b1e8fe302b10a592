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
 * timm's VisionTransformer state dict (TornadoViT's parameter names are timm's), with the hub folder's config.json
 * when there is one ({@code architecture}, {@code model_args}, {@code global_pool}, {@code pretrained_cfg},
 * {@code label_names}). The architecture is inferred from the tensors' names and shapes; the config supplies what
 * shapes cannot tell (the number of heads, the pooling, the preprocessing).
 */
final class TimmLayout {
    /** timm's ViT sizes by name, for the heads when neither model_args nor qk-norm tell them. */
    private static final Map<String, Integer> HEADS_BY_SIZE = Map.of("tiny", 3, "small", 6, "medium", 8, "base", 12,
            "large", 16, "huge", 16, "giant", 16, "gigantic", 16);
    private static final Map<Long, Integer> HEADS_BY_WIDTH = Map.of(192L, 3, 384L, 6, 768L, 12, 1024L, 16, 1280L, 16);
    /** Parts of timm ViTs that TornadoViT's ViT lacks, by a tensor-name fragment. */
    private static final String[][] UNSUPPORTED = {
            {"reg_token", "register tokens"},
            {"dist_token", "a distillation token"},
            {"head_dist.", "a distillation head"},
            {".ls1.", "layer scale (ls1/ls2)"},
            {".ls2.", "layer scale (ls1/ls2)"},
            {"norm_pre.", "a LayerNorm before the blocks (norm_pre)"},
            {"attn_pool.", "attention pooling (attn_pool)"},
            {"patch_embed.norm.", "a LayerNorm in the patch embedding"},
            {".attn.norm.", "a LayerNorm inside attention (scale_attn_norm)"},
            {".mlp.norm.", "a LayerNorm inside the MLP (scale_mlp_norm)"},
            {".mlp.fc1_g.", "a gated MLP (SwiGLU)"},
    };

    private TimmLayout() {
    }

    static PretrainedModel read(Path file, Map<String, Safetensors.Entry> tensors, JsonNode config) {
        LayoutReader r = new LayoutReader(file, tensors);
        for (String name : tensors.keySet()) {
            for (String[] u : UNSUPPORTED) {
                if (name.contains(u[0])) {
                    throw r.refuse("tensor '" + name + "': " + u[1] + " cannot be represented by TornadoViT's ViT");
                }
            }
        }
        JsonNode args = config == null ? null : config.path("model_args");
        long[] patchShape = r.shape("patch_embed.proj.weight");
        if (patchShape.length != 4 || patchShape[2] != patchShape[3]) {
            throw r.refuse("tensor 'patch_embed.proj.weight' has shape " + java.util.Arrays.toString(patchShape)
                    + ", expected [width, channels, p, p] (square patches)");
        }
        long d = patchShape[0], channels = patchShape[1], p = patchShape[2];
        int depth = r.depth("blocks.");
        long mlp = r.shape("blocks.0.mlp.fc1.weight")[0];
        boolean cls = r.has("cls_token");
        boolean qkNorm = r.has("blocks.0.attn.q_norm.weight");
        String act = text(args, "act_layer");
        if (act != null && !act.startsWith("gelu")) {
            throw r.refuse("config.json model_args.act_layer is '" + act + "'; TornadoViT's MLP uses exact GELU");
        }

        String globalPool = text(config, "global_pool");
        if (globalPool == null) globalPool = text(args, "global_pool");
        if (globalPool == null) globalPool = cls ? "token" : "avg";
        boolean fcNorm = r.has("fc_norm.weight");
        Pooling pool = switch (globalPool) {
            case "token" -> {
                if (!cls) throw r.refuse("config.json global_pool is 'token' but there is no 'cls_token' tensor");
                if (fcNorm) throw r.refuse("tensor 'fc_norm.weight': fc_norm after the class token is not supported");
                yield Pooling.CLS;
            }
            case "avg" -> {
                if (cls) {
                    throw r.refuse("config.json global_pool is 'avg' with a 'cls_token': timm's average leaves the class "
                            + "token out, which TornadoViT's gap pooling does not; expected 'token' pooling with a class token");
                }
                yield fcNorm ? Pooling.GAP_FC_NORM : Pooling.GAP;
            }
            default -> throw r.refuse("config.json global_pool is '" + globalPool + "'; expected 'token' or 'avg'");
        };

        long[] posShape = r.shape("pos_embed");
        long posTokens = posShape.length == 3 ? posShape[1] : -1;
        if (posShape.length != 3 || posShape[0] != 1 || posShape[2] != d) {
            throw r.refuse("tensor 'pos_embed' has shape " + java.util.Arrays.toString(posShape) + ", expected [1, tokens, " + d + "]");
        }
        boolean noEmbedClass = cls && (args != null && args.path("no_embed_class").asBoolean(false)
                || args == null && isSquare(posTokens) && !isSquare(posTokens - 1));
        long patches = posTokens - (cls && !noEmbedClass ? 1 : 0);
        int[] grid = grid(r, args, config, patches, (int) p);

        int heads = heads(r, args, config, d);
        AttentionConfig attention = AttentionConfig.softmax().withQkNorm(qkNorm);
        int numClasses = r.has("head.weight") ? (int) r.shape("head.weight")[0] : 0;
        ViTConfig vit;
        try {
            vit = new ViTConfig(grid[0] * (int) p, grid[1] * (int) p, (int) channels, (int) p, Math.max(numClasses, 2),
                    (int) d, depth, heads, (int) mlp, pool, PositionEmbedding.LEARNED, attention, 0).validated();
        } catch (ConfigException e) {
            throw r.refuse("the inferred model is not valid: " + e.getMessage());
        }

        long hd = d / heads;
        if (cls) r.map("cls_token", "cls_token", 1, 1, d);
        if (noEmbedClass) {
            // The class token gets no position embedding: a zero row in front is the same model.
            double[] patchPos = r.take("pos_embed", 1, patches, d).values();
            double[] withCls = new double[(int) ((patches + 1) * d)];
            System.arraycopy(patchPos, 0, withCls, (int) d, patchPos.length);
            r.put("pos_embed", LayoutReader.shape(1, patches + 1, d), withCls);
        } else {
            r.map("pos_embed", "pos_embed", 1, posTokens, d);
        }
        r.map("patch_embed.proj.weight", "patch_embed.proj.weight", d, channels, p, p);
        r.map("patch_embed.proj.bias", "patch_embed.proj.bias", d);
        for (int i = 0; i < depth; i++) {
            String b = "blocks." + i + ".";
            for (String norm : new String[]{"norm1", "norm2"}) {
                r.map(b + norm + ".weight", b + norm + ".weight", d);
                r.map(b + norm + ".bias", b + norm + ".bias", d);
            }
            r.map(b + "attn.qkv.weight", b + "attn.qkv.weight", 3 * d, d);
            // timm's qkv_bias=False: a zero bias is the same model
            if (r.has(b + "attn.qkv.bias")) r.map(b + "attn.qkv.bias", b + "attn.qkv.bias", 3 * d);
            else r.put(b + "attn.qkv.bias", LayoutReader.shape(3 * d), new double[(int) (3 * d)]);
            if (qkNorm) {
                for (String n : new String[]{"q_norm", "k_norm"}) {
                    r.map(b + "attn." + n + ".weight", b + "attn." + n + ".weight", hd);
                    r.map(b + "attn." + n + ".bias", b + "attn." + n + ".bias", hd);
                }
            }
            r.map(b + "attn.proj.weight", b + "attn.proj.weight", d, d);
            r.map(b + "attn.proj.bias", b + "attn.proj.bias", d);
            r.map(b + "mlp.fc1.weight", b + "mlp.fc1.weight", mlp, d);
            r.map(b + "mlp.fc1.bias", b + "mlp.fc1.bias", mlp);
            r.map(b + "mlp.fc2.weight", b + "mlp.fc2.weight", d, mlp);
            r.map(b + "mlp.fc2.bias", b + "mlp.fc2.bias", d);
        }
        String norm = fcNorm ? "fc_norm" : "norm";
        r.map(norm + ".weight", norm + ".weight", d);
        r.map(norm + ".bias", norm + ".bias", d);
        if (numClasses > 0) {
            r.map("head.weight", "head.weight", numClasses, d);
            r.map("head.bias", "head.bias", numClasses);
        }
        r.requireAllUsed("timm");
        return new PretrainedModel(file, "timm", vit, numClasses > 0, r.out, preprocessing(r, config, (int) channels));
    }

    private static boolean isSquare(long n) {
        long s = Math.round(Math.sqrt(n));
        return n > 0 && s * s == n;
    }

    /** The patch grid: from model_args.img_size or pretrained_cfg.input_size when given, else a square. */
    private static int[] grid(LayoutReader r, JsonNode args, JsonNode config, long patches, int p) {
        int h = -1, w = -1;
        JsonNode size = args == null ? null : args.get("img_size");
        if (size != null && size.isInt()) h = w = size.asInt();
        else if (size != null && size.isArray() && size.size() == 2) {
            h = size.get(0).asInt();
            w = size.get(1).asInt();
        } else if (config != null && config.path("pretrained_cfg").path("input_size").size() == 3) {
            JsonNode in = config.path("pretrained_cfg").path("input_size");
            h = in.get(1).asInt();
            w = in.get(2).asInt();
        }
        if (h > 0 && (long) (h / p) * (w / p) == patches) return new int[]{h / p, w / p};
        if (!isSquare(patches)) {
            throw r.refuse("tensor 'pos_embed' holds " + patches + " patch positions, not a square grid; "
                    + "a config.json with model_args.img_size is needed to tell the image size");
        }
        int side = (int) Math.round(Math.sqrt(patches));
        return new int[]{side, side};
    }

    private static int heads(LayoutReader r, JsonNode args, JsonNode config, long d) {
        if (args != null && args.path("num_heads").isInt()) return args.get("num_heads").asInt();
        if (r.has("blocks.0.attn.q_norm.weight")) return (int) (d / r.shape("blocks.0.attn.q_norm.weight")[0]);
        String arch = text(config, "architecture");
        if (arch != null) {
            for (var e : HEADS_BY_SIZE.entrySet()) if (arch.matches("(vit|deit)_" + e.getKey() + "_.*")) return e.getValue();
        }
        Integer byWidth = HEADS_BY_WIDTH.get(d);
        if (byWidth != null) return byWidth;
        throw r.refuse("cannot tell the number of attention heads of width " + d + " from the tensors; put timm's "
                + "config.json (with model_args.num_heads, or a known architecture such as vit_small_patch16_224) beside it");
    }

    private static Preprocessing preprocessing(LayoutReader r, JsonNode config, int channels) {
        if (config == null) return new Preprocessing(null, List.of());
        JsonNode pre = config.path("pretrained_cfg");
        Normalization norm = r.normalization(pre.get("mean"), pre.get("std"), channels, "config.json pretrained_cfg");
        double crop = pre.path("crop_pct").asDouble(0);
        if (crop < 0 || crop > 1) throw r.refuse("config.json pretrained_cfg.crop_pct is " + crop + ", expected a number in (0, 1]");
        List<String> names = new ArrayList<>();
        JsonNode labels = config.get("label_names");
        if (labels != null && labels.isArray()) labels.forEach(n -> names.add(n.asText()));
        else if (labels != null && labels.isObject()) {
            for (int i = 0; labels.has(Integer.toString(i)); i++) names.add(labels.get(Integer.toString(i)).asText());
        }
        return new Preprocessing(norm, names, crop);
    }

    static String text(JsonNode node, String field) {
        if (node == null) return null;
        JsonNode v = node.get(field);
        return v == null || v.isNull() ? null : v.asText();
    }
}
