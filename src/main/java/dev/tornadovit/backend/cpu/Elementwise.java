package dev.tornadovit.backend.cpu;

import dev.tornadovit.backend.cpu.ReusableLoops.Kernel;
import dev.tornadovit.tensor.PixelTable;

import java.util.Arrays;

/** {@link CpuBackend}'s elementwise operations: zeroing, sums, GELU and the sigmoid gate, each parallel by element. */
final class Elementwise {

    private static final int ELEMENT_GRAIN = 1 << 14;

    private Elementwise() {}

    private static final Kernel ZERO = (in, start, end) -> Arrays.fill(in.f0, start, end, 0f);

    static void zero(float[] x) {
        OperationLoops.loop().arrays(x).run(ZERO, x.length, 1 << 16);
    }

    private static final Kernel PIXELS = (in, start, end) -> ((PixelTable) in.ref).convert(in.b0, in.f0, start, end, in.i0);

    /** out[0, count) = pixels[0, count) through {@code table} (see {@link PixelTable#convert}). */
    static void pixels(byte[] pixels, float[] out, int count, int planeSize, PixelTable table) {
        OperationLoops.loop().bytes(pixels).arrays(out).ints(planeSize).ref(table).run(PIXELS, count, 1 << 16);
    }

    private static final Kernel ADD = (in, start, end) -> {
        float[] x = in.f0, y = in.f1, out = in.f2;
        for (int i = start; i < end; i++) out[i] = x[i] + y[i];
    };

    static void add(float[] x, float[] y, float[] out, int n) {
        OperationLoops.loop().arrays(x, y, out).run(ADD, n, ELEMENT_GRAIN);
    }

    private static final Kernel ACCUMULATE = (in, start, end) -> {
        float[] dst = in.f0, src = in.f1;
        for (int i = start; i < end; i++) dst[i] += src[i];
    };

    static void accumulate(float[] dst, float[] src, int n) {
        OperationLoops.loop().arrays(dst, src).run(ACCUMULATE, n, ELEMENT_GRAIN);
    }

    private static final Kernel GELU = (in, start, end) -> VectorMath.gelu(in.f0, in.f1, start, end);

    static void gelu(float[] x, float[] y, int n) {
        OperationLoops.loop().arrays(x, y).run(GELU, n, 8192);
    }

    private static final Kernel GELU_BACKWARD =
            (in, start, end) -> VectorMath.geluBackward(in.f0, in.f1, in.f2, in.flag, start, end);

    /** dx += (or, with {@code accumulate} false, =) GELU'(x)·dy. */
    static void geluBackward(float[] x, float[] dy, float[] dx, boolean accumulate, int n) {
        OperationLoops.loop().arrays(x, dy, dx).flag(accumulate).run(GELU_BACKWARD, n, 8192);
    }

    private static float sigmoid(float x) {
        return 1f / (1f + (float) Math.exp(-x));
    }

    private static final Kernel SIGMOID_GATE = (in, start, end) -> {
        float[] g = in.f0, x = in.f1, y = in.f2;
        for (int i = start; i < end; i++) y[i] = x[i] * sigmoid(g[i]);
    };

    /** y = x·σ(g). */
    static void sigmoidGate(float[] g, float[] x, float[] y, int n) {
        OperationLoops.loop().arrays(g, x, y).run(SIGMOID_GATE, n, 4096);
    }

    private static final Kernel SIGMOID_GATE_BACKWARD = (in, start, end) -> {
        float[] g = in.f0, x = in.f1, dy = in.f2, dg = in.f3, dx = in.f4;
        for (int i = start; i < end; i++) {
            float sg = sigmoid(g[i]);
            dx[i] += dy[i] * sg;
            dg[i] += dy[i] * x[i] * sg * (1 - sg);
        }
    };

    /** dx += dy·σ(g) and dg += dy·x·σ'(g). */
    static void sigmoidGateBackward(float[] g, float[] x, float[] dy, float[] dg, float[] dx, int n) {
        OperationLoops.loop().arrays(g, x, dy, dg, dx).run(SIGMOID_GATE_BACKWARD, n, 4096);
    }
}
