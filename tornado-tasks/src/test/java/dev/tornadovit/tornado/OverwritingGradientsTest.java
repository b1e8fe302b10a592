package dev.tornadovit.tornado;

import dev.tornadovit.model.AttentionConfig;
import dev.tornadovit.model.Pooling;
import dev.tornadovit.model.PositionEmbedding;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.PointwiseActivation;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import static dev.tornadovit.tornado.Twin.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The backward operations that write a gradient instead of zeroing it and adding into it, against the CPU backend:
 * every written output starts full of unrelated values, which must not leak into the result. And the launches they
 * save in a training step, with the multi-tensor optimiser's.
 */
@Timeout(value = 900, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class OverwritingGradientsTest extends DeviceAgainstCpu {
    OverwritingGradientsTest() {
        super(3);
    }

    /** As OperationEquivalenceTest: float32 on both sides, elementwise and summed in a different order. */
    private static final double TOL = 2e-5, SUM_TOL = 1e-4;


    private void both(Consumer<Backend> op) {
        op.accept(cpu);
        op.accept(dev);
    }

    @Test
    void elementwiseAndLayoutGradientsAreWritten() {
        int n = 4099;
        Twin x = r(n), dy = r(n), dx = r(n);
        both(be -> be.geluBackwardOverwriting(x.on(be), dy.on(be), dx.on(be), n));
        assertClose("geluBackwardOverwriting", dx, TOL);
        int batch = 2, tokens = 5, heads = 3, headDim = 7, m = batch * tokens * heads * headDim;
        Twin dq = r(m), dk = r(m), dv = r(m), dQkv = r(3 * m), dO = r(m);
        both(be -> be.splitHeadsBackwardOverwriting(dq.on(be), dk.on(be), dv.on(be), dQkv.on(be), batch, tokens, heads,
                headDim));
        assertClose("splitHeadsBackwardOverwriting", dQkv, 0);
        both(be -> be.mergeHeadsBackwardOverwriting(dq.on(be), dO.on(be), batch, tokens, heads, headDim));
        assertClose("mergeHeadsBackwardOverwriting", dO, 0);
    }

    @ParameterizedTest
    @ValueSource(strings = {"1,1,1", "7,13,5", "70,33,130"})
    void linearBackwardWritesTheInputGradientAndAddsIntoTheWeights(String size) {
        String[] s = size.split(",");
        int m = Integer.parseInt(s[0]), k = Integer.parseInt(s[1]), n = Integer.parseInt(s[2]);
        Twin x = r(m * k), w = r(n * k), dy = r(m * n), dx = r(m * k), dw = r(n * k), db = r(n);
        both(be -> be.linearBackwardOverwritingInput(dy.on(be), x.on(be), w.on(be), dx.on(be), dw.on(be), db.on(be), m,
                k, n));
        assertClose("dx (written)", dx, SUM_TOL);
        assertClose("dw (added)", dw, SUM_TOL);
        assertClose("dBias (added)", db, SUM_TOL);
    }

    /** The attention core's backward with scratch full of unrelated values: dq, dk, dv added into, dQkv written. */
    @ParameterizedTest
    @ValueSource(strings = {"softmax", "relu2"})
    void attentionBackwardNeedsNoZeroedScratch(String weighting) {
        AttentionWeighting w = weighting.equals("softmax") ? AttentionWeighting.softmaxWeights()
                : AttentionWeighting.pointwise(PointwiseActivation.RELU2, 0.5);
        int batch = 2, tokens = 17, heads = 3, headDim = 5, bh = batch * heads, th = bh * tokens * headDim;
        int tt = bh * tokens * tokens;
        double scale = 1 / Math.sqrt(headDim);
        Twin qkv = r(3 * th), q = r(th), k = r(th), v = r(th), scores = r(tt), weights = r(tt), o = r(th), merged = r(th);
        both(be -> be.attentionForwardFromQkv(qkv.on(be), q.on(be), k.on(be), v.on(be), scores.on(be), weights.on(be),
                o.on(be), merged.on(be), batch, tokens, heads, headDim, scale, w, true));
        Twin dMerged = r(th), dWeights = r(tt), dScores = r(tt), dO = r(th), dq = r(th), dk = r(th), dv = r(th);
        Twin dQkv = r(3 * th);
        both(be -> be.attentionBackwardToQkv(dMerged.on(be), qkv.on(be), q.on(be), k.on(be), v.on(be), scores.on(be),
                weights.on(be), dWeights.on(be), dScores.on(be), dO.on(be), dq.on(be), dk.on(be), dv.on(be),
                dQkv.on(be), batch, tokens, heads, headDim, scale, w));
        assertClose(weighting + " dQkv (written)", dQkv, SUM_TOL);
        // the per-head backward alone adds into dq, dk, dv (a backend attending in place left q, k, v untouched above)
        Twin q2 = r(th), k2 = r(th), v2 = r(th), scores2 = r(tt), weights2 = r(tt), o2 = r(th);
        both(be -> be.attentionForward(q2.on(be), k2.on(be), v2.on(be), scores2.on(be), weights2.on(be), o2.on(be), bh,
                tokens, headDim, scale, w, true));
        Twin dO2 = r(th), dq2 = r(th), dk2 = r(th), dv2 = r(th), dWeights2 = r(tt), dScores2 = r(tt);
        both(be -> be.attentionBackward(dO2.on(be), q2.on(be), k2.on(be), v2.on(be), scores2.on(be), weights2.on(be),
                dWeights2.on(be), dScores2.on(be), dq2.on(be), dk2.on(be), dv2.on(be), bh, tokens, headDim, scale, w));
        assertClose(weighting + " dq (added)", dq2, SUM_TOL);
        assertClose(weighting + " dk (added)", dk2, SUM_TOL);
        assertClose(weighting + " dv (added)", dv2, SUM_TOL);
    }

    /**
     * One training step of a small softmax ViT (depth 2, 32 parameter tensors): the zero launches left are one per
     * group of 8 parameter gradients and the head's four activation gradients (dPooled, dFinalNorm, dPatches and the
     * residual stream, which backward operations add into); the blocks zero nothing. One tensor at a time it was
     * 32 + 12 per block + 4 + 1 (the norm's accumulator) = 61. The optimizer's graphs: 4 AdamW groups, 4 partial sums
     * and the final sum for the norm.
     */
    @Test
    void aTrainingStepLaunchesFewZeroesAndASmallOptimizer() {
        ViTConfig config = new ViTConfig(12, 12, 3, 4, 7, 24, 2, 4, 40, Pooling.CLS, PositionEmbedding.LEARNED,
                AttentionConfig.softmax(), 0.1);
        TrainingStepEquivalenceTest.Run run = new TrainingStepEquivalenceTest.Run(dev, config);
        int params = run.model.parameters().size();
        assertEquals(32, params);
        int batch = 5, pixels = batch * 3 * 12 * 12;
        float[] images = new float[pixels], labels = new float[batch];
        for (int i = 0; i < pixels; i++) images[i] = (float) random.nextGaussian();
        run.step(images, labels);
        int groups = (params + 7) / 8;
        assertEquals(groups + 4, dev.kernelTasks("zero") + dev.kernelTasks("zeroGroup"), "zero launches per step");
        assertEquals(groups, dev.taskCount("optimizer.adamw"));
        assertEquals(groups + 1, dev.taskCount("optimizer.gradnorm"));
        assertEquals(groups, dev.taskCount("zero-gradients"));
    }
}
