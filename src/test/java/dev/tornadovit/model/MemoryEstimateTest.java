package dev.tornadovit.model;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.backend.reference.ReferenceBackend;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.PointwiseActivation;
import dev.tornadovit.train.AdamW;
import dev.tornadovit.train.BatchInput;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The estimate counts exactly what the model, AdamW and the batch inputs allocate, and predicts the heap they take. */
class MemoryEstimateTest {

    /** A backend that passes everything to {@code real} and adds up the elements of the tensors it allocates. */
    static Backend recording(Backend real, AtomicLong elements, AtomicLong tensors) {
        return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[]{Backend.class},
                (proxy, method, args) -> {
                    if (method.getName().equals("allocate")) {
                        elements.addAndGet((Integer) args[0]);
                        tensors.incrementAndGet();
                    }
                    try {
                        return method.invoke(real, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    static List<ViTConfig> configs() {
        AttentionConfig relu = AttentionConfig.reluOverL();
        return List.of(
                new ViTConfig(28, 28, 1, 7, 10, 16, 2, 2, 32, Pooling.CLS, PositionEmbedding.LEARNED, AttentionConfig.softmax(), 0),
                new ViTConfig(32, 32, 3, 4, 5, 24, 3, 3, 40, Pooling.GAP, PositionEmbedding.SINCOS2D, relu, 0),
                new ViTConfig(16, 16, 3, 4, 3, 16, 4, 4, 24, Pooling.CLS, PositionEmbedding.LEARNED,
                        AttentionConfig.pointwise(PointwiseActivation.GELU, 0.5).withQkNorm(true).withGate(true), 0),
                new ViTConfig(16, 16, 1, 4, 3, 16, 4, 4, 24, Pooling.CLS, PositionEmbedding.LEARNED,
                        relu.withReattention(ReattentionNorm.BATCHNORM, new ReattentionBlocks.Last(2)), 0),
                new ViTConfig(16, 16, 1, 4, 3, 16, 3, 2, 24, Pooling.GAP, PositionEmbedding.LEARNED,
                        AttentionConfig.softmax().withReattention(ReattentionNorm.LAYERNORM, ReattentionBlocks.ALL).withQkNorm(true), 0));
    }

    @Test
    void countsEveryTensorTheModelOptimizerAndInputsAllocate() {
        for (ViTConfig config : configs()) {
            for (Backend real : new Backend[]{new CpuBackend(), new ReferenceBackend()}) {
                AtomicLong elements = new AtomicLong(), tensors = new AtomicLong();
                Backend be = recording(real, elements, tensors);
                int trainBatch = 5, evalBatch = 3;
                VisionTransformer model = new VisionTransformer(config, be, 0);
                new AdamW(be, model.parameters(), AdamW.Settings.defaults());
                new BatchInput(be, config, trainBatch);
                new BatchInput(be, config, evalBatch);
                model.reserve(Math.max(trainBatch, evalBatch));
                MemoryEstimate estimate = MemoryEstimate.training(config, trainBatch, evalBatch, be);
                String what = config.attention().label() + " on " + real.name();
                assertEquals(elements.get(), estimate.tensorValues(), what);
                assertEquals(tensors.get(), estimate.tensors(), what);

                AtomicLong inferenceElements = new AtomicLong(), inferenceTensors = new AtomicLong();
                Backend inference = recording(real, inferenceElements, inferenceTensors);
                new VisionTransformer(config, inference, 0).reserve(4);
                new BatchInput(inference, config, 4);
                MemoryEstimate infer = MemoryEstimate.inference(config, 4, inference);
                assertEquals(inferenceElements.get(), infer.tensorValues(), what);
                assertEquals(inferenceTensors.get(), infer.tensors(), what);
                real.close();
            }
        }
    }

    /**
     * The heap in use once collections stop freeing anything: what an earlier test left (a closed backend's buffers,
     * freed after its thread-local scratch goes) may need more than one, and counted in "before" but freed during the
     * measurement it made the growth look a fifth smaller than it was.
     */
    private static long usedHeapAfterGc() {
        long used = Long.MAX_VALUE;
        for (int i = 0; i < 20; i++) {
            System.gc();
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            long now = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
            if (i >= 2 && used - now < 256 << 10) return Math.min(used, now);
            used = Math.min(used, now);
        }
        return used;
    }

    /** Within this factor of the heap the tensors really take (the rest of the estimate is short-lived buffers). */
    static final double FACTOR = 1.1;

    @Test
    void predictsTheHeapARunTakesWithinATenth() {
        List<ViTConfig> sized = List.of(
                new ViTConfig(28, 28, 1, 4, 10, 64, 4, 4, 128, Pooling.CLS, PositionEmbedding.LEARNED, AttentionConfig.softmax(), 0),
                new ViTConfig(32, 32, 3, 4, 10, 96, 3, 3, 192, Pooling.CLS, PositionEmbedding.LEARNED,
                        AttentionConfig.reluOverL().withReattention(ReattentionNorm.BATCHNORM, ReattentionBlocks.ALL), 0));
        for (ViTConfig config : sized) {
            try (Backend be = new CpuBackend()) {
                long before = usedHeapAfterGc();
                VisionTransformer model = new VisionTransformer(config, be, 0);
                AdamW optimizer = new AdamW(be, model.parameters(), AdamW.Settings.defaults());
                BatchInput input = new BatchInput(be, config, 64);
                model.reserve(64);
                long used = usedHeapAfterGc() - before;
                long estimated = MemoryEstimate.training(config, 64, 64, be).residentBytes();
                double ratio = (double) estimated / used;
                assertTrue(used > 20 << 20, "a measurable size: " + used);
                assertTrue(ratio > 1 / FACTOR && ratio < FACTOR, config.attention().label() + ": estimated "
                        + estimated + " bytes, the heap grew by " + used + " (ratio " + ratio + ")");
                // Keep everything reachable until measured.
                assertTrue(model.parameterCount() > 0 && optimizer.step() == 0 && input.capacity() == 64);
            }
        }
    }
}
