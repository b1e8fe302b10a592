package dev.tornadovit.checkpoint;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.io.Safetensors;
import dev.tornadovit.io.SafetensorsException;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FineTuningTest {

    /** Grey images through the summed RGB patch weights equal the RGB model on the grey image copied to 3 channels. */
    @Test
    void anRgbCheckpointOnGreyImagesSeesWhatItWouldSeeInGreyRgb() {
        PretrainedModel timm = CheckpointFormats.read(PretrainedFormatsTest.DIR.resolve("timm_cls"));
        ViTConfig grey = FineTuning.config(timm, 32, 32, 1, timm.config().numClasses());
        try (CpuBackend be = new CpuBackend()) {
            VisionTransformer rgbModel = timm.build(be), greyModel = new VisionTransformer(grey, be, 3);
            FineTuning.Report report = FineTuning.initialise(greyModel, timm);
            assertEquals(List.of(), report.freshlyInitialised());
            Random random = new Random(1);
            float[] g = new float[2 * 32 * 32], rgb = new float[2 * 3 * 32 * 32];
            for (int i = 0; i < g.length; i++) g[i] = (float) random.nextGaussian();
            for (int b = 0; b < 2; b++) {
                for (int c = 0; c < 3; c++) System.arraycopy(g, b * 1024, rgb, (b * 3 + c) * 1024, 1024);
            }
            assertArrayEquals(CheckpointTest.logits(rgbModel, rgb, 2), CheckpointTest.logits(greyModel, g, 2), 1e-4f);
        }
    }

    /** timm loading the same checkpoint at 16 px (its checkpoint filter resamples the positions) computes what we do. */
    @Test
    void atAnotherImageSizeTheModelIsTimmsResampledModel() {
        PretrainedModel timm = CheckpointFormats.read(PretrainedFormatsTest.DIR.resolve("timm_cls"));
        Safetensors.Contents expected = Safetensors.read(PretrainedFormatsTest.EXPECTED);
        Path at = PretrainedFormatsTest.EXPECTED;
        try (CpuBackend be = new CpuBackend()) {
            VisionTransformer model = new VisionTransformer(FineTuning.config(timm, 16, 16, 3, 5), be, 3);
            FineTuning.Report report = FineTuning.initialise(model, timm);
            assertTrue(report.positionsResampled() && report.freshlyInitialised().isEmpty());
            float[] got = CheckpointTest.logits(model, expected.require("timm_cls_at_16px.images", at).toFloats(), 2);
            double[] want = expected.require("timm_cls_at_16px.logits", at).values();
            for (int i = 0; i < want.length; i++) assertEquals(want[i], got[i], 1e-4, "logit " + i);
        }
    }

    @Test
    void aNewClassCountGetsAFreshHeadAndAnotherGridResampledPositions() {
        PretrainedModel timm = CheckpointFormats.read(PretrainedFormatsTest.DIR.resolve("timm_cls"));
        ViTConfig config = FineTuning.config(timm, 48, 24, 3, 7);
        try (CpuBackend be = new CpuBackend()) {
            VisionTransformer model = new VisionTransformer(config, be, 3);
            FineTuning.Report report = FineTuning.initialise(model, timm);
            assertEquals(List.of("head.weight", "head.bias"), report.freshlyInitialised());
            assertTrue(report.positionsResampled());
            double[] cls = be.downloadDouble(model.parameters().stream().filter(p -> p.name().equals("pos_embed"))
                    .findFirst().orElseThrow().value());
            double[] stored = timm.tensors().get("pos_embed").values();
            for (int i = 0; i < 16; i++) assertEquals(stored[i], cls[i], 1e-7, "the class token's row is kept");
        }
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> FineTuning.config(timm, 30, 30, 3, 2));
        assertTrue(e.getMessage().contains("patch size 8 does not divide the image size 30x30"), e.getMessage());
        SafetensorsException two = assertThrows(SafetensorsException.class, () -> FineTuning.config(timm, 32, 32, 2, 2));
        assertTrue(two.getMessage().contains("takes 3-channel images, the data has 2"), two.getMessage());
    }
}
