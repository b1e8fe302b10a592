package dev.tornadovit.tornado;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.data.Augmentation;
import dev.tornadovit.data.Batch;
import dev.tornadovit.data.BatchLoader;
import dev.tornadovit.data.ImageDataset;
import dev.tornadovit.data.Normalization;
import dev.tornadovit.model.AttentionConfig;
import dev.tornadovit.model.NamedTensor;
import dev.tornadovit.model.Parameter;
import dev.tornadovit.model.Pooling;
import dev.tornadovit.model.PositionEmbedding;
import dev.tornadovit.model.ReattentionBlocks;
import dev.tornadovit.model.ReattentionNorm;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.PointwiseActivation;
import dev.tornadovit.tensor.PoolMode;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.train.AdamW;
import dev.tornadovit.train.BatchInput;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Whole training steps — forward, loss, backward, clipped AdamW — on the TornadoVM device against the CPU backend,
 * from the same initial weights and batches, for attention variants that between them use every attention kernel,
 * and batches of 8-bit pixels as the trainer feeds them.
 * Also checks that the recorded graphs are replayed (none are recorded after the first step) and that eval mode
 * (BatchNorm running statistics) agrees.
 */
@Timeout(value = 1800, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class TrainingStepEquivalenceTest {
    private static final int STEPS = 3, BATCH = 5;
    private static final double TOL = 2e-4, GRAD_TOL = 5e-4, LR = 3e-3;

    static Stream<Arguments> configs() {
        ViTConfig base = new ViTConfig(12, 12, 3, 4, 7, 24, 2, 4, 40, Pooling.CLS, PositionEmbedding.LEARNED, AttentionConfig.softmax(), 0.1);
        // The fused attention kernels are off by default (the unfused path is the faster one on the GPUs measured):
        // the configurations marked fused switch them on, so a whole training step runs them too.
        return Stream.of(
                Arguments.of("softmax", base, false),
                Arguments.of("softmax, fused attention", base, true),
                // on CUDA with cuBLAS: the heads read in place, φ in the scores' product, its backward from the weights
                Arguments.of("relu/L", base.withAttention(AttentionConfig.reluOverL()), false),
                Arguments.of("relu/L + qk-norm + gate + Re-attention(batchnorm)", base.withAttention(
                        AttentionConfig.reluOverL().withQkNorm(true).withGate(true).withReattention(ReattentionNorm.BATCHNORM, ReattentionBlocks.ALL)), false),
                Arguments.of("relu/L + qk-norm + gate, fused attention", base.withAttention(
                        AttentionConfig.reluOverL().withQkNorm(true).withGate(true)), true),
                Arguments.of("relu2 a=0.5 + Re-attention(layernorm, last block), gap, sincos, fused attention", new ViTConfig(12, 12, 3, 4,
                        7, 24, 2, 4, 40, Pooling.GAP, PositionEmbedding.SINCOS2D,
                        AttentionConfig.pointwise(PointwiseActivation.RELU2, 0.5).withReattention(ReattentionNorm.LAYERNORM, new ReattentionBlocks.Last(1)), 0), true),
                Arguments.of("softmax + Re-attention(batchnorm) + qk-norm", base.withAttention(
                        AttentionConfig.softmax().withQkNorm(true).withReattention(ReattentionNorm.BATCHNORM, ReattentionBlocks.ALL)), false));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void trainingStepsMatchTheCpu(String name, ViTConfig config, boolean fusedAttention) {
        SplittableRandom random = new SplittableRandom(7);
        int pixels = config.channels() * config.imageHeight() * config.imageWidth();
        float[][] images = new float[STEPS][BATCH * pixels];
        float[][] labels = new float[STEPS][BATCH];
        for (int s = 0; s < STEPS; s++) {
            for (int i = 0; i < images[s].length; i++) images[s][i] = (float) random.nextGaussian();
            for (int i = 0; i < BATCH; i++) labels[s][i] = random.nextInt(config.numClasses());
        }
        CpuBackend cpu = new CpuBackend(1);
        try (TornadoBackend dev = TestDevice.backend()) {
            dev.setFusedAttention(fusedAttention);
            Run a = new Run(cpu, config), b = new Run(dev, config);
            int graphsAfterFirstStep = 0;
            List<Parameter> pa = a.model.parameters(), pb = b.model.parameters();
            List<NamedTensor> ba = a.model.buffers(), bb = b.model.buffers();
            for (int s = 0; s < STEPS; s++) {
                String at = " at step " + s;
                double lossA = a.step(images[s], labels[s]), lossB = b.step(images[s], labels[s]);
                assertEquals(lossA, lossB, TOL * Math.max(1, Math.abs(lossA)), name + " loss" + at);
                compare(name + " logits" + at, cpu.downloadFloat(a.model.logits()), dev.downloadFloat(b.model.logits()));
                for (int i = 0; i < config.depth(); i++) {
                    compare(name + " attention map " + i + at, cpu.downloadFloat(a.model.attentionMap(i)),
                            dev.downloadFloat(b.model.attentionMap(i)));
                }
                assertEquals(a.opt.lastGradNorm(), b.opt.lastGradNorm(), TOL * a.opt.lastGradNorm(), name + " gradient norm" + at);
                // Both sides round in float32, in different orders. As in the core's PyTorch check, gradients that
                // are zero in exact arithmetic (the key bias under softmax) are pure rounding noise: they are held to
                // the model's gradient scale. Adam divides by the gradient's own size, so where the two float32
                // gradients disagree (beyond 10%: zero or nearly zero in exact arithmetic) the parameters may differ
                // by one normalised step, at most lr on each side: held to that bound.
                double gradScale = 0;
                for (Parameter p : pa) for (float g : cpu.downloadFloat(p.grad())) gradScale = Math.max(gradScale, Math.abs(g));
                for (int i = 0; i < pa.size(); i++) {
                    String param = pa.get(i).name();
                    float[] gradA = cpu.downloadFloat(pa.get(i).grad()), gradB = dev.downloadFloat(pb.get(i).grad());
                    compare(name + " grad " + param + at, gradA, gradB, GRAD_TOL, TOL * gradScale);
                    float[] valueA = cpu.downloadFloat(pa.get(i).value()), valueB = dev.downloadFloat(pb.get(i).value());
                    for (int j = 0; j < gradA.length; j++) {
                        boolean undetermined = Math.abs(gradA[j] - gradB[j]) > 0.1 * Math.abs(gradA[j])
                                || Math.abs(gradA[j]) < 1e-6 * gradScale;
                        if (undetermined) {
                            double moved = Math.abs(valueB[j] - valueA[j]);
                            if (moved > 2 * LR) {
                                fail(name + " param " + param + "[" + j + "]" + at + " (gradient " + gradA[j] + " vs "
                                        + gradB[j] + ") differs by " + moved + ", more than an Adam step allows");
                            }
                            valueB[j] = valueA[j];
                        }
                    }
                    compare(name + " param " + param + at, valueA, valueB);
                }
                for (int i = 0; i < ba.size(); i++) {
                    compare(name + " buffer " + ba.get(i).name() + at, cpu.downloadFloat(ba.get(i).value()),
                            dev.downloadFloat(bb.get(i).value()));
                }
                if (s == 0) graphsAfterFirstStep = dev.recordedGraphCount();
                // The next step starts from the CPU's state on both sides, so that each step is compared on its own
                // rather than after two float32 trajectories have drifted apart (Adam amplifies rounding noise in
                // near-zero gradients into whole steps). This also loads many tensors at once, as a checkpoint does.
                for (int i = 0; i < pa.size(); i++) dev.upload(pb.get(i).value(), cpu.downloadFloat(pa.get(i).value()));
                dev.upload(b.opt.firstMoments(), cpu.downloadFloat(a.opt.firstMoments()));
                dev.upload(b.opt.secondMoments(), cpu.downloadFloat(a.opt.secondMoments()));
                for (int i = 0; i < ba.size(); i++) dev.upload(bb.get(i).value(), cpu.downloadFloat(ba.get(i).value()));
            }
            assertEquals(graphsAfterFirstStep, dev.recordedGraphCount(), "graphs recorded after the first step: replays expected");
            // Eval mode on the same weights and statistics (the loop above left the device with the CPU's).
            a.model.setTraining(false);
            b.model.setTraining(false);
            a.forward(images[0]);
            b.forward(images[0]);
            compare(name + " eval logits", cpu.downloadFloat(a.model.logits()), dev.downloadFloat(b.model.logits()));
            assertTrue(dev.graphRuns() > dev.recordedGraphCount(), "graphs were replayed");
            // where the backend fuses attention, softmax runs as the fused kernel in every block without Re-attention,
            // whose head mix between softmax and ·V keeps the steps separate
            if (config.attention().isSoftmax()) {
                int fused = dev.kernelTasks("softmaxAttentionWithWeights"), separate = dev.kernelTasks("softmax");
                boolean fuses = dev.fusedAttention() && !config.attention().hasReattention();
                assertEquals(fuses ? 2 * config.depth() : 0, fused, name + ": fused softmax tasks (train, eval)");
                assertEquals(fuses ? 0 : 2 * config.depth(), separate, name + ": separate softmax tasks");
            }
            // pointwise attention's backward runs as the two fused backward kernels in the same blocks
            if (!config.attention().isSoftmax()) {
                long plainBlocks = java.util.stream.IntStream.range(0, config.depth())
                        .filter(i -> !config.attention().reattentionIn(i, config.depth())).count();
                assertEquals(dev.fusedAttention() ? plainBlocks : 0, dev.kernelTasks("pointwiseAttentionQueryGradients"),
                        name + ": fused pointwise backward tasks (train), in the blocks without Re-attention");
            }
            assertEquals(2 * config.depth(), dev.kernelTasks("addLayerNorm"),
                    name + ": a block's residual add and its MLP half's LayerNorm as one task (train, eval)");
        }
    }

    /**
     * Batches as the trainer feeds them, 8-bit pixels from the data loader (augmented, normalised, the last one
     * smaller) through {@link BatchInput}: the device's input tensor holds the CPU's floats bit for bit, and the forward
     * and backward passes on them agree as above.
     */
    @Test
    void pixelBatchesFeedTheSameStepsAsOnTheCpu() {
        ViTConfig config = new ViTConfig(12, 12, 3, 4, 7, 24, 2, 4, 40, Pooling.CLS, PositionEmbedding.LEARNED,
                AttentionConfig.softmax(), 0);
        SplittableRandom random = new SplittableRandom(3);
        byte[] pixels = new byte[13 * 3 * 12 * 12];
        for (int i = 0; i < pixels.length; i++) pixels[i] = (byte) random.nextInt(256);
        int[] classes = new int[13];
        for (int i = 0; i < classes.length; i++) classes[i] = random.nextInt(config.numClasses());
        ImageDataset data = new ImageDataset(3, 12, 12, List.of("a", "b", "c", "d", "e", "f", "g"), pixels, classes);
        CpuBackend cpu = new CpuBackend(1);
        try (TornadoBackend dev = TestDevice.backend();
             BatchLoader loader = BatchLoader.builder(data).batchSize(BATCH).seed(4).normalization(Normalization.compute(data))
                     .augmentation(new Augmentation(2, true)).bytePixels(true).build()) {
            Run a = new Run(cpu, config), b = new Run(dev, config);
            BatchInput inputA = new BatchInput(cpu, config, BATCH), inputB = new BatchInput(dev, config, BATCH);
            List<Parameter> pa = a.model.parameters(), pb = b.model.parameters();
            for (int k = 0; k < loader.batchesPerEpoch(); k++) {
                Batch batch = loader.batch(0, k);
                assertTrue(batch.holdsPixels(), "the loader hands over pixels");
                String at = " at batch " + k + " of " + batch.size();
                inputA.upload(batch);
                inputB.upload(batch);
                assertArrayEquals(cpu.downloadFloat(inputA.images()), dev.downloadFloat(inputB.images()), "images" + at);
                double lossA = a.backward(inputA, batch.size()), lossB = b.backward(inputB, batch.size());
                assertEquals(lossA, lossB, TOL * Math.max(1, Math.abs(lossA)), "loss" + at);
                compare("logits" + at, cpu.downloadFloat(a.model.logits()), dev.downloadFloat(b.model.logits()));
                double gradScale = 0;
                for (Parameter p : pa) for (float g : cpu.downloadFloat(p.grad())) gradScale = Math.max(gradScale, Math.abs(g));
                for (int i = 0; i < pa.size(); i++) {
                    compare("grad " + pa.get(i).name() + at, cpu.downloadFloat(pa.get(i).grad()),
                            dev.downloadFloat(pb.get(i).grad()), GRAD_TOL, TOL * gradScale);
                }
            }
        }
    }

    /** One model, optimizer and input on one backend. */
    static final class Run {
        final Backend be;
        final VisionTransformer model;
        final AdamW opt;
        final Tensor images, labels;

        Run(Backend be, ViTConfig config) {
            this.be = be;
            this.model = new VisionTransformer(config, be, 11);
            this.opt = new AdamW(be, model.parameters(), new AdamW.Settings(0.9, 0.999, 1e-8, 0.05, 0.5));
            this.images = be.allocate(BATCH * config.channels() * config.imageHeight() * config.imageWidth());
            this.labels = be.allocate(BATCH);
        }

        double step(float[] x, float[] y) {
            be.upload(images, x);
            be.upload(labels, y);
            model.zeroGradients();
            model.forward(images, BATCH);
            double loss = be.downloadDouble(model.lossAndGradient(labels, BATCH))[0];
            model.backward(BATCH);
            opt.step(LR);
            return loss;
        }

        /** Forward, loss and backward on a batch already in {@code input}; the loss. */
        double backward(BatchInput input, int batch) {
            model.setTraining(true);
            model.zeroGradients();
            model.forward(input.images(), batch);
            double loss = be.downloadDouble(model.lossAndGradient(input.labels(), batch))[0];
            model.backward(batch);
            return loss;
        }

        void forward(float[] x) {
            be.upload(images, x);
            model.forward(images, BATCH);
        }
    }

    /** max|actual - expected| <= TOL · max|expected|. */
    static void compare(String what, float[] expected, float[] actual) {
        compare(what, expected, actual, TOL, 0);
    }

    /** max|actual - expected| <= tolerance · max|expected| + absolute. */
    static void compare(String what, float[] expected, float[] actual, double tolerance, double absolute) {
        assertEquals(expected.length, actual.length, what + ": length");
        double scale = 0, worst = 0;
        int at = -1;
        for (float v : expected) scale = Math.max(scale, Math.abs(v));
        for (int i = 0; i < expected.length; i++) {
            double d = Math.abs((double) actual[i] - expected[i]);
            if (!(d <= worst)) {
                worst = d;
                at = i;
            }
        }
        if (!(worst <= tolerance * Math.max(scale, 1e-6) + absolute)) {
            fail(String.format("%s: element %d is %.8g on the device, %.8g on the CPU (|diff| %.3g, scale %.3g)", what, at,
                    actual[at], expected[at], worst, scale));
        }
    }
}
