package dev.tornadovit.tornado;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.model.Workspace;
import dev.tornadovit.tensor.AttentionCore;
import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.RecordedGraph;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Stream;

import static dev.tornadovit.tornado.Twin.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The fused softmax-attention kernels against the CPU backend's scores → softmax → ·V on the same random inputs: the
 * training form (weights and output) that the attention core records, and the output-only inference form, at token
 * counts below, at and across the 64-query and 64-key tiles, head sizes up to 64, and scores far beyond exp's float
 * range (the online maximum must keep them finite). Runs with bailout off, so a kernel that falls back to Java fails.
 */
@Timeout(value = 600, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class FusedSoftmaxAttentionTest extends DeviceAgainstCpu {
    FusedSoftmaxAttentionTest() {
        super(11);
    }

    /** Float32 on both sides, sums in a different order; scores in the hundreds carry that error into exp. */
    private static final double TOL = 1e-4, LARGE_SCORES_TOL = 1e-3;
    private static final AttentionWeighting SOFTMAX = AttentionWeighting.softmaxWeights();

    private Twin r(int n, double scale) {
        return Twin.random(cpu, dev, n, random, scale);
    }

    private Twin z(int n) {
        return Twin.zeros(cpu, dev, n);
    }

    private void both(Consumer<Backend> op) {
        op.accept(cpu);
        op.accept(dev);
    }

    /** batch·heads, tokens, head dimension, the magnitude of q and k (scores grow with its square). */
    static Stream<Arguments> cases() {
        return Stream.of(Arguments.of(2, 1, 8, 2.0), Arguments.of(3, 17, 32, 2.0), Arguments.of(2, 64, 64, 2.0),
                Arguments.of(2, 65, 8, 2.0), Arguments.of(1, 197, 64, 2.0), Arguments.of(2, 65, 33, 2.0),
                Arguments.of(2, 197, 64, 12.0), Arguments.of(2, 65, 8, 30.0), Arguments.of(3, 17, 32, 20.0));
    }

    /** The training form, recorded in a graph, writes what the CPU's scores → softmax → ·V writes: weights, output. */
    @ParameterizedTest(name = "{0}x{1}x{2}, |q|,|k| up to {3}")
    @MethodSource("cases")
    void fusedSoftmaxAttentionMatchesThreeSteps(int batchHeads, int tokens, int headDim, double magnitude) {
        int th = batchHeads * tokens * headDim, tt = batchHeads * tokens * tokens;
        double scale = 1 / Math.sqrt(headDim);
        double tol = magnitude > 2 ? LARGE_SCORES_TOL : TOL;
        Twin q = r(th, magnitude), k = r(th, magnitude), v = r(th, 1), scores = z(tt), weights = z(tt), o = z(th);
        String name = "fused softmax " + batchHeads + "x" + tokens + "x" + headDim + " at " + magnitude;
        int fusedBefore = dev.kernelTasks("softmaxAttentionWithWeights");
        cpu.attentionScores(q.cpu(), k.cpu(), scores.cpu(), batchHeads, tokens, headDim, scale);
        cpu.attentionWeights(scores.cpu(), weights.cpu(), batchHeads * tokens, tokens, SOFTMAX);
        cpu.attentionApply(weights.cpu(), v.cpu(), o.cpu(), batchHeads, tokens, headDim);
        RecordedGraph graph = dev.record(name, () -> new FusedAttention(dev).softmaxWithWeights(q.device(), k.device(),
                v.device(), weights.device(), o.device(), batchHeads, tokens, headDim, scale));
        graph.run();
        assertEquals(1, dev.taskCount(graph), "one fused task");
        assertEquals(fusedBefore + 1, dev.kernelTasks("softmaxAttentionWithWeights"), "the fused softmax kernel");
        if (magnitude > 2) {
            float top = 0;
            for (float s : CpuBackend.data(scores.cpu())) top = Math.max(top, Math.abs(s));
            assertTrue(top > 100, name + ": scores reach " + top + ", not past exp's float range");
        }
        assertClose(name + " weights", weights, tol);
        assertClose(name + " output", o, tol);

        // the inference kernel: same output, no maps
        Twin alone = z(th);
        new FusedAttention(dev).softmaxWithoutMaps(q.device(), k.device(), v.device(), alone.device(), batchHeads, tokens, headDim,
                scale);
        cpu.copy(o.cpu(), alone.cpu(), th);
        assertClose(name + " output without maps", alone, tol);
    }

    /**
     * A softmax attention core records the fused kernel between splitting and merging the heads where the backend
     * fuses, the three steps where it does not, and both give the CPU core's output and qkv gradient.
     */
    @ParameterizedTest(name = "fused {0}")
    @org.junit.jupiter.params.provider.ValueSource(booleans = {true, false})
    void softmaxCoreRecordsTheFusedKernelWhereSwitchedOn(boolean fused) {
        int batchHeads = 2, tokens = 33, headDim = 16, th = batchHeads * tokens * headDim, tt = batchHeads * tokens * tokens;
        AttentionCore.Spec spec = new AttentionCore.Spec(1, headDim, 0.25, SOFTMAX, null, null);
        Twin qkv = r(3 * th, 2), merged = z(th), dMerged = r(th, 1), dQkv = r(3 * th, 1);
        boolean before = dev.fusedAttention();
        dev.setFusedAttention(fused);
        RecordedGraph[] onDevice = new RecordedGraph[1];
        AttentionCore[] cores = new AttentionCore[2];
        try {
            both(be -> {
                AttentionCore core = be.attentionCore(spec);
                core.allocate(new Workspace(be), batchHeads, tokens);
                RecordedGraph graph = be.record("softmax core " + fused,
                        () -> core.forward(qkv.on(be), merged.on(be), batchHeads, true));
                if (be == dev) onDevice[0] = graph;
                cores[be == dev ? 1 : 0] = core;
                graph.run();
                core.backward(qkv.on(be), dMerged.on(be), dQkv.on(be), batchHeads);
            });
        } finally {
            dev.setFusedAttention(before);
        }
        if (cores[1] instanceof HeadsInPlaceCore) { // cuBLAS: fused attention off, heads read in place
            assertEquals(false, fused, "the fused kernel splits the heads");
            assertEquals(3, dev.taskCount(onDevice[0]), "scores, softmax, ·V (one head)");
        } else {
            assertEquals(fused ? 3 : 5, dev.taskCount(onDevice[0]), fused ? "split heads, the fused kernel, merge heads"
                    : "split heads, scores, softmax, ·V, merge heads");
        }
        assertClose("weights", new Twin(cores[0].weights(), cores[1].weights(), tt), TOL);
        assertClose("merged heads", merged, TOL);
        assertClose("dQkv", dQkv, TOL);
    }
}
