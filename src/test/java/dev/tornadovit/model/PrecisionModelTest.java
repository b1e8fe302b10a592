package dev.tornadovit.model;

import dev.tornadovit.backend.Backends;
import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.cli.ModelOptions;
import dev.tornadovit.data.DefaultData;
import dev.tornadovit.data.ImageDataset;
import dev.tornadovit.data.Normalization;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Precision;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.train.EpochRecord;
import dev.tornadovit.train.Trainer;
import dev.tornadovit.train.TrainingListener;
import dev.tornadovit.train.TrainingOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A model in bf16 and tf32 against the same model in fp32, on the CPU's exact emulation.
 *
 * <p>The error budget. Rounding an operand to bf16 keeps 8 significand bits (7 stored), so its relative error is at
 * most u = 2^-8 (tf32: 2^-11). A product of two rounded operands is then off by at most (2u + u²)·|a||b|, and a
 * K-term dot product by at most (2u + u²)·Σ|a||b|; both sides also accumulate in fp32, each within K·2^-24·Σ|a||b|.
 * That bound is checked element by element on single products of a real model's shapes. A whole forward pass chains
 * P = 2 + 6·depth products (patch embedding, per block q·k·v, scores, weights·v, projection and the two MLP layers,
 * the head); were every one off by its worst case 2u and nothing cancelled, the logits would be off by about P·2u,
 * 0.20 for the 4-block demo model in bf16 — the bound the test allows. Rounding errors are random, so the measured
 * error is far smaller (0.4 % in bf16, 0.05 % in tf32 on this batch), and tf32's is smaller than bf16's by about
 * their ratio of u, 8.
 */
class PrecisionModelTest {

    private static final int BATCH = 32;

    private static ViTConfig demoModel() {
        return ViTConfig.builder().image(28, 28, 1).patchSize(7).numClasses(10)
                .size(ModelOptions.DEFAULT_WIDTH, ModelOptions.DEFAULT_DEPTH, ModelOptions.DEFAULT_HEADS,
                        ModelOptions.DEFAULT_MLP).build();
    }

    /** BATCH Fashion-MNIST test images, normalised as training normalises them. */
    private static float[] images() {
        ImageDataset test = DefaultData.fashionMnist(false).subset(IntStream.range(0, BATCH).toArray());
        Normalization norm = Normalization.compute(test);
        float[] pixels = new float[BATCH * test.imageSize()];
        for (int i = 0; i < BATCH; i++) {
            test.copyImage(i, pixels, i * test.imageSize());
            norm.apply(pixels, i * test.imageSize(), 28 * 28);
        }
        return pixels;
    }

    private static float[] logits(Precision p, float[] pixels) {
        try (Backend be = new CpuBackend(0, p)) {
            VisionTransformer vit = new VisionTransformer(demoModel(), be, 7);
            vit.setTraining(false);
            Tensor in = be.allocate(pixels.length);
            be.upload(in, pixels);
            return be.downloadFloat(vit.forward(in, BATCH));
        }
    }

    private static double relativeError(float[] actual, float[] reference) {
        double diff = 0, norm = 0;
        for (int i = 0; i < reference.length; i++) {
            diff += Math.pow((double) actual[i] - reference[i], 2);
            norm += Math.pow(reference[i], 2);
        }
        return Math.sqrt(diff / norm);
    }

    @Test
    void wholeForwardInBf16AndTf32StaysWithinTheRoundingBudgetOfFp32() {
        float[] pixels = images();
        float[] fp32 = logits(Precision.FP32, pixels), bf16 = logits(Precision.BF16, pixels),
                tf32 = logits(Precision.TF32, pixels);
        int products = 2 + 6 * ModelOptions.DEFAULT_DEPTH;
        double bf16Budget = products * 2 * Precision.BF16.unitRoundoff();
        double bf16Error = relativeError(bf16, fp32), tf32Error = relativeError(tf32, fp32);
        System.out.printf("logits vs fp32, relative L2 error: bf16 %.3e, tf32 %.3e (budget %.3f)%n", bf16Error,
                tf32Error, bf16Budget);
        assertTrue(bf16Error > 0 && bf16Error <= bf16Budget, "bf16 error " + bf16Error + " vs budget " + bf16Budget);
        assertTrue(tf32Error > 0 && tf32Error <= products * 2 * Precision.TF32.unitRoundoff(), "tf32 " + tf32Error);
        // tf32 keeps 3 more bits: its error is several times smaller (8 in expectation; at least 2 asked).
        assertTrue(tf32Error * 2 < bf16Error, "tf32 " + tf32Error + " vs bf16 " + bf16Error);
        // The classes the model predicts are the same for nearly every image.
        int agree = 0;
        for (int i = 0; i < BATCH; i++) if (argmax(fp32, i * 10) == argmax(bf16, i * 10)) agree++;
        assertTrue(agree >= BATCH - 2, agree + " of " + BATCH + " predictions agree");
    }

    /** Each product meets the per-product bound (2u + u²)·Σ|a||b| plus both sides' fp32 accumulation. */
    @Test
    void everyProductKindMeetsTheDotProductBound() {
        SplittableRandom rng = new SplittableRandom(5);
        int m = 64, k = 197, n = 96;
        float[] a = new float[m * k], b = new float[n * k];
        for (int i = 0; i < a.length; i++) a[i] = (float) rng.nextGaussian();
        for (int i = 0; i < b.length; i++) b[i] = (float) (rng.nextGaussian() * 0.05);
        for (Precision p : List.of(Precision.TF32, Precision.BF16)) {
            double u = p.unitRoundoff(), accumulation = 2 * k * Math.scalb(1.0, -24) * (1 + u) * (1 + u);
            try (Backend fp32 = new CpuBackend(0, Precision.FP32); Backend reduced = new CpuBackend(0, p)) {
                // linear: y = a·bᵀ (a [M,K], b [N,K]); attention scores: the same product per head, batch of one.
                float[] yFp32 = linear(fp32, a, b, m, k, n), yReduced = linear(reduced, a, b, m, k, n);
                float[] sFp32 = scores(fp32, a, b, m, k, n), sReduced = scores(reduced, a, b, m, k, n);
                for (int i = 0; i < m; i++) {
                    for (int j = 0; j < n; j++) {
                        double absDot = 0;
                        for (int kk = 0; kk < k; kk++) absDot += Math.abs((double) a[i * k + kk] * b[j * k + kk]);
                        double bound = (2 * u + u * u + accumulation) * absDot;
                        double dLinear = Math.abs(yReduced[i * n + j] - yFp32[i * n + j]);
                        double dScores = Math.abs(sReduced[i * n + j] - sFp32[i * n + j]);
                        assertTrue(dLinear <= bound, p + " linear (" + i + "," + j + "): " + dLinear + " > " + bound);
                        assertTrue(dScores <= bound, p + " scores (" + i + "," + j + "): " + dScores + " > " + bound);
                    }
                }
            }
        }
    }

    private static float[] linear(Backend be, float[] a, float[] b, int m, int k, int n) {
        Tensor x = be.allocate(a.length), w = be.allocate(b.length), y = be.allocate(m * n);
        be.upload(x, a);
        be.upload(w, b);
        be.linear(x, w, null, y, m, k, n);
        return be.downloadFloat(y);
    }

    /** q [M,K] against keys [N,K] as attention scores with scale 1 (M = N tokens needed: pad the keys). */
    private static float[] scores(Backend be, float[] a, float[] b, int m, int k, int n) {
        int tokens = Math.max(m, n);
        float[] q = new float[tokens * k], keys = new float[tokens * k];
        System.arraycopy(a, 0, q, 0, a.length);
        System.arraycopy(b, 0, keys, 0, b.length);
        Tensor tq = be.allocate(q.length), tk = be.allocate(keys.length), s = be.allocate(tokens * tokens);
        be.upload(tq, q);
        be.upload(tk, keys);
        be.attentionScores(tq, tk, s, 1, tokens, k, 1.0);
        float[] all = be.downloadFloat(s), out = new float[m * n];
        for (int i = 0; i < m; i++) System.arraycopy(all, i * tokens, out, i * n, n);
        return out;
    }

    private static int argmax(float[] x, int off) {
        int best = 0;
        for (int c = 1; c < 10; c++) if (x[off + c] > x[off + best]) best = c;
        return best;
    }

    /**
     * A few steps of training in bf16 on the demo data: the loss falls as in fp32 and stays close to fp32's. Weights,
     * AdamW state and the loss are fp32 in both; only the products' operands differ.
     */
    @Test
    void shortBf16TrainingLearnsLikeFp32(@TempDir Path dir) {
        ImageDataset train = DefaultData.fashionMnist(true).subset(IntStream.range(0, 640).toArray());
        ImageDataset eval = DefaultData.fashionMnist(false).subset(IntStream.range(0, 128).toArray());
        Normalization norm = Normalization.compute(train);
        TrainingOptions options = TrainingOptions.defaults().withEpochs(1).withBatchSize(32).withLr(3e-3)
                .withCheckpointEvery(0).withSeed(2);
        List<Double> fp32 = steps(Precision.FP32, train, eval, norm, options, dir.resolve("fp32"));
        List<Double> bf16 = steps(Precision.BF16, train, eval, norm, options, dir.resolve("bf16"));
        assertEquals(fp32.size(), bf16.size());
        double firstBf16 = bf16.getFirst(), lastBf16 = tail(bf16), lastFp32 = tail(fp32);
        System.out.printf("training loss, first step and mean of the last 5: fp32 %.4f → %.4f, bf16 %.4f → %.4f%n",
                fp32.getFirst(), lastFp32, firstBf16, lastBf16);
        // The first step sees identical weights: only the products' rounding separates the two losses.
        assertEquals(fp32.getFirst(), firstBf16, 0.01, "first-step loss");
        // 20 steps take the loss from ln 10 = 2.30 to about 1.97 in either precision.
        assertTrue(lastBf16 < firstBf16 - 0.2, "bf16 loss falls: " + firstBf16 + " → " + lastBf16);
        // After 20 steps from the same start the two runs' recent losses stay within 0.05 nats of each other
        // (measured: under 0.001).
        assertEquals(lastFp32, lastBf16, 0.05, "bf16 vs fp32 loss after " + bf16.size() + " steps");
    }

    private static double tail(List<Double> losses) {
        return losses.subList(losses.size() - 5, losses.size()).stream().mapToDouble(Double::doubleValue).average()
                .orElseThrow();
    }

    private static List<Double> steps(Precision p, ImageDataset train, ImageDataset eval, Normalization norm,
                                      TrainingOptions options, Path dir) {
        List<Double> losses = new ArrayList<>();
        try (Backend be = Backends.create("cpu", 0, p)) {
            VisionTransformer vit = new VisionTransformer(demoModel(), be, options.seed());
            TrainingListener listener = new TrainingListener() {
                @Override
                public void stepDone(int epoch, int batch, long globalStep, double loss, double lr, double ips) {
                    losses.add(loss);
                }
            };
            List<EpochRecord> history = new Trainer(vit, train, eval, norm, options, dir, listener).run();
            assertTrue(Double.isFinite(history.getLast().evalLoss()));
        }
        return losses;
    }

    @Test
    void weightsAreTheSameWhateverThePrecisionAndTheReferenceRefusesReducedOnes() {
        try (Backend fp32 = new CpuBackend(0, Precision.FP32); Backend bf16 = new CpuBackend(0, Precision.BF16)) {
            VisionTransformer a = new VisionTransformer(demoModel(), fp32, 3);
            VisionTransformer b = new VisionTransformer(demoModel(), bf16, 3);
            for (int i = 0; i < a.parameters().size(); i++) {
                assertArrayEquals(fp32.downloadFloat(a.parameters().get(i).value()),
                        bf16.downloadFloat(b.parameters().get(i).value()), a.parameters().get(i).name());
            }
            assertEquals(Precision.BF16, bf16.precision());
            assertTrue(bf16.name().contains("bf16 emulated"), bf16.name());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Backends.create("reference", 0, Precision.BF16));
        assertEquals("device reference (float64, for gradient checks) runs precision fp32 only, not bf16: use --device "
                + "cpu, which emulates bf16", e.getMessage());
        assertEquals(Precision.FP32, Backends.create("reference", 0, Precision.FP32).precision());
    }
}
