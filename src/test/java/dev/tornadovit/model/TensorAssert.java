package dev.tornadovit.model;

import static org.junit.jupiter.api.Assertions.fail;

/** Comparisons of computed tensors against reference values. */
public final class TensorAssert {
    private TensorAssert() {
    }

    /** max|a-b| / max|b| — the error relative to the tensor's scale. */
    public static double relativeError(double[] actual, double[] expected) {
        double maxDiff = 0, maxRef = 0;
        for (int i = 0; i < expected.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
            maxRef = Math.max(maxRef, Math.abs(expected[i]));
        }
        return maxRef == 0 ? maxDiff : maxDiff / maxRef;
    }

    /** Fails unless max|a-b| <= tolerance · max|b| (plus {@code absolute}); names the worst element. */
    public static void assertClose(String what, double[] actual, double[] expected, double tolerance, double absolute) {
        if (actual.length != expected.length) {
            fail(what + ": length " + actual.length + ", expected " + expected.length);
        }
        double maxRef = 0;
        for (double v : expected) maxRef = Math.max(maxRef, Math.abs(v));
        int worst = -1;
        double worstExcess = 0;
        for (int i = 0; i < expected.length; i++) {
            double diff = Math.abs(actual[i] - expected[i]);
            double allowed = tolerance * maxRef + absolute;
            if (!(diff <= allowed) && (worst < 0 || diff - allowed > worstExcess)) {
                worst = i;
                worstExcess = diff - allowed;
            }
        }
        if (worst >= 0) {
            fail(String.format("%s: element %d is %.10g, expected %.10g (relative error %.3g vs tolerance %.1g, scale %.3g)",
                    what, worst, actual[worst], expected[worst], relativeError(actual, expected), tolerance, maxRef));
        }
    }

    public static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }
}
