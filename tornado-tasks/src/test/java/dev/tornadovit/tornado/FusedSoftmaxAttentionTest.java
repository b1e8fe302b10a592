package dev.tornadovit.tornado;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.RecordedGraph;
import org.junit.jupiter.api.Test;
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
 * training form (weights and output) that a recorded sequence becomes, and the output-only inference form, at token
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

    /** scores → softmax → ·V recorded in one graph runs as one fused task writing the weights and the output. */
    @ParameterizedTest(name = "{0}x{1}x{2}, |q|,|k| up to {3}")
    @MethodSource("cases")
    void recordedSoftmaxAttentionRunsFused(int batchHeads, int tokens, int headDim, double magnitude) {
        int th = batchHeads * tokens * headDim, tt = batchHeads * tokens * tokens;
        double scale = 1 / Math.sqrt(headDim);
        double tol = magnitude > 2 ? LARGE_SCORES_TOL : TOL;
        Twin q = r(th, magnitude), k = r(th, magnitude), v = r(th, 1), scores = z(tt), weights = z(tt), o = z(th);
        String name = "fused softmax " + batchHeads + "x" + tokens + "x" + headDim + " at " + magnitude;
        int fusedBefore = dev.kernelTasks("softmaxAttentionWithWeights");
        RecordedGraph[] onDevice = new RecordedGraph[1];
        both(be -> {
            RecordedGraph graph = be.record(name, () -> {
                be.attentionScores(q.on(be), k.on(be), scores.on(be), batchHeads, tokens, headDim, scale);
                be.attentionWeights(scores.on(be), weights.on(be), batchHeads * tokens, tokens, SOFTMAX);
                be.attentionApply(weights.on(be), v.on(be), o.on(be), batchHeads, tokens, headDim);
            });
            if (be == dev) onDevice[0] = graph;
            graph.run();
        });
        assertEquals(1, dev.taskCount(onDevice[0]), "one fused task");
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
        dev.softmaxAttentionWithoutMaps(q.device(), k.device(), v.device(), alone.device(), batchHeads, tokens, headDim,
                scale);
        cpu.copy(o.cpu(), alone.cpu(), th);
        assertClose(name + " output without maps", alone, tol);
    }

    /** With fusion switched off, or with the scores read later in the graph, the three steps stay separate. */
    @Test
    void staysUnfusedWhenSwitchedOffOrWhenTheScoresAreRead() {
        int batchHeads = 2, tokens = 33, headDim = 16, th = batchHeads * tokens * headDim, tt = batchHeads * tokens * tokens;
        double scale = 0.25;
        Twin q = r(th, 2), k = r(th, 2), v = r(th, 1), scores = z(tt), weights = z(tt), o = z(th), copy = z(tt);
        Consumer<Backend> threeSteps = be -> {
            be.attentionScores(q.on(be), k.on(be), scores.on(be), batchHeads, tokens, headDim, scale);
            be.attentionWeights(scores.on(be), weights.on(be), batchHeads * tokens, tokens, SOFTMAX);
            be.attentionApply(weights.on(be), v.on(be), o.on(be), batchHeads, tokens, headDim);
        };
        dev.setFusedAttention(false);
        try {
            RecordedGraph off = dev.record("softmax unfused", () -> threeSteps.accept(dev));
            off.run();
            assertEquals(3, dev.taskCount(off), "scores, softmax, ·V");
        } finally {
            dev.setFusedAttention(true);
        }
        RecordedGraph read = dev.record("softmax, scores read", () -> {
            threeSteps.accept(dev);
            dev.copy(scores.device(), copy.device(), tt);
        });
        read.run();
        assertEquals(4, dev.taskCount(read), "the scores are kept for the copy");
        threeSteps.accept(cpu);
        cpu.copy(scores.cpu(), copy.cpu(), tt);
        assertClose("scores", copy, TOL);
        assertClose("weights", weights, TOL);
        assertClose("output", o, TOL);
    }
}
