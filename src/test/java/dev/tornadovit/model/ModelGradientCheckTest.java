package dev.tornadovit.model;

import dev.tornadovit.backend.reference.ReferenceBackend;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.PointwiseActivation;
import dev.tornadovit.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Whole-model gradients against central finite differences in float64, for hand-picked configurations covering every
 * attention option and for random configurations that mix them.
 */
class ModelGradientCheckTest {

    static final PointwiseActivation[] ACTIVATIONS = PointwiseActivation.values();

    static ViTConfig tiny(AttentionConfig attention, Pooling pool, PositionEmbedding pos, int depth) {
        return new ViTConfig(4, 6, 2, 2, 3, 8, depth, 2, 12, pool, pos, attention, 0.1);
    }

    static Stream<ViTConfig> namedConfigs() {
        List<ViTConfig> list = new ArrayList<>();
        list.add(tiny(AttentionConfig.softmax(), Pooling.CLS, PositionEmbedding.LEARNED, 2));
        for (PointwiseActivation a : ACTIVATIONS) list.add(tiny(AttentionConfig.pointwise(a, 0.7), Pooling.GAP, PositionEmbedding.SINCOS2D, 1));
        list.add(tiny(AttentionConfig.reluOverL().withQkNorm(true).withGate(true), Pooling.CLS, PositionEmbedding.LEARNED, 2));
        list.add(tiny(AttentionConfig.softmax().withReattention(ReattentionNorm.BATCHNORM, ReattentionBlocks.ALL), Pooling.CLS, PositionEmbedding.LEARNED, 2));
        list.add(tiny(AttentionConfig.reluOverL().withReattention(ReattentionNorm.LAYERNORM, new ReattentionBlocks.Last(1)), Pooling.GAP, PositionEmbedding.LEARNED, 2));
        list.add(tiny(AttentionConfig.pointwise(PointwiseActivation.SIGMOID, 1).withQkNorm(true).withReattention(ReattentionNorm.BATCHNORM, new ReattentionBlocks.Last(1)),
                Pooling.GAP, PositionEmbedding.SINCOS2D, 2));
        list.add(tiny(AttentionConfig.softmax().withQkNorm(true), Pooling.GAP_FC_NORM, PositionEmbedding.LEARNED, 2));
        return list.stream();
    }

    static Stream<ViTConfig> randomConfigs() {
        Random r = new Random(2024);
        return IntStream.range(0, 6).mapToObj(i -> {
            AttentionConfig a = r.nextBoolean() ? AttentionConfig.softmax()
                    : AttentionConfig.pointwise(ACTIVATIONS[r.nextInt(ACTIVATIONS.length)], r.nextDouble() * 1.5);
            a = a.withQkNorm(r.nextBoolean()).withGate(r.nextBoolean());
            ReattentionNorm re = ReattentionNorm.values()[r.nextInt(3)];
            int depth = 1 + r.nextInt(3);
            a = a.withReattention(re, r.nextBoolean() ? ReattentionBlocks.ALL : new ReattentionBlocks.Last(r.nextInt(depth + 1)));
            return tiny(a, Pooling.values()[r.nextInt(Pooling.values().length)],
                    r.nextBoolean() ? PositionEmbedding.LEARNED : PositionEmbedding.SINCOS2D, depth);
        });
    }

    @ParameterizedTest
    @MethodSource("namedConfigs")
    void namedConfigurationGradientsMatchFiniteDifferences(ViTConfig config) {
        checkModel(config, 11);
    }

    @ParameterizedTest
    @MethodSource("randomConfigs")
    void randomConfigurationGradientsMatchFiniteDifferences(ViTConfig config) {
        checkModel(config, 23);
    }

    @Test
    void reattentionInLastBlocksOnly() {
        AttentionConfig a = AttentionConfig.softmax().withReattention(ReattentionNorm.LAYERNORM, new ReattentionBlocks.Last(2));
        assertTrue(!a.reattentionIn(0, 4) && !a.reattentionIn(1, 4) && a.reattentionIn(2, 4) && a.reattentionIn(3, 4));
    }

    /** Every parameter element's gradient against (L(θ+h) − L(θ−h)) / 2h. */
    static void checkModel(ViTConfig config, long seed) {
        int batch = 3;
        try (Backend be = new ReferenceBackend()) {
            VisionTransformer model = new VisionTransformer(config, be, seed);
            Random r = new Random(seed);
            // Scale parameters up from their small initial values so every nonlinearity is exercised.
            for (Parameter p : model.parameters()) {
                double[] v = be.downloadDouble(p.value());
                for (int i = 0; i < v.length; i++) v[i] += 0.4 * r.nextGaussian();
                be.upload(p.value(), v);
            }
            double[] img = new double[batch * config.channels() * config.imageHeight() * config.imageWidth()];
            for (int i = 0; i < img.length; i++) img[i] = r.nextGaussian();
            Tensor images = be.allocate(img.length);
            be.upload(images, img);
            Tensor labels = be.allocate(batch);
            be.upload(labels, new double[]{0, 2, 1});

            model.zeroGradients();
            model.forward(images, batch);
            model.lossAndGradient(labels, batch);
            model.backward(batch);

            double h = 1e-6;
            for (Parameter p : model.parameters()) {
                double[] analytic = be.downloadDouble(p.grad());
                double[] value = be.downloadDouble(p.value());
                double[] numeric = new double[value.length];
                for (int i = 0; i < value.length; i++) {
                    double keep = value[i];
                    value[i] = keep + h;
                    be.upload(p.value(), value);
                    double plus = loss(model, images, labels, batch);
                    value[i] = keep - h;
                    be.upload(p.value(), value);
                    double minus = loss(model, images, labels, batch);
                    value[i] = keep;
                    be.upload(p.value(), value);
                    numeric[i] = (plus - minus) / (2 * h);
                }
                TensorAssert.assertClose(config.attention().label() + " " + p.name(), analytic, numeric, 1e-6, 1e-8);
            }
        }
    }

    private static double loss(VisionTransformer model, Tensor images, Tensor labels, int batch) {
        model.forward(images, batch);
        return model.backend().downloadDouble(model.lossAndGradient(labels, batch))[0];
    }
}
