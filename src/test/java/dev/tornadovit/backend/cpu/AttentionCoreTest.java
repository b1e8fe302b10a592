package dev.tornadovit.backend.cpu;

import dev.tornadovit.backend.reference.ReferenceBackend;
import dev.tornadovit.model.AttentionConfig;
import dev.tornadovit.model.Parameter;
import dev.tornadovit.model.Pooling;
import dev.tornadovit.model.PositionEmbedding;
import dev.tornadovit.model.ReattentionBlocks;
import dev.tornadovit.model.ReattentionNorm;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.tensor.AttentionCore;
import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.ComposedAttentionCore;
import dev.tornadovit.tensor.PointwiseActivation;
import dev.tornadovit.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.List;
import java.util.Random;

import static dev.tornadovit.model.TensorAssert.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

/**
 * Which attention core each backend makes, and whole models on the CPU with its own cores against the same models with
 * every core composed from the CPU's operations: same parameters, same images, softmax and pointwise weights, with
 * qk-norm and with Re-attention.
 */
class AttentionCoreTest {

    /** Stands for Re-attention in a spec: only whether it is there decides which core a backend makes. */
    private static final AttentionCore.MapStep SOME_MAP_STEP = new AttentionCore.MapStep() {
        @Override
        public Tensor forward(Tensor weights, int batch) {
            throw new UnsupportedOperationException();
        }

        @Override
        public Tensor mapGradient() {
            throw new UnsupportedOperationException();
        }

        @Override
        public void backward(Tensor weights, Tensor dWeights, int batch) {
            throw new UnsupportedOperationException();
        }
    };

    @Test
    void theCpuFusesUnlessTheMapsAreTransformedAndTheReferenceComposes() {
        CpuBackend cpu = new CpuBackend(1);
        ReferenceBackend reference = new ReferenceBackend();
        AttentionWeighting relu = AttentionWeighting.pointwise(PointwiseActivation.RELU, 1);
        AttentionCore.Spec plain = new AttentionCore.Spec(2, 4, 0.5, relu, null, null);
        AttentionCore.Spec qkNorm = new AttentionCore.Spec(2, 4, 0.5, relu,
                new FusedAttentionTest.CopyingStep(cpu, 8), null);
        AttentionCore.Spec reattention = new AttentionCore.Spec(2, 4, 0.5, relu, null, SOME_MAP_STEP);
        assertInstanceOf(FusedAttentionCore.class, cpu.attentionCore(plain));
        assertInstanceOf(FusedAttentionCore.class, cpu.attentionCore(qkNorm));
        assertEquals(ComposedAttentionCore.class, cpu.attentionCore(reattention).getClass());
        for (AttentionCore.Spec spec : List.of(plain, qkNorm, reattention)) {
            assertEquals(ComposedAttentionCore.class, reference.attentionCore(spec).getClass());
        }
    }

    static List<AttentionConfig> attentions() {
        AttentionConfig relu = AttentionConfig.reluOverL();
        return List.of(AttentionConfig.softmax(), relu,
                // φ's backward reads the scores
                AttentionConfig.pointwise(PointwiseActivation.GELU, 0.5),
                AttentionConfig.softmax().withQkNorm(true).withGate(true),
                // block 0 fused, block 1 composed on both
                relu.withReattention(ReattentionNorm.BATCHNORM, new ReattentionBlocks.Last(1)),
                AttentionConfig.softmax().withReattention(ReattentionNorm.LAYERNORM, ReattentionBlocks.ALL)
                        .withQkNorm(true));
    }

    @ParameterizedTest
    @MethodSource("attentions")
    void fusedAndComposedCoresAgree(AttentionConfig attention) {
        ViTConfig config = new ViTConfig(16, 16, 3, 4, 5, 24, 2, 3, 40, Pooling.CLS, PositionEmbedding.LEARNED,
                attention, 0.1);
        Step fused = Step.run(new CpuBackend(2), config);
        Step composed = Step.run(composing(new CpuBackend(2)), config);
        // Re-attention in every block: both run the composed core, bit for bit the same.
        boolean same = attention.reattentionIn(0, config.depth());
        String what = attention.label();
        for (int i = 0; i < fused.values.length; i++) {
            if (same) {
                assertArrayEquals(composed.values[i], fused.values[i], what + " " + fused.names[i]);
            } else {
                assertClose(what + " " + fused.names[i], fused.values[i], composed.values[i], 1e-5, 0);
            }
        }
    }

    /** A training step's results: loss, logits, the attention maps and every parameter gradient. */
    private record Step(String[] names, double[][] values) {

        static Step run(Backend be, ViTConfig config) {
            int batch = 3;
            VisionTransformer model = new VisionTransformer(config, be, 5);
            model.reserve(batch);
            Random r = new Random(11);
            Tensor images = be.allocate(batch * 3 * 16 * 16), labels = be.allocate(batch);
            double[] pixels = new double[images.size()];
            for (int i = 0; i < pixels.length; i++) pixels[i] = r.nextGaussian();
            be.upload(images, pixels);
            be.upload(labels, new double[]{0, 3, 4});
            model.setTraining(true);
            model.forward(images, batch);
            Tensor loss = model.lossAndGradient(labels, batch);
            model.zeroGradients();
            model.backward(batch);
            List<Parameter> parameters = model.parameters();
            int n = 2 + model.depth() + parameters.size();
            String[] names = new String[n];
            double[][] values = new double[n][];
            names[0] = "loss";
            values[0] = be.downloadDouble(loss);
            names[1] = "logits";
            values[1] = be.downloadDouble(model.logits());
            for (int b = 0; b < model.depth(); b++) {
                names[2 + b] = "block " + b + " attention map";
                values[2 + b] = be.downloadDouble(model.attentionMap(b));
            }
            for (int i = 0; i < parameters.size(); i++) {
                names[2 + model.depth() + i] = parameters.get(i).name() + " gradient";
                values[2 + model.depth() + i] = be.downloadDouble(parameters.get(i).grad());
            }
            return new Step(names, values);
        }
    }

    /** {@code real} with every attention core composed from its own operations. */
    private static Backend composing(Backend real) {
        return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[]{Backend.class},
                (proxy, method, args) -> {
                    if (method.getName().equals("attentionCore")) {
                        return new ComposedAttentionCore(real, (AttentionCore.Spec) args[0]);
                    }
                    try {
                        return method.invoke(real, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }
}
