package dev.tornadovit.bench;

import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import dev.tornadovit.backend.cpu.CpuParallel;

import java.util.concurrent.TimeUnit;

/**
 * JMH version of {@link MatmulBench}: the same cases, one per {@code @Param} value. JMH prints
 * calls per second and, as the secondary result {@code matmul:gflop}, GFLOP/s.
 *
 * <pre>
 * java -cp target/tornadovit.jar org.openjdk.jmh.Main MatmulJmh -p threads=2     # after ./tornadovit builds the jar
 * java -cp target/tornadovit.jar org.openjdk.jmh.Main MatmulJmh -p "name=4160x192x576_qkv/forward"   # one case
 * </pre>
 *
 * <p>The forked JVM gets the flags the {@code tornadovit} script passes: native access lets the GEMM align its packed
 * panels ({@code ArrayAlignment}), which is worth a few % on some calls.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-XX:+UseParallelGC"})
public class MatmulJmh {

    @Param({
        "1024x1024x1024/forward", "1024x1024x1024/backward-input", "1024x1024x1024/backward-weight",
        "4160x192x576_qkv/forward", "4160x192x576_qkv/backward-input", "4160x192x576_qkv/backward-weight",
        "4160x192x192_proj/forward", "4160x192x192_proj/backward-input", "4160x192x192_proj/backward-weight",
        "4160x192x768_fc1/forward", "4160x192x768_fc1/backward-input", "4160x192x768_fc1/backward-weight",
        "4160x768x192_fc2/forward", "4160x768x192_fc2/backward-input", "4160x768x192_fc2/backward-weight",
        "192x_65x64x65_/attn_q.kT_NT_", "192x_65x65x64_/attn_p.v_NN_", "192x_65x65x64_/attn_pT.dout_TN_",
    })
    public String name;

    /** Threads of the CpuParallel pool; 0 keeps its default (all processors). */
    @Param({"0"})
    public int threads;

    private MatmulBench.Case bench;

    /** Counts GFLOP done; JMH divides by time, so the "gflop" result is GFLOP/s. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Flops {
        public double gflop;

        @Setup(Level.Iteration)
        public void reset() {
            gflop = 0;
        }
    }

    @Setup(Level.Trial)
    public void setUp() {
        if (threads > 0) {
            CpuParallel.setThreads(threads);
        }
        bench = MatmulBench.cases().stream()
                .filter(c -> c.id().equals(name))
                .findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no case " + name + "; cases: "
                        + MatmulBench.cases().stream().map(MatmulBench.Case::id).toList()));
    }

    @Benchmark
    public void matmul(Flops flops) {
        bench.op().run();
        flops.gflop += bench.flops() * 1e-9;
    }
}
