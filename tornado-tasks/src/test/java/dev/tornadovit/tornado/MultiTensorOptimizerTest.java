package dev.tornadovit.tornado;

import dev.tornadovit.tensor.AdamWUpdate;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tornado.kernels.OptimizerKernels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static dev.tornadovit.tornado.Twin.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The multi-tensor optimiser operations (zero, sum of squares and AdamW over a list of tensors, {@link OptimizerKernels})
 * on the TornadoVM device against the CPU backend, which runs them tensor by tensor. Lists of 1 tensor, of exactly one
 * group (8) and of more than one group with a partial last one, with sizes that divide neither the group nor the
 * kernels' work-groups, and empty tensors among them.
 */
@Timeout(value = 600, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class MultiTensorOptimizerTest extends DeviceAgainstCpu {
    MultiTensorOptimizerTest() {
        super(5);
    }

    /** Elementwise float32 arithmetic, as the single-tensor AdamW test. */
    private static final double TOL = 2e-5;
    /**
     * The sum of squares of up to ~60,000 positive float32 terms. The CPU sums each tensor in float64 and adds the
     * tensors' sums in float32; the device sums in float32 throughout, each thread's strided run and then two
     * 256-wide trees. Each term passes through at most ~30 float32 additions, each off by at most 2⁻²⁴ relative, and
     * all terms are positive (no cancellation): the result is within 30·2⁻²⁴ ≈ 2e-6 relative; 1e-5 leaves room.
     */
    private static final double SUM_TOL = 1e-5;

    /** Sizes: one tensor, exactly one group, and 11 tensors (a group and a partial one) with an empty one. */
    private static final int[][] LISTS = {{4099}, {1, 17, 256, 257, 1000, 3, 5000, 2}, {513, 1, 0, 4099, 7, 31, 2048, 100, 1023, 9, 30001}};


    private List<Twin> randomTensors(int[] sizes, double scale) {
        List<Twin> out = new ArrayList<>();
        for (int n : sizes) out.add(Twin.random(cpu, dev, n, random, scale));
        return out;
    }

    private static List<Tensor> on(Backend be, List<Twin> twins) {
        return twins.stream().map(t -> t.on(be)).toList();
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2})
    void zeroesEveryTensorOfTheListAndNoOther(int list) {
        List<Twin> xs = randomTensors(LISTS[list], 1);
        Twin other = Twin.random(cpu, dev, 100, random, 1);
        cpu.zero(on(cpu, xs));
        dev.record("zero-list-" + list, () -> dev.zero(on(dev, xs))).run(); // recorded: the kernels run, not host zeroing
        for (int i = 0; i < xs.size(); i++) {
            assertArrayEquals(new float[xs.get(i).size()], dev.downloadFloat(xs.get(i).device()), "tensor " + i);
        }
        assertClose("a tensor outside the list", other, 0);
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2})
    void sumsTheSquaresOfEveryTensorAsThePerTensorPathDoes(int list) {
        List<Twin> xs = randomTensors(LISTS[list], 1);
        Twin out = Twin.random(cpu, dev, 1, random, 1);
        for (Backend be : List.of(cpu, dev)) be.sumOfSquares(on(be, xs), out.on(be));
        assertClose("sum of squares against the CPU", out, SUM_TOL);
        // the per-tensor operations on the device: the same sum in another order
        Tensor perTensor = dev.allocate(1);
        for (Twin x : xs) dev.sumOfSquares(x.device(), x.size(), perTensor, 0);
        double single = dev.downloadFloat(perTensor)[0], multi = dev.downloadFloat(out.device())[0];
        assertEquals(single, multi, SUM_TOL * single, "against the per-tensor operations");
        // a fixed order: the same gradients give the same bits
        dev.sumOfSquares(on(dev, xs), out.device());
        assertEquals(Float.floatToIntBits((float) multi), Float.floatToIntBits(dev.downloadFloat(out.device())[0]));
    }

    @Test
    void anEmptyListSumsToZero() {
        Twin out = Twin.random(cpu, dev, 1, random, 1);
        for (Backend be : List.of(cpu, dev)) be.sumOfSquares(List.of(), out.on(be));
        assertClose("empty", out, 0);
        assertEquals(0f, dev.downloadFloat(out.device())[0]);
    }

    /**
     * Moments end to end in one tensor each, as the optimiser keeps them, with a gap before each tensor's on the
     * second list (so no two tensors' moments follow each other there: one group kernel per tensor). The third list
     * has two learning-rate groups interleaved (layer-wise decay), so a group's tensors are not all neighbours in the
     * moment tensors either.
     */
    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2})
    void updatesEveryTensorAsThePerTensorStepDoes(int list) {
        int[] sizes = LISTS[list];
        int gap = list == 1 ? 3 : 0;
        int[] offsets = new int[sizes.length];
        int total = 0;
        for (int i = 0; i < sizes.length; i++) {
            total += gap;
            offsets[i] = total;
            total += sizes[i];
        }
        List<Twin> params = randomTensors(sizes, 1), grads = randomTensors(sizes, 1);
        Twin m = Twin.random(cpu, dev, total, random, 0.1);
        float[] second = new float[total];
        for (int i = 0; i < total; i++) second[i] = (float) (random.nextDouble() * 0.01); // second moments are >= 0
        Twin v = Twin.of(cpu, dev, second);
        Twin hyperA = Twin.of(cpu, dev, new float[]{1e-3f, 0.19f, 0.0199f, 0.7f});
        Twin hyperB = Twin.of(cpu, dev, new float[]{3e-4f, 0.19f, 0.0199f, 0.7f});
        for (Backend be : List.of(cpu, dev)) {
            List<AdamWUpdate> updates = new ArrayList<>();
            for (int i = 0; i < sizes.length; i++) {
                Twin hyper = list == 2 && i % 3 == 2 ? hyperB : hyperA;
                updates.add(new AdamWUpdate(params.get(i).on(be), grads.get(i).on(be), m.on(be), v.on(be), offsets[i],
                        hyper.on(be), i % 2 == 0 ? 0.05 : 0)); // decay on every other tensor
            }
            be.adamW(updates, 0.9, 0.999, 1e-8);
        }
        for (int i = 0; i < sizes.length; i++) assertClose("param " + i, params.get(i), TOL);
        assertClose("first moments", m, TOL);
        assertClose("second moments", v, TOL);
    }

    @Test
    void updatesThatWouldRaceAreRefused() {
        Tensor p = dev.allocate(4), g = dev.allocate(4), m = dev.allocate(8), v = dev.allocate(8), h = dev.allocate(4);
        Tensor other = dev.allocate(4), g8 = dev.allocate(8), m8 = dev.allocate(8), v8 = dev.allocate(8);
        List<List<AdamWUpdate>> refused = List.of(
                List.of(new AdamWUpdate(p, g, m, v, 0, h, 0), new AdamWUpdate(p, g, m, v, 4, h, 0)), // a parameter twice
                List.of(new AdamWUpdate(p, g, m, v, 0, h, 0), new AdamWUpdate(other, g, m, v, 2, h, 0)), // moments overlap
                List.of(new AdamWUpdate(p, g, m, m, 0, h, 0)), // first and second moments in one tensor
                List.of(new AdamWUpdate(p, g, m, v, 0, h, 0), new AdamWUpdate(m, g8, m8, v8, 0, h, 0))); // moments as a parameter
        for (List<AdamWUpdate> updates : refused) {
            assertThrows(IllegalArgumentException.class, () -> dev.adamW(updates, 0.9, 0.999, 1e-8), updates.toString());
        }
        assertThrows(IllegalArgumentException.class, () -> new AdamWUpdate(p, g, m, v, 5, h, 0), "moments past the end");
    }

    @Test
    void groupsHoldAtMostEightTensorsInOrder() {
        int[] sizes = new int[19];
        Arrays.fill(sizes, 10);
        List<int[]> groups = LossAndOptimizer.groups(sizes);
        assertEquals(3, groups.size());
        assertArrayEquals(new int[]{0, 8}, groups.get(0));
        assertArrayEquals(new int[]{8, 16}, groups.get(1));
        assertArrayEquals(new int[]{16, 19}, groups.get(2));
        // a group stays below 2^31 elements
        List<int[]> big = LossAndOptimizer.groups(new int[]{Integer.MAX_VALUE / 2, Integer.MAX_VALUE / 2, 5});
        assertEquals(2, big.size());
        assertArrayEquals(new int[]{0, 2}, big.get(0));
    }
}
