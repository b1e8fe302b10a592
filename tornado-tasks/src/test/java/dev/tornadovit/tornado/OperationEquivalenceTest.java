package dev.tornadovit.tornado;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.model.Workspace;
import dev.tornadovit.tensor.AdamWUpdate;
import dev.tornadovit.tensor.AttentionCore;
import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.PointwiseActivation;
import dev.tornadovit.tensor.PoolMode;
import dev.tornadovit.tensor.RecordedGraph;
import dev.tornadovit.tensor.Write;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Stream;

import static dev.tornadovit.tornado.Twin.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every Backend operation on the TornadoVM device against the CPU backend, on the same random inputs, forward and
 * backward, at sizes that do not divide the kernels' tiles and work-groups. Backward operations start from non-zero
 * gradients, so their "add into" contract is checked too. Runs with bailout off: a kernel TornadoVM cannot compile
 * fails here instead of running as Java.
 */
@Timeout(value = 600, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class OperationEquivalenceTest extends DeviceAgainstCpu {
    OperationEquivalenceTest() {
        super(42);
    }

    /** Float32 on both sides; sums come out in a different order. */
    private static final double TOL = 2e-5, SUM_TOL = 1e-4;


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

    // ---------------------------------------------------------------- memory and elementwise

    @Test
    void uploadDownloadZeroAndCopy() {
        Twin a = r(1001), b = r(1001);
        assertClose("upload", a, 0);
        both(be -> be.copy(a.on(be), b.on(be), 777));
        assertClose("copy", b, 0);
        both(be -> be.zero(a.on(be)));
        assertClose("zero", a, 0);
        // A tensor already on the device, uploaded again (through its staging graph).
        for (int round = 0; round < 3; round++) {
            float[] values = new float[1001];
            for (int i = 0; i < values.length; i++) values[i] = round * 1000 + i;
            cpu.upload(b.cpu(), values);
            dev.upload(b.device(), values);
            both(be -> be.accumulate(a.on(be), b.on(be), 1001));
            assertClose("accumulate after upload " + round, a, 0);
        }
    }

    @ParameterizedTest
    @CsvSource({"1", "17", "4099"})
    void elementwise(int n) {
        Twin a = r(n, 3), b = r(n, 3), out = z(n), grad = r(n), dx = r(n), dg = r(n);
        both(be -> be.add(a.on(be), b.on(be), out.on(be), n));
        assertClose("add", out, TOL);
        both(be -> be.accumulate(out.on(be), a.on(be), n));
        assertClose("accumulate", out, TOL);
        both(be -> be.gelu(a.on(be), out.on(be), n));
        assertClose("gelu", out, TOL);
        both(be -> be.geluBackward(a.on(be), grad.on(be), dx.on(be), n, Write.ACCUMULATE));
        assertClose("geluBackward", dx, TOL);
        both(be -> be.sigmoidGate(a.on(be), b.on(be), out.on(be), n));
        assertClose("sigmoidGate", out, TOL);
        both(be -> be.sigmoidGateBackward(a.on(be), b.on(be), grad.on(be), dg.on(be), dx.on(be), n));
        assertClose("sigmoidGateBackward dGatePre", dg, TOL);
        assertClose("sigmoidGateBackward dO", dx, TOL);
    }

    // ---------------------------------------------------------------- patches and tokens

    @Test
    void im2col() {
        int batch = 3, channels = 2, height = 6, width = 9, patch = 3;
        int patches = (height / patch) * (width / patch);
        Twin images = r(batch * channels * height * width), out = z(batch * patches * channels * patch * patch);
        both(be -> be.im2col(images.on(be), out.on(be), batch, channels, height, width, patch));
        assertClose("im2col", out, 0);
    }

    @ParameterizedTest
    @CsvSource({"true,true,false", "false,false,true", "true,false,false", "false,true,true"})
    void assembleTokens(boolean cls, boolean learned, boolean fixed) {
        int batch = 3, patches = 5, dim = 7, tokens = patches + (cls ? 1 : 0);
        Twin pe = r(batch * patches * dim), c = r(dim), pos = r(tokens * dim), fp = r(patches * dim);
        Twin out = z(batch * tokens * dim);
        both(be -> be.assembleTokens(pe.on(be), cls ? c.on(be) : null, learned ? pos.on(be) : null,
                fixed ? fp.on(be) : null, out.on(be), batch, patches, dim));
        assertClose("assembleTokens", out, TOL);
        Twin g = r(batch * tokens * dim), dpe = r(batch * patches * dim), dc = r(dim), dp = r(tokens * dim);
        both(be -> be.assembleTokensBackward(g.on(be), dpe.on(be), cls ? dc.on(be) : null, learned ? dp.on(be) : null,
                batch, patches, dim, cls));
        assertClose("assembleTokensBackward dPatches", dpe, TOL);
        assertClose("assembleTokensBackward dCls", dc, TOL);
        assertClose("assembleTokensBackward dPos", dp, TOL);
    }

    // ---------------------------------------------------------------- linear

    static Stream<Arguments> linearSizes() {
        // the last: the bias gradient sums 64 chunks of rows for each of 1536 columns (ViT-S/16's MLP width)
        return Stream.of(Arguments.of(1, 1, 1), Arguments.of(7, 13, 5), Arguments.of(70, 33, 130), Arguments.of(129, 65, 64),
                Arguments.of(4096, 3, 1536));
    }

    @ParameterizedTest
    @MethodSource("linearSizes")
    void linear(int m, int k, int n) {
        Twin x = r(m * k), w = r(n * k), bias = r(n), y = z(m * n);
        both(be -> be.linear(x.on(be), w.on(be), bias.on(be), y.on(be), m, k, n));
        assertClose("linear", y, SUM_TOL);
        both(be -> be.linear(x.on(be), w.on(be), null, y.on(be), m, k, n));
        assertClose("linear without bias", y, SUM_TOL);
        Twin dy = r(m * n), dx = r(m * k), dw = r(n * k), db = r(n);
        both(be -> be.linearBackward(dy.on(be), x.on(be), w.on(be), dx.on(be), dw.on(be), db.on(be), m, k, n, Write.ACCUMULATE));
        assertClose("linearBackward dx", dx, SUM_TOL);
        assertClose("linearBackward dw", dw, SUM_TOL);
        assertClose("linearBackward dBias", db, SUM_TOL);
        both(be -> be.linearBackward(dy.on(be), x.on(be), w.on(be), null, dw.on(be), null, m, k, n, Write.ACCUMULATE));
        assertClose("linearBackward dw only", dw, SUM_TOL);
    }

    /**
     * The MLP's fc1 and GELU, recorded: one kernel (GELU in the GEMM's epilogue, writing the pre-activation too) where
     * our GEMM kernels run the product, the product and a GELU kernel with cuBLAS; with and without a bias.
     */
    @ParameterizedTest
    @MethodSource("linearSizes")
    void linearGelu(int m, int k, int n) {
        Twin x = r(m * k), w = r(n * k), bias = r(n), pre = z(m * n), y = z(m * n);
        boolean fused = dev.gemmStrategy() != GemmStrategy.CUBLAS;
        String label = "linearGelu " + m + "x" + k + "x" + n;
        String geluKernel = dev.wideElementwise() ? "geluWide" : "gelu";
        int gelusBefore = dev.kernelTasks(geluKernel);
        both(be -> be.record(label, () -> be.linearGelu(x.on(be), w.on(be), bias.on(be), pre.on(be), y.on(be), m, k,
                n)).run());
        assertEquals(fused ? 1 : 2, dev.taskCount(label), fused ? "one product with GELU in its epilogue"
                : "the product, then GELU");
        assertEquals(fused ? 0 : 1, dev.kernelTasks(geluKernel) - gelusBefore, "a GELU kernel only where not fused");
        assertClose("linearGelu pre-activation", pre, SUM_TOL);
        assertClose("linearGelu", y, SUM_TOL);
        Twin pre2 = z(m * n), y2 = z(m * n);
        both(be -> be.linearGelu(x.on(be), w.on(be), null, pre2.on(be), y2.on(be), m, k, n));
        assertClose("linearGelu without bias, pre-activation", pre2, SUM_TOL);
        assertClose("linearGelu without bias", y2, SUM_TOL);
    }

    /**
     * fc2's backward down to GELU's input, recorded: dPre = (dy·w) ⊙ GELU'(pre) from the input-gradient product's
     * epilogue where our GEMM kernels fuse the GELU (no dy·w stored, no GELU-backward kernel), apart with cuBLAS; the
     * weight and bias gradients added into, as linearBackward's.
     */
    @ParameterizedTest
    @MethodSource("linearSizes")
    void linearGeluBackward(int m, int k, int n) {
        Twin dy = r(m * n), pre = r(m * k, 3), x = z(m * k), w = r(n * k);
        Twin dGelu = r(m * k), dPre = r(m * k), dw = r(n * k), db = r(n);
        both(be -> be.gelu(pre.on(be), x.on(be), m * k));
        boolean fused = dev.gemmStrategy() != GemmStrategy.CUBLAS;
        assertEquals(!fused, dev.linearGeluBackwardUsesScratch(), "the dGelu scratch only where not fused");
        String label = "linearGeluBackward " + m + "x" + k + "x" + n;
        int gelusBefore = dev.kernelTasks("geluBackward");
        // where fused, no scratch: the backend must not need it
        both(be -> be.record(label, () -> be.linearGeluBackward(dy.on(be), x.on(be), w.on(be), pre.on(be),
                be.linearGeluBackwardUsesScratch() ? dGelu.on(be) : null, dPre.on(be), dw.on(be), db.on(be), m, k,
                n)).run());
        assertEquals(fused ? 0 : 1, dev.kernelTasks("geluBackward") - gelusBefore,
                "a GELU-backward kernel only where not fused");
        assertClose("linearGeluBackward dPre", dPre, SUM_TOL);
        assertClose("linearGeluBackward dw", dw, SUM_TOL);
        assertClose("linearGeluBackward dBias", db, SUM_TOL);
    }

    /** The weight gradient with its tokens split among several products (as on a GPU with many compute units). */
    @ParameterizedTest
    @CsvSource({"1536,70,33", "1024,64,130", "2048,17,9"})
    void linearBackwardWithTokensSplit(int m, int k, int n) {
        int previous = dev.products().setGemmTargetGroups(1 << 20);
        try {
            assertTrue(dev.products().tokenSplits(m, n, k) > 1, "the tokens are split");
            Twin x = r(m * k), w = r(n * k), dy = r(m * n), dx = r(m * k), dw = r(n * k), db = r(n);
            both(be -> be.linearBackward(dy.on(be), x.on(be), w.on(be), dx.on(be), dw.on(be), db.on(be), m, k, n, Write.ACCUMULATE));
            assertClose("linearBackward dx", dx, SUM_TOL);
            assertClose("linearBackward dw, tokens split", dw, SUM_TOL);
            assertClose("linearBackward dBias", db, SUM_TOL);
        } finally {
            dev.products().setGemmTargetGroups(previous);
        }
    }

    /** The split fills whole waves: ViT-S/16 at batch 128 on a GPU running 528 work-groups at once (an H100). */
    @Test
    void tokenSplitsCountWholeWavesOfWorkGroups() {
        int previous = dev.products().setGemmTargetGroups(528);
        try {
            int tokens = 128 * 197;
            // MLP dW: 144 tiles. 4 parts made 576 groups (a full wave and a nearly empty one); 32 parts: 8.7 of 9 waves.
            assertEquals(32, dev.products().tokenSplits(tokens, 1536, 384));
            assertEquals(32, dev.products().tokenSplits(tokens, 384, 384));
            assertEquals(1, dev.products().tokenSplits(1000, 64, 64), "parts would be shorter than 512 tokens");
            assertEquals(1, dev.products().tokenSplits(tokens, 2048, 2048), "enough output tiles for the device already");
            for (int t : new int[]{512, 4160, 8320, 25216}) {
                int s = dev.products().tokenSplits(t, 192, 576);
                assertEquals(0, t % s, "equal parts");
                assertTrue(s == 1 || t / s >= MatrixProducts.MIN_SPLIT_TOKENS, "parts of at least 512 tokens");
            }
        } finally {
            dev.products().setGemmTargetGroups(previous);
        }
    }

    // ---------------------------------------------------------------- normalisation

    @ParameterizedTest
    @CsvSource({"1,1", "9,16", "37,37", "5,300"})
    void layerNorm(int m, int d) {
        Twin x = r(m * d, 2), g = r(d), b = r(d), y = z(m * d), mean = z(m), rstd = z(m);
        both(be -> be.layerNorm(x.on(be), g.on(be), b.on(be), y.on(be), mean.on(be), rstd.on(be), m, d, 1e-6));
        assertClose("layerNorm", y, SUM_TOL);
        assertClose("layerNorm mean", mean, SUM_TOL);
        assertClose("layerNorm rstd", rstd, SUM_TOL);
        Twin dy = r(m * d), dx = r(m * d), dg = r(d), db = r(d);
        both(be -> be.layerNormBackward(dy.on(be), x.on(be), g.on(be), mean.on(be), rstd.on(be), dx.on(be), dg.on(be),
                db.on(be), m, d));
        assertClose("layerNormBackward dx", dx, SUM_TOL);
        assertClose("layerNormBackward dGamma", dg, SUM_TOL);
        assertClose("layerNormBackward dBeta", db, SUM_TOL);
    }

    @ParameterizedTest
    @CsvSource({"1,1", "9,16", "37,37", "5,300"})
    void addLayerNorm(int m, int d) {
        Twin a = r(m * d, 2), b = r(m * d, 3), sum = z(m * d), g = r(d), bt = r(d), y = z(m * d), mean = z(m),
                rstd = z(m);
        both(be -> be.addLayerNorm(a.on(be), b.on(be), sum.on(be), g.on(be), bt.on(be), y.on(be), mean.on(be),
                rstd.on(be), m, d, 1e-6));
        assertClose("addLayerNorm sum", sum, 0);
        assertClose("addLayerNorm", y, SUM_TOL);
        assertClose("addLayerNorm mean", mean, SUM_TOL);
        assertClose("addLayerNorm rstd", rstd, SUM_TOL);
    }

    // ---------------------------------------------------------------- attention

    @Test
    void headsSplitAndMerge() {
        int batch = 2, tokens = 5, heads = 3, headDim = 7, dim = heads * headDim, n = batch * tokens * dim;
        Twin qkv = r(3 * n), q = z(n), k = z(n), v = z(n);
        both(be -> be.splitHeads(qkv.on(be), q.on(be), k.on(be), v.on(be), batch, tokens, heads, headDim));
        assertClose("splitHeads q", q, 0);
        assertClose("splitHeads k", k, 0);
        assertClose("splitHeads v", v, 0);
        Twin dq = r(n), dk = r(n), dv = r(n), dQkv = r(3 * n);
        both(be -> be.splitHeadsBackward(dq.on(be), dk.on(be), dv.on(be), dQkv.on(be), batch, tokens, heads, headDim, Write.ACCUMULATE));
        assertClose("splitHeadsBackward", dQkv, TOL);
        Twin out = z(n), dO = r(n);
        both(be -> be.mergeHeads(q.on(be), out.on(be), batch, tokens, heads, headDim));
        assertClose("mergeHeads", out, 0);
        both(be -> be.mergeHeadsBackward(dq.on(be), dO.on(be), batch, tokens, heads, headDim, Write.ACCUMULATE));
        assertClose("mergeHeadsBackward", dO, TOL);
    }

    @ParameterizedTest
    @CsvSource({"6,17,5", "2,65,16", "1,3,1"})
    void attentionProducts(int batchHeads, int tokens, int headDim) {
        int th = batchHeads * tokens * headDim, tt = batchHeads * tokens * tokens;
        double scale = 1 / Math.sqrt(headDim);
        Twin q = r(th), k = r(th), v = r(th), scores = z(tt);
        both(be -> be.attentionScores(q.on(be), k.on(be), scores.on(be), batchHeads, tokens, headDim, scale));
        assertClose("attentionScores", scores, SUM_TOL);
        Twin dS = r(tt), dq = r(th), dk = r(th);
        both(be -> be.attentionScoresBackward(dS.on(be), q.on(be), k.on(be), dq.on(be), dk.on(be), batchHeads, tokens,
                headDim, scale));
        assertClose("attentionScoresBackward dq", dq, SUM_TOL);
        assertClose("attentionScoresBackward dk", dk, SUM_TOL);
        Twin weights = r(tt), o = z(th);
        both(be -> be.attentionApply(weights.on(be), v.on(be), o.on(be), batchHeads, tokens, headDim));
        assertClose("attentionApply", o, SUM_TOL);
        Twin dO = r(th), dW = r(tt), dv = r(th);
        both(be -> be.attentionApplyBackward(dO.on(be), weights.on(be), v.on(be), dW.on(be), dv.on(be), batchHeads,
                tokens, headDim));
        assertClose("attentionApplyBackward dWeights", dW, SUM_TOL);
        assertClose("attentionApplyBackward dv", dv, SUM_TOL);
    }

    @ParameterizedTest
    @CsvSource({"7,5", "3,197", "2,300", "21,65", "45,785"}) // rows past a work-group's eight, a ragged last group
    void softmaxWeights(int rows, int keys) {
        Twin s = r(rows * keys, 4), a = z(rows * keys);
        AttentionWeighting w = AttentionWeighting.softmaxWeights();
        both(be -> be.attentionWeights(s.on(be), a.on(be), rows, keys, w));
        assertClose("softmax", a, TOL);
        Twin da = r(rows * keys), ds = r(rows * keys);
        both(be -> be.attentionWeightsBackward(s.on(be), a.on(be), da.on(be), ds.on(be), rows, keys, w));
        assertClose("softmaxBackward", ds, SUM_TOL);
    }

    @ParameterizedTest
    @EnumSource(PointwiseActivation.class)
    void pointwiseWeights(PointwiseActivation activation) {
        int rows = 5, keys = 13;
        for (double alpha : new double[]{1, 0.5, 0, 1.7}) {
            AttentionWeighting w = AttentionWeighting.pointwise(activation, alpha);
            Twin s = r(rows * keys, 8), a = z(rows * keys);
            both(be -> be.attentionWeights(s.on(be), a.on(be), rows, keys, w));
            assertClose(w + " weights", a, TOL);
            Twin da = r(rows * keys), ds = r(rows * keys);
            both(be -> be.attentionWeightsBackward(s.on(be), a.on(be), da.on(be), ds.on(be), rows, keys, w));
            assertClose(w + " backward", ds, TOL);
            if (!w.backwardNeedsScores()) {
                // what HeadsInPlaceCore runs for these: φ's backward from the weights alone, as the CPU's from the scores
                Twin fromWeights = r(rows * keys);
                cpu.attentionWeightsBackward(s.on(cpu), a.on(cpu), da.on(cpu), fromWeights.on(cpu), rows, keys, w);
                dev.attention().attentionWeightsBackward(null, a.on(dev), da.on(dev), fromWeights.on(dev), rows, keys,
                        w, 1);
                assertClose(w + " backward from the weights", fromWeights, TOL);
            }
        }
    }

    static Stream<Arguments> fusedAttentionCases() {
        return Stream.of(Arguments.of(PointwiseActivation.RELU, 1.0, 3, 70, 64), Arguments.of(PointwiseActivation.RELU2, 0.5, 2, 17, 5),
                Arguments.of(PointwiseActivation.GELU, 1.0, 2, 33, 16), Arguments.of(PointwiseActivation.SOFTPLUS, 1.7, 1, 65, 8),
                Arguments.of(PointwiseActivation.IDENTITY, 1.0, 2, 9, 3), Arguments.of(PointwiseActivation.RELU6, 0.0, 2, 31, 33),
                Arguments.of(PointwiseActivation.SIGMOID, 1.0, 4, 64, 64));
    }

    /**
     * The attention core's scores → φ → ·V, recorded in a graph, runs as the fused kernel (between splitting and
     * merging the heads) and writes what the three operations would; its backward, recorded too, runs as the two fused
     * backward kernels from what the forward kept and gives the three operations' dq, dk, dv.
     */
    @ParameterizedTest
    @MethodSource("fusedAttentionCases")
    void fusedPointwiseAttention(PointwiseActivation activation, double alpha, int batchHeads, int tokens, int headDim) {
        int th = batchHeads * tokens * headDim, tt = batchHeads * tokens * tokens;
        double scale = 1 / Math.sqrt(headDim);
        AttentionWeighting w = AttentionWeighting.pointwise(activation, alpha);
        // One head per image: qkv [BH,T,3,1,hd], and the merged heads are o [BH,T,hd].
        AttentionCore.Spec spec = new AttentionCore.Spec(1, headDim, scale, w, null, null);
        Twin qkv = r(3 * th, 2), merged = z(th), dMerged = r(th), dQkv = r(3 * th);
        Twin q = z(th), k = z(th), v = z(th), oAlone = z(th);
        String name = "fused " + w + " " + batchHeads + "x" + tokens + "x" + headDim;
        boolean fusedBefore = dev.fusedAttention();
        dev.setFusedAttention(true); // off by default
        RecordedGraph[] onDevice = new RecordedGraph[2];
        AttentionCore[] cores = new AttentionCore[2];
        int backwardBefore = dev.kernelTasks("pointwiseAttentionKeyValueGradients")
                             + dev.kernelTasks("pointwiseAttentionQueryGradients");
        try {
            both(be -> {
                AttentionCore core = be.attentionCore(spec);
                core.allocate(new Workspace(be), batchHeads, tokens);
                RecordedGraph graph = be.record(name, () -> core.forward(qkv.on(be), merged.on(be), batchHeads, true));
                RecordedGraph backward = be.record(name + " backward",
                        () -> core.backward(qkv.on(be), dMerged.on(be), dQkv.on(be), batchHeads));
                if (be == dev) {
                    onDevice[0] = graph;
                    onDevice[1] = backward;
                }
                cores[be == dev ? 1 : 0] = core;
                graph.run();
                backward.run();
            });
        } finally {
            dev.setFusedAttention(fusedBefore);
        }
        org.junit.jupiter.api.Assertions.assertEquals(3, dev.taskCount(onDevice[0]),
                "split heads, one fused task, merge heads");
        org.junit.jupiter.api.Assertions.assertEquals(4, dev.taskCount(onDevice[1]),
                "merge heads' backward, the two fused backward tasks, split heads' backward");
        org.junit.jupiter.api.Assertions.assertEquals(backwardBefore + 2,
                dev.kernelTasks("pointwiseAttentionKeyValueGradients") + dev.kernelTasks("pointwiseAttentionQueryGradients"),
                "the fused backward kernels");
        assertClose(name + " weights", new Twin(cores[0].weights(), cores[1].weights(), tt), SUM_TOL);
        assertClose(name + " output", merged, SUM_TOL);
        assertClose(name + " dQkv", dQkv, SUM_TOL);
        // the inference kernel: same output, no maps
        both(be -> be.splitHeads(qkv.on(be), q.on(be), k.on(be), v.on(be), batchHeads, tokens, 1, headDim));
        new FusedAttention(dev).pointwiseWithoutMaps(q.device(), k.device(), v.device(), oAlone.device(), batchHeads, tokens,
                headDim, scale, w);
        cpu.copy(merged.cpu(), oAlone.cpu(), th);
        assertClose(name + " output without maps", oAlone, SUM_TOL);
    }

    @Test
    void reattentionHeadMix() {
        int batch = 3, heads = 4, mapSize = 7 * 7;
        Twin maps = r(batch * heads * mapSize), theta = r(heads * heads), bias = r(heads), out = z(batch * heads * mapSize);
        both(be -> be.headMix(maps.on(be), theta.on(be), bias.on(be), out.on(be), batch, heads, mapSize));
        assertClose("headMix", out, SUM_TOL);
        Twin dOut = r(batch * heads * mapSize), dMaps = r(batch * heads * mapSize), dTheta = r(heads * heads), dBias = r(heads);
        both(be -> be.headMixBackward(dOut.on(be), maps.on(be), theta.on(be), dMaps.on(be), dTheta.on(be), dBias.on(be),
                batch, heads, mapSize));
        assertClose("headMixBackward dMaps", dMaps, SUM_TOL);
        assertClose("headMixBackward dTheta", dTheta, SUM_TOL);
        assertClose("headMixBackward dBias", dBias, SUM_TOL);
    }

    @ParameterizedTest
    @CsvSource({"3,4,49", "2,3,5000"})
    void reattentionBatchNorm(int batch, int heads, int mapSize) {
        int n = batch * heads * mapSize;
        Twin x = r(n, 2), g = r(heads), b = r(heads), y = z(n), mean = z(heads), rstd = z(heads);
        float[] variances = new float[heads];
        for (int h = 0; h < heads; h++) variances[h] = 0.5f + 0.25f * h;
        Twin runMean = r(heads, 0.1), runVar = Twin.of(cpu, dev, variances);
        both(be -> be.headBatchNorm(x.on(be), g.on(be), b.on(be), y.on(be), mean.on(be), rstd.on(be), runMean.on(be),
                runVar.on(be), batch, heads, mapSize, 1e-5, 0.1, true));
        assertClose("headBatchNorm train", y, SUM_TOL);
        assertClose("headBatchNorm mean", mean, SUM_TOL);
        assertClose("headBatchNorm rstd", rstd, SUM_TOL);
        assertClose("headBatchNorm running mean", runMean, SUM_TOL);
        assertClose("headBatchNorm running var", runVar, SUM_TOL);
        Twin dy = r(n), dx = r(n), dg = r(heads), db = r(heads);
        both(be -> be.headBatchNormBackward(dy.on(be), x.on(be), g.on(be), mean.on(be), rstd.on(be), dx.on(be),
                dg.on(be), db.on(be), batch, heads, mapSize));
        assertClose("headBatchNormBackward dx", dx, SUM_TOL);
        assertClose("headBatchNormBackward dGamma", dg, SUM_TOL);
        assertClose("headBatchNormBackward dBeta", db, SUM_TOL);
        both(be -> be.headBatchNorm(x.on(be), g.on(be), b.on(be), y.on(be), mean.on(be), rstd.on(be), runMean.on(be),
                runVar.on(be), batch, heads, mapSize, 1e-5, 0.1, false));
        assertClose("headBatchNorm eval", y, SUM_TOL);
    }

    @Test
    void reattentionHeadLayerNorm() {
        int batch = 3, heads = 5, mapSize = 11 * 11, n = batch * heads * mapSize;
        Twin x = r(n, 2), g = r(heads), b = r(heads), y = z(n), mean = z(batch * mapSize), rstd = z(batch * mapSize);
        both(be -> be.headLayerNorm(x.on(be), g.on(be), b.on(be), y.on(be), mean.on(be), rstd.on(be), batch, heads,
                mapSize, 1e-5));
        assertClose("headLayerNorm", y, SUM_TOL);
        Twin dy = r(n), dx = r(n), dg = r(heads), db = r(heads);
        both(be -> be.headLayerNormBackward(dy.on(be), x.on(be), g.on(be), mean.on(be), rstd.on(be), dx.on(be),
                dg.on(be), db.on(be), batch, heads, mapSize));
        assertClose("headLayerNormBackward dx", dx, SUM_TOL);
        assertClose("headLayerNormBackward dGamma", dg, SUM_TOL);
        assertClose("headLayerNormBackward dBeta", db, SUM_TOL);
    }

    // ---------------------------------------------------------------- pooling, loss, optimiser

    @ParameterizedTest
    @EnumSource(PoolMode.class)
    void pool(PoolMode mode) {
        int batch = 3, tokens = 6, dim = 11;
        Twin x = r(batch * tokens * dim), y = z(batch * dim);
        both(be -> be.pool(x.on(be), y.on(be), batch, tokens, dim, mode));
        assertClose("pool " + mode, y, TOL);
        Twin dy = r(batch * dim), dx = r(batch * tokens * dim);
        both(be -> be.poolBackward(dy.on(be), dx.on(be), batch, tokens, dim, mode));
        assertClose("poolBackward " + mode, dx, TOL);
    }

    @ParameterizedTest
    @CsvSource({"5,3,0", "300,10,0.1", "2,1000,0.2"})
    void crossEntropy(int batch, int classes, double smoothing) {
        Twin logits = r(batch * classes, 5), loss = z(1), dLogits = r(batch * classes);
        float[] labels = new float[batch];
        for (int i = 0; i < batch; i++) labels[i] = random.nextInt(classes);
        Twin y = Twin.of(cpu, dev, labels);
        both(be -> be.crossEntropy(logits.on(be), y.on(be), loss.on(be), dLogits.on(be), batch, classes, smoothing));
        assertClose("crossEntropy loss", loss, SUM_TOL);
        assertClose("crossEntropy dLogits", dLogits, SUM_TOL);
    }

    @Test
    void crossEntropyRefusesLabelsOutsideTheClasses() {
        Twin logits = r(6), loss = z(1), dLogits = z(6);
        Twin y = Twin.of(cpu, dev, new float[]{1, 3});
        IllegalArgumentException first = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> dev.crossEntropy(logits.device(), y.device(), loss.device(), dLogits.device(), 2, 3, 0));
        org.junit.jupiter.api.Assertions.assertTrue(first.getMessage().contains("label 3 of sample 1"), first.getMessage());
        dev.upload(y.device(), new float[]{1, 2});
        dev.crossEntropy(logits.device(), y.device(), loss.device(), dLogits.device(), 2, 3, 0);
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> dev.upload(y.device(), new float[]{-1, 0}), "an upload of invalid labels to a labels tensor");
    }

    @ParameterizedTest
    @CsvSource({"1", "1000", "300001"})
    void sumOfSquares(int n) {
        Twin x = r(n), acc = r(3);
        both(be -> be.sumOfSquares(x.on(be), n, acc.on(be), 1));
        assertClose("sumOfSquares", acc, SUM_TOL);
    }

    @Test
    void adamW() {
        int n = 1003, offset = 7; // the moments start past the moment tensors' start, as in the optimiser's flat ones
        Twin p = r(n), g = r(n), m = r(offset + n, 0.1), v = Twin.random(cpu, dev, offset + n, random, 0.01);
        Twin v2 = z(offset + n);
        for (int i = 0; i < offset + n; i++) {
            // second moments are non-negative
            float value = Math.abs(CpuBackend.data(v.cpu())[i]);
            CpuBackend.data(v2.cpu())[i] = value;
        }
        dev.upload(v2.device(), CpuBackend.data(v2.cpu()));
        Twin hyper = Twin.of(cpu, dev, new float[]{1e-3f, 0.19f, 0.0199f, 0.7f});
        both(be -> be.adamW(new AdamWUpdate(p.on(be), g.on(be), m.on(be), v2.on(be), offset, hyper.on(be), 0.05),
                0.9, 0.999, 1e-8));
        assertClose("adamW param", p, TOL);
        assertClose("adamW m", m, TOL);
        assertClose("adamW v", v2, TOL);
    }
}
