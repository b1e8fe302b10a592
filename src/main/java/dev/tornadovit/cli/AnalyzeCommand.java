package dev.tornadovit.cli;

import dev.tornadovit.checkpoint.Checkpoint;
import dev.tornadovit.checkpoint.Preprocessing;
import dev.tornadovit.data.ImageDataset;
import dev.tornadovit.io.IoErrors;
import dev.tornadovit.io.Safetensors;
import dev.tornadovit.io.TempFiles;
import dev.tornadovit.model.MemoryEstimate;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.report.Charts;
import dev.tornadovit.research.AttentionSimilarity;
import dev.tornadovit.research.BestAlpha;
import dev.tornadovit.research.CollapsePlots;
import dev.tornadovit.research.FrozenModel;
import dev.tornadovit.research.SweepFolder;
import dev.tornadovit.tensor.Backend;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.TypeConversionException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

@Command(name = "analyze", mixinStandardHelpOptions = true, description = "Analyse trained models and sweeps.",
        subcommands = {AnalyzeCommand.Collapse.class, AnalyzeCommand.BestAlphaCommand.class})
final class AnalyzeCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    @Command(name = "collapse", mixinStandardHelpOptions = true, sortOptions = false,
            description = {"DeepViT's attention-collapse measurements on test images: cross-layer cosine similarity of the "
                    + "attention maps (per head and key token, averaged), each block's similarity to the next blocks, the number "
                    + "of similar blocks at a threshold, the similarity between heads within a block, and each block's output "
                    + "features against the last block's.",
                    "Writes similarity.csv (depth×depth), blocks.csv, heatmap.png and blocks.png; with several checkpoints, one "
                            + "folder each plus summary.csv and adjacent.png comparing them."})
    static final class Collapse implements Callable<Integer> {
        @Parameters(arity = "1..*", paramLabel = "CHECKPOINT", description = "Checkpoints (.safetensors) written by train or sweep.")
        List<Path> checkpoints;
        @Option(names = "--samples", defaultValue = "500", paramLabel = "N", description = "Test images to average over (default ${DEFAULT-VALUE}).")
        int samples;
        @Option(names = "--threshold", defaultValue = "0.9",
                description = "A block is similar when its map's similarity to the preceding block's exceeds this (default ${DEFAULT-VALUE}, as DeepViT).")
        double threshold;
        @Option(names = "--out", paramLabel = "DIR",
                description = "Output folder (default: collapse/ beside the checkpoint; runs/collapse-<time> for several).")
        Path out;
        @Option(names = "--centred",
                description = "Pearson correlation instead of DeepViT's plain cosine: subtract each column's mean first. Plain cosines "
                        + "of non-negative maps are high even for unrelated maps, and BatchNorm Re-attention's maps are centred, "
                        + "so only the centred form compares those two kinds fairly.")
        boolean centred;
        @Option(names = "--batch-size", defaultValue = "100")
        int batchSize;
        @Mixin
        DataOptions data;
        @Mixin
        DeviceOptions device;

        @Override
        public Integer call() {
            if (samples < 1) throw new IllegalArgumentException("--samples must be >= 1, got " + samples);
            OptionChecks.atLeast("--batch-size", batchSize, 1);
            // Similarities are cosines or correlations: a threshold outside [-1, 1] marks all blocks or none.
            if (!(threshold >= -1 && threshold <= 1)) {
                throw new IllegalArgumentException("--threshold must be in [-1, 1], got " + threshold);
            }
            ImageDataset test = data.load(false);
            if (samples < test.size()) test = test.subset(IntStream.range(0, samples).toArray());
            Path dir = out != null ? out : checkpoints.size() == 1
                    ? checkpoints.getFirst().toAbsolutePath().getParent().resolve("collapse")
                    : Path.of("runs", "collapse-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
            Map<String, AttentionSimilarity.Result> all = new LinkedHashMap<>();
            StringBuilder summary = new StringBuilder("model,checkpoint,measure,depth,heads,tokens,images,accuracy,similar_blocks,"
                    + "similar_block_indices,mean_adjacent_similarity,mean_within_layer_similarity,mean_feature_similarity_to_last\n");
            List<String> names = names(checkpoints);
            try (Backend be = device.create()) {
                for (int i = 0; i < checkpoints.size(); i++) {
                    Path checkpoint = checkpoints.get(i);
                    Safetensors.Contents contents = Safetensors.read(checkpoint);
                    Preprocessing pre = Preprocessing.from(contents, checkpoint);
                    ViTConfig config = Checkpoint.readConfig(contents, checkpoint);
                    MemoryEstimate.inference(config, batchSize, be).requireFits("--batch-size", be,
                            (long) test.size() * test.imageSize(), b -> MemoryEstimate.inference(config, b, be));
                    VisionTransformer model = new VisionTransformer(config, be, 0);
                    Checkpoint.loadWeights(model, contents, checkpoint);
                    FrozenModel.Collapse c = FrozenModel.collapse(model, test, pre.normalization(), batchSize, centred);
                    AttentionSimilarity.Result r = c.similarity();
                    String name = names.get(i);
                    all.put(name, r);
                    Path target = checkpoints.size() == 1 ? dir : dir.resolve(name);
                    writeOne(target, name, r, model);
                    report(name, checkpoint, model, r, c.accuracy());
                    int[] similar = r.similarBlockIndices(threshold);
                    summary.append(String.join(",", name, checkpoint.toString(), measure(), Integer.toString(r.depth()),
                            Integer.toString(model.config().heads()), Integer.toString(model.config().tokens()),
                            Long.toString(r.images()), f(c.accuracy()), Integer.toString(similar.length),
                            Arrays.stream(similar).mapToObj(p -> Integer.toString(p + 1)).collect(Collectors.joining(" ")),
                            f(r.meanAdjacent()), f(r.meanWithinLayer()),
                            f(Arrays.stream(r.featureToLast()).average().orElse(Double.NaN)))).append('\n');
                }
            }
            write(dir.resolve("summary.csv"), summary.toString());
            if (checkpoints.size() > 1) {
                Charts.drawOrWarn(dir.resolve("adjacent.png").toString(), "summary.csv", () -> CollapsePlots.write(
                        org.knowm.xchart.BitmapEncoder.getBufferedImage(CollapsePlots.adjacentComparison(all, threshold,
                                measure())), dir.resolve("adjacent.png")));
            }
            System.out.println("Written to " + dir);
            return 0;
        }

        private void writeOne(Path dir, String name, AttentionSimilarity.Result r, VisionTransformer model) {
            int depth = r.depth();
            StringBuilder matrix = new StringBuilder("block");
            for (int q = 1; q <= depth; q++) matrix.append(",block_").append(q);
            matrix.append('\n');
            for (int p = 0; p < depth; p++) {
                matrix.append(p + 1);
                for (int q = 0; q < depth; q++) matrix.append(',').append(f(r.crossLayer()[p][q]));
                matrix.append('\n');
            }
            write(dir.resolve("similarity.csv"), matrix.toString());

            int offsets = Math.max(1, Math.min(3, depth - 1));
            StringBuilder blocks = new StringBuilder("block");
            for (int o = 1; o <= offsets; o++) blocks.append(",to_block_plus_").append(o);
            blocks.append(",similar_to_previous,within_layer_head_similarity,feature_similarity_to_last,undefined_column_fraction_next\n");
            for (int p = 0; p < depth; p++) {
                blocks.append(p + 1);
                for (int o = 1; o <= offsets; o++) blocks.append(',').append(f(r.toNext(p, o)));
                blocks.append(',').append(p > 0 && r.crossLayer()[p - 1][p] > threshold);
                blocks.append(',').append(f(r.withinLayer()[p])).append(',').append(f(r.featureToLast()[p]));
                blocks.append(',').append(p + 1 < depth ? f(r.undefinedFraction()[p][p + 1]) : "").append('\n');
            }
            write(dir.resolve("blocks.csv"), blocks.toString());

            String title = name + ": " + model.config().attention().label() + ", " + depth + " blocks";
            Charts.drawOrWarn(dir.resolve("heatmap.png").toString(), "similarity.csv", () -> CollapsePlots.write(
                    CollapsePlots.heatmap(r.crossLayer(), "Cross-layer attention similarity — " + title, measure()),
                    dir.resolve("heatmap.png")));
            Charts.drawOrWarn(dir.resolve("blocks.png").toString(), "blocks.csv", () -> CollapsePlots.write(
                    org.knowm.xchart.BitmapEncoder.getBufferedImage(CollapsePlots.perBlock(r, threshold, title, measure())),
                    dir.resolve("blocks.png")));
        }

        private void report(String name, Path checkpoint, VisionTransformer model, AttentionSimilarity.Result r, double accuracy) {
            int[] similar = r.similarBlockIndices(threshold);
            System.out.printf(Locale.ROOT, "%s (%s): %s, depth %d, %d heads, %d tokens; %d images, top-1 %.2f%%; %s%n", name,
                    checkpoint, model.config().attention().label(), r.depth(), model.config().heads(), model.config().tokens(),
                    r.images(), 100 * accuracy, measure());
            System.out.printf(Locale.ROOT, "  similar blocks (> %.2f to the preceding block): %d%s%n", threshold, similar.length,
                    similar.length == 0 ? "" : " — blocks " + Arrays.stream(similar).mapToObj(p -> Integer.toString(p + 1))
                            .collect(Collectors.joining(", ")));
            System.out.printf(Locale.ROOT, "  %5s %8s %8s %8s %9s %9s%n", "block", "to p+1", "to p+2", "to p+3", "heads", "feat/last");
            for (int p = 0; p < r.depth(); p++) {
                System.out.printf(Locale.ROOT, "  %5d %8s %8s %8s %9s %9s%n", p + 1, f2(r.toNext(p, 1)), f2(r.toNext(p, 2)),
                        f2(r.toNext(p, 3)), f2(r.withinLayer()[p]), f2(r.featureToLast()[p]));
            }
        }

        private String measure() {
            return centred ? "centred cosine (Pearson)" : "cosine";
        }

        /** "runA" for runs/runA/best.safetensors; the file name otherwise; made unique with a counter. */
        static List<String> names(List<Path> checkpoints) {
            Set<String> used = new HashSet<>();
            return checkpoints.stream().map(c -> {
                String file = c.getFileName().toString().replaceFirst("\\.safetensors$", "");
                Path parent = c.toAbsolutePath().getParent();
                String base = ("best".equals(file) || "last".equals(file)) && parent != null && parent.getFileName() != null
                        ? parent.getFileName().toString() : file;
                String name = base;
                for (int k = 2; !used.add(name); k++) name = base + "-" + k;
                return name;
            }).toList();
        }

        private static String f(double v) {
            return Double.isNaN(v) ? "" : String.format(Locale.ROOT, "%.6f", v);
        }

        private static String f2(double v) {
            return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.3f", v);
        }

        private static void write(Path file, String text) {
            try {
                Files.createDirectories(file.toAbsolutePath().getParent());
                Path tmp = TempFiles.create(file.toAbsolutePath().getParent(), ".collapse", ".tmp");
                Files.writeString(tmp, text);
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write " + file + ": " + IoErrors.reason(e), e);
            }
        }
    }

    @Command(name = "best-alpha", mixinStandardHelpOptions = true, sortOptions = false,
            description = {"The best α of φ = L^-α·h for each activation h and number of keys L, from finished sweep folders: "
                    + "each α's mean ± std over seeds, the best α, and the α tied with it (a gap of at most two standard errors "
                    + "of the difference; see docs/best-alpha.md).",
                    "L is read from each run's config.json (image size over patch size, + 1 for the class token). Runs of "
                            + "different data, model size or training budget (epochs, steps, batch size) are kept as separate "
                            + "series. Writes best-alpha.csv and best-alpha.png, and prints a Markdown table."})
    static final class BestAlphaCommand implements Callable<Integer> {
        @Parameters(arity = "1..*", paramLabel = "SWEEP_DIR", description = "Sweep folders written by tornadovit sweep.")
        List<Path> sweeps;
        @Option(names = "--out", paramLabel = "DIR", description = "Output folder (default runs/best-alpha-<time>).")
        Path out;
        @Option(names = "--metric", defaultValue = "test-accuracy", paramLabel = "test-accuracy|best-test-accuracy|probe",
                converter = MetricConverter.class,
                description = "What each run is scored by: its final test accuracy (default), its best test accuracy of any "
                        + "epoch, or the linear probe's test accuracy from SWEEP_DIR/probe.csv (tornadovit probe --csv), "
                        + "averaged over the probe's seeds.")
        SweepFolder.Metric metric;

        @Override
        public Integer call() {
            Path dir = out != null ? out
                    : Path.of("runs", "best-alpha-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
            List<BestAlpha.Point> points = BestAlpha.write(sweeps, metric, dir);
            System.out.print(BestAlpha.markdown(points, metric));
            System.out.println();
            System.out.println("Written to " + dir.resolve(BestAlpha.CSV) + " and " + dir.resolve(BestAlpha.PNG));
            return 0;
        }
    }

    /** The metric's names; anything else is one line listing them. */
    static final class MetricConverter implements ITypeConverter<SweepFolder.Metric> {
        @Override
        public SweepFolder.Metric convert(String value) {
            try {
                return SweepFolder.Metric.parse(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }
}
