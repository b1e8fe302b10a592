package dev.tornadovit.bench;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.model.AttentionConfig;
import dev.tornadovit.model.Pooling;
import dev.tornadovit.model.PositionEmbedding;
import dev.tornadovit.model.ReattentionBlocks;
import dev.tornadovit.model.ReattentionNorm;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.RecordedGraph;
import dev.tornadovit.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CPU profile ({@code bench --profile}) times the operations inside recorded graphs, one by one, at every run, and
 * the attention cores' forward and backward.
 */
class OperationProfilerTest {

    @Test
    void operationsInsideARecordedGraphAreTimedAtEveryRun() {
        try (CpuBackend cpu = new CpuBackend(1)) {
            Backend be = OperationProfiler.wrap(cpu);
            Tensor a = be.allocate(2), b = be.allocate(2), sum = be.allocate(2), total = be.allocate(2);
            be.upload(a, new float[]{1, 2});
            be.upload(b, new float[]{3, 4});
            OperationProfiler.of(be).reset();
            RecordedGraph graph = be.record("sum-and-accumulate", () -> {
                be.add(a, b, sum, 2);
                be.accumulate(total, sum, 2);
            });
            graph.run();
            graph.run();
            Map<String, Long> calls = OperationProfiler.of(be).rows().stream()
                    .collect(Collectors.toMap(OperationProfiler.Row::operation, OperationProfiler.Row::calls));
            assertEquals(Map.of("add", 2L, "accumulate", 2L), calls, "operations only, each run");
            assertArrayEquals(new float[]{8, 12}, be.downloadFloat(total));
        }
    }

    /**
     * A Re-attention model's forward: each block's attention core is timed as one operation, and Re-attention's head
     * mix, which the model's step inside the core runs, as its own.
     */
    @Test
    void attentionCoresAreTimedAsOperationsWithTheStepsInsideThemApart() {
        try (CpuBackend cpu = new CpuBackend(1)) {
            Backend be = OperationProfiler.wrap(cpu);
            ViTConfig config = new ViTConfig(8, 8, 1, 4, 3, 8, 2, 2, 16, Pooling.CLS, PositionEmbedding.LEARNED,
                    AttentionConfig.softmax().withReattention(ReattentionNorm.LAYERNORM, ReattentionBlocks.ALL), 0);
            VisionTransformer model = new VisionTransformer(config, be, 1);
            Tensor images = be.allocate(2 * 64);
            model.reserve(2);
            OperationProfiler.of(be).reset();
            model.forward(images, 2);
            Map<String, OperationProfiler.Row> rows = OperationProfiler.of(be).rows().stream()
                    .collect(Collectors.toMap(OperationProfiler.Row::operation, row -> row));
            assertEquals(2, rows.get("attentionCore.forward").calls());
            assertEquals(2, rows.get("headMix").calls());
            assertTrue(rows.values().stream().allMatch(row -> row.millis() >= 0), rows.toString());
        }
    }
}
