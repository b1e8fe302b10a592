package dev.tornadovit.tornado;

import dev.tornadovit.model.AttentionConfig;
import dev.tornadovit.model.Pooling;
import dev.tornadovit.model.PositionEmbedding;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.tensor.ActivationMemory;
import dev.tornadovit.tensor.AttentionCore;
import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.PointwiseActivation;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tensor.Write;
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
        both(be -> be.geluBackward(x.on(be), dy.on(be), dx.on(be), n, Write.OVERWRITE));
        assertClose("geluBackward (written)", dx, TOL);
        int batch = 2, tokens = 5, heads = 3, headDim = 7, m = batch * tokens * heads * headDim;
        Twin dq = r(m), dk = r(m), dv = r(m), dQkv = r(3 * m), dO = r(m);
        both(be -> be.splitHeadsBackward(dq.on(be), dk.on(be), dv.on(be), dQkv.on(be), batch, tokens, heads,
                headDim, Write.OVERWRITE));
        assertClose("splitHeadsBackward (written)", dQkv, 0);
        both(be -> be.mergeHeadsBackward(dq.on(be), dO.on(be), batch, tokens, heads, headDim, Write.OVERWRITE));
        assertClose("mergeHeadsBackward (written)", dO, 0);
    }

    @ParameterizedTest
    @ValueSource(strings = {"1,1,1", "7,13,5", "70,33,130"})
    void linearBackwardWritesTheInputGradientAndAddsIntoTheWeights(String size) {
        String[] s = size.split(",");
        int m = Integer.parseInt(s[0]), k = Integer.parseInt(s[1]), n = Integer.parseInt(s[2]);
        Twin x = r(m * k), w = r(n * k), dy = r(m * n), dx = r(m * k), dw = r(n * k), db = r(n);
        both(be -> be.linearBackward(dy.on(be), x.on(be), w.on(be), dx.on(be), dw.on(be), db.on(be), m,
                k, n, Write.OVERWRITE));
        assertClose("dx (written)", dx, SUM_TOL);
        assertClose("dw (added)", dw, SUM_TOL);
        assertClose("dBias (added)", db, SUM_TOL);
    }

    /**
     * The attention core's backward with its scratch full of unrelated values (other values on each backend; only the
     * gradients zeroed before a backward pass start at zero): dQkv written; with a step inside, the step's gradients
     * added into.
     */
    @ParameterizedTest
    @ValueSource(strings = {"softmax", "relu2"})
    void attentionBackwardNeedsNoZeroedScratch(String weighting) {
        AttentionWeighting w = weighting.equals("softmax") ? AttentionWeighting.softmaxWeights()
                : AttentionWeighting.pointwise(PointwiseActivation.RELU2, 0.5);
        int batch = 2, tokens = 17, heads = 3, headDim = 5, th = batch * heads * tokens * headDim;
        double scale = 1 / Math.sqrt(headDim);
        Twin qkv = r(3 * th), merged = r(th), dMerged = r(th), dQkv = r(3 * th);
        AttentionCore.Spec spec = new AttentionCore.Spec(heads, headDim, scale, w, null, null);
        both(be -> {
            AttentionCore core = be.attentionCore(spec);
            core.allocate(rubbish(be), batch, tokens);
            core.forward(qkv.on(be), merged.on(be), batch, true);
            core.backward(qkv.on(be), dMerged.on(be), dQkv.on(be), batch);
        });
        assertClose(weighting + " merged", merged, SUM_TOL);
        assertClose(weighting + " dQkv (written)", dQkv, SUM_TOL);
        // With a step inside (q and k copied through), the core adds into the step's gradients and dv.
        Twin queries = r(th), keys = r(th), dQueries = r(th), dKeys = r(th), dQkv2 = r(3 * th);
        CopyingStep[] steps = {new CopyingStep(cpu, queries.cpu(), keys.cpu(), dQueries.cpu(), dKeys.cpu()),
                new CopyingStep(dev, queries.device(), keys.device(), dQueries.device(), dKeys.device())};
        both(be -> {
            AttentionCore core = be.attentionCore(new AttentionCore.Spec(heads, headDim, scale, w,
                    steps[be == cpu ? 0 : 1], null));
            core.allocate(rubbish(be), batch, tokens);
            core.forward(qkv.on(be), merged.on(be), batch, true);
            core.backward(qkv.on(be), dMerged.on(be), dQkv2.on(be), batch);
        });
        assertClose(weighting + " dq (added)", dQueries, SUM_TOL);
        assertClose(weighting + " dk (added)", dKeys, SUM_TOL);
        assertClose(weighting + " dQkv (written, through the step)", dQkv2, SUM_TOL);
    }

    /** Tensors full of random values, other ones each call, but for the gradients zeroed before a backward pass. */
    private ActivationMemory rubbish(Backend be) {
        return new ActivationMemory() {
            @Override
            public Tensor activation(long size) {
                float[] values = new float[(int) size];
                for (int i = 0; i < values.length; i++) values[i] = (float) (random.nextDouble() * 2 - 1);
                Tensor t = be.allocate((int) size);
                be.upload(t, values);
                return t;
            }

            @Override
            public Tensor gradient(long size) {
                return be.allocate((int) size);
            }

            @Override
            public Tensor overwrittenGradient(long size) {
                return activation(size);
            }
        };
    }

    /** A step inside the core that passes q and k through unchanged, and adds their gradients back. */
    private record CopyingStep(Backend be, Tensor queries, Tensor keys, Tensor queriesGradient, Tensor keysGradient)
            implements AttentionCore.QueryKeyStep {
        @Override
        public void forward(Tensor q, Tensor k, int batch) {
            be.copy(q, queries, q.size());
            be.copy(k, keys, k.size());
        }

        @Override
        public void backward(Tensor q, Tensor k, Tensor dq, Tensor dk, int batch) {
            be.accumulate(dq, queriesGradient, dq.size());
            be.accumulate(dk, keysGradient, dk.size());
        }
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
