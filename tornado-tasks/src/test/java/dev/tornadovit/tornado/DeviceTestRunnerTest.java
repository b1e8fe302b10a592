package dev.tornadovit.tornado;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code run.sh tests}' class selection: simple names, alternatives and fully qualified names all pick a class. */
class DeviceTestRunnerTest {
    private static boolean picks(String pattern, String className) {
        return className.matches(DeviceTestRunner.classPattern(pattern));
    }

    @Test
    void classPatternsMatchSimpleOrQualifiedNames() {
        String gemm = "dev.tornadovit.tornado.GemmStrategyTest";
        assertTrue(picks("GemmStrategyTest|MmaGemmTest", gemm));
        assertTrue(picks("MmaGemmTest|GemmStrategyTest", "dev.tornadovit.tornado.MmaGemmTest"));
        assertTrue(picks(".*(OperationEquivalenceTest|GemmStrategyTest)", gemm));
        assertTrue(picks(gemm, gemm));
        assertTrue(picks(".*Test", gemm));
        assertTrue(picks("Gemm.*", gemm));
        assertFalse(picks("StrategyTest", gemm), "a part of a simple name is not the name");
        assertFalse(picks("GemmTest", "dev.tornadovit.tornado.MmaGemmTest"));
    }
}
