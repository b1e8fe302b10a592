package dev.tornadovit.tornado;

import dev.tornadovit.checkpoint.PretrainedFixtures;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

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
        try (TornadoBackend dev = TestDevice.backend()) {
            PretrainedFixtures.assertLogitsMatchTheLibrary(DIR, fixture, dev);
        }
    }
}
