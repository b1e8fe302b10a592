package dev.tornadovit.backend.cpu;

import dev.tornadovit.backend.reference.ReferenceBackend;
import dev.tornadovit.model.Workspace;
import dev.tornadovit.tensor.ActivationMemory;
import dev.tornadovit.tensor.AttentionCore;
import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.PointwiseActivation;
import dev.tornadovit.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static dev.tornadovit.model.TensorAssert.assertClose;
import static dev.tornadovit.model.TensorAssert.toDouble;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CPU backend's fused attention ({@link FusedAttention}) against the float64 reference backend running the
 * composition of the separate operations: outputs, weights, kept scores and the accumulated gradients, for softmax
 * and every pointwise activation, on odd sizes (including one token, head sizes below a vector, and sequences long
 * enough to be split into blocks of query rows); and the CPU's attention core read and written in place in the
 * projections' layouts (qkv in, merged heads out) against the same core on split heads and the reference's composed
 * core.
 */
class FusedAttentionTest {

    private static final int[] TOKENS = {1, 5, 17, 65, 197};
    private static final int[] HEAD_DIMS = {3, 16, 64};
    /** Float32 against float64, relative to each tensor's largest entry. */
    private static final double TOLERANCE = 2e-5;

    static List<AttentionWeighting> weightings() {
        List<AttentionWeighting> list = new ArrayList<>();
        list.add(AttentionWeighting.softmaxWeights());
        for (PointwiseActivation h : PointwiseActivation.values()) {
            list.add(AttentionWeighting.pointwise(h, 0.5));
            list.add(AttentionWeighting.pointwise(h, 1));
        }
        return list;
    }

    static Stream<Arguments> cases() {
        List<Arguments> cases = new ArrayList<>();
        for (AttentionWeighting w : weightings()) {
            for (int t : TOKENS) for (int hd : HEAD_DIMS) cases.add(Arguments.of(w, t, hd, 3));
            // Longer than one tile: query rows in blocks, dk and dv summed over them.
            int longTokens = FusedAttention.TILE_FLOATS / 200 + 1;
            assertTrue((long) longTokens * longTokens > FusedAttention.TILE_FLOATS);
            cases.add(Arguments.of(w, longTokens, 16, 2));
            // More heads than a thread's share of tasks, so that the parallel loop splits them.
            cases.add(Arguments.of(w, 17, 8, 37));
        }
        return cases.stream();
    }

    /** The tensors of one attention core on one backend. */
    private record Core(Backend be, Tensor q, Tensor k, Tensor v, Tensor scores, Tensor weights, Tensor o, Tensor dO,
                        Tensor dWeights, Tensor dScores, Tensor dq, Tensor dk, Tensor dv) {

        static Core on(Backend be, double[][] inputs, int bh, int t, boolean withMapBuffers) {
            int maps = bh * t * t;
            Tensor[] in = new Tensor[inputs.length];
            for (int i = 0; i < inputs.length; i++) {
                in[i] = be.allocate(inputs[i].length);
                be.upload(in[i], inputs[i]);
            }
            // inputs: q, k, v, dO, dq, dk, dv (the gradients start non-zero: the backward adds to them)
            return new Core(be, in[0], in[1], in[2], be.allocate(maps), be.allocate(maps), be.allocate(in[0].size()),
                    in[3], withMapBuffers ? be.allocate(maps) : null, withMapBuffers ? be.allocate(maps) : null,
                    in[4], in[5], in[6]);
        }

        /** What a test compares: output, weights, dq, dk, dv. */
        Tensor[] results() {
            return new Tensor[]{o, weights, dq, dk, dv};
        }

        /** The CPU's fused forward and backward; on another backend the separate operations (scratch zeroed). */
        void run(int bh, int t, int hd, AttentionWeighting w, boolean keepScores) {
            double scale = 1 / Math.sqrt(hd);
            if (be instanceof CpuBackend cpu) {
                FusedAttention.forward(cpu.precision(), cpu.f(q), cpu.f(k), cpu.f(v), keepScores ? cpu.f(scores) : null,
                        cpu.f(weights), cpu.f(o), bh, t, hd, (float) scale, w, keepScores);
                FusedAttention.backward(cpu.precision(), cpu.f(dO), cpu.f(q), cpu.f(k), cpu.f(v),
                        w.backwardNeedsScores() ? cpu.f(scores) : null, cpu.f(weights), cpu.f(dq), cpu.f(dk),
                        cpu.f(dv), bh, t, hd, (float) scale, w);
                return;
            }
            be.attentionScores(q, k, scores, bh, t, hd, scale);
            be.attentionWeights(scores, weights, bh * t, t, w);
            be.attentionApply(weights, v, o, bh, t, hd);
            be.zero(dWeights);
            be.zero(dScores);
            be.attentionApplyBackward(dO, weights, v, dWeights, dv, bh, t, hd);
            be.attentionWeightsBackward(scores, weights, dWeights, dScores, bh * t, t, w);
            be.attentionScoresBackward(dScores, q, k, dq, dk, bh, t, hd, scale);
        }
    }

    private static double[] gaussian(Random r, int n) {
        double[] x = new double[n];
        for (int i = 0; i < n; i++) x[i] = r.nextGaussian();
        return x;
    }

    @ParameterizedTest(name = "{0} T={1} hd={2} BH={3}")
    @MethodSource("cases")
    void fusedMatchesTheComposedReference(AttentionWeighting w, int tokens, int headDim, int batchHeads) {
        Random r = new Random(31L * tokens + headDim);
        int n = batchHeads * tokens * headDim;
        double[][] inputs = new double[7][];
        for (int i = 0; i < inputs.length; i++) inputs[i] = gaussian(r, n);
        // Scores of standard deviation ~3 reach relu6's saturation and the flat tails of sigmoid and softplus.
        for (int i = 0; i < n; i++) inputs[0][i] *= 3;
        boolean keepScores = w.backwardNeedsScores();

        Core expected = Core.on(new ReferenceBackend(), inputs, batchHeads, tokens, true);
        expected.run(batchHeads, tokens, headDim, w, true);
        Core actual = Core.on(new CpuBackend(), inputs, batchHeads, tokens, false);
        actual.run(batchHeads, tokens, headDim, w, keepScores);

        String what = w + " T=" + tokens + " hd=" + headDim;
        check(what + " output", actual.o, expected.o);
        check(what + " weights", actual.weights, expected.weights);
        if (keepScores) check(what + " scores", actual.scores, expected.scores);
        check(what + " dq", actual.dq, expected.dq);
        check(what + " dk", actual.dk, expected.dk);
        check(what + " dv", actual.dv, expected.dv);
    }

    private static void check(String what, Tensor actual, Tensor expected) {
        assertClose(what, toDouble(actual.backend().downloadFloat(actual)), expected.backend().downloadDouble(expected),
                TOLERANCE, 0);
    }

    /** A forward that no backward follows writes the weights only, though φ's backward would need the scores. */
    @Test
    void scoresAreLeftAloneUnlessKept() {
        CpuBackend be = new CpuBackend();
        int batch = 2, heads = 1, t = 9, hd = 4;
        AttentionWeighting gelu = AttentionWeighting.pointwise(PointwiseActivation.GELU, 1);
        AttentionCore core = be.attentionCore(new AttentionCore.Spec(heads, hd, 0.5, gelu, null, null));
        List<Tensor> taken = new ArrayList<>();
        core.allocate(new ActivationMemory() {
            @Override
            public Tensor activation(long size) {
                float[] marker = new float[(int) size];
                Arrays.fill(marker, 42f);
                Tensor tensor = be.allocate((int) size);
                be.upload(tensor, marker);
                taken.add(tensor);
                return tensor;
            }

            @Override
            public Tensor gradient(long size) {
                return activation(size);
            }

            @Override
            public Tensor overwrittenGradient(long size) {
                return activation(size);
            }
        }, batch, t);
        Random r = new Random(5);
        Tensor qkv = be.allocate(batch * t * 3 * hd), merged = be.allocate(batch * t * hd);
        be.upload(qkv, gaussian(r, qkv.size()));
        core.forward(qkv, merged, batch, false);
        assertTrue(taken.contains(core.weights()));
        float[] marker = new float[batch * heads * t * t];
        Arrays.fill(marker, 42f);
        for (Tensor tensor : taken) if (tensor != core.weights()) assertArrayEquals(marker, be.downloadFloat(tensor));
    }

    @Test
    void fusedBackwardMatchesTheSeparateCpuOperations() {
        // The same float32 backend both ways: only summation order differs.
        CpuBackend be = new CpuBackend();
        int bh = 4, t = 33, hd = 24;
        AttentionWeighting w = AttentionWeighting.pointwise(PointwiseActivation.RELU2, 1);
        Random r = new Random(9);
        double[][] inputs = new double[7][];
        for (int i = 0; i < inputs.length; i++) inputs[i] = gaussian(r, bh * t * hd);
        Core fused = Core.on(be, inputs, bh, t, false);
        fused.run(bh, t, hd, w, false);
        Core separate = Core.on(be, inputs, bh, t, true);
        double scale = 1 / Math.sqrt(hd);
        be.attentionScores(separate.q, separate.k, separate.scores, bh, t, hd, scale);
        be.attentionWeights(separate.scores, separate.weights, bh * t, t, w);
        be.attentionApply(separate.weights, separate.v, separate.o, bh, t, hd);
        be.attentionApplyBackward(separate.dO, separate.weights, separate.v, separate.dWeights, separate.dv, bh, t, hd);
        be.attentionWeightsBackward(separate.scores, separate.weights, separate.dWeights, separate.dScores, bh * t, t, w);
        be.attentionScoresBackward(separate.dScores, separate.q, separate.k, separate.dq, separate.dk, bh, t, hd, scale);
        String[] names = {"output", "weights", "dq", "dk", "dv"};
        Tensor[] a = fused.results(), b = separate.results();
        for (int i = 0; i < names.length; i++) {
            assertClose(names[i], toDouble(be.downloadFloat(a[i])), toDouble(be.downloadFloat(b[i])), 1e-5, 0);
        }
    }

    static Stream<Arguments> projectionLayoutCases() {
        int longTokens = FusedAttention.TILE_FLOATS / 200 + 1;
        return Stream.of(
                // batch, heads, tokens, headDim
                Arguments.of(1, 1, 1, 3),
                // The small ViT's shape, fewer images.
                Arguments.of(7, 3, 65, 64),
                // A task's group of heads spans batch elements, so the products take it in runs. Groups are
                // ceil(BH / (4·threads)) heads: on the 2-core CI machine 3 and 25, neither a multiple of H.
                Arguments.of(5, 4, 17, 5),
                Arguments.of(65, 3, 5, 4),
                // More heads than a group, one head a task (S/16's shape).
                Arguments.of(2, 6, 197, 64),
                // Query rows in blocks: dk and dv overwritten by the first block, added to by the rest.
                Arguments.of(2, 2, longTokens, 16),
                Arguments.of(3, 37, 9, 8));
    }

    /**
     * The CPU's attention core without a step inside attends in the projections' layouts, without per-head tensors,
     * and must agree with the same fused core on split heads (through a step that copies q and k) and with the float64
     * reference's composed core. dQkv starts as NaN: every element must be overwritten.
     */
    @ParameterizedTest(name = "B={0} H={1} T={2} hd={3}")
    @MethodSource("projectionLayoutCases")
    void attendingInTheProjectionLayoutsMatchesSplittingTheHeads(int batch, int heads, int tokens, int headDim) {
        CpuBackend cpu = new CpuBackend();
        Random r = new Random(17L * tokens + heads);
        int width = heads * headDim, rows = batch * tokens;
        double[] qkv = gaussian(r, rows * 3 * width), dMerged = gaussian(r, rows * width);
        for (int i = 0; i < qkv.length; i++) qkv[i] *= 2;
        for (AttentionWeighting w : List.of(AttentionWeighting.softmaxWeights(),
                AttentionWeighting.pointwise(PointwiseActivation.RELU, 1),
                AttentionWeighting.pointwise(PointwiseActivation.SOFTPLUS, 0.5))) {
            String what = w + " B=" + batch + " H=" + heads + " T=" + tokens + " hd=" + headDim;
            InProjections expected = InProjections.run(new ReferenceBackend(), qkv, dMerged, batch, heads, tokens,
                    headDim, w, false);
            InProjections split = InProjections.run(cpu, qkv, dMerged, batch, heads, tokens, headDim, w, true);
            InProjections inPlace = InProjections.run(cpu, qkv, dMerged, batch, heads, tokens, headDim, w, false);
            double[][] want = expected.results(), same = split.results(), got = inPlace.results();
            String[] names = {"merged", "weights", "dQkv"};
            for (int i = 0; i < names.length; i++) {
                assertClose(what + " " + names[i] + " against float64", got[i], want[i], TOLERANCE, 0);
                // The same float32 products either way, only read from and written to other places.
                assertClose(what + " " + names[i] + " against the split heads", got[i], same[i], 1e-6, 0);
            }
        }
    }

    /** One run of the attention core from qkv to merged and back, the tensors read back as float64. */
    private record InProjections(double[] merged, double[] weights, double[] dQkv) {

        /**
         * @param splitHeads on the CPU, run the fused core on split heads (a {@link CopyingStep} inside) instead of
         *                   the backend's own core
         */
        static InProjections run(Backend be, double[] qkvValues, double[] dMergedValues, int batch, int heads,
                                 int tokens, int headDim, AttentionWeighting w, boolean splitHeads) {
            int btd = batch * tokens * heads * headDim;
            Tensor qkv = be.allocate(qkvValues.length), dMerged = be.allocate(dMergedValues.length);
            be.upload(qkv, qkvValues);
            be.upload(dMerged, dMergedValues);
            Tensor merged = be.allocate(btd), dQkv = be.allocate(qkvValues.length);
            float[] nan = new float[qkvValues.length];
            Arrays.fill(nan, Float.NaN);
            be.upload(dQkv, nan);
            double scale = 1 / Math.sqrt(headDim);
            AttentionCore core = splitHeads
                    ? new FusedAttentionCore((CpuBackend) be, new AttentionCore.Spec(heads, headDim, scale, w,
                    new CopyingStep(be, btd), null))
                    : be.attentionCore(new AttentionCore.Spec(heads, headDim, scale, w, null, null));
            core.allocate(new Workspace(be), batch, tokens);
            core.forward(qkv, merged, batch, true);
            core.backward(qkv, dMerged, dQkv, batch);
            return new InProjections(be.downloadDouble(merged), be.downloadDouble(core.weights()),
                    be.downloadDouble(dQkv));
        }

        double[][] results() {
            return new double[][]{merged, weights, dQkv};
        }
    }

    /** A step inside the core that passes q and k through unchanged (and their gradients back): for one backward. */
    static final class CopyingStep implements AttentionCore.QueryKeyStep {
        private final Backend be;
        private final Tensor queries, keys, dQueries, dKeys;

        CopyingStep(Backend be, int size) {
            this.be = be;
            queries = be.allocate(size);
            keys = be.allocate(size);
            dQueries = be.allocate(size);
            dKeys = be.allocate(size);
        }

        @Override
        public void forward(Tensor q, Tensor k, int batch) {
            be.copy(q, queries, q.size());
            be.copy(k, keys, k.size());
        }

        @Override
        public Tensor queries() {
            return queries;
        }

        @Override
        public Tensor keys() {
            return keys;
        }

        @Override
        public Tensor queriesGradient() {
            return dQueries;
        }

        @Override
        public Tensor keysGradient() {
            return dKeys;
        }

        @Override
        public void backward(Tensor q, Tensor k, Tensor dq, Tensor dk, int batch) {
            be.accumulate(dq, dQueries, dq.size());
            be.accumulate(dk, dKeys, dk.size());
        }
    }
}
