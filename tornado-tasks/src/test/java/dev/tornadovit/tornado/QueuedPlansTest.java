package dev.tornadovit.tornado;

import dev.tornadovit.tensor.PixelTable;
import dev.tornadovit.tensor.RecordedGraph;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tornado.kernels.ElementwiseKernels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import uk.ac.manchester.tornado.api.ImmutableTaskGraph;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.TornadoExecutionResult;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.exceptions.TornadoRuntimeException;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

import java.util.Arrays;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Graphs run queued ({@link Plans}): a run returns before the device has done it, so what the host writes next must not
 * overtake it. Many runs are queued back to back with uploads between them and no download until the end; every
 * upload must reach exactly the run queued after it.
 */
@Timeout(value = 600, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class QueuedPlansTest {
    private static final int N = 1000, RUNS = 40;

    @Test
    void theLaunchersQueueRuns() {
        assertTrue(Plans.QUEUED, "the TornadoVM launchers pass -Dtornado.vmflush=false; these tests ran without it");
    }

    /** TornadoVM keeps every run's result in its plan; a plan run every step must not pile them up. */
    @Test
    void plansKeepNoResultOfPastRuns() throws Exception {
        Plans plans = new Plans(TornadoDevices.resolve(TestDevice.spec()).device());
        FloatArray src = new FloatArray(N), dst = new FloatArray(N);
        src.init(3f);
        ImmutableTaskGraph graph = new TaskGraph(DeviceMemory.uniqueName("results"))
                .transferToDevice(DataTransferMode.EVERY_EXECUTION, src)
                .task("copy", ElementwiseKernels::copy, src, dst, N)
                .transferToHost(DataTransferMode.UNDER_DEMAND, dst)
                .snapshot();
        TornadoExecutionPlan plan = plans.compiled(graph, null);
        try {
            TornadoExecutionResult last = null;
            for (int run = 0; run < RUNS; run++) last = plans.run(plan);
            last.transferToHost(dst);
            assertEquals(3f, dst.get(N - 1));
            assertThrows(TornadoRuntimeException.class, () -> plan.getPlanResult(0), "a past run's result is kept");
        } finally {
            plans.awaitDevice();
            plan.close();
        }
    }

    /** Per-step values through a staging graph (one tensor uploaded at a time), as the optimizer's are. */
    @Test
    void stagedUploadsReachTheRunQueuedAfterThem() {
        try (TornadoBackend be = TestDevice.backend()) {
            Tensor x = be.allocate(N), sum = be.allocate(N);
            be.zero(sum);
            RecordedGraph add = be.record("queued.add", () -> be.accumulate(sum, x, N));
            float[] expected = new float[N], values = new float[N];
            for (int run = 1; run <= RUNS; run++) {
                for (int i = 0; i < N; i++) values[i] = run * (i % 7 + 1);
                be.upload(x, values);
                add.run();
                for (int i = 0; i < N; i++) expected[i] += values[i];
            }
            assertArrayEquals(expected, be.downloadFloat(sum), "sum of " + RUNS + " queued runs");
            // On CUDA the graph is captured at its first run and every later run replays it through the driver;
            // elsewhere nothing is captured.
            boolean cuda = be.name().startsWith("cuda:") && !"false".equals(System.getProperty("tornadovit.cudaGraphs"));
            assertEquals(cuda ? RUNS - 1 : 0, be.graphs.directReplays(), be.name());
        }
    }

    /** Several tensors of one owner group uploaded together re-send the whole group, as a checkpoint's weights do. */
    @Test
    void groupUploadsReachTheRunQueuedAfterThem() {
        try (TornadoBackend be = TestDevice.backend()) {
            Tensor[] xs = new Tensor[5];
            for (int j = 0; j < xs.length; j++) xs[j] = be.allocate(N);
            Tensor sum = be.allocate(N);
            be.zero(sum);
            RecordedGraph add = be.record("queued.add-all", () -> {
                for (Tensor x : xs) be.accumulate(sum, x, N);
            });
            float[] expected = new float[N], values = new float[N];
            for (int run = 1; run <= RUNS; run++) {
                for (int j = 0; j < xs.length; j++) {
                    for (int i = 0; i < N; i++) values[i] = run + j * (i % 5);
                    be.upload(xs[j], values);
                    for (int i = 0; i < N; i++) expected[i] += values[i];
                }
                add.run();
            }
            assertArrayEquals(expected, be.downloadFloat(sum), "sum of " + RUNS + " queued runs");
        }
    }

    /** A batch's 8-bit pixels through their byte buffer, as the trainer uploads every batch. */
    @Test
    void pixelUploadsReachTheRunQueuedAfterThem() {
        try (TornadoBackend be = TestDevice.backend()) {
            float[] table = new float[PixelTable.LEVELS];
            for (int v = 0; v < table.length; v++) table[v] = v;
            PixelTable identity = new PixelTable(table);
            Tensor images = be.allocate(N), sum = be.allocate(N);
            be.zero(sum);
            RecordedGraph add = be.record("queued.add-pixels", () -> be.accumulate(sum, images, N));
            float[] expected = new float[N];
            byte[] pixels = new byte[N];
            for (int run = 1; run <= RUNS; run++) {
                for (int i = 0; i < N; i++) pixels[i] = (byte) ((run * 31 + i) % 256);
                be.uploadPixels(images, pixels, 1, N, identity); // one image of N pixels, one channel
                add.run();
                for (int i = 0; i < N; i++) expected[i] += pixels[i] & 0xFF;
            }
            float[] actual = be.downloadFloat(sum);
            assertArrayEquals(expected, actual, () -> "sum of " + RUNS + " queued runs, first values "
                    + Arrays.toString(Arrays.copyOf(actual, 4)));
        }
    }
}
