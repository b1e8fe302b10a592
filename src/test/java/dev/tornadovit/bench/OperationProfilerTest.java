package dev.tornadovit.bench;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.RecordedGraph;
import dev.tornadovit.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The CPU profile ({@code bench --profile}) times the operations inside recorded graphs, one by one, at every run. */
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
}
