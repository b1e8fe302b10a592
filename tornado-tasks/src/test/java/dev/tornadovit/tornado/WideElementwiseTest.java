package dev.tornadovit.tornado;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Write;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import static dev.tornadovit.tornado.Twin.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The wide elementwise kernels ({@code -Dtornadovit.wideElementwise=true}: copy, GELU and GELU's backward with four
 * elements a thread, a quarter of the tensor apart) against the CPU backend, at lengths that leave each of the four
 * quarters short by one to three elements, or empty.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 600, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class WideElementwiseTest {
    /** As OperationEquivalenceTest's elementwise tolerance: float32 on both sides, the device's own erf and exp. */
    private static final double TOL = 2e-5;

    private CpuBackend cpu;
    private TornadoBackend wide;

    @BeforeAll
    void open() {
        cpu = new CpuBackend(1);
        String before = System.getProperty(Elementwise.WIDE_PROPERTY);
        System.setProperty(Elementwise.WIDE_PROPERTY, "true");
        try {
            wide = TestDevice.backend();
        } finally {
            if (before == null) System.clearProperty(Elementwise.WIDE_PROPERTY);
            else System.setProperty(Elementwise.WIDE_PROPERTY, before);
        }
        assertTrue(wide.wideElementwise(), "the backend made with the property runs the wide kernels");
    }

    @AfterAll
    void close() {
        if (wide != null) wide.close();
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4, 5, 6, 7, 9, 1000, 4099, 65537})
    void copyGeluAndItsBackwardMatchTheCpu(int n) {
        SplittableRandom random = new SplittableRandom(n);
        Twin x = Twin.random(cpu, wide, n, random, 4.0), dy = Twin.random(cpu, wide, n, random, 1.0);
        Twin copied = Twin.random(cpu, wide, n, random, 1.0), y = Twin.random(cpu, wide, n, random, 1.0);
        Twin added = Twin.random(cpu, wide, n, random, 1.0), written = Twin.random(cpu, wide, n, random, 1.0);
        int[] before = {wide.kernelTasks("copyWide"), wide.kernelTasks("geluWide"), wide.kernelTasks("geluBackwardWide")};
        for (Backend be : new Backend[]{cpu, wide}) {
            be.record("wide elementwise " + n, () -> {
                be.copy(x.on(be), copied.on(be), n);
                be.gelu(x.on(be), y.on(be), n);
                be.geluBackward(x.on(be), dy.on(be), added.on(be), n, Write.ACCUMULATE);
                be.geluBackward(x.on(be), dy.on(be), written.on(be), n, Write.OVERWRITE);
            }).run();
        }
        assertEquals(1, wide.kernelTasks("copyWide") - before[0], "copy through its wide kernel");
        assertEquals(1, wide.kernelTasks("geluWide") - before[1], "GELU through its wide kernel");
        assertEquals(2, wide.kernelTasks("geluBackwardWide") - before[2], "GELU's backward through its wide kernel");
        assertClose("copy", copied, 0);
        assertClose("GELU", y, TOL);
        assertClose("GELU's backward, added", added, TOL);
        assertClose("GELU's backward, written", written, TOL);
    }
}
