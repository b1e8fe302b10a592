package dev.tornadovit.tornado;

import dev.tornadovit.checkpoint.CheckpointFormats;
import dev.tornadovit.checkpoint.PretrainedModel;
import dev.tornadovit.io.Safetensors;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.tensor.Tensor;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Checkpoints written by timm and Hugging Face transformers (the core's fixtures, made by
 * scripts/make_pretrained_fixtures.py), run on the TornadoVM device: the logits must be those the library that wrote
 * the checkpoint computed, within 1e-4, as on the CPU backend.
 */
@Timeout(value = 900, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class PretrainedEquivalenceTest {
    /** Beside the PyTorch fixtures: src/test/resources/pretrained of the repository. */
    private static final Path DIR = Path.of(System.getProperty("tornadovit.fixtures", "../src/test/resources/fixtures"))
            .resolveSibling("pretrained");

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"timm_cls", "timm_gap_fc_norm", "timm_qk_norm", "hf_vit"})
    void logitsOnTheDeviceMatchTheLibraryThatWroteTheCheckpoint(String fixture) {
        Path expectedFile = DIR.resolve("expected.safetensors");
        Safetensors.Contents expected = Safetensors.read(expectedFile);
        Safetensors.Entry images = expected.require(fixture + ".images", expectedFile);
        double[] want = expected.require(fixture + ".logits", expectedFile).values();
        Path folder = DIR.resolve(fixture);
        PretrainedModel pretrained = CheckpointFormats.read(Files.isDirectory(folder) ? folder
                : DIR.resolve(fixture + ".safetensors"));
        try (TornadoBackend dev = TestDevice.backend()) {
            VisionTransformer model = pretrained.build(dev);
            float[] pixels = images.toFloats();
            Tensor in = dev.allocate(pixels.length);
            dev.upload(in, pixels);
            double[] got = dev.downloadDouble(model.forward(in, (int) images.shape()[0]));
            assertEquals(want.length, got.length);
            double worst = 0, scale = 0;
            for (int i = 0; i < want.length; i++) {
                worst = Math.max(worst, Math.abs(got[i] - want[i]));
                scale = Math.max(scale, Math.abs(want[i]));
            }
            assertTrue(scale > 0.1, "the logits are informative: " + scale);
            assertTrue(worst <= 1e-4, fixture + " on " + dev.name() + ": largest logit difference " + worst);
        }
    }
}
