package dev.tornadovit.distributed;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Optional;

/**
 * NCCL's collectives on GPU memory through {@link NcclCommunicator}, one rank on device 0 (skipped without NVIDIA's
 * driver, a GPU or NCCL): device pointers and a CUDA stream in, the values checked after the stream has run. One
 * rank's sum is its own values, so what is checked is that the pointers, count, type and stream reach NCCL as
 * meant: the result lands in the receive buffer, in place too, and nothing past {@code count} is written.
 *
 * <p>{@link #main} runs the same check without JUnit, on a GPU machine that has a JDK and no Maven:
 * {@code java --enable-native-access=ALL-UNNAMED -cp target/classes:target/test-classes
 * dev.tornadovit.distributed.NcclDeviceTest}.
 */
class NcclDeviceTest {
    private static final int N = 1 << 20, TAIL = 7;
    private static final float SENTINEL = -12345f;

    @Test
    void oneRankSumsAndBroadcastsDeviceMemory() {
        Optional<NcclLibrary> nccl = NcclLibraryTest.realNccl();
        Assumptions.assumeTrue(nccl.isPresent(), "no libnccl.so.2 found");
        Optional<CudaDriver> cuda = CudaDriver.onFirstDevice();
        Assumptions.assumeTrue(cuda.isPresent(), "no NVIDIA driver or GPU here; the device all-reduce runs on a GPU machine");
        check(nccl.get(), cuda.get());
    }

    public static void main(String[] args) {
        NcclLibrary nccl = NcclLibraryTest.realNccl().orElseThrow(() -> new IllegalStateException("no libnccl.so.2 found"));
        CudaDriver cuda = CudaDriver.onFirstDevice().orElseThrow(() -> new IllegalStateException("no CUDA GPU"));
        System.out.println(check(nccl, cuda));
    }

    /** Runs every collective once and returns what it did; an AssertionError names the first wrong value. */
    static String check(NcclLibrary nccl, CudaDriver cuda) {
        float[] x = new float[N], y = new float[N], sentinel = new float[N];
        for (int i = 0; i < N; i++) {
            x[i] = i * 0.5f - 3;
            y[i] = (float) Math.sin(i);
        }
        Arrays.fill(sentinel, SENTINEL);
        long stream = cuda.createStream();
        long send = cuda.allocate(N), recv = cuda.allocate(N), other = cuda.allocate(N);
        StringBuilder report = new StringBuilder("NCCL " + nccl.versionString() + " on device 0:");
        try (NcclCommunicator comm = NcclCommunicator.create(Distributed.single(), nccl)) {
            long count = N - TAIL;
            cuda.upload(send, x);
            cuda.upload(recv, sentinel);
            comm.allReduceSum(send, recv, count, stream);
            cuda.synchronize(stream);
            expect("allReduceSum out of place", cuda.download(recv, N), x, count);
            report.append(" allReduceSum(").append(count).append(") ok;");

            cuda.upload(other, y);
            comm.allReduceSum(other, other, count, stream);
            cuda.synchronize(stream);
            expect("allReduceSum in place", cuda.download(other, N), y, N);
            report.append(" in place ok;");

            cuda.upload(recv, sentinel);
            cuda.upload(other, sentinel);
            comm.group(() -> {
                comm.allReduce(send, recv, count, NcclLibrary.DataType.FLOAT32, NcclLibrary.ReduceOp.MAX, stream);
                comm.broadcast(send, other, count, 0, stream);
            });
            cuda.synchronize(stream);
            expect("grouped max all-reduce", cuda.download(recv, N), x, count);
            expect("grouped broadcast", cuda.download(other, N), x, count);
            report.append(" grouped max + broadcast ok.");
        } finally {
            cuda.free(send);
            cuda.free(recv);
            cuda.free(other);
            cuda.destroyStream(stream);
        }
        return report.toString();
    }

    /** {@code actual[0..count)} equals {@code expected}; past {@code count}, either expected (in place) or untouched. */
    private static void expect(String what, float[] actual, float[] expected, long count) {
        for (int i = 0; i < actual.length; i++) {
            float want = i < count ? expected[i] : actual[i] == expected[i] ? expected[i] : SENTINEL;
            if (Float.floatToRawIntBits(actual[i]) != Float.floatToRawIntBits(want)) {
                throw new AssertionError(what + ": element " + i + " is " + actual[i] + ", expected " + want);
            }
        }
    }
}
