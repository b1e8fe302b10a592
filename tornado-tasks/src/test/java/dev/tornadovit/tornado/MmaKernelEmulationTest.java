package dev.tornadovit.tornado;

import dev.tornadovit.tornado.GemmLayoutsTest.Case;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import uk.ac.manchester.tornado.api.KernelContext;

import java.io.File;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Our tensor-core kernels ({@link dev.tornadovit.tornado.kernels.MmaGemmKernels}) run as plain Java on any machine,
 * with TornadoVM's MMA intrinsics done in Java as its CUDA backend emits them ({@link MmaEmulation}): {@code ldmatrix}
 * x4 reads a 16×16 A fragment as 16 rows of 32 bytes from the given byte offset, x2.trans a 16×8 B fragment as 16 rows
 * of 16 bytes, low half of an int first; {@code mma.sync m16n8k16} adds the product of the bf16 fragments to the fp32
 * one; {@code mmaStore} writes the 16×8 fragment at (row, column) of a row-major matrix with the given leading
 * dimension. So this checks everything of the kernels but TornadoVM's compilation: the staging of every layout, the
 * packing, the fragment offsets, the ragged edges, batches, the scratch blocks and the epilogue, against the CPU's bf16
 * emulation with {@link MmaGemmTest}'s cases and bound. (The rounding runs TornadoVM's Java {@code bf16FromFloat},
 * which differs from the GPU's only on ties, which the inputs avoid; {@link MmaGemmTest} checks the GPU's rounding.)
 *
 * <p>The emulation runs in a JVM of its own, started here: its KernelContext subclass must never be loaded beside
 * TornadoVM (see {@link MmaEmulation}).
 */
@Timeout(value = 600, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MmaKernelEmulationTest {
    private List<String> lines;

    static List<Case> cases() {
        return MmaGemmTest.cases();
    }

    /**
     * Runs {@link MmaEmulation#main} in a new JVM on this JVM's class path plus TornadoVM's API jar, with the Vector API
     * the CPU reference uses.
     */
    @BeforeAll
    void emulate() throws IOException, InterruptedException, URISyntaxException {
        String api = Path.of(KernelContext.class.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process process = new ProcessBuilder(java.toString(), "-Xmx2g", "--add-modules", "jdk.incubator.vector",
                "-cp", System.getProperty("java.class.path") + File.pathSeparator + api,
                "dev.tornadovit.tornado.MmaEmulation").redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!process.waitFor(300, TimeUnit.SECONDS) || process.exitValue() != 0) {
            fail("the emulation's JVM failed:\n" + output);
        }
        lines = output.lines().toList();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void eachLayoutMatchesTheCpusBf16Emulation(Case c) {
        String prefix = "case " + cases().indexOf(c) + " ";
        String line = lines.stream().filter(l -> l.startsWith(prefix)).findFirst()
                .orElseGet(() -> fail("the emulation printed nothing for " + c + ":\n" + String.join("\n", lines)));
        assertEquals(prefix + "ok", line, c.toString());
    }

    /** The emulation itself: a misaligned ldmatrix row is refused, as the hardware faults on it. */
    @Test
    void theEmulationRefusesMisalignedFragments() {
        assertTrue(lines.contains("misaligned ok ldmatrix at byte offset 8: rows must start on 16-byte boundaries"),
                String.join("\n", lines));
    }
}
