package dev.tornadovit.cli;

import dev.tornadovit.backend.Backends;
import dev.tornadovit.backend.cpu.CpuParallel;
import dev.tornadovit.data.DefaultData;
import dev.tornadovit.data.ImageDataset;
import dev.tornadovit.data.Normalization;
import dev.tornadovit.io.IoErrors;
import dev.tornadovit.model.AttentionConfig;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.report.TrainingCurves;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Precision;
import dev.tornadovit.train.EpochRecord;
import dev.tornadovit.train.RunFolder;
import dev.tornadovit.train.Trainer;
import dev.tornadovit.train.TrainingOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Train a small ViT on the bundled Fashion-MNIST twice — softmax and ReLU/L attention — and compare.")
final class DemoCommand implements Callable<Integer> {
    @Mixin
    DeviceOptions device;
    @Mixin
    PrecisionOption precision;

    @Option(names = "--epochs", defaultValue = "6", description = "Epochs per model (default ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--train-limit", defaultValue = "0", description = "Train on the first N images only (0: all 60000).")
    int trainLimit;

    @Option(names = "--seed", defaultValue = "0")
    long seed;

    @Option(names = "--run-dir", paramLabel = "DIR", description = "Where both runs are written (default: a new folder "
            + "runs/demo-<timestamp>, so earlier demos are kept).")
    Path runDir;

    @Option(names = "--overwrite", description = "Replace the runs that --run-dir already holds.")
    boolean overwrite;

    static final int PATCH = ModelOptions.defaultPatch(28, 28);

    record Result(String name, double accuracy, double imagesPerSecond, double seconds) {
    }

    @Option(names = "--sequential", description = "Train the two models one after the other with all cores each, "
            + "instead of side by side with half the cores each (the default on the CPU: small models use one core "
            + "better than two).")
    boolean sequential;

    /** The two runs' folder of this invocation. */
    private Path base;

    @Override
    public Integer call() throws Exception {
        OptionChecks.atLeast("--epochs", epochs, 1);
        OptionChecks.atLeast("--train-limit", trainLimit, 0);
        OptionChecks.atLeast("--threads", device.threads, 0);
        if (runDir != null) {
            // Both folders are checked before either model trains, so a refusal costs no training time.
            for (Variant v : VARIANTS) {
                String id = v.id();
                List<String> results = RunFolder.RESULTS.stream().filter(f -> Files.exists(runDir.resolve(id).resolve(f))).toList();
                if (!results.isEmpty() && !overwrite) {
                    throw new IllegalArgumentException(runDir.resolve(id) + " already holds a run (" + String.join(", ", results)
                            + "); pass --overwrite to replace it, or choose another --run-dir");
                }
            }
        }
        base = runDir != null ? runDir : newDemoFolder(Path.of("runs"));
        System.out.println("Writing both runs into " + base);
        ImageDataset train = DefaultData.fashionMnist(true), test = DefaultData.fashionMnist(false);
        if (trainLimit > 0 && trainLimit < train.size()) train = train.subset(java.util.stream.IntStream.range(0, trainLimit).toArray());
        Normalization norm = Normalization.compute(train);
        TrainingOptions options = TrainingOptions.defaults().withEpochs(epochs).withSeed(seed).withBatchSize(128)
                .withLr(3e-3).withCheckpointEvery(0);
        boolean sideBySide = !sequential && "cpu".equalsIgnoreCase(device.device.trim())
                && Runtime.getRuntime().availableProcessors() >= 2;
        if (sideBySide) {
            int cores = device.threads > 0 ? device.threads : Runtime.getRuntime().availableProcessors();
            CpuParallel.setThreads(Math.max(1, cores / 2));
        } else if (device.threads > 0) {
            CpuParallel.setThreads(device.threads);
        }
        List<Callable<Result>> jobs = new ArrayList<>();
        ImageDataset trainSet = train;
        for (Variant v : VARIANTS) {
            jobs.add(() -> trainOne(v, trainSet, test, norm, options, !sideBySide));
        }
        List<Result> results = new ArrayList<>();
        long start = System.nanoTime();
        if (sideBySide) {
            ExecutorService pool = Executors.newFixedThreadPool(jobs.size());
            try {
                for (Future<Result> f : pool.invokeAll(jobs)) results.add(unwrap(f));
            } finally {
                pool.shutdownNow();
            }
        } else {
            for (Callable<Result> job : jobs) results.add(job.call());
        }
        double total = (System.nanoTime() - start) / 1e9;
        System.out.println();
        System.out.printf(Locale.ROOT, "Fashion-MNIST (60k train / 10k test), ViT width %d depth %d heads %d patch %d, %d epochs, "
                        + "device %s%s%s%n", ModelOptions.DEFAULT_WIDTH, ModelOptions.DEFAULT_DEPTH, ModelOptions.DEFAULT_HEADS,
                PATCH, epochs, device.device, precision.value() == Precision.FP32 ? "" : ", " + precision.value() + " matrix products",
                sideBySide ? ", trained side by side (" + CpuParallel.threads() + " thread(s) each)" : "");
        System.out.printf(Locale.ROOT, "%-10s %14s %18s %10s%n", "attention", "test accuracy", "train images/s", "time");
        for (Result r : results) {
            System.out.printf(Locale.ROOT, "%-10s %13.2f%% %18.0f %9.0fs%n", r.name(), 100 * r.accuracy(), r.imagesPerSecond(), r.seconds());
        }
        System.out.printf(Locale.ROOT, "Total %.0f s. Runs, metrics.csv and curves.png: %s%n", total, base);
        return 0;
    }

    /** One of the demo's two models: its run folder's name, its name in the table, its attention. */
    private record Variant(String id, String name, AttentionConfig attention) {
    }

    private static final List<Variant> VARIANTS = List.of(new Variant("softmax", "softmax", AttentionConfig.softmax()),
            new Variant("relu-l", "ReLU/L", AttentionConfig.reluOverL()));

    private Result trainOne(Variant variant, ImageDataset train, ImageDataset test, Normalization norm,
                            TrainingOptions options, boolean progressBars) {
        String id = variant.id(), name = variant.name();
        AttentionConfig attention = variant.attention();
        ViTConfig config = ViTConfig.builder().image(28, 28, 1).patchSize(PATCH).numClasses(10)
                .size(ModelOptions.DEFAULT_WIDTH, ModelOptions.DEFAULT_DEPTH, ModelOptions.DEFAULT_HEADS,
                        ModelOptions.DEFAULT_MLP).attention(attention).build();
        try (Backend be = Backends.create(device.device, 0, precision.value())) {
            VisionTransformer vit = new VisionTransformer(config, be, seed);
            Path dir = base.resolve(id);
            try (RunFolder folder = RunFolder.open(dir)) {
                folder.requireFresh(overwrite, "pass --overwrite to replace it, or choose another --run-dir");
                long start = System.nanoTime();
                ProgressListener progress = new ProgressListener(options.batchSize(), name + " ", progressBars);
                List<EpochRecord> history = new Trainer(vit, train, test, norm, options, dir, progress).run();
                double seconds = (System.nanoTime() - start) / 1e9;
                TrainingCurves.drawOrWarn(history, name, dir.resolve("curves.png"));
                double ips = history.stream().mapToDouble(EpochRecord::imagesPerSecond).average().orElse(0);
                return new Result(name, history.getLast().evalAccuracy(), ips, seconds);
            }
        }
    }

    /** A folder of its own under {@code parent}, created: demo-<timestamp>, or demo-<timestamp>-2, ... when taken. */
    static Path newDemoFolder(Path parent) throws IOException {
        Files.createDirectories(parent);
        while (true) {
            try {
                return Files.createDirectory(RunFolder.unusedName(parent, "demo-"));
            } catch (FileAlreadyExistsException e) {
                // another demo took the name in the meantime: take the next one
            }
        }
    }

    private static Result unwrap(Future<Result> f) throws Exception {
        try {
            return f.get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof Exception ex) throw ex;
            throw e;
        }
    }
}
