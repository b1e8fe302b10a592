package dev.tornadovit.tornado;

import dev.tornadovit.backend.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.TestInstance;

import java.util.SplittableRandom;

/**
 * Tests that run operations on the TornadoVM test device and on a one-thread CPU backend from the same random inputs:
 * one device backend for the whole class (its compiled kernels serve every test), a fresh seeded random per test.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class DeviceAgainstCpu {
    private final long seed;
    protected CpuBackend cpu;
    protected TornadoBackend dev;
    protected SplittableRandom random;

    protected DeviceAgainstCpu(long seed) {
        this.seed = seed;
    }

    @BeforeAll
    void open() {
        cpu = new CpuBackend(1);
        dev = TestDevice.backend();
    }

    @AfterAll
    void close() {
        if (dev != null) dev.close();
    }

    @BeforeEach
    void seed() {
        random = new SplittableRandom(seed);
    }

    /** The same n random values in [-1, 1) on both backends. */
    protected Twin r(int n) {
        return Twin.random(cpu, dev, n, random, 1.0);
    }
}
