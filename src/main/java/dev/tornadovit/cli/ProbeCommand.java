package dev.tornadovit.cli;

import dev.tornadovit.checkpoint.Checkpoint;
import dev.tornadovit.checkpoint.Preprocessing;
import dev.tornadovit.data.ImageDataset;
import dev.tornadovit.io.IoErrors;
import dev.tornadovit.io.Safetensors;
import dev.tornadovit.model.MemoryEstimate;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.research.FrozenModel;
import dev.tornadovit.research.LinearProbe;
import dev.tornadovit.tensor.Backend;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.IntStream;

@Command(name = "probe", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Few-shot linear probe on frozen pre-logits features, as big_vision's few-shot evaluator: n images per "
                + "class from the training split, features standardised, closed-form ridge regression onto ±1 one-hot "
                + "targets, the regulariser chosen from 2^A..2^B on held-out training images, accuracy on the test split.",
                "Repeated for each seed (a different n-shot draw); prints the mean and standard deviation."})
final class ProbeCommand implements Callable<Integer> {
    @Parameters(arity = "1..*", paramLabel = "CHECKPOINT", description = "Checkpoints (.safetensors) written by train or sweep.")
    List<Path> checkpoints;
    @Option(names = "--shots", defaultValue = "10", paramLabel = "N", description = "Training images per class (default ${DEFAULT-VALUE}).")
    int shots;
    @Option(names = "--seeds", defaultValue = "0,1,2", paramLabel = "LIST", description = "One draw of the shots per seed (default ${DEFAULT-VALUE}).")
    String seeds;
    @Option(names = "--validation-per-class", defaultValue = "20", paramLabel = "N",
            description = "Held-out training images per class for choosing the regulariser (default ${DEFAULT-VALUE}).")
    int validationPerClass;
    @Option(names = "--l2-exponents", defaultValue = "-10..10", paramLabel = "A..B",
            description = "Regulariser grid 2^A, 2^(A+1), ..., 2^B (default ${DEFAULT-VALUE}).")
    String l2Exponents;
    @Option(names = "--batch-size", defaultValue = "256")
    int batchSize;
    @Option(names = "--csv", paramLabel = "FILE", description = "Also write one row per checkpoint and seed to this CSV.")
    Path csv;
    @Mixin
    DataOptions data;
    @Mixin
    DeviceOptions device;

    @Override
    public Integer call() {
        OptionChecks.atLeast("--shots", shots, 1);
        OptionChecks.atLeast("--validation-per-class", validationPerClass, 1);
        OptionChecks.atLeast("--batch-size", batchSize, 1);
        List<Long> seedList = SweepCommand.Grid.integers("--seeds", seeds).stream().map(Integer::longValue).toList();
        double[] grid = grid(l2Exponents);
        DataOptions.Splits splits = data.load(0);
        ImageDataset pool = splits.train(), test = splits.eval();
        int classes = pool.numClasses();
        int[] poolLabels = IntStream.range(0, pool.size()).map(pool::label).toArray();
        int[] testLabels = IntStream.range(0, test.size()).map(test::label).toArray();

        // The draws depend only on the labels, so every checkpoint is probed on the same images.
        Map<Long, LinearProbe.Draw> draws = new LinkedHashMap<>();
        for (long seed : seedList) draws.put(seed, LinearProbe.draw(poolLabels, classes, shots, validationPerClass, seed));
        int[] needed = draws.values().stream().flatMapToInt(d -> IntStream.concat(Arrays.stream(d.shots()), Arrays.stream(d.validation())))
                .distinct().sorted().toArray();
        int[] rowOf = new int[pool.size()];
        for (int i = 0; i < needed.length; i++) rowOf[needed[i]] = i;
        ImageDataset drawn = pool.subset(needed);

        System.out.printf(Locale.ROOT, "%d-shot linear probe: %d classes, %d held-out per class, l2 in 2^[%s], %d test images of %s%n",
                shots, classes, validationPerClass, l2Exponents.replace("..", ", "), test.size(), splits.description());
        StringBuilder rows = new StringBuilder("checkpoint,seed,shots,l2,validation_accuracy,test_accuracy\n");
        try (Backend be = device.create()) {
            for (Path checkpoint : checkpoints) {
                Safetensors.Contents contents = Safetensors.read(checkpoint);
                Preprocessing pre = Preprocessing.from(contents, checkpoint);
                ViTConfig config = Checkpoint.readConfig(contents, checkpoint);
                MemoryEstimate.inference(config, batchSize, be).requireFits("--batch-size", be,
                        (long) (drawn.size() + test.size()) * test.imageSize(), b -> MemoryEstimate.inference(config, b, be));
                VisionTransformer model = new VisionTransformer(config, be, 0);
                Checkpoint.loadWeights(model, contents, checkpoint);
                int dim = model.config().width();
                double[] drawnFeatures = FrozenModel.features(model, drawn, pre.normalization(), batchSize);
                double[] testFeatures = FrozenModel.features(model, test, pre.normalization(), batchSize);
                List<Double> accuracies = new ArrayList<>();
                System.out.printf(Locale.ROOT, "%s (%s, width %d)%n", checkpoint, model.config().attention().label(), dim);
                for (var e : draws.entrySet()) {
                    int[] shotRows = Arrays.stream(e.getValue().shots()).map(i -> rowOf[i]).toArray();
                    int[] validationRows = Arrays.stream(e.getValue().validation()).map(i -> rowOf[i]).toArray();
                    double[] xTrain = LinearProbe.rowsAt(drawnFeatures, dim, shotRows);
                    int[] yTrain = LinearProbe.labelsAt(poolLabels, e.getValue().shots());
                    double[] xValidation = LinearProbe.rowsAt(drawnFeatures, dim, validationRows);
                    int[] yValidation = LinearProbe.labelsAt(poolLabels, e.getValue().validation());
                    LinearProbe.Selection selection = LinearProbe.selectL2(xTrain, yTrain, xValidation, yValidation, dim, classes, grid);
                    LinearProbe probe = LinearProbe.fit(xTrain, yTrain, dim, classes, selection.l2());
                    double accuracy = probe.accuracy(testFeatures, testLabels);
                    double validation = selection.validationAccuracy()[Arrays.binarySearch(grid, selection.l2())];
                    accuracies.add(accuracy);
                    System.out.printf(Locale.ROOT, "  seed %d: l2 = 2^%d, held-out %.2f%%, test %.2f%%%n", e.getKey(),
                            Math.getExponent(selection.l2()), 100 * validation, 100 * accuracy);
                    rows.append(String.format(Locale.ROOT, "%s,%d,%d,%s,%.6f,%.6f%n", checkpoint, e.getKey(), shots,
                            Double.toString(selection.l2()), validation, accuracy));
                }
                LinearProbe.Spread spread = LinearProbe.Spread.of(accuracies.stream().mapToDouble(Double::doubleValue).toArray());
                System.out.printf(Locale.ROOT, "  %d-shot test accuracy: %.2f%% ± %.2f%% (mean ± std over %d seeds)%n", shots,
                        100 * spread.mean(), 100 * spread.std(), spread.count());
            }
        }
        if (csv != null) {
            try {
                if (csv.toAbsolutePath().getParent() != null) Files.createDirectories(csv.toAbsolutePath().getParent());
                Files.writeString(csv, rows);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write " + csv + ": " + IoErrors.reason(e), e);
            }
        }
        return 0;
    }

    static final int MAX_L2_EXPONENT = 100;

    static double[] grid(String exponents) {
        String[] parts = exponents.split("\\.\\.");
        try {
            if (parts.length == 2) {
                int low = Integer.parseInt(parts[0].strip()), high = Integer.parseInt(parts[1].strip());
                // Past 2^±100 the regulariser is 0 or infinite in effect, and a long range is only slow.
                if (low <= high && low >= -MAX_L2_EXPONENT && high <= MAX_L2_EXPONENT) return LinearProbe.l2Grid(low, high);
            }
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new IllegalArgumentException("--l2-exponents: expected A..B with whole numbers -" + MAX_L2_EXPONENT
                + " <= A <= B <= " + MAX_L2_EXPONENT + ", e.g. -10..10, got '" + exponents + "'");
    }
}
