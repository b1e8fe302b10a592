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
import dev.tornadovit.train.EpochRecord;
import dev.tornadovit.train.Trainer;
import dev.tornadovit.train.TrainingOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

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

    @Option(names = "--epochs", defaultValue = "6", description = "Epochs per model (default ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--train-limit", defaultValue = "0", description = "Train on the first N images only (0: all 60000).")
    int trainLimit;

    @Option(names = "--seed", defaultValue = "0")
    long seed;

    @Option(names = "--run-dir", defaultValue = "runs/demo", description = "Where both runs are written (default ${DEFAULT-VALUE}).")
    Path runDir;

    static final int PATCH = ModelOptions.defaultPatch(28, 28);

    record Result(String name, double accuracy, double imagesPerSecond, double seconds) {
    }

    @Option(names = "--sequential", description = "Train the two models one after the other with all cores each, "
            + "instead of side by side with half the cores each (the default on the CPU: small models use one core "
            + "better than two).")
    boolean sequential;

    @Override
    public Integer call() throws Exception {
        OptionChecks.atLeast("--epochs", epochs, 1);
        OptionChecks.atLeast("--train-limit", trainLimit, 0);
        OptionChecks.atLeast("--threads", device.threads, 0);
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
        String[][] variants = {{"softmax", "softmax"}, {"relu-l", "ReLU/L"}};
        List<Callable<Result>> jobs = new ArrayList<>();
        ImageDataset trainSet = train;
        for (String[] v : variants) {
            jobs.add(() -> trainOne(v[0], v[1], trainSet, test, norm, options, !sideBySide));
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
                        + "device %s%s%n", ModelOptions.DEFAULT_WIDTH, ModelOptions.DEFAULT_DEPTH, ModelOptions.DEFAULT_HEADS,
                PATCH, epochs, device.device, sideBySide ? ", trained side by side (" + CpuParallel.threads() + " thread(s) each)" : "");
        System.out.printf(Locale.ROOT, "%-10s %14s %18s %10s%n", "attention", "test accuracy", "train images/s", "time");
        for (Result r : results) {
            System.out.printf(Locale.ROOT, "%-10s %13.2f%% %18.0f %9.0fs%n", r.name(), 100 * r.accuracy(), r.imagesPerSecond(), r.seconds());
        }
        System.out.printf(Locale.ROOT, "Total %.0f s. Runs, metrics.csv and curves.png: %s%n", total, runDir);
        return 0;
    }

    private Result trainOne(String id, String name, ImageDataset train, ImageDataset test, Normalization norm,
                            TrainingOptions options, boolean progressBars) {
        AttentionConfig attention = id.equals("softmax") ? AttentionConfig.softmax() : AttentionConfig.reluOverL();
        ViTConfig config = new ViTConfig(28, 28, 1, PATCH, 10, ModelOptions.DEFAULT_WIDTH, ModelOptions.DEFAULT_DEPTH,
                ModelOptions.DEFAULT_HEADS, ModelOptions.DEFAULT_MLP, "cls", "learned", attention, 0);
        try (Backend be = Backends.create(device.device, 0)) {
            VisionTransformer vit = new VisionTransformer(config, be, seed);
            Path dir = runDir.resolve(id);
            deleteOldRun(dir);
            long start = System.nanoTime();
            ProgressListener progress = new ProgressListener(options.batchSize(), name + " ", progressBars);
            List<EpochRecord> history = new Trainer(vit, train, test, norm, options, dir, progress).run();
            double seconds = (System.nanoTime() - start) / 1e9;
            TrainingCurves.drawOrWarn(history, name, dir.resolve("curves.png"));
            double ips = history.stream().mapToDouble(EpochRecord::imagesPerSecond).average().orElse(0);
            return new Result(name, history.getLast().evalAccuracy(), ips, seconds);
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

    private static void deleteOldRun(Path dir) {
        for (String f : new String[]{Trainer.LAST, Trainer.BEST, Trainer.METRICS, "curves.png", "config.json"}) {
            try {
                java.nio.file.Files.deleteIfExists(dir.resolve(f));
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException("cannot clear " + dir + ": " + IoErrors.reason(e), e);
            }
        }
    }
}
