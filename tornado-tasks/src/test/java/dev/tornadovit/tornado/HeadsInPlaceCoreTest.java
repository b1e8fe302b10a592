package dev.tornadovit.tornado;

import dev.tornadovit.model.Workspace;
import dev.tornadovit.tensor.AttentionCore;
import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.PointwiseActivation;
import dev.tornadovit.tensor.RecordedGraph;
import dev.tornadovit.tensor.Tensor;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.concurrent.TimeUnit;

import static dev.tornadovit.tornado.Twin.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The attention core of several heads, recorded forward and backward, against the CPU core on the same random qkv:
 * the merged output, the weights and dQkv, with and without a map step between φ and the product with V (Re-attention's
 * head mix, whose parameter gradients are compared too). Where cuBLAS runs the products on fp32 tensors the backend
 * reads the heads in place ({@link HeadsInPlaceCore}: one product per head and no split or merge); elsewhere it splits
 * and merges them; the test says which it checked by the tasks a forward pass records. In place, also with every head
 * of every image in one product through arrays of matrix pointers ({@link MatrixProducts#gemmHeads}), and with ReLU
 * attention's φ, and φ's backward, in the epilogues of cuBLASLt's products ({@link MatrixProducts#reluEpilogue}).
 */
@Timeout(value = 600, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class HeadsInPlaceCoreTest extends DeviceAgainstCpu {
    HeadsInPlaceCoreTest() {
        super(23);
    }

    /** Float32 on both sides, sums in a different order. */
    private static final double TOL = 1e-4;

    private Twin r(int n, double scale) {
        return Twin.random(cpu, dev, n, random, scale);
    }

    @ParameterizedTest(name = "{0}, batch {1}, {2} heads of {3}, {4} tokens, map step {5}")
    @CsvSource({"softmax, 2, 3, 16, 17, false", "relu/L, 2, 3, 16, 17, false", "softmax, 3, 6, 64, 50, false",
            "relu/L, 2, 6, 64, 197, false", "softmax, 2, 3, 5, 9, false", "softmax, 2, 3, 16, 17, true",
            "relu/L, 2, 4, 8, 33, true"})
    void matchesTheCpu(String weighting, int batch, int heads, int headDim, int tokens, boolean mapStep) {
        check(weighting, batch, heads, headDim, tokens, mapStep);
    }

    /** The same with every head of every image in one product through arrays of matrix pointers. */
    @ParameterizedTest(name = "{0}, batch {1}, {2} heads of {3}, {4} tokens, map step {5}")
    @CsvSource({"softmax, 2, 3, 16, 17, false", "relu/L, 3, 6, 64, 197, false", "softmax, 2, 3, 5, 9, false",
            "relu/L, 2, 4, 8, 33, true"})
    void inOneBatchOverTheHeadsMatchesTheCpu(String weighting, int batch, int heads, int headDim, int tokens,
                                             boolean mapStep) {
        Assumptions.assumeTrue(readsHeadsInPlace(), "the heads are read in place only where cuBLAS runs fp32, not "
                + dev.gemmStrategy().label() + " in " + dev.gemmCompute());
        boolean before = dev.products().setHeadsInOneBatch(true);
        try {
            check(weighting, batch, heads, headDim, tokens, mapStep);
        } finally {
            dev.products().setHeadsInOneBatch(before);
        }
    }

    /**
     * φ = relu in the scores' product (and with {@code both} its backward in that of dO·vᵀ), at several α (the
     * epilogue's alpha carries L^-α), with a map step (whose gradient is not a product, so φ's backward runs as a
     * kernel from the weights).
     */
    @ParameterizedTest(name = "{0}: relu α={1}, batch {2}, {3} heads of {4}, {5} tokens, map step {6}")
    @CsvSource({"BOTH, 1, 2, 3, 16, 17, false", "BOTH, 0, 2, 3, 16, 17, false", "BOTH, 0.5, 3, 6, 64, 197, false",
            "BOTH, 1, 2, 6, 64, 130, false", "BOTH, 1, 2, 4, 8, 33, true", "FORWARD, 1, 2, 3, 16, 17, false",
            "FORWARD, 0.5, 3, 6, 64, 197, false", "FORWARD, 1, 2, 4, 8, 33, true"})
    void reluInTheProductsEpiloguesMatchesTheCpu(ReluEpilogue mode, double alpha, int batch, int heads, int headDim,
                                                 int tokens, boolean mapStep) {
        Assumptions.assumeTrue(readsHeadsInPlace(), "the epilogues run only where cuBLAS runs fp32 on the heads in "
                + "place, not " + dev.gemmStrategy().label() + " in " + dev.gemmCompute());
        ReluEpilogue before = dev.products().setReluEpilogue(mode);
        try {
            check(AttentionWeighting.pointwise(PointwiseActivation.RELU, alpha), batch, heads, headDim, tokens,
                    mapStep);
        } finally {
            dev.products().setReluEpilogue(before);
        }
    }

    private boolean readsHeadsInPlace() {
        return dev.gemmStrategy() == GemmStrategy.CUBLAS && !dev.gemmCompute().storedBf16();
    }

    private void check(String weighting, int batch, int heads, int headDim, int tokens, boolean mapStep) {
        check(weighting.equals("softmax") ? AttentionWeighting.softmaxWeights()
                : AttentionWeighting.pointwise(PointwiseActivation.RELU, 1), batch, heads, headDim, tokens, mapStep);
    }

    private void check(AttentionWeighting w, int batch, int heads, int headDim, int tokens, boolean mapStep) {
        String weighting = w.toString();
        int width = heads * headDim, th = batch * tokens * width, mapSize = tokens * tokens;
        int maps = batch * heads * mapSize;
        Twin qkv = r(3 * th, 2), merged = r(th, 1), dMerged = r(th, 1), dQkv = r(3 * th, 1);
        Twin theta = r(heads * heads, 1), bias = r(heads, 0.1), mixed = r(maps, 1);
        Twin mixedGradient = Twin.zeros(cpu, dev, maps), dTheta = Twin.zeros(cpu, dev, heads * heads);
        Twin dBias = Twin.zeros(cpu, dev, heads);
        AttentionCore[] cores = new AttentionCore[2];
        RecordedGraph[] forwardOnDevice = new RecordedGraph[1];
        for (Backend be : new Backend[]{cpu, dev}) {
            AttentionCore.MapStep step = mapStep ? new HeadMix(be, theta.on(be), bias.on(be), mixed.on(be),
                    mixedGradient.on(be), dTheta.on(be), dBias.on(be), heads, mapSize) : null;
            AttentionCore core = be.attentionCore(new AttentionCore.Spec(heads, headDim, 1 / Math.sqrt(headDim), w,
                    null, step));
            core.allocate(new Workspace(be), batch, tokens);
            RecordedGraph forward = be.record("heads core forward " + weighting + mapStep,
                    () -> core.forward(qkv.on(be), merged.on(be), batch, true));
            RecordedGraph backward = be.record("heads core backward " + weighting + mapStep,
                    () -> core.backward(qkv.on(be), dMerged.on(be), dQkv.on(be), batch));
            forward.run();
            backward.run();
            cores[be == dev ? 1 : 0] = core;
            if (be == dev) forwardOnDevice[0] = forward;
        }
        boolean inPlace = readsHeadsInPlace();
        assertEquals(inPlace, cores[1] instanceof HeadsInPlaceCore, "heads in place exactly where cuBLAS runs fp32");
        int mapTasks = mapStep ? 1 : 0;
        boolean fused = !inPlace && !mapStep && dev.fusedAttention();
        boolean epilogues = inPlace && dev.products().reluEpilogue() != ReluEpilogue.OFF && !w.softmax();
        int productsPerStep = dev.products().headsInOneBatch() ? 1 : heads;
        // the scores' product with its epilogue runs a head at a time (cuBLAS's pointer-array product has none)
        assertEquals(epilogues ? heads + productsPerStep + mapTasks
                        : inPlace ? 2 * productsPerStep + 1 + mapTasks : fused ? 3 : 5 + mapTasks,
                dev.taskCount(forwardOnDevice[0]), epilogues ? "a product per head for the scores with φ, and for ·V"
                        : inPlace ? (productsPerStep == 1
                        ? "one product over the images and heads for the scores and one for ·V, and φ"
                        : "a product per head for the scores and for ·V, and φ")
                        : fused ? "split, the fused kernel, merge" : "split, scores, φ, ·V, merge");
        assertClose("weights", new Twin(cores[0].weights(), cores[1].weights(), maps), TOL);
        assertClose("merged heads", merged, TOL);
        assertClose("dQkv", dQkv, TOL);
        if (mapStep) {
            assertClose("head mix dTheta", dTheta, 10 * TOL);
            assertClose("head mix dBias", dBias, 10 * TOL);
        }
    }

    /** A map step mixing the heads' maps (Re-attention without its norm), with its parameters' gradients. */
    private record HeadMix(Backend be, Tensor theta, Tensor bias, Tensor mixed, Tensor mixedGradient, Tensor dTheta,
                           Tensor dBias, int heads, int mapSize) implements AttentionCore.MapStep {
        @Override
        public Tensor forward(Tensor weights, int batch) {
            be.headMix(weights, theta, bias, mixed, batch, heads, mapSize);
            return mixed;
        }

        @Override
        public Tensor mapGradient() {
            return mixedGradient;
        }

        @Override
        public void backward(Tensor weights, Tensor dWeights, int batch) {
            be.headMixBackward(mixedGradient, weights, theta, dWeights, dTheta, dBias, batch, heads, mapSize);
        }
    }
}
