package dev.tornadovit.cli;

import dev.tornadovit.data.DefaultData;
import dev.tornadovit.data.ImageDataset;
import dev.tornadovit.data.Normalization;
import dev.tornadovit.model.AttentionConfig;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.report.Plots;
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

@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Train a small ViT on the bundled Fashion-MNIST twice — softmax and ReLU/L attention — and compare.")
final class DemoCommand implements Callable<Integer> {
    @Mixin
    DeviceOptions device;

    @Option(names = "--epochs", defaultValue = "3", description = "Epochs per model (default ${DEFAULT-VALUE}).")
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

    @Override
    public Integer call() {
        ImageDataset train = DefaultData.fashionMnist(true), test = DefaultData.fashionMnist(false);
        if (trainLimit > 0 && trainLimit < train.size()) train = train.subset(java.util.stream.IntStream.range(0, trainLimit).toArray());
        Normalization norm = Normalization.compute(train);
        TrainingOptions options = TrainingOptions.defaults().withEpochs(epochs).withSeed(seed).withBatchSize(128)
                .withLr(2e-3).withCheckpointEvery(0);
        List<Result> results = new ArrayList<>();
        String[][] variants = {{"softmax", "softmax"}, {"relu-l", "ReLU/L"}};
        for (String[] v : variants) {
            AttentionConfig attention = v[0].equals("softmax") ? AttentionConfig.softmax() : AttentionConfig.reluOverL();
            ViTConfig config = new ViTConfig(28, 28, 1, PATCH, 10, ModelOptions.DEFAULT_WIDTH,
                    ModelOptions.DEFAULT_DEPTH, ModelOptions.DEFAULT_HEADS, ModelOptions.DEFAULT_MLP, "cls", "learned", attention, 0);
            try (Backend be = device.create()) {
                VisionTransformer vit = new VisionTransformer(config, be, seed);
                Path dir = runDir.resolve(v[0]);
                deleteOldRun(dir);
                long start = System.nanoTime();
                List<EpochRecord> history = new Trainer(vit, train, test, norm, options, dir,
                        new ProgressListener(options.batchSize(), v[1] + " ")).run();
                double seconds = (System.nanoTime() - start) / 1e9;
                Plots.trainingCurves(history, v[1], dir.resolve("curves.png"));
                double ips = history.stream().mapToDouble(EpochRecord::imagesPerSecond).average().orElse(0);
                results.add(new Result(v[1], history.getLast().evalAccuracy(), ips, seconds));
            }
        }
        System.out.println();
        System.out.printf(Locale.ROOT, "Fashion-MNIST, ViT width %d depth %d heads %d patch %d, %d epochs, device %s%n",
                ModelOptions.DEFAULT_WIDTH, ModelOptions.DEFAULT_DEPTH, ModelOptions.DEFAULT_HEADS, PATCH,
                epochs, device.device);
        System.out.printf(Locale.ROOT, "%-10s %14s %18s %10s%n", "attention", "test accuracy", "train images/s", "time");
        for (Result r : results) {
            System.out.printf(Locale.ROOT, "%-10s %13.2f%% %18.0f %9.0fs%n", r.name(), 100 * r.accuracy(), r.imagesPerSecond(), r.seconds());
        }
        System.out.println("Runs, metrics.csv and curves.png: " + runDir);
        return 0;
    }

    private static void deleteOldRun(Path dir) {
        for (String f : new String[]{Trainer.LAST, Trainer.BEST, Trainer.METRICS, "curves.png", "config.json"}) {
            try {
                java.nio.file.Files.deleteIfExists(dir.resolve(f));
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException("cannot clear " + dir + ": " + e.getMessage(), e);
            }
        }
    }
}
