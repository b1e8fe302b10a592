package dev.tornadovit.backend.cpu;

import dev.tornadovit.backend.reference.ReferenceBackend;
import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.PointwiseActivation;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tensor.Write;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;

import static dev.tornadovit.model.TensorAssert.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static dev.tornadovit.model.TensorAssert.toDouble;

/**
 * The CPU backend's vectorised operations against the float64 reference, on sizes that are not multiples of the
 * vector length (so the scalar tails run too). Gradients start non-zero, since backward operations add.
 */
class CpuOperationsTest {
    private static final double TOLERANCE = 1e-5;

    /** The same operation on both backends from the same inputs; every tensor is compared afterwards. */
    private static void compare(String what, double[][] inputs, Consumer<Tensor[]> op) {
        Backend reference = new ReferenceBackend(), cpu = new CpuBackend();
        Tensor[] expected = upload(reference, inputs), actual = upload(cpu, inputs);
        op.accept(expected);
        op.accept(actual);
        for (int i = 0; i < inputs.length; i++) {
            assertClose(what + " tensor " + i, toDouble(cpu.downloadFloat(actual[i])),
                    reference.downloadDouble(expected[i]), TOLERANCE, 0);
        }
    }

    private static Tensor[] upload(Backend be, double[][] inputs) {
        Tensor[] t = new Tensor[inputs.length];
        for (int i = 0; i < inputs.length; i++) {
            t[i] = be.allocate(inputs[i].length);
            be.upload(t[i], inputs[i]);
        }
        return t;
    }

    private static double[][] gaussian(long seed, int... sizes) {
        Random r = new Random(seed);
        double[][] x = new double[sizes.length][];
        for (int i = 0; i < sizes.length; i++) {
            x[i] = new double[sizes[i]];
            for (int j = 0; j < sizes[i]; j++) x[i][j] = r.nextGaussian();
        }
        return x;
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 5, 8, 13, 64, 192, 203})
    void layerNormForwardAndBackward(int d) {
        int m = 37;
        // x, γ, β, y, mean, rstd, dy, dx, dγ, dβ
        double[][] in = gaussian(d, m * d, d, d, m * d, m, m, m * d, m * d, d, d);
        for (int i = 0; i < m * d; i++) in[0][i] = 3 * in[0][i] + 1; // off-centre, not unit scale
        compare("layerNorm d=" + d, in, t -> {
            Backend be = t[0].backend();
            be.layerNorm(t[0], t[1], t[2], t[3], t[4], t[5], m, d, 1e-6);
            be.layerNormBackward(t[6], t[0], t[1], t[4], t[5], t[7], t[8], t[9], m, d);
        });
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 13, 192, 203})
    void addLayerNormMatchesTheReferenceAndIsAddThenLayerNormBitForBit(int d) {
        int m = 37 + 4096 / d; // more rows than one chunk of the row loop
        // a, b, sum, γ, β, y, mean, rstd
        double[][] in = gaussian(d, m * d, m * d, m * d, d, d, m * d, m, m);
        for (int i = 0; i < m * d; i++) in[0][i] = 3 * in[0][i] + 1; // off-centre, not unit scale
        compare("addLayerNorm d=" + d, in, t -> t[0].backend().addLayerNorm(t[0], t[1], t[2], t[3], t[4], t[5], t[6],
                t[7], m, d, 1e-6));

        CpuBackend cpu = new CpuBackend();
        Tensor[] fused = upload(cpu, in), apart = upload(cpu, in);
        cpu.addLayerNorm(fused[0], fused[1], fused[2], fused[3], fused[4], fused[5], fused[6], fused[7], m, d, 1e-6);
        cpu.add(apart[0], apart[1], apart[2], m * d);
        cpu.layerNorm(apart[2], apart[3], apart[4], apart[5], apart[6], apart[7], m, d, 1e-6);
        for (int i = 2; i < in.length; i++) {
            assertArrayEquals(cpu.downloadFloat(apart[i]), cpu.downloadFloat(fused[i]),
                    "addLayerNorm d=" + d + " tensor " + i + " against add, then layerNorm");
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 13, 203})
    void overwritingBackwardVariantsIgnoreWhatTheGradientHeld(int width) {
        // The reference backend has no override: it zeroes dx and accumulates. dx starts as garbage on both.
        int m = 37, hidden = 2 * width + 3, n = m * hidden;
        // x, dy, dx (GELU); linear: dy[m,width], in[m,hidden], w[width,hidden], dx[m,hidden], dw, dBias
        double[][] in = gaussian(width, n, n, n, m * width, n, width * hidden, n, width * hidden, width);
        compare("overwriting backward width=" + width, in, t -> {
            Backend be = t[0].backend();
            be.geluBackward(t[0], t[1], t[2], n, Write.OVERWRITE);
            be.linearBackward(t[3], t[4], t[5], t[6], t[7], t[8], m, hidden, width, Write.OVERWRITE);
        });
    }

    static List<AttentionWeighting> weightings() {
        List<AttentionWeighting> list = new ArrayList<>(List.of(AttentionWeighting.softmaxWeights()));
        for (PointwiseActivation h : PointwiseActivation.values()) list.add(AttentionWeighting.pointwise(h, 0.7));
        return list;
    }

    @Test
    void attentionWeightsForwardAndBackward() {
        int rows = 11, keys = 19;
        for (AttentionWeighting w : weightings()) {
            // scores, weights, dWeights, dScores
            double[][] in = gaussian(3, rows * keys, rows * keys, rows * keys, rows * keys);
            for (int i = 0; i < rows * keys; i++) in[0][i] *= 4; // reach relu6's saturation and the sigmoid's tails
            compare("attentionWeights " + w, in, t -> {
                Backend be = t[0].backend();
                be.attentionWeights(t[0], t[1], rows, keys, w);
                be.attentionWeightsBackward(t[0], t[1], t[2], t[3], rows, keys, w);
            });
        }
    }

    @Test
    void splitAndMergeHeads() {
        int b = 3, t = 7, h = 3, hd = 11, n = b * t * h * hd;
        // qkv, q, k, v, dq, dk, dv, dQkv, o, merged, dMerged, dO
        double[][] in = gaussian(4, 3 * n, n, n, n, n, n, n, 3 * n, n, n, n, n);
        compare("heads", in, x -> {
            Backend be = x[0].backend();
            be.splitHeads(x[0], x[1], x[2], x[3], b, t, h, hd);
            be.splitHeadsBackward(x[4], x[5], x[6], x[7], b, t, h, hd, Write.ACCUMULATE);
            be.mergeHeads(x[8], x[9], b, t, h, hd);
            be.mergeHeadsBackward(x[10], x[11], b, t, h, hd, Write.ACCUMULATE);
        });
        // The overwriting variants, from the same non-zero starting gradients: the reference zeroes and accumulates.
        compare("heads, overwriting", in, x -> {
            Backend be = x[0].backend();
            be.splitHeadsBackward(x[4], x[5], x[6], x[7], b, t, h, hd, Write.OVERWRITE);
            be.mergeHeadsBackward(x[10], x[11], b, t, h, hd, Write.OVERWRITE);
        });
    }
}
