package dev.tornadovit.checkpoint;

import dev.tornadovit.io.Safetensors;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Tensor;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The checkpoints timm and transformers wrote (scripts/make_pretrained_fixtures.py) and the logits they computed on
 * fixed images; shared with the TornadoVM backend's tests, which run the same check on a device.
 */
public final class PretrainedFixtures {
    private PretrainedFixtures() {
    }

    /** A fixture's hub folder, or its bare .safetensors file. */
    public static Path path(Path dir, String fixture) {
        Path folder = dir.resolve(fixture);
        return Files.isDirectory(folder) ? folder : dir.resolve(fixture + ".safetensors");
    }

    /** Builds {@code fixture} of {@code dir} on {@code be} and holds its logits within 1e-4 of the library's. */
    public static void assertLogitsMatchTheLibrary(Path dir, String fixture, Backend be) {
        Path expectedFile = dir.resolve("expected.safetensors");
        Safetensors.Contents expected = Safetensors.read(expectedFile);
        Safetensors.Entry images = expected.require(fixture + ".images", expectedFile);
        double[] want = expected.require(fixture + ".logits", expectedFile).values();
        VisionTransformer model = CheckpointFormats.read(path(dir, fixture)).build(be);
        float[] pixels = images.toFloats();
        Tensor in = be.allocate(pixels.length);
        be.upload(in, pixels);
        double[] got = be.downloadDouble(model.forward(in, (int) images.shape()[0]));
        assertEquals(want.length, got.length);
        double worst = 0, scale = 0;
        for (int i = 0; i < want.length; i++) {
            worst = Math.max(worst, Math.abs(got[i] - want[i]));
            scale = Math.max(scale, Math.abs(want[i]));
        }
        assertTrue(scale > 0.1, "the logits are informative: " + scale);
        assertTrue(worst <= 1e-4, fixture + " on " + be.name() + ": largest logit difference " + worst);
    }
}
