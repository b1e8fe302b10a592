package dev.tornadovit.tornado;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.tensor.Tensor;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The same tensor on the CPU backend (the reference) and on the TornadoVM backend, with helpers to fill both with
 * the same random values and to compare them.
 */
record Twin(Tensor cpu, Tensor device, int size) {

    /** This tensor on {@code backend}: the CPU one or the device one. */
    Tensor on(dev.tornadovit.tensor.Backend backend) {
        return backend instanceof CpuBackend ? cpu : device;
    }

    static Twin random(CpuBackend cpu, TornadoBackend device, int size, SplittableRandom random, double scale) {
        float[] values = new float[size];
        for (int i = 0; i < size; i++) values[i] = (float) ((random.nextDouble() * 2 - 1) * scale);
        return of(cpu, device, values);
    }

    static Twin of(CpuBackend cpu, TornadoBackend device, float[] values) {
        Tensor c = cpu.allocate(values.length), d = device.allocate(values.length);
        cpu.upload(c, values);
        device.upload(d, values);
        return new Twin(c, d, values.length);
    }

    static Twin zeros(CpuBackend cpu, TornadoBackend device, int size) {
        return new Twin(cpu.allocate(size), device.allocate(size), size);
    }

    /** Fails unless max|device - cpu| <= tolerance · max|cpu|: the error relative to the tensor's scale. */
    static void assertClose(String what, Twin t, double tolerance) {
        float[] expected = CpuBackend.data(t.cpu());
        float[] actual = t.device().backend().downloadFloat(t.device());
        assertEquals(expected.length, actual.length, what + ": length");
        double maxRef = 0;
        for (float v : expected) maxRef = Math.max(maxRef, Math.abs(v));
        double allowed = tolerance * Math.max(maxRef, 1e-6);
        int worst = -1;
        double worstDiff = 0;
        for (int i = 0; i < expected.length; i++) {
            double diff = Math.abs((double) actual[i] - expected[i]);
            if (!(diff <= allowed) && (worst < 0 || diff > worstDiff)) {
                worst = i;
                worstDiff = diff;
            }
        }
        if (worst >= 0) {
            fail(String.format("%s: element %d of %d is %.8g on the device, %.8g on the CPU (|diff| %.3g > %.3g = %.0e x scale %.3g)",
                    what, worst, expected.length, actual[worst], expected[worst], worstDiff, allowed, tolerance, maxRef));
        }
    }
}
