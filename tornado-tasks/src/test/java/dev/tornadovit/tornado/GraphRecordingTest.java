package dev.tornadovit.tornado;

import dev.tornadovit.tensor.RecordedGraph;
import dev.tornadovit.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import uk.ac.manchester.tornado.api.exceptions.TornadoOutOfMemoryException;

import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** How the backend records, replays and keeps data on the device. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 900, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class GraphRecordingTest {
    private TornadoBackend dev;

    @BeforeAll
    void open() {
        dev = TestDevice.backend();
    }

    @AfterAll
    void close() {
        if (dev != null) dev.close();
    }

    private Tensor tensor(float... values) {
        Tensor t = dev.allocate(values.length);
        dev.upload(t, values);
        return t;
    }

    @Test
    void aGraphIsRecordedOnceAndReplayedOnNewDeviceData() {
        Tensor x = tensor(1, 2, 3), y = tensor(10, 20, 30), sum = dev.allocate(3), total = dev.allocate(3);
        AtomicInteger bodyRuns = new AtomicInteger();
        Runnable body = () -> {
            bodyRuns.incrementAndGet();
            dev.add(x, y, sum, 3);
            dev.accumulate(total, sum, 3);
        };
        RecordedGraph graph = dev.record("sum-and-accumulate", body);
        graph.run();
        assertArrayEquals(new float[]{11, 22, 33}, dev.downloadFloat(sum));
        int recorded = dev.recordedGraphCount();
        for (int step = 1; step <= 4; step++) {
            // per-step input on the device already: sent through a staging graph
            dev.upload(x, new float[]{step, step, step});
            graph.run();
            assertArrayEquals(new float[]{10 + step, 20 + step, 30 + step}, dev.downloadFloat(sum), "step " + step);
        }
        assertEquals(1, bodyRuns.get(), "the body runs only while recording");
        assertEquals(11 + 22 + 33 + (10 + 20 + 30) * 4 + 3 * (1 + 2 + 3 + 4),
                sumOf(dev.downloadFloat(total)), 1e-4, "the accumulator stayed on the device across replays");
        assertEquals(recorded, dev.recordedGraphCount(), "replays add no graphs");
    }

    /**
     * The handle is the graph's identity, not its label: a second handle (another shape, the same label) records a
     * graph of its own, and each replays its own.
     */
    @Test
    void eachHandleRecordsAndReplaysItsOwnGraph() {
        Tensor small = tensor(1, 2), smallTotal = dev.allocate(2);
        Tensor large = tensor(1, 2, 3, 4), largeTotal = dev.allocate(4);
        AtomicInteger bodyRuns = new AtomicInteger();
        RecordedGraph batchOfTwo = dev.record("accumulate", () -> {
            bodyRuns.incrementAndGet();
            dev.accumulate(smallTotal, small, 2);
        });
        RecordedGraph batchOfFour = dev.record("accumulate", () -> {
            bodyRuns.incrementAndGet();
            dev.accumulate(largeTotal, large, 4);
        });
        int recorded = dev.recordedGraphCount();
        assertEquals(0, bodyRuns.get(), "nothing is recorded before the first run");
        for (int i = 0; i < 3; i++) {
            batchOfTwo.run();
            batchOfFour.run();
        }
        assertEquals(2, bodyRuns.get(), "each body ran once, to record");
        assertEquals(recorded + 2, dev.recordedGraphCount(), "two graphs under one label");
        assertArrayEquals(new float[]{3, 6}, dev.downloadFloat(smallTotal));
        assertArrayEquals(new float[]{3, 6, 9, 12}, dev.downloadFloat(largeTotal));
        assertEquals(1, dev.taskCount(batchOfTwo));
    }

    /** {@code bench --profile} groups graph runs by their labels' kind: the labels' numbers read as '#'. */
    @Test
    void theProfileGroupsRecordedGraphsByTheirLabelsKind() {
        Tensor x = tensor(1), first = dev.allocate(1), second = dev.allocate(1);
        RecordedGraph block0 = dev.record("block0.mlp.forward", () -> dev.accumulate(first, x, 1));
        RecordedGraph block1 = dev.record("block1.mlp.forward", () -> dev.accumulate(second, x, 1));
        GraphProfile profile = new GraphProfile();
        dev.profileGraphs(profile);
        try {
            block0.run();
            block1.run();
            block0.run();
        } finally {
            dev.profileGraphs(null);
        }
        List<GraphProfile.Entry> entries = profile.entries();
        assertEquals(1, entries.size(), entries.toString());
        assertEquals("block#.mlp.forward", entries.getFirst().kind());
        assertEquals(3, entries.getFirst().runs());
        assertEquals(3, entries.getFirst().tasks());
    }

    /** A handle run inside another graph's body adds its operations to that graph. */
    @Test
    void aGraphRunInsideAnotherIsPartOfIt() {
        Tensor x = tensor(1), total = dev.allocate(1);
        RecordedGraph inner = dev.record("inner", () -> dev.accumulate(total, x, 1));
        RecordedGraph outer = dev.record("outer", () -> {
            inner.run();
            inner.run();
        });
        outer.run();
        outer.run();
        assertArrayEquals(new float[]{4}, dev.downloadFloat(total));
        assertEquals(2, dev.taskCount(outer));
        assertEquals(-1, dev.taskCount(inner), "never recorded on its own");
    }

    @Test
    void aHandleOfAClosedBackendSaysSo() {
        RecordedGraph graph;
        TornadoBackend closing = TestDevice.backend();
        try (closing) {
            Tensor x = closing.allocate(1), total = closing.allocate(1);
            closing.upload(x, new float[]{5});
            graph = closing.record("block0.mlp.forward", () -> closing.accumulate(total, x, 1));
            graph.run();
            assertArrayEquals(new float[]{5}, closing.downloadFloat(total));
        }
        IllegalStateException e = assertThrows(IllegalStateException.class, graph::run);
        assertTrue(e.getMessage().contains("'block0.mlp.forward'") && e.getMessage().contains("is closed"),
                e.getMessage());
        e = assertThrows(IllegalStateException.class, () -> closing.record("late", () -> { }));
        assertTrue(e.getMessage().contains("'late'") && e.getMessage().contains("is closed"), e.getMessage());
    }

    /** Loading many tensors at once (a checkpoint) re-sends their owner group; the group's other tensors keep theirs. */
    @Test
    void uploadingManyTensorsOfOneGroupKeepsTheOthers() {
        Tensor[] inputs = new Tensor[5];
        for (int i = 0; i < inputs.length; i++) inputs[i] = tensor(i, i);
        Tensor total = dev.allocate(2), kept = tensor(7, 7);
        Runnable body = () -> {
            dev.zero(total);
            for (Tensor in : inputs) dev.accumulate(total, in, 2);
            dev.accumulate(kept, total, 2);
        };
        RecordedGraph graph = dev.record("group-upload", body);
        graph.run();
        assertArrayEquals(new float[]{17, 17}, dev.downloadFloat(kept)); // 7 + (0+1+2+3+4)
        for (int i = 0; i < inputs.length; i++) dev.upload(inputs[i], new float[]{10 * i, 10 * i});
        graph.run();
        assertArrayEquals(new float[]{117, 117}, dev.downloadFloat(kept), "kept its device value across the re-send");
    }

    /** TornadoVM's graphs hold at most 1024 nodes: a longer body (an optimizer over every parameter) is split. */
    @Test
    void aGraphLongerThanOneTornadoGraphHoldsIsSplit() {
        int count = 400;
        Tensor total = dev.allocate(1);
        Tensor[] parts = new Tensor[count];
        for (int i = 0; i < count; i++) parts[i] = tensor(i);
        Runnable body = () -> {
            dev.zero(total);
            for (Tensor p : parts) dev.accumulate(total, p, 1);
        };
        RecordedGraph graph = dev.record("long", body);
        graph.run();
        graph.run();
        assertEquals(count * (count - 1) / 2.0, dev.downloadFloat(total)[0], 1e-3);
        assertEquals(count + 1, dev.taskCount(graph));
    }

    @Test
    void operationsOutsideGraphsRunAtOnceAndAreCached() {
        Tensor a = tensor(1, 2), b = tensor(3, 4), c = dev.allocate(2);
        dev.add(a, b, c, 2);
        assertArrayEquals(new float[]{4, 6}, dev.downloadFloat(c));
        int recorded = dev.recordedGraphCount();
        dev.add(a, b, c, 2);
        dev.accumulate(c, a, 2);
        dev.accumulate(c, a, 2);
        assertArrayEquals(new float[]{6, 10}, dev.downloadFloat(c));
        assertEquals(recorded + 1, dev.recordedGraphCount(), "one new single-operation graph (accumulate), add reused");
        dev.zero(c);
        assertArrayEquals(new float[]{0, 0}, dev.downloadFloat(c));
    }

    @Test
    void uploadsAndDownloadsInsideAGraphBodyAreRefused() {
        Tensor a = tensor(1);
        assertThrows(IllegalStateException.class, () -> dev.record("bad", () -> dev.upload(a, new float[]{2})).run());
        assertThrows(IllegalStateException.class, () -> dev.record("bad2", () -> dev.downloadFloat(a)).run());
    }

    /** A TornadoVM task that writes one array through two parameters never gets scheduled: refused up front. */
    @Test
    void oneTensorAsTwoOutputsIsRefused() {
        Tensor qkv = dev.allocate(3 * 8), q = dev.allocate(8), v = dev.allocate(8);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> dev.splitHeads(qkv, q, q, v, 1, 2, 2, 2));
        assertTrue(e.getMessage().contains("same tensor"), e.getMessage());
    }

    @Test
    void runningOutOfDeviceMemorySaysWhatToChange() {
        TornadoDevices.Found device = TornadoDevices.resolve(TestDevice.spec());
        try (TornadoBackend small = new TornadoBackend(device, 1_000_000)) {
            small.allocate(100_000);
            DeviceMemoryException e = assertThrows(DeviceMemoryException.class, () -> small.allocate(200_000));
            assertTrue(e.getMessage().contains("--batch-size"), e.getMessage());
            assertTrue(e.getMessage().contains("needs at least 1.2 MB"), e.getMessage());
        }
    }

    /**
     * The driver running out of memory (other processes hold part of the device, so the budget did not foresee it)
     * is one line naming the device and what to do, wherever TornadoVM wraps it; anything else passes through.
     */
    @Test
    void aDriverOutOfMemoryBecomesOneLine() {
        var driver = new TornadoOutOfMemoryException("[ERROR] Unable to allocate 902.7 MiB on the CUDA device "
                + "(cuMemAlloc status=2).\n\tThe allocation exceeds available device memory.");
        DeviceMemoryException e = DeviceMemory.outOfMemory(new RuntimeException("run failed", driver),
                "tornado:0:0 (NVIDIA H100)", 31_000_000_000L, 85_000_000_000L);
        assertTrue(e != null && e.getCause().getCause() == driver);
        assertTrue(e.getMessage().startsWith("the TornadoVM device tornado:0:0 (NVIDIA H100) ran out of memory "
                + "placing this run's tensors (31.00 GB in all) on it: it has 85.00 GB"), e.getMessage());
        assertTrue(e.getMessage().contains("other processes likely hold part of it"), e.getMessage());
        assertTrue(e.getMessage().endsWith("lower --batch-size (Unable to allocate 902.7 MiB on the CUDA device "
                + "(cuMemAlloc status=2).)"), e.getMessage());
        assertEquals(1, e.getMessage().lines().count());
        assertNull(DeviceMemory.outOfMemory(new IllegalStateException("other"), "d", 1, 2));
    }

    private static double sumOf(float[] values) {
        double s = 0;
        for (float v : values) s += v;
        return s;
    }
}
