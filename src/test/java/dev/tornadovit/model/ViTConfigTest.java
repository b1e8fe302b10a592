package dev.tornadovit.model;

import dev.tornadovit.tensor.PointwiseActivation;
import dev.tornadovit.tensor.PoolMode;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The typed config: built by name, written and read as the same JSON that config.json and checkpoints hold. */
class ViTConfigTest {
    private static final String JSON = """
            {
              "image_height" : 8,
              "image_width" : 8,
              "channels" : 3,
              "patch_size" : 4,
              "num_classes" : 5,
              "width" : 12,
              "depth" : 3,
              "heads" : 3,
              "mlp_dim" : 24,
              "pool" : "gap",
              "pos_embed" : "sincos2d",
              "attention" : {
                "weights" : "pointwise",
                "activation" : "relu2",
                "alpha" : 0.5,
                "qk_norm" : true,
                "gate" : false,
                "reattention" : "layernorm",
                "reattention_blocks" : "last:2"
              },
              "label_smoothing" : 0.1
            }""";

    private static ViTConfig built() {
        return ViTConfig.builder().image(8, 8, 3).patchSize(4).numClasses(5).size(12, 3, 3, 24)
                .pool(Pooling.GAP).positionEmbedding(PositionEmbedding.SINCOS2D)
                .attention(AttentionConfig.pointwise(PointwiseActivation.RELU2, 0.5).withQkNorm(true)
                        .withReattention(ReattentionNorm.LAYERNORM, new ReattentionBlocks.Last(2)))
                .labelSmoothing(0.1).build();
    }

    @Test
    void writesTheConfigNamesOfEveryValue() {
        assertEquals(JSON.replace("\r\n", "\n"), built().toJson().replace("\r\n", "\n"));
    }

    @Test
    void readsWhatItWrites() {
        ViTConfig read = ViTConfig.fromJson(JSON, "test.json");
        assertEquals(built(), read);
        assertEquals(new ReattentionBlocks.Last(2), read.attention().reattentionBlocks());
        assertFalse(read.hasClsToken());
    }

    @Test
    void softmaxKeepsItsUnusedActivationFieldsSoThatFilesStayTheSame() {
        String json = ViTConfig.builder().image(8, 8, 1).patchSize(4).numClasses(2).size(8, 1, 2, 16).build().toJson();
        assertTrue(json.contains("\"weights\" : \"softmax\"") && json.contains("\"activation\" : \"relu\"")
                && json.contains("\"pool\" : \"cls\"") && json.contains("\"reattention_blocks\" : \"all\""), json);
    }

    @Test
    void anUnknownValueIsRefusedNamingTheFieldAndTheChoices() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> ViTConfig.fromJson(JSON.replace("\"layernorm\"", "\"groupnorm\""), "m.json"));
        assertTrue(e.getMessage().startsWith("m.json: ") && e.getMessage().contains("attention.reattention")
                && e.getMessage().contains("batchnorm, layernorm") && e.getMessage().contains("groupnorm"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> ViTConfig.fromJson(JSON.replace("last:2", "first:2"), "m.json"));
        assertTrue(e.getMessage().contains("attention.reattention_blocks") && e.getMessage().contains("last:K"),
                e.getMessage());
        e = assertThrows(ConfigException.class, () -> ViTConfig.fromJson(JSON.replace("\"relu2\"", "\"tanh\""), "m.json"));
        assertTrue(e.getMessage().contains("relu6") && e.getMessage().contains("tanh"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> ViTConfig.fromJson(JSON.replace("\"gap\"", "\"max\""), "m.json"));
        assertTrue(e.getMessage().contains("\"gap_fc_norm\"") && e.getMessage().contains("max"), e.getMessage());
    }

    @Test
    void theBuilderValidates() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> ViTConfig.builder().image(28, 28, 1).patchSize(5).numClasses(10).size(64, 4, 4, 128).build());
        assertTrue(e.getMessage().contains("patch_size"), e.getMessage());
    }

    @Test
    void theCommandLinesAttentionWordsParse() {
        assertTrue(AttentionConfig.parse("softmax", 0.3).isSoftmax());
        assertEquals(AttentionConfig.pointwise(PointwiseActivation.SIGMOID, 0.3), AttentionConfig.parse("Sigmoid", 0.3));
        ConfigException e = assertThrows(ConfigException.class, () -> AttentionConfig.parse("tanh", 1));
        assertTrue(e.getMessage().contains("attention.activation") && e.getMessage().contains("softmax or one of relu,"),
                e.getMessage());
        assertEquals(new ReattentionBlocks.Last(0), ReattentionBlocks.parse("--reattention-blocks", "last:0"));
        assertThrows(ConfigException.class, () -> ReattentionBlocks.parse("--reattention-blocks", "last:-1"));
        assertTrue(new ReattentionBlocks.Last(2).includes(2, 4) && !new ReattentionBlocks.Last(2).includes(1, 4));
    }
}
