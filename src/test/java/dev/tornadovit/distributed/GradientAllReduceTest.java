package dev.tornadovit.distributed;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.model.AttentionConfig;
import dev.tornadovit.model.GradientReadyListener;
import dev.tornadovit.model.Parameter;
import dev.tornadovit.model.Pooling;
import dev.tornadovit.model.PositionEmbedding;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The gradient sum that overlaps the backward pass, against a stand-in for the other rank of two: when each bucket
 * starts, what it holds, and that the averaged gradients are the bits of the one-message all-reduce.
 */
class GradientAllReduceTest {
    /** Width 160: a block holds about 1.2 MB of gradients, just over one bucket's minimum. */
    private static final ViTConfig CONFIG = new ViTConfig(16, 16, 3, 4, 10, 160, 3, 4, 640, Pooling.CLS,
            PositionEmbedding.LEARNED, AttentionConfig.softmax(), 0);

    /**
     * Rank 0 of 2, whose peer holds {@code 0.75·g + 1} for each of its gradients g, so the sum of g is
     * {@code g + (0.75·g + 1)}, whichever path sends it. Records each sum started: its length, and how many
     * gradient groups the backward pass had reported by then.
     */
    private static final class TwoRanks implements Distributed {
        final List<int[]> started = new ArrayList<>();
        int groupsReported, pendingSums, progressCalls;
        private final List<MemorySegment> pending = new ArrayList<>();

        private static float withPeer(float g) {
            return g + (0.75f * g + 1);
        }

        @Override
        public int rank() {
            return 0;
        }

        @Override
        public int size() {
            return 2;
        }

        @Override
        public void sum(float[] values, int n) {
            for (int i = 0; i < n; i++) values[i] = withPeer(values[i]);
        }

        @Override
        public void sum(double[] values, int n) {
            for (int i = 0; i < n; i++) values[i] *= 2;
        }

        @Override
        public void max(long[] values, int n) {
        }

        @Override
        public void broadcast(float[] values, int n, int root) {
        }

        @Override
        public void broadcast(byte[] values, int n, int root) {
        }

        /** The sum lands when awaited, as a non-blocking one may: the values must be left alone until then. */
        @Override
        public void startSum(MemorySegment values, int n) {
            started.add(new int[]{n, groupsReported});
            pending.add(values.asSlice(0, (long) n * Float.BYTES));
            pendingSums++;
        }

        @Override
        public boolean progressSums() {
            progressCalls++;
            return pending.isEmpty();
        }

        @Override
        public void awaitSums() {
            for (MemorySegment values : pending) {
                for (long i = 0; i < values.byteSize() / Float.BYTES; i++) {
                    values.setAtIndex(JAVA_FLOAT, i, withPeer(values.getAtIndex(JAVA_FLOAT, i)));
                }
            }
            pending.clear();
            pendingSums = 0;
        }

        @Override
        public void barrier() {
        }

        @Override
        public void abort(int code) {
            throw new AssertionError("abort " + code);
        }

        @Override
        public double collectiveSeconds() {
            return 0;
        }

        @Override
        public String describe() {
            return "rank 0 of 2 (test)";
        }

        @Override
        public void close() {
        }
    }

    private static void forward(VisionTransformer model, CpuBackend be, int batch) {
        Random r = new Random(5);
        float[] x = new float[batch * 3 * 16 * 16];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        float[] y = new float[batch];
        for (int i = 0; i < batch; i++) y[i] = i % 10;
        Tensor images = be.allocate(x.length), labels = be.allocate(batch);
        be.upload(images, x);
        be.upload(labels, y);
        model.zeroGradients();
        model.forward(images, batch);
        model.lossAndGradient(labels, batch);
    }

    private static Map<Parameter, float[]> gradients(VisionTransformer model, CpuBackend be) {
        Map<Parameter, float[]> g = new IdentityHashMap<>();
        for (Parameter p : model.parameters()) g.put(p, be.downloadFloat(p.grad()));
        return g;
    }

    /**
     * A backend that averages on its device gets every gradient tensor once, in one call after the backward pass, with no
     * bucket and no host staging, whichever constructor made the all-reduce; one that cannot is staged as before.
     */
    @Test
    void aBackendThatAveragesOnItsDeviceGetsEveryGradientOnce() {
        try (CpuBackend cpu = new CpuBackend(1)) {
            List<List<Tensor>> averaged = new ArrayList<>();
            boolean[] can = {true};
            Backend device = (Backend) Proxy.newProxyInstance(getClass().getClassLoader(),
                    new Class<?>[]{Backend.class, DeviceCollectives.class}, (proxy, method, args) -> switch (method.getName()) {
                        case "averagesOnDevice" -> can[0];
                        case "averageOnDevice" -> {
                            @SuppressWarnings("unchecked") List<Tensor> tensors = (List<Tensor>) args[1];
                            averaged.add(List.copyOf(tensors));
                            yield null;
                        }
                        default -> invoke(method, cpu, args);
                    });
            VisionTransformer model = new VisionTransformer(CONFIG, cpu, 1);
            List<Tensor> grads = model.parameters().stream().map(Parameter::grad).toList();
            TwoRanks ranks = new TwoRanks();
            for (GradientAllReduce sum : List.of(GradientAllReduce.overlapping(ranks, device, model.gradientGroups()),
                    new GradientAllReduce(ranks, device, model.parameters()))) {
                assertEquals(GradientReadyListener.NONE, sum.listener(), "no buckets on the device path");
                assertEquals("averaged on the device by NCCL after the backward pass", sum.describe());
                sum.average(1.0, 3, 4);
            }
            assertEquals(2, averaged.size());
            for (List<Tensor> call : averaged) {
                Set<Tensor> once = Collections.newSetFromMap(new IdentityHashMap<>());
                once.addAll(call);
                assertEquals(grads.size(), call.size(), "one entry per gradient");
                assertTrue(once.containsAll(grads) && once.size() == grads.size(), "every gradient once");
            }
            assertTrue(ranks.started.isEmpty(), "nothing summed over MPI");
            can[0] = false;
            assertTrue(GradientAllReduce.overlapping(ranks, device, model.gradientGroups()).overlapsBackward());
        }
    }

    private static Object invoke(Method method, Object target, Object[] args) throws Throwable {
        try {
            return method.invoke(target, args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }

    @Test
    void gradientGroupsHoldEveryParameterOnceInTheBackwardPassOrder() {
        try (CpuBackend be = new CpuBackend(1)) {
            VisionTransformer model = new VisionTransformer(CONFIG, be, 1);
            List<List<Parameter>> groups = model.gradientGroups();
            assertEquals(CONFIG.depth() + 2, groups.size());
            Set<Parameter> seen = Collections.newSetFromMap(new IdentityHashMap<>());
            for (List<Parameter> g : groups) for (Parameter p : g) assertTrue(seen.add(p), p.name() + " twice");
            assertEquals(model.parameters().size(), seen.size());
            assertTrue(groups.getFirst().stream().allMatch(p -> p.name().startsWith("head.") || p.name().startsWith("norm.")),
                    () -> groups.getFirst().toString());
            for (int i = 0; i < CONFIG.depth(); i++) {
                String prefix = "blocks." + (CONFIG.depth() - 1 - i) + ".";
                assertTrue(groups.get(1 + i).stream().allMatch(p -> p.name().startsWith(prefix)), prefix);
            }
            assertTrue(groups.getLast().stream().anyMatch(p -> p.name().startsWith("patch_embed.")),
                    () -> groups.getLast().toString());
        }
    }

    /** Each group is reported once its gradients are final: what the listener sees is what the pass ends with. */
    @Test
    void theBackwardPassReportsEachGroupWhenItsGradientsAreFinal() {
        try (CpuBackend be = new CpuBackend(1)) {
            VisionTransformer model = new VisionTransformer(CONFIG, be, 1);
            forward(model, be, 4);
            Map<Parameter, float[]> atReport = new IdentityHashMap<>();
            List<List<Parameter>> reported = new ArrayList<>();
            model.backward(4, group -> {
                reported.add(group);
                for (Parameter p : group) atReport.put(p, be.downloadFloat(p.grad()));
            });
            assertEquals(model.gradientGroups(), reported);
            Map<Parameter, float[]> end = gradients(model, be);
            for (Parameter p : model.parameters()) assertArrayEquals(end.get(p), atReport.get(p), p.name());
        }
    }

    /**
     * The overlapped sums start during the backward pass, a bucket per block once a block is over the minimum, and
     * end with the same averaged gradients, bit for bit, as the one all-reduce after the pass.
     */
    @Test
    void overlappedBucketsStartDuringTheBackwardPassAndAverageAsOneMessageDoes() {
        try (CpuBackend be = new CpuBackend(1)) {
            VisionTransformer model = new VisionTransformer(CONFIG, be, 1);
            TwoRanks ranks = new TwoRanks();
            GradientAllReduce overlapped = GradientAllReduce.overlapping(ranks, be, model.gradientGroups());
            GradientAllReduce blocking = new GradientAllReduce(ranks, be, model.parameters());
            assertTrue(overlapped.overlapsBackward());

            forward(model, be, 4);
            model.backward(4);
            Map<Parameter, float[]> local = gradients(model, be);
            GradientAllReduce.StepTotals one = blocking.average(2.0, 3, 4);
            Map<Parameter, float[]> expected = gradients(model, be);

            forward(model, be, 4);
            model.backward(4, group -> {
                ranks.groupsReported++;
                overlapped.listener().gradientsReady(group);
            });
            for (Parameter p : model.parameters()) {
                assertArrayEquals(local.get(p), be.downloadFloat(p.grad()), "the same local gradients: " + p.name());
            }
            assertEquals(CONFIG.depth() + 1, ranks.started.size(), "head with the last block, one per block, the embedding");
            assertEquals(CONFIG.depth() + 2, ranks.progressCalls, "MPI is moved on at every group");
            // The first bucket leaves while the other blocks' backward still has to run.
            assertEquals(1, ranks.started.getFirst()[1] - 1, "the first bucket starts with the last block");
            for (int i = 0; i < ranks.started.size(); i++) assertEquals(i + 1, ranks.started.get(i)[1] - 1);
            long sent = ranks.started.stream().mapToLong(s -> s[0]).sum();
            assertEquals(model.parameterCount(), sent);

            GradientAllReduce.StepTotals two = overlapped.average(2.0, 3, 4);
            assertEquals(one, two);
            assertEquals(0, ranks.pendingSums);
            for (Parameter p : model.parameters()) assertArrayEquals(expected.get(p), be.downloadFloat(p.grad()), p.name());
        }
    }

    @Test
    void aBackwardPassWithoutTheListenerIsRefusedByName() {
        try (CpuBackend be = new CpuBackend(1)) {
            VisionTransformer model = new VisionTransformer(CONFIG, be, 1);
            GradientAllReduce overlapped = GradientAllReduce.overlapping(new TwoRanks(), be, model.gradientGroups());
            forward(model, be, 2);
            model.backward(2);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> overlapped.average(1, 1, 2));
            assertTrue(e.getMessage().contains("pass GradientAllReduce.listener() to VisionTransformer.backward"), e.getMessage());
            IllegalStateException order = assertThrows(IllegalStateException.class,
                    () -> overlapped.listener().gradientsReady(model.gradientGroups().get(1)));
            assertTrue(order.getMessage().contains("out of the backward pass's order"), order.getMessage());
        }
    }

    @Test
    void oneProcessNeitherCopiesNorListens() {
        try (CpuBackend be = new CpuBackend(1)) {
            VisionTransformer model = new VisionTransformer(CONFIG, be, 1);
            GradientAllReduce single = GradientAllReduce.overlapping(Distributed.single(), be, model.gradientGroups());
            assertEquals(false, single.overlapsBackward());
            assertEquals(new GradientAllReduce.StepTotals(1.5, 2, 4), single.average(1.5, 2, 4));
        }
    }
}
