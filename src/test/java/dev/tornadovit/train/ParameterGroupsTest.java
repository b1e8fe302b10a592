package dev.tornadovit.train;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.model.AttentionConfig;
import dev.tornadovit.model.Parameter;
import dev.tornadovit.model.Pooling;
import dev.tornadovit.model.PositionEmbedding;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ParameterGroupsTest {
    static final ViTConfig CONFIG = new ViTConfig(8, 8, 1, 4, 3, 8, 3, 2, 16, Pooling.CLS, PositionEmbedding.LEARNED, AttentionConfig.softmax(), 0);

    @Test
    void layerDecayFollowsTimmsLayerIds() {
        try (CpuBackend be = new CpuBackend()) {
            VisionTransformer model = new VisionTransformer(CONFIG, be, 1);
            ParameterGroups g = new ParameterGroups(0.5, false);
            Map<String, Double> scale = new HashMap<>();
            for (Parameter p : model.parameters()) scale.put(p.name(), g.lrScale(p, 3));
            assertEquals(1.0, scale.get("head.weight"));
            assertEquals(1.0, scale.get("norm.bias"));
            assertEquals(0.5, scale.get("blocks.2.mlp.fc1.weight"));   // decay^(depth - i), i = 2
            assertEquals(0.125, scale.get("blocks.0.attn.qkv.bias"));   // i = 0
            assertEquals(0.0625, scale.get("pos_embed"));              // decay^(depth + 1)
            assertEquals(0.0625, scale.get("patch_embed.proj.weight"));
            assertEquals(0.0625, scale.get("cls_token"));
        }
    }

    @Test
    void aLinearProbeTrainsTheHeadOnlyAndTheOptimiserHoldsNothingElse() {
        try (CpuBackend be = new CpuBackend()) {
            VisionTransformer model = new VisionTransformer(CONFIG, be, 1);
            ParameterGroups probe = new ParameterGroups(1, true);
            AdamW adamW = new AdamW(be, model.parameters(), AdamW.Settings.defaults(), p -> probe.lrScale(p, 3));
            assertEquals(2, adamW.parameters().size());
            assertEquals("head.weight", adamW.parameters().get(0).name());
        }
        assertThrows(IllegalArgumentException.class, () -> new ParameterGroups(0, false));
        assertThrows(IllegalArgumentException.class, () -> new ParameterGroups(1.5, false));
    }

    @Test
    void aScaledGroupStepsByItsShareOfTheLearningRate() {
        try (CpuBackend be = new CpuBackend()) {
            float[][] after = new float[2][];
            for (int run = 0; run < 2; run++) {
                VisionTransformer model = new VisionTransformer(CONFIG, be, 1);
                double lrScale = run == 0 ? 1 : 0.25;
                AdamW adamW = new AdamW(be, model.parameters(), new AdamW.Settings(0.9, 0.999, 1e-8, 0, 0),
                        p -> p.name().equals("head.bias") ? lrScale : 1);
                Parameter bias = model.parameters().stream().filter(p -> p.name().equals("head.bias")).findFirst().orElseThrow();
                be.upload(bias.grad(), new float[]{1, -2, 3});
                adamW.step(0.1);
                after[run] = be.downloadFloat(bias.value());
            }
            // Adam's first step moves each weight by lr · sign(gradient): 0.1, and 0.025 at a quarter of the rate.
            assertEquals(-0.1, after[0][0], 1e-6);
            assertEquals(0.1, after[0][1], 1e-6);
            assertEquals(-0.025, after[1][0], 1e-6);
            assertEquals(-0.025, after[1][2], 1e-6);
        }
    }
}
