package dev.tornadovit.cli;

import dev.tornadovit.backend.Backends;
import dev.tornadovit.backend.cpu.CpuParallel;
import dev.tornadovit.bench.AttentionBench;
import dev.tornadovit.bench.DataParallelBench;
import dev.tornadovit.bench.FmaPeak;
import dev.tornadovit.bench.MatmulBench;
import dev.tornadovit.bench.ModelBench;
import dev.tornadovit.bench.OpenBlas;
import dev.tornadovit.bench.OperationProfiler;
import dev.tornadovit.distributed.Distributed;
import dev.tornadovit.model.AttentionConfig;
import dev.tornadovit.model.MemoryEstimate;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Precision;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;

@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Benchmarks: matrix-multiply GFLOP/s, attention softmax vs ReLU/L, model training and "
                + "inference images/s with the time share of each operation and the allocation per step.")
final class BenchCommand implements Callable<Integer> {
    @Mixin
    DeviceOptions device;
    @Mixin
    PrecisionOption precision;

    @Option(names = "--what", split = ",", defaultValue = "model,attention,matmul",
            description = "Any of model, attention, matmul (default: all); or data-parallel alone, under mpirun: "
                    + "training images/s of N ranks, --batch images each, with the all-reduce's share of a step.")
    List<String> what;

    @Option(names = "--model", split = ",", defaultValue = "small",
            description = "small (REFERENCE.md's 32×32 ViT: patch 4, width 192, depth 6, 3 heads, MLP 768) and/or S/16 (224×224).")
    List<String> models;

    @Option(names = "--attention", split = ",", defaultValue = "softmax,relu", description = "softmax and/or relu (ReLU/L).")
    List<String> attentions;

    @Option(names = "--qk-norm", split = ",", arity = "1", paramLabel = "LIST", defaultValue = "false",
            description = "Model rows without and/or with qk-layernorm (false, true or false,true): what it costs.")
    List<Boolean> qkNorms;

    @Option(names = "--gate", split = ",", arity = "1", paramLabel = "LIST", defaultValue = "false",
            description = "Model rows without and/or with the gated attention unit (false, true or false,true).")
    List<Boolean> gates;

    @Option(names = "--batch", defaultValue = "64", description = "Batch size for the small model (S/16 uses --s16-batch).")
    int batch;

    @Option(names = "--s16-batch", defaultValue = "16", description = "Batch size for S/16 (about 4 GB of heap on "
            + "the CPU at 16).")
    int s16Batch;

    @Option(names = "--steps", defaultValue = "20", description = "Timed steps per measurement (S/16: a quarter).")
    int steps;

    @Option(names = "--overlap-allreduce", arity = "1", paramLabel = "true|false", defaultValue = "true",
            description = "data-parallel: sum the gradients in buckets during the backward pass (true, as training "
                    + "does by default) or in one all-reduce after it (false).")
    boolean overlapAllReduce;

    @Option(names = "--seconds", defaultValue = "1.0", description = "Seconds per matmul/attention case.")
    double seconds;

    @Option(names = "--openblas", paramLabel = "PATH|auto|none", defaultValue = "auto",
            description = "Times each matrix-multiply row against OpenBLAS's cblas_sgemm in this process, the two "
                    + "alternating call by call: auto (Debian's libopenblas0-pthread if installed), a library path, or none.")
    String openblas;

    @Override
    public Integer call() throws Exception {
        if (what.contains("data-parallel")) {
            if (what.size() > 1) {
                throw new IllegalArgumentException("--what data-parallel runs alone (under mpirun -np N), not with " + what);
            }
            Distributed distributed = Distributed.fromEnvironment();
            RankLogging.apply(distributed);
            return RankGuard.run(distributed, () -> "", () -> dataParallel(distributed));
        }
        OptionChecks.positive("--seconds", seconds);
        OptionChecks.atLeast("--batch", batch, 1);
        OptionChecks.atLeast("--s16-batch", s16Batch, 1);
        OptionChecks.atLeast("--steps", steps, 1);
        OptionChecks.atLeast("--threads", device.threads, 0);
        if (what.contains("model")) for (String m : models) cases(m.equalsIgnoreCase("small"));
        // Resolved first, so that a wrong --openblas fails before minutes of other benchmarks.
        boolean matmul = what.contains("matmul") && "cpu".equals(device.device);
        Optional<OpenBlas> peer = !matmul || "none".equals(openblas) ? Optional.empty()
                : OpenBlas.load("auto".equals(openblas) ? null : openblas);
        if (device.threads > 0) CpuParallel.setThreads(device.threads);
        System.out.printf(Locale.ROOT, "# TornadoViT bench on %s, %d cores, Java %s, load %s%n",
                device.device, Runtime.getRuntime().availableProcessors(), Runtime.version(), loadAverage());
        FmaPeak.Result peak = null;
        if ("cpu".equals(device.device)) {
            peak = FmaPeak.measure(Math.min(1.0, seconds));
            System.out.printf(Locale.ROOT, "# float32 FMA ceiling (%d-bit vectors, registers only): %.1f GFLOP/s on 1 thread, "
                    + "%.1f on %d%n", peak.vectorBits(), peak.oneThreadGflops(), peak.allThreadsGflops(), peak.threads());
        }
        if (what.contains("model")) models(peak);
        if (what.contains("attention")) attention();
        if (matmul) {
            System.out.println();
            System.out.println("## Matrix multiply (the CPU backend's fp32 kernels, shapes of the small ViT at batch 64)");
            if (precision.value() != Precision.FP32) {
                System.out.println("# fp32 whatever --precision says: these rows compare the kernels with OpenBLAS's "
                        + "SGEMM, and the CPU's " + precision.value() + " is an emulation that is no faster");
            }
            if (peer.isPresent()) {
                System.out.printf(Locale.ROOT, "# against %s (%s, %s), both on %d threads, in this process, calls "
                        + "alternating; the same product on both sides (ours without the model's fused bias work); "
                        + "GFLOP/s of each side's median call, ratio = median over pairs of neighbouring calls%n",
                        peer.get().path(), peer.get().config(), peer.get().threadTimeout(), CpuParallel.threads());
                System.out.print(MatmulBench.formatComparison(
                        MatmulBench.compare(seconds, peer.get(), CpuParallel.threads())));
            } else {
                if (!"none".equals(openblas)) {
                    System.out.println("# no OpenBLAS to compare with (" + OpenBlas.INSTALL_HINT + " to --openblas)");
                }
                System.out.print(MatmulBench.format(MatmulBench.run(seconds)));
            }
        }
        return 0;
    }

    /** @param peak this machine's FMA ceiling when the models run on its CPU, else null */
    /** The model cases of one size, each attention variant at its batch size. */
    private List<ModelBench.Case> cases(boolean small) {
        List<ModelBench.Case> cases = new ArrayList<>();
        for (String a : attentions) {
            for (boolean qkNorm : qkNorms) {
                for (boolean gate : gates) {
                    AttentionConfig attention = AttentionConfig.parse(a, 1.0).withQkNorm(qkNorm).withGate(gate);
                    ViTConfig config = small ? ModelBench.smallVit(attention) : ModelBench.s16(attention);
                    int b = small ? batch : s16Batch;
                    // A batch whose tensors overflow an array is refused before any benchmark runs.
                    MemoryEstimate.trainingOnAnyBackend(config, b).requireTensorsFit(small ? "--batch" : "--s16-batch");
                    cases.add(new ModelBench.Case(small ? "small ViT 32px" : "ViT-S/16 224px", config, b));
                }
            }
        }
        return cases;
    }

    private void models(FmaPeak.Result peak) {
        List<ModelBench.Result> results = new ArrayList<>();
        for (String m : models) {
            boolean small = m.equalsIgnoreCase("small");
            List<ModelBench.Case> cases = cases(small);
            // The attention variants of one model run interleaved, step by step, so that their ratio is fair.
            int n = small ? steps : Math.max(2, steps / 4);
            results.addAll(ModelBench.run(cases, () -> Backends.create(device.device, 0, precision.value()),
                    Math.max(2, n / 4), n, true));
        }
        System.out.println();
        System.out.println("## Models (" + precision.value() + " matrix products, synthetic data, AdamW; images/s of the "
                + "median step)");
        System.out.printf(Locale.ROOT, "%-16s %-26s %6s %12s %12s %16s%n", "model", "attention", "batch", "train img/s",
                "infer img/s", "alloc/step (B)");
        for (ModelBench.Result r : results) {
            System.out.printf(Locale.ROOT, "%-16s %-26s %6d %12.1f %12.1f %16.0f%n", r.model(), r.attention(), r.batch(),
                    r.trainImagesPerSecond(), r.inferImagesPerSecond(), r.allocatedBytesPerStep());
        }
        printArithmeticRates(results, peak);
        for (ModelBench.Result r : results) {
            printProfile("a training step", r, r.trainingProfile());
            printProfile("an inference pass", r, r.inferenceProfile());
        }
    }

    private static void printProfile(String what, ModelBench.Result r, List<OperationProfiler.Row> rows) {
        System.out.println();
        System.out.printf("### Where %s's time goes: %s, %s%n", what, r.model(), r.attention());
        int width = Math.max(28, rows.stream().mapToInt(row -> row.operation().length()).max().orElse(0));
        String header = "%-" + width + "s %8s %10s %7s%n", line = "%-" + width + "s %8d %10.1f %6.1f%%%n";
        System.out.printf(Locale.ROOT, header, "operation", "calls", "ms", "share");
        for (OperationProfiler.Row row : rows) {
            if (row.share() < 0.002) continue;
            System.out.printf(Locale.ROOT, line, row.operation(), row.calls(), row.millis(), 100 * row.share());
        }
    }

    /**
     * The models' speed as arithmetic: GFLOP/s of their matrix products, and on the CPU the share of the FMA ceiling
     * measured at the start, which says how far any code could still take them on this machine.
     */
    private static void printArithmeticRates(List<ModelBench.Result> results, FmaPeak.Result peak) {
        System.out.println();
        System.out.println("## Arithmetic rate (matrix products; a training step does each three times, but the patch "
                + "embedding's twice)");
        if (peak != null) {
            System.out.printf(Locale.ROOT, "# share of the FMA ceiling measured above (%.1f GFLOP/s on %d threads)%n",
                    peak.allThreadsGflops(), peak.threads());
        }
        System.out.printf(Locale.ROOT, "%-16s %-26s %13s %14s %7s %14s %7s%n", "model", "attention", "fwd GFLOP/img",
                "train GFLOP/s", "share", "infer GFLOP/s", "share");
        for (ModelBench.Result r : results) {
            double train = r.trainImagesPerSecond() * r.trainingFlopsPerImage() / 1e9;
            double infer = r.inferImagesPerSecond() * r.forwardFlopsPerImage() / 1e9;
            System.out.printf(Locale.ROOT, "%-16s %-26s %13.3f %14.1f %7s %14.1f %7s%n", r.model(), r.attention(),
                    r.forwardFlopsPerImage() / 1e9, train, share(train, peak), infer, share(infer, peak));
        }
    }

    private static String share(double gflops, FmaPeak.Result peak) {
        return peak == null ? "-" : String.format(Locale.ROOT, "%.0f %%", 100 * gflops / peak.allThreadsGflops());
    }

    private void attention() {
        try (Backend be = Backends.create(device.device, 0, precision.value())) {
            System.out.println();
            System.out.println("## Attention core alone: scores → φ → ·V, forward + backward (head_dim 64, "
                    + precision.value() + " products)");
            System.out.println("core = the backend's attention core from qkv and back, as the model runs it (fused on "
                    + "the CPU); separate = the six operations with [BH,T,T] tensors between them");
            System.out.printf(Locale.ROOT, "%8s %12s %12s %12s %9s %14s %14s%n", "tokens", "batch×heads", "softmax ms",
                    "ReLU/L ms", "speed-up", "softmax sep.", "ReLU/L sep.");
            for (AttentionBench.Row r : AttentionBench.run(be, new int[]{17, 65, 197, 785}, 64, seconds)) {
                System.out.printf(Locale.ROOT, "%8d %12d %12.2f %12.2f %8.2fx %14.2f %14.2f%n", r.tokens(),
                        r.batchHeads(), r.softmaxMillis(), r.reluMillis(), r.speedup(), r.softmaxSeparateMillis(),
                        r.reluSeparateMillis());
            }
        }
    }

    private static String loadAverage() {
        double l = java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        return l < 0 ? "n/a" : String.format(Locale.ROOT, "%.2f", l);
    }

    /** One line per model and attention, for scripts/bench-data-parallel.sh: key=value fields. */
    private int dataParallel(Distributed distributed) {
        for (String m : models) {
            for (String a : attentions) {
                AttentionConfig attention = AttentionConfig.parse(a, 1.0);
                boolean small = m.equalsIgnoreCase("small");
                ViTConfig config = small ? ModelBench.smallVit(attention) : ModelBench.s16(attention);
                int perRank = small ? batch : s16Batch;
                try (Backend be = device.create(precision.value())) {
                    DataParallelBench.Result r = DataParallelBench.run(distributed, config, be, CpuParallel.threads(),
                            perRank, Math.max(2, steps / 5), steps, overlapAllReduce);
                    if (distributed.isRoot()) {
                        System.out.printf(Locale.ROOT, "data-parallel model=%s attention=%s ranks=%d threads_per_rank=%d "
                                        + "batch_per_rank=%d img_per_s=%.1f ms_per_step=%.1f allreduce_share=%.4f "
                                        + "allreduce_mb=%.1f overlap=%b%n", m, a, r.ranks(), r.threadsPerRank(),
                                r.perRankBatch(), r.imagesPerSecond(), 1000 * r.secondsPerStep(), r.allReduceShare(),
                                r.allReduceBytes() / 1e6, r.overlapped());
                    }
                }
            }
        }
        return 0;
    }
}
