package dev.tornadovit.tornado;

import dev.tornadovit.tornado.GemmLayoutsTest.Case;
import dev.tornadovit.tornado.MmaGemmTest.Inputs;
import dev.tornadovit.tornado.kernels.MmaGemmKernels;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.enums.MMAShape;
import uk.ac.manchester.tornado.api.types.HalfFloat;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

/**
 * A KernelContext for one thread of an emulated work-group: {@link MmaGemmKernels} run as plain Java, each
 * work-group's threads as threads sharing its local arrays and barrier, with TornadoVM's MMA intrinsics done as its CUDA
 * backend emits them. A fragment here is the whole matrix, not one lane's share: an A fragment 16×16 bf16 (row-major,
 * as HalfFloat bit patterns), a B fragment 16×8 (K-major), an accumulator 16×8 floats; every lane of a warp computes
 * the same one, which is what the warp computes together.
 *
 * <p>Only ever loaded in a JVM of its own ({@link MmaKernelEmulationTest} starts one with {@link #main}): TornadoVM
 * recognises KernelContext's methods in a kernel only while no loaded class overrides them (Graal resolves the calls by
 * class-hierarchy analysis), so this subclass, loaded beside TornadoVM, would make every KernelContext kernel of that
 * JVM fail to compile.
 */
final class MmaEmulation extends KernelContext {
    private static final Field LOCAL_X = field("localIdx"), GROUP_X = field("groupIdx"), GROUP_Y = field("groupIdy"),
            GROUP_Z = field("groupIdz");

    /** What a work-group's threads share: local arrays (by allocation order) and the barrier. */
    static final class Group {
        final List<int[]> intArrays = new ArrayList<>();
        final CyclicBarrier barrier;

        Group(int threads) {
            barrier = new CyclicBarrier(threads);
        }
    }

    private final Group group;
    private int allocations;

    MmaEmulation(Group group) {
        this.group = group;
    }

    /**
     * Runs every case of {@link MmaGemmTest#cases} through the emulated kernels against the CPU's bf16 emulation, and
     * the emulation's own alignment check; prints "case I ok" or "case I failed: MESSAGE" (one line) for each, and
     * "misaligned ok" or "misaligned failed: ...".
     */
    public static void main(String[] args) throws InterruptedException {
        List<Case> cases = MmaGemmTest.cases();
        for (int i = 0; i < cases.size(); i++) {
            try {
                run(cases.get(i));
                System.out.println("case " + i + " ok");
            } catch (AssertionError | RuntimeException e) {
                System.out.println("case " + i + " failed: " + String.valueOf(e.getMessage()).replace('\n', ' '));
            }
        }
        try {
            new MmaEmulation(new Group(1)).mmaLoadA(new int[256], 16, 8);
            System.out.println("misaligned failed: an ldmatrix row at byte 8 was accepted");
        } catch (IllegalStateException e) {
            System.out.println("misaligned ok " + e.getMessage());
        }
    }

    /** One case through the emulated kernel of its layout, checked as {@link MmaGemmTest} checks the device. */
    private static void run(Case c) throws InterruptedException {
        Inputs in = Inputs.of(c);
        FloatArray a = FloatArray.fromArray(in.a()), b = FloatArray.fromArray(in.b());
        FloatArray out = FloatArray.fromArray(in.start());
        FloatArray bias = FloatArray.fromArray(c.bias() ? in.bias() : new float[1]);
        FloatArray tiles = new FloatArray((int) MmaGemmKernels.tilesSize(c.m(), c.n(), c.batches()));
        int groupsX = (c.n() + MmaGemmKernels.TILE - 1) / MmaGemmKernels.TILE;
        int groupsY = (c.m() + MmaGemmKernels.TILE - 1) / MmaGemmKernels.TILE;
        int accumulate = c.accumulate() ? 1 : 0, hasBias = c.bias() ? 1 : 0;
        launch(groupsX, groupsY, c.batches(), MmaGemmKernels.THREADS, ctx -> {
            switch (c.layout()) {
                case NN -> MmaGemmKernels.mmaNN(ctx, a, b, out, bias, tiles, c.m(), c.n(), c.k(), in.strideA(),
                        in.strideB(), in.strideC(), c.alpha(), accumulate, hasBias);
                case NT -> MmaGemmKernels.mmaNT(ctx, a, b, out, bias, tiles, c.m(), c.n(), c.k(), in.strideA(),
                        in.strideB(), in.strideC(), c.alpha(), accumulate, hasBias);
                case TN -> MmaGemmKernels.mmaTN(ctx, a, b, out, bias, tiles, c.m(), c.n(), c.k(), in.strideA(),
                        in.strideB(), in.strideC(), c.alpha(), accumulate, hasBias);
            }
        });
        MmaGemmTest.assertMatchesTheCpu(c + " (emulated)", c, in, out.toHeapArray());
    }

    /** Runs {@code kernel} over a grid of work-groups of {@code threads} threads, one work-group at a time. */
    static void launch(int groupsX, int groupsY, int groupsZ, int threads, Consumer<KernelContext> kernel)
            throws InterruptedException {
        for (int z = 0; z < groupsZ; z++) {
            for (int y = 0; y < groupsY; y++) {
                for (int x = 0; x < groupsX; x++) {
                    Group group = new Group(threads);
                    AtomicReference<Throwable> failure = new AtomicReference<>();
                    List<Thread> running = new ArrayList<>();
                    for (int t = 0; t < threads; t++) {
                        MmaEmulation ctx = new MmaEmulation(group);
                        set(LOCAL_X, ctx, t);
                        set(GROUP_X, ctx, x);
                        set(GROUP_Y, ctx, y);
                        set(GROUP_Z, ctx, z);
                        running.add(Thread.ofVirtual().start(() -> {
                            try {
                                kernel.accept(ctx);
                            } catch (Throwable e) {
                                if (failure.compareAndSet(null, e)) group.barrier.reset();
                            }
                        }));
                    }
                    for (Thread thread : running) thread.join();
                    if (failure.get() != null) throw new AssertionError("work-group (" + x + ", " + y + ", " + z
                            + ") failed", failure.get());
                }
            }
        }
    }

    private static Field field(String name) {
        try {
            Field f = KernelContext.class.getDeclaredField(name);
            f.setAccessible(true);
            return f;
        } catch (NoSuchFieldException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void set(Field f, MmaEmulation ctx, int value) {
        try {
            f.set(ctx, value);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public int[] allocateIntLocalArray(int size) {
        synchronized (group) {
            if (group.intArrays.size() <= allocations) group.intArrays.add(new int[size]);
            int[] array = group.intArrays.get(allocations++);
            if (array.length != size) throw new IllegalStateException("threads allocated different local arrays");
            return array;
        }
    }

    @Override
    public void localBarrier() {
        try {
            group.barrier.await(60, TimeUnit.SECONDS);
        } catch (InterruptedException | BrokenBarrierException | TimeoutException e) {
            throw new IllegalStateException("barrier broken: another thread failed or never arrived", e);
        }
    }

    @Override
    public float[] mmaFragment(float v) {
        float[] fragment = new float[16 * 8];
        Arrays.fill(fragment, v);
        return fragment;
    }

    @Override
    public HalfFloat[] mmaLoadA(int[] tile, int wmmaK, int byteOffset) {
        checkAligned(byteOffset);
        HalfFloat[] fragment = new HalfFloat[16 * 16];
        for (int r = 0; r < 16; r++) {
            for (int kk = 0; kk < 16; kk++) fragment[r * 16 + kk] = half(tile, byteOffset / 4 + r * 8 + kk / 2, kk);
        }
        return fragment;
    }

    @Override
    public HalfFloat[] mmaLoadB(int[] tile, int wmmaK, int byteOffset) {
        checkAligned(byteOffset);
        HalfFloat[] fragment = new HalfFloat[16 * 8];
        for (int kk = 0; kk < 16; kk++) {
            for (int j = 0; j < 8; j++) fragment[kk * 8 + j] = half(tile, byteOffset / 4 + kk * 4 + j / 2, j);
        }
        return fragment;
    }

    @Override
    public float[] mmaBF16(HalfFloat[] a, HalfFloat[] b, float[] c, MMAShape shape) {
        if (shape != MMAShape.M16N8K16) throw new IllegalStateException("bf16 mma.sync is m16n8k16, not " + shape);
        float[] d = new float[16 * 8];
        for (int r = 0; r < 16; r++) {
            for (int j = 0; j < 8; j++) {
                float sum = c[r * 8 + j];
                for (int kk = 0; kk < 16; kk++) sum += value(a[r * 16 + kk]) * value(b[kk * 8 + j]);
                d[r * 8 + j] = sum;
            }
        }
        return d;
    }

    @Override
    public void mmaStore(float[] d, FloatArray c, int tileRow, int tileCol, int dimN) {
        for (int r = 0; r < 16; r++) {
            for (int j = 0; j < 8; j++) c.set((tileRow + r) * dimN + tileCol + j, d[r * 8 + j]);
        }
    }

    private static void checkAligned(int byteOffset) {
        if (byteOffset % 16 != 0) {
            throw new IllegalStateException("ldmatrix at byte offset " + byteOffset
                    + ": rows must start on 16-byte boundaries");
        }
    }

    /** The bf16 pattern of element {@code index} (even: the int's low half) of the int at {@code at}. */
    private static HalfFloat half(int[] tile, int at, int index) {
        int word = tile[at];
        return new HalfFloat((short) (index % 2 == 0 ? word : word >>> 16));
    }

    private static float value(HalfFloat bf16) {
        return Float.intBitsToFloat((bf16.getHalfFloatValue() & 0xFFFF) << 16);
    }
}
