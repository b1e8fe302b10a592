package dev.tornadovit.model;

import dev.tornadovit.tornado.TornadoBackend;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The core's PyTorch check ({@link TorchEquivalenceTest}: logits, loss, attention maps, every gradient, parameters
 * and BatchNorm statistics after three clipped AdamW steps, eval logits) on the TornadoVM device, to the same 1e-4 as
 * the float32 CPU backend. Fixtures come from the core's src/test/resources/fixtures.
 */
@Timeout(value = 1200, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class TornadoTorchEquivalenceTest {

    static List<String> fixtures() {
        return TorchFixture.names();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void matchesPyTorch(String fixture) {
        String device = System.getProperty("tornadovit.test.device", "tornado");
        new TorchEquivalenceTest().matchesPyTorch(
                new TorchEquivalenceTest.BackendCase("tornado", () -> new TornadoBackend(device), 1e-4, 0), fixture);
    }
}
