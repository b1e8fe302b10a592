package dev.tornadovit.backend.cpu;

import dev.tornadovit.data.Normalization;
import dev.tornadovit.model.AttentionConfig;
import dev.tornadovit.model.Pooling;
import dev.tornadovit.model.PositionEmbedding;
import dev.tornadovit.model.ReattentionBlocks;
import dev.tornadovit.model.ReattentionNorm;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.PixelTable;
import dev.tornadovit.tensor.PoolMode;
import dev.tornadovit.tensor.RecordedGraph;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.train.AdamW;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Once warmed up, the CPU backend's operations in a training step allocate nothing: the pool's loops and every loop
 * body (reused objects, not capturing lambdas), on the calling thread and on the pool's workers, the batch's upload as
 * 8-bit pixels included.
 *
 * <p>The first two tests count the calling thread's bytes inside each operation only, through a proxy, so that a
 * failure names the operation; reads and downloads, which return values, are left out. The third counts the
 * whole step, model and optimizer included.
 */
class TrainingStepAllocationTest {

    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    private static int originalThreads;

    @BeforeAll
    static void useTwoThreads() {
        // At least two, so that the loops really go through the pool, whatever this machine's core count.
        originalThreads = CpuParallel.threads();
        CpuParallel.setThreads(2);
    }

    @AfterAll
    static void restoreThreads() {
        CpuParallel.setThreads(originalThreads);
    }

    @Test
    void softmaxTrainingStepAllocatesNothingInTheBackend() {
        assertAllocatesNothing(Case.SOFTMAX);
    }

    @Test
    void pointwiseGatedReattentionTrainingStepAllocatesNothingInTheBackend() {
        assertAllocatesNothing(Case.GATED);
    }

    @Test
    void wholeTrainingStepAllocatesNothing() {
        assertAllocatesNothing(Case.WHOLE);
    }

    /** What is measured: the backend's operations (two models), or the whole step. */
    enum Case {
        SOFTMAX, GATED, WHOLE;

        Measurement measure() {
            return switch (this) {
                case SOFTMAX -> measureOperations(config(AttentionConfig.softmax(), Pooling.CLS));
                // The other loops: pointwise weights, the sigmoid gate, query/key norms, head mixing and its batch norm.
                case GATED -> measureOperations(config(AttentionConfig.reluOverL().withGate(true).withQkNorm(true)
                        .withReattention(ReattentionNorm.BATCHNORM, ReattentionBlocks.ALL), Pooling.GAP));
                case WHOLE -> measureWholeStep();
            };
        }
    }

    /** Bytes a training step allocated at best over the rounds, and where. */
    record Measurement(double bytesPerStep, String where) {
    }

    /** JVMs of their own in which a case is measured again when this one's JIT state allocated. */
    private static final int FRESH_JVMS = 8;

    /**
     * Measures in this JVM, then, if something was allocated, in up to {@link #FRESH_JVMS} fresh ones. Our code
     * allocates the same in every JVM; what HotSpot's compilation does differs between them: with tiered compilation
     * C2 sometimes compiles a rarely taken Vector API path cold (seen in {@code GemmKernels.kernel1} and
     * {@code GemmPacking.packTransposedA}: "callee is too large", "no static binding" for the intrinsics), and that
     * path then boxes its vectors in every later step of that JVM, ~1.5 KB a step at this size. On two cores about one
     * JVM in three compiles it so (with {@code -Xbatch}, every one), hence several fresh JVMs.
     */
    private static void assertAllocatesNothing(Case c) {
        Measurement m = c.measure();
        StringBuilder seen = new StringBuilder(m.toString());
        for (int jvm = 0; jvm < FRESH_JVMS && m.bytesPerStep() >= 1; jvm++) {
            m = inFreshJvm(c);
            seen.append("; fresh JVM: ").append(m);
        }
        assertTrue(m.bytesPerStep() < 1, "bytes per training step allocated in the CPU backend, in every JVM: " + seen);
    }

    private static Measurement inFreshJvm(Case c) {
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx1g",
                "-XX:+UseParallelGC", "-cp", System.getProperty("java.class.path"),
                TrainingStepAllocationTest.class.getName(), c.name());
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(300, TimeUnit.SECONDS) && p.exitValue() == 0, "the fresh JVM failed: " + out);
            String line = out.lines().filter(l -> l.startsWith("MEASURED ")).findFirst()
                    .orElseThrow(() -> new AssertionError("no measurement from the fresh JVM: " + out));
            String[] parts = line.split(" ", 3);
            return new Measurement(Double.parseDouble(parts[1]), parts[2]);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** A fresh JVM's side of {@link #inFreshJvm}: measures one case, prints it, exits. */
    public static void main(String[] args) {
        CpuParallel.setThreads(2);
        Measurement m = Case.valueOf(args[0]).measure();
        System.out.println("MEASURED " + m.bytesPerStep() + " " + m.where());
        System.exit(0);
    }

    /**
     * The whole step as a trainer runs it, model and optimizer included (recorded graphs, the optimizer's
     * hyper-parameters, reading the loss and the gradient norm), with no proxy in between.
     */
    private static Measurement measureWholeStep() {
        ViTConfig config = config(AttentionConfig.softmax(), Pooling.CLS);
        int batch = 16;
        try (CpuBackend be = new CpuBackend()) {
            VisionTransformer model = new VisionTransformer(config, be, 1);
            AdamW optimizer = new AdamW(be, model.parameters(), AdamW.Settings.defaults());
            Tensor images = be.allocate(batch * config.channels() * config.imageHeight() * config.imageWidth());
            Tensor labels = be.allocate(batch);
            be.upload(labels, new float[batch]);
            byte[] pixels = pixels(images.size());
            PixelTable table = table(config.channels());
            int planeSize = config.imageHeight() * config.imageWidth();
            double[] lossSum = new double[1];
            Runnable step = () -> {
                be.uploadPixels(images, pixels, batch, planeSize, table);
                model.setTraining(true);
                model.zeroGradients();
                model.forward(images, batch);
                lossSum[0] += be.readDouble(model.lossAndGradient(labels, batch), 0);
                model.backward(batch);
                optimizer.step(1e-4);
            };
            long[] workers = poolWorkerIds();
            for (int i = 0; i < 300; i++) step.run();
            int steps = 10;
            double best = Double.MAX_VALUE;
            for (int round = 0; round < ROUNDS && best >= 1; round++) {
                // The workers' counts are read outside the caller's window: reading them allocates an array.
                long workersBefore = sum(THREADS.getThreadAllocatedBytes(workers));
                long before = THREADS.getCurrentThreadAllocatedBytes();
                for (int i = 0; i < steps; i++) step.run();
                long callerBytes = THREADS.getCurrentThreadAllocatedBytes() - before;
                long workerBytes = sum(THREADS.getThreadAllocatedBytes(workers)) - workersBefore;
                best = Math.min(best, (double) (callerBytes + workerBytes) / steps);
            }
            assertTrue(Double.isFinite(lossSum[0]));
            return new Measurement(best, "the whole step");
        }
    }

    /** Small, but with loops large enough to be split over the pool: 16×17 tokens, GEMMs over the parallel threshold. */
    private static ViTConfig config(AttentionConfig attention, Pooling pool) {
        return new ViTConfig(16, 16, 3, 4, 10, 32, 2, 2, 64, pool, PositionEmbedding.LEARNED, attention, 0);
    }

    private static Measurement measureOperations(ViTConfig config) {
        int batch = 16;
        try (CpuBackend cpu = new CpuBackend()) {
            Meter meter = new Meter(cpu);
            Backend be = meter.proxy();
            VisionTransformer model = new VisionTransformer(config, be, 1);
            AdamW optimizer = new AdamW(be, model.parameters(), AdamW.Settings.defaults());
            Random r = new Random(1);
            float[] x = new float[batch * config.channels() * config.imageHeight() * config.imageWidth()];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            float[] y = new float[batch];
            for (int i = 0; i < batch; i++) y[i] = r.nextInt(config.numClasses());
            Tensor images = be.allocate(x.length), labels = be.allocate(batch);
            be.upload(images, x);
            be.upload(labels, y);
            byte[] pixels = pixels(x.length);
            PixelTable table = table(config.channels());
            int planeSize = config.imageHeight() * config.imageWidth();
            Runnable step = () -> {
                be.uploadPixels(images, pixels, batch, planeSize, table);
                model.setTraining(true);
                model.zeroGradients();
                model.forward(images, batch);
                model.lossAndGradient(labels, batch);
                model.backward(batch);
                optimizer.step(1e-4);
            };
            assertTrue(THREADS.isThreadAllocatedMemorySupported() && THREADS.isThreadAllocatedMemoryEnabled());
            long[] workers = poolWorkerIds();
            assertFalse(workers.length == 0, "the pool has no workers");
            // Until C2 has compiled the Vector API code, its vectors are boxed objects: warm up, then measure rounds of
            // steps. A real allocation shows in every round; a late compilation or deoptimisation only in some.
            for (int i = 0; i < 300; i++) step.run();
            int steps = 10;
            double best = Double.MAX_VALUE;
            String worst = "";
            for (int round = 0; round < ROUNDS && best >= 1; round++) {
                meter.reset();
                long workersBefore = sum(THREADS.getThreadAllocatedBytes(workers));
                meter.measuring = true;
                for (int i = 0; i < steps; i++) step.run();
                meter.measuring = false;
                assertTrue(meter.measuredCalls > 0, "no operation was measured");
                long workerBytes = sum(THREADS.getThreadAllocatedBytes(workers)) - workersBefore;
                double perStep = (double) (meter.total() + workerBytes) / steps;
                if (perStep < best) {
                    best = perStep;
                    worst = "calling thread, by operation: " + meter.bytesByOperation + "; workers: " + workerBytes;
                }
            }
            return new Measurement(best, worst);
        }
    }

    /** A batch of random 8-bit pixels, uploaded each step as the trainer uploads its batches. */
    private static byte[] pixels(int n) {
        byte[] p = new byte[n];
        new Random(2).nextBytes(p);
        return p;
    }

    private static PixelTable table(int channels) {
        float[] mean = new float[channels], std = new float[channels];
        Arrays.fill(mean, 0.5f);
        Arrays.fill(std, 0.25f);
        return Normalization.pixelTable(Normalization.of(mean, std), channels);
    }

    /** Rounds of measured steps in one JVM before its measurement counts. */
    private static final int ROUNDS = 5;

    private static long[] poolWorkerIds() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().startsWith("cpu-parallel-"))
                .mapToLong(Thread::threadId).toArray();
    }

    private static long sum(long[] values) {
        return Arrays.stream(values).sum();
    }

    /** A proxy for a backend that counts the bytes the calling thread allocates inside each operation. */
    private static final class Meter implements InvocationHandler {
        final Backend target;
        final Map<String, Long> bytesByOperation = new TreeMap<>();
        boolean measuring;
        long measuredCalls;

        Meter(Backend target) {
            this.target = target;
        }

        Backend proxy() {
            return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[]{Backend.class}, this);
        }

        void reset() {
            bytesByOperation.clear();
            measuredCalls = 0;
        }

        long total() {
            return bytesByOperation.values().stream().mapToLong(Long::longValue).sum();
        }

        @Override
        public Object invoke(Object proxy, Method method, Object[] args) throws Throwable {
            if (method.getName().equals("record")) {
                // The body calls operations on the proxy, so they are measured one by one.
                Runnable body = (Runnable) args[1];
                return (RecordedGraph) body::run;
            }
            // A proxy boxes what a method returns, so only the operations proper (void) are measured; the reads and
            // downloads return values or new arrays by contract.
            boolean measured = measuring && method.getReturnType() == void.class;
            long before = measured ? THREADS.getCurrentThreadAllocatedBytes() : 0;
            Object result;
            try {
                result = method.invoke(target, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
            if (measured) {
                measuredCalls++;
                long bytes = THREADS.getCurrentThreadAllocatedBytes() - before;
                if (bytes != 0) bytesByOperation.merge(method.getName(), bytes, Long::sum);
            }
            return result;
        }
    }
}
