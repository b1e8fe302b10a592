package dev.tornadovit.backend.reference;

import dev.tornadovit.model.TensorAssert;
import dev.tornadovit.tensor.ActivationMemory;
import dev.tornadovit.tensor.AttentionCore;
import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.ComposedAttentionCore;
import dev.tornadovit.tensor.PointwiseActivation;
import dev.tornadovit.tensor.PoolMode;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tensor.Write;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.Random;

/**
 * Each operation's backward against central finite differences in float64: for a random projection R, the
 * gradient of Σ R ⊙ op(inputs) with respect to every input element.
 */
class OperationGradientCheckTest {
    private final ReferenceBackend be = new ReferenceBackend();
    private final Random random = new Random(7);

    /** An operation under test: inputs are the tensors to differentiate; forward writes out; backward adds grads. */
    interface Op {
        void forward(Tensor[] in, Tensor out);

        void backward(Tensor[] in, Tensor out, Tensor dOut, Tensor[] dIn);
    }

    private Tensor random(int n, double scale) {
        Tensor t = be.allocate(n);
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = scale * random.nextGaussian();
        be.upload(t, v);
        return t;
    }

    private void check(String name, int outSize, Op op, Tensor... inputs) {
        Tensor out = be.allocate(outSize);
        Tensor projection = random(outSize, 1);
        op.forward(inputs, out);
        Tensor[] grads = new Tensor[inputs.length];
        for (int i = 0; i < inputs.length; i++) grads[i] = be.allocate(inputs[i].size());
        op.backward(inputs, out, projection, grads);
        double[] r = be.downloadDouble(projection);
        double h = 1e-6;
        for (int k = 0; k < inputs.length; k++) {
            double[] x = be.downloadDouble(inputs[k]);
            double[] numeric = new double[x.length];
            for (int i = 0; i < x.length; i++) {
                double keep = x[i];
                x[i] = keep + h;
                be.upload(inputs[k], x);
                double plus = dot(op, inputs, out, r);
                x[i] = keep - h;
                be.upload(inputs[k], x);
                double minus = dot(op, inputs, out, r);
                x[i] = keep;
                be.upload(inputs[k], x);
                numeric[i] = (plus - minus) / (2 * h);
            }
            TensorAssert.assertClose(name + " input " + k, be.downloadDouble(grads[k]), numeric, 1e-6, 1e-9);
        }
    }

    private double dot(Op op, Tensor[] in, Tensor out, double[] r) {
        op.forward(in, out);
        double[] y = be.downloadDouble(out);
        double s = 0;
        for (int i = 0; i < y.length; i++) s += y[i] * r[i];
        return s;
    }

    @Test
    void linear() {
        int m = 5, k = 4, n = 3;
        check("linear", m * n, new Op() {
            public void forward(Tensor[] in, Tensor out) {
                be.linear(in[0], in[1], in[2], out, m, k, n);
            }

            public void backward(Tensor[] in, Tensor out, Tensor d, Tensor[] g) {
                be.linearBackward(d, in[0], in[1], g[0], g[1], g[2], m, k, n, Write.ACCUMULATE);
            }
        }, random(m * k, 1), random(n * k, 1), random(n, 1));
    }

    @Test
    void layerNorm() {
        int m = 4, d = 6;
        Tensor mean = be.allocate(m), rstd = be.allocate(m);
        check("layerNorm", m * d, new Op() {
            public void forward(Tensor[] in, Tensor out) {
                be.layerNorm(in[0], in[1], in[2], out, mean, rstd, m, d, 1e-6);
            }

            public void backward(Tensor[] in, Tensor out, Tensor dy, Tensor[] g) {
                be.layerNormBackward(dy, in[0], in[1], mean, rstd, g[0], g[1], g[2], m, d);
            }
        }, random(m * d, 2), random(d, 1), random(d, 1));
    }

    @Test
    void gelu() {
        check("gelu", 20, new Op() {
            public void forward(Tensor[] in, Tensor out) {
                be.gelu(in[0], out, 20);
            }

            public void backward(Tensor[] in, Tensor out, Tensor d, Tensor[] g) {
                be.geluBackward(in[0], d, g[0], 20, Write.ACCUMULATE);
            }
        }, random(20, 2));
    }

    @Test
    void sigmoidGate() {
        check("sigmoidGate", 12, new Op() {
            public void forward(Tensor[] in, Tensor out) {
                be.sigmoidGate(in[0], in[1], out, 12);
            }

            public void backward(Tensor[] in, Tensor out, Tensor d, Tensor[] g) {
                be.sigmoidGateBackward(in[0], in[1], d, g[0], g[1], 12);
            }
        }, random(12, 2), random(12, 1));
    }

    @Test
    void assembleTokensWithClsAndLearnedPosition() {
        int b = 2, n = 3, d = 4;
        check("assembleTokens", b * (n + 1) * d, new Op() {
            public void forward(Tensor[] in, Tensor out) {
                be.assembleTokens(in[0], in[1], in[2], null, out, b, n, d);
            }

            public void backward(Tensor[] in, Tensor out, Tensor dy, Tensor[] g) {
                be.assembleTokensBackward(dy, g[0], g[1], g[2], b, n, d, true);
            }
        }, random(b * n * d, 1), random(d, 1), random((n + 1) * d, 1));
    }

    @Test
    void splitAndMergeHeads() {
        int b = 2, t = 3, h = 2, e = 2, dim = h * e;
        Tensor k = be.allocate(b * t * dim), v = be.allocate(b * t * dim);
        Tensor dk = be.allocate(b * t * dim), dv = be.allocate(b * t * dim);
        check("splitHeads (q part)", b * t * dim, new Op() {
            public void forward(Tensor[] in, Tensor out) {
                be.splitHeads(in[0], out, k, v, b, t, h, e);
            }

            public void backward(Tensor[] in, Tensor out, Tensor dy, Tensor[] g) {
                be.splitHeadsBackward(dy, dk, dv, g[0], b, t, h, e, Write.ACCUMULATE);
            }
        }, random(3 * b * t * dim, 1));
        check("mergeHeads", b * t * dim, new Op() {
            public void forward(Tensor[] in, Tensor out) {
                be.mergeHeads(in[0], out, b, t, h, e);
            }

            public void backward(Tensor[] in, Tensor out, Tensor dy, Tensor[] g) {
                be.mergeHeadsBackward(dy, g[0], b, t, h, e, Write.ACCUMULATE);
            }
        }, random(b * t * dim, 1));
    }

    @Test
    void attentionScoresAndApply() {
        int bh = 3, t = 4, e = 3;
        check("attentionScores", bh * t * t, new Op() {
            public void forward(Tensor[] in, Tensor out) {
                be.attentionScores(in[0], in[1], out, bh, t, e, 0.57);
            }

            public void backward(Tensor[] in, Tensor out, Tensor dy, Tensor[] g) {
                be.attentionScoresBackward(dy, in[0], in[1], g[0], g[1], bh, t, e, 0.57);
            }
        }, random(bh * t * e, 1), random(bh * t * e, 1));
        check("attentionApply", bh * t * e, new Op() {
            public void forward(Tensor[] in, Tensor out) {
                be.attentionApply(in[0], in[1], out, bh, t, e);
            }

            public void backward(Tensor[] in, Tensor out, Tensor dy, Tensor[] g) {
                be.attentionApplyBackward(dy, in[0], in[1], g[0], g[1], bh, t, e);
            }
        }, random(bh * t * t, 1), random(bh * t * e, 1));
    }

    private void checkWeights(AttentionWeighting w) {
        int rows = 4, keys = 5;
        check("attentionWeights " + w, rows * keys, new Op() {
            public void forward(Tensor[] in, Tensor out) {
                be.attentionWeights(in[0], out, rows, keys, w);
            }

            public void backward(Tensor[] in, Tensor out, Tensor dy, Tensor[] g) {
                be.attentionWeightsBackward(in[0], out, dy, g[0], rows, keys, w);
            }
        }, random(rows * keys, 3));
    }

    @Test
    void softmaxWeights() {
        checkWeights(AttentionWeighting.softmaxWeights());
    }

    @ParameterizedTest
    @EnumSource(PointwiseActivation.class)
    void pointwiseWeights(PointwiseActivation activation) {
        checkWeights(AttentionWeighting.pointwise(activation, 0.6));
    }

    /**
     * The composed attention core ({@link ComposedAttentionCore}) from qkv to the merged heads, with scratch that holds
     * rubbish on entry: every tensor it takes is random but the gradients that are zeroed before a backward pass.
     */
    private void checkAttentionCore(AttentionWeighting w) {
        int batch = 1, heads = 2, t = 4, e = 3, width = heads * e;
        AttentionCore core = new ComposedAttentionCore(be, new AttentionCore.Spec(heads, e, 0.57, w, null, null));
        core.allocate(new ActivationMemory() {
            @Override
            public Tensor activation(long size) {
                return random((int) size, 1);
            }

            @Override
            public Tensor gradient(long size) {
                return be.allocate((int) size);
            }

            @Override
            public Tensor overwrittenGradient(long size) {
                return random((int) size, 1);
            }
        }, batch, t);
        check("attention core " + w, batch * t * width, new Op() {
            public void forward(Tensor[] in, Tensor out) {
                core.forward(in[0], out, batch, true);
            }

            public void backward(Tensor[] in, Tensor out, Tensor dy, Tensor[] g) {
                core.backward(in[0], dy, g[0], batch);
            }
        }, random(batch * t * 3 * width, 1));
    }

    @Test
    void attentionCoreSoftmax() {
        checkAttentionCore(AttentionWeighting.softmaxWeights());
    }

    @ParameterizedTest
    @EnumSource(PointwiseActivation.class)
    void attentionCorePointwise(PointwiseActivation activation) {
        checkAttentionCore(AttentionWeighting.pointwise(activation, 0.8));
    }

    @Test
    void headMix() {
        int b = 2, h = 3, s = 4;
        check("headMix", b * h * s, new Op() {
            public void forward(Tensor[] in, Tensor out) {
                be.headMix(in[0], in[1], in[2], out, b, h, s);
            }

            public void backward(Tensor[] in, Tensor out, Tensor dy, Tensor[] g) {
                be.headMixBackward(dy, in[0], in[1], g[0], g[1], g[2], b, h, s);
            }
        }, random(b * h * s, 1), random(h * h, 1), random(h, 1));
    }

    @Test
    void headBatchNormTraining() {
        int b = 2, h = 3, s = 4;
        Tensor mean = be.allocate(h), rstd = be.allocate(h), rm = be.allocate(h), rv = be.allocate(h);
        check("headBatchNorm", b * h * s, new Op() {
            public void forward(Tensor[] in, Tensor out) {
                be.headBatchNorm(in[0], in[1], in[2], out, mean, rstd, rm, rv, b, h, s, 1e-5, 0.1, true);
            }

            public void backward(Tensor[] in, Tensor out, Tensor dy, Tensor[] g) {
                be.headBatchNormBackward(dy, in[0], in[1], mean, rstd, g[0], g[1], g[2], b, h, s);
            }
        }, random(b * h * s, 2), random(h, 1), random(h, 1));
    }

    @Test
    void headLayerNorm() {
        int b = 2, h = 4, s = 3;
        Tensor mean = be.allocate(b * s), rstd = be.allocate(b * s);
        check("headLayerNorm", b * h * s, new Op() {
            public void forward(Tensor[] in, Tensor out) {
                be.headLayerNorm(in[0], in[1], in[2], out, mean, rstd, b, h, s, 1e-5);
            }

            public void backward(Tensor[] in, Tensor out, Tensor dy, Tensor[] g) {
                be.headLayerNormBackward(dy, in[0], in[1], mean, rstd, g[0], g[1], g[2], b, h, s);
            }
        }, random(b * h * s, 2), random(h, 1), random(h, 1));
    }

    @ParameterizedTest
    @EnumSource(PoolMode.class)
    void pool(PoolMode mode) {
        int b = 2, t = 3, d = 4;
        check("pool " + mode, b * d, new Op() {
            public void forward(Tensor[] in, Tensor out) {
                be.pool(in[0], out, b, t, d, mode);
            }

            public void backward(Tensor[] in, Tensor out, Tensor dy, Tensor[] g) {
                be.poolBackward(dy, g[0], b, t, d, mode);
            }
        }, random(b * t * d, 1));
    }

    @Test
    void crossEntropyWithLabelSmoothing() {
        int b = 3, k = 4;
        Tensor labels = be.allocate(b);
        be.upload(labels, new double[]{0, 3, 1});
        Tensor dLogits = be.allocate(b * k);
        Tensor logits = random(b * k, 2);
        // The loss is a scalar: compare dLogits with finite differences of loss[0] directly.
        check("crossEntropy", 1, new Op() {
            public void forward(Tensor[] in, Tensor out) {
                be.crossEntropy(in[0], labels, out, dLogits, b, k, 0.1);
            }

            public void backward(Tensor[] in, Tensor out, Tensor dy, Tensor[] g) {
                be.crossEntropy(in[0], labels, out, dLogits, b, k, 0.1);
                double scale = be.downloadDouble(dy)[0];
                double[] d = be.downloadDouble(dLogits);
                for (int i = 0; i < d.length; i++) d[i] *= scale;
                be.upload(g[0], d);
            }
        }, logits);
    }
}
