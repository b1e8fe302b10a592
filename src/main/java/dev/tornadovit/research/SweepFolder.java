package dev.tornadovit.research;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tornadovit.io.IoErrors;
import dev.tornadovit.model.AttentionConfig;
import dev.tornadovit.model.ViTConfig;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A sweep folder read back for analysis: each row of its {@value Sweep#RESULTS} joined with the run's own record of its
 * model ({@code config.json}, which gives the number of keys L) and of its training ({@value Sweep#RUN_INFO}, which
 * gives the batch size), and for {@link Metric#PROBE} with the probe's CSV ({@value #PROBE_CSV}).
 *
 * <p>Nothing is inferred from folder or run names: a run whose files are missing or disagree with results.csv is
 * refused, naming the file and what was expected.
 */
public final class SweepFolder {
    /** Where the analysis looks for {@code tornadovit probe --csv} output of a sweep's checkpoints. */
    public static final String PROBE_CSV = "probe.csv";
    private static final String[] RESULTS_COLUMNS = {"run", "status", "attention", "alpha", "qk_norm", "gate", "reattention",
            "width", "depth", "heads", "seed", "epochs", "steps", "final_eval_accuracy", "best_eval_accuracy"};
    private static final String[] PROBE_COLUMNS = {"checkpoint", "test_accuracy"};
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What a run is scored by. */
    public enum Metric {
        /** Accuracy on the evaluation split after the last epoch (results.csv's final_eval_accuracy). */
        TEST_ACCURACY("test-accuracy", "final test accuracy"),
        /** The best evaluation accuracy of any epoch (best_eval_accuracy). */
        BEST_TEST_ACCURACY("best-test-accuracy", "best test accuracy of any epoch"),
        /** The few-shot linear probe's test accuracy, averaged over the probe's seeds ({@value #PROBE_CSV}). */
        PROBE("probe", "linear-probe test accuracy");

        private final String configName, description;

        Metric(String configName, String description) {
            this.configName = configName;
            this.description = description;
        }

        public String configName() {
            return configName;
        }

        public String description() {
            return description;
        }

        public static Metric parse(String name) {
            for (Metric m : values()) if (m.configName.equalsIgnoreCase(name.strip())) return m;
            throw new IllegalArgumentException("expected test-accuracy, best-test-accuracy or probe, got '" + name + "'");
        }
    }

    /**
     * The training a run had. Runs are compared only at equal budgets: a small α can win after a few hundred steps and
     * lose after thousands.
     *
     * @param epochs    the epochs the run was set to train (run.json)
     * @param steps     the optimiser steps a finished run took (results.csv)
     * @param batchSize images per step (run.json)
     */
    public record Budget(int epochs, long steps, int batchSize) {
        public long images() {
            return steps * batchSize;
        }

        /** E.g. "1 epoch, 156 steps of 64". */
        public String label() {
            return String.format(Locale.ROOT, "%d epoch%s, %,d steps of %d", epochs, epochs == 1 ? "" : "s", steps, batchSize);
        }
    }

    /**
     * One run as the analysis sees it.
     *
     * @param keys     L, the sequence length of the run's model: patches plus the class token when it has one
     * @param data     the dataset named in the sweep's sweep.json ("" when the folder has none)
     * @param finished false for a run that diverged (it then has no {@code value})
     * @param value    the run's score under the chosen metric, a fraction; NaN when it has none
     */
    public record Run(Path folder, String id, SweepRun.Axes axes, int heads, int keys, Budget budget, String data,
                      boolean finished, double value) {
    }

    private SweepFolder() {
    }

    /** Every run listed in {@code dir}'s results.csv, scored by {@code metric}. */
    public static List<Run> read(Path dir, Metric metric) {
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException(dir + ": no such folder; expected a sweep folder (the --sweep-dir of tornadovit sweep)");
        }
        Path results = dir.resolve(Sweep.RESULTS);
        if (!Files.isRegularFile(results)) {
            throw new IllegalArgumentException(dir + ": not a sweep folder: it has no " + Sweep.RESULTS
                    + " (expected the --sweep-dir of a finished tornadovit sweep)");
        }
        Table table = Table.read(results, RESULTS_COLUMNS, "a sweep's " + Sweep.RESULTS);
        if (table.rows.isEmpty()) throw new IllegalArgumentException(results + ": no runs listed; expected one row per run");
        String data = dataName(dir.resolve(Sweep.SETTINGS));
        Map<String, Double> probe = metric == Metric.PROBE ? probeScores(dir.resolve(PROBE_CSV)) : Map.of();

        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < table.rows.size(); i++) {
            // a run not finished yet (sweep --report lists it) has no score, and does not count as diverged either
            if (!table.text(i, "status").equals("pending")) rows.add(Row.parse(table, i, dir, metric, probe));
        }
        if (rows.isEmpty()) throw new IllegalArgumentException(results + ": every run is pending; expected finished runs");
        // A run that diverged stopped early: it takes the steps of its folder's finished runs of the same setting.
        Map<List<Integer>, Long> finishedSteps = new HashMap<>();
        for (Row r : rows) if (r.finished) finishedSteps.putIfAbsent(List.of(r.epochs, r.batchSize), r.steps);
        List<Run> runs = new ArrayList<>();
        for (Row r : rows) {
            long steps = r.finished ? r.steps : finishedSteps.getOrDefault(List.of(r.epochs, r.batchSize), r.steps);
            runs.add(new Run(dir, r.id, r.axes, r.heads, r.keys, new Budget(r.epochs, steps, r.batchSize), data,
                    r.finished, r.value));
        }
        return runs;
    }

    /** One results.csv row joined with its run folder. */
    private record Row(String id, SweepRun.Axes axes, int heads, int keys, int epochs, int batchSize, long steps,
                       boolean finished, double value) {
        static Row parse(Table t, int i, Path dir, Metric metric, Map<String, Double> probe) {
            String id = t.text(i, "run");
            if (id.isEmpty() || id.contains("/") || id.contains("\\") || id.startsWith(".")) {
                throw t.bad(i, "run", "a run folder's name");
            }
            String status = t.text(i, "status");
            if (!status.equals("finished") && !status.equals("failed")) {
                throw t.bad(i, "status", "finished, failed or pending");
            }
            boolean finished = status.equals("finished");
            String attention = t.text(i, "attention");
            boolean softmax = SweepRun.Axes.SOFTMAX.equals(attention);
            double alpha = softmax ? Double.NaN : t.number(i, "alpha", "the run's α (a number)");
            SweepRun.Axes axes = new SweepRun.Axes(attention, alpha, t.bool(i, "qk_norm"), t.bool(i, "gate"),
                    t.text(i, "reattention"), t.integer(i, "width"), t.integer(i, "depth"), t.integer(i, "seed"));
            int heads = t.integer(i, "heads");
            long steps = finished ? t.integer(i, "steps") : 0;

            Path runDir = dir.resolve(id);
            Path configFile = runDir.resolve("config.json");
            ViTConfig config = ViTConfig.fromJson(readRunFile(configFile, "the run's model config (the number of keys L is "
                    + "its image size over its patch size, + 1 for the class token)"), configFile.toString());
            AttentionConfig a = config.attention();
            boolean agrees = softmax ? a.isSoftmax()
                    : !a.isSoftmax() && a.activation().configName().equals(attention) && a.alpha() == alpha;
            if (!agrees) {
                throw new IllegalArgumentException(configFile + ": attention " + a.label() + ", but " + t.file
                        + " line " + t.line(i) + " says " + attention + (softmax ? "" : " α=" + SweepRun.formatNumber(alpha))
                        + "; expected the run folder that results.csv lists");
            }
            Path runInfo = runDir.resolve(Sweep.RUN_INFO);
            JsonNode training = readJson(runInfo).path("training");
            int epochs = positiveInt(training, "epochs", runInfo), batchSize = positiveInt(training, "batchSize", runInfo);

            double value = Double.NaN;
            if (finished) {
                value = switch (metric) {
                    case TEST_ACCURACY -> t.number(i, "final_eval_accuracy", "the run's final accuracy (a number)");
                    case BEST_TEST_ACCURACY -> t.number(i, "best_eval_accuracy", "the run's best accuracy (a number)");
                    // A finished run the probe did not see has no score: it is left out, not counted as zero.
                    case PROBE -> probe.getOrDefault(id, Double.NaN);
                };
            }
            return new Row(id, axes, heads, config.tokens(), epochs, batchSize, steps, finished, value);
        }
    }

    /** Mean probe test accuracy per run folder name, from {@code tornadovit probe --csv}. */
    private static Map<String, Double> probeScores(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException(file + ": missing; --metric probe reads the CSV of tornadovit probe "
                    + "SWEEP/*/best.safetensors --csv SWEEP/" + PROBE_CSV);
        }
        Table t = Table.read(file, PROBE_COLUMNS, "the CSV of tornadovit probe --csv");
        Map<String, String> checkpointOf = new HashMap<>();
        Map<String, double[]> sums = new LinkedHashMap<>();
        for (int i = 0; i < t.rows.size(); i++) {
            String checkpoint = t.text(i, "checkpoint");
            Path parent = Path.of(checkpoint).getParent();
            if (parent == null || parent.getFileName() == null) throw t.bad(i, "checkpoint", "RUN_FOLDER/NAME.safetensors");
            String run = parent.getFileName().toString();
            String before = checkpointOf.putIfAbsent(run, checkpoint);
            if (before != null && !before.equals(checkpoint)) {
                throw new IllegalArgumentException(file + ": run " + run + " was probed from two checkpoints (" + before
                        + ", " + checkpoint + "); expected one checkpoint per run");
            }
            double[] s = sums.computeIfAbsent(run, k -> new double[2]);
            s[0] += t.number(i, "test_accuracy", "a probe accuracy (a number)");
            s[1]++;
        }
        Map<String, Double> means = new HashMap<>();
        sums.forEach((run, s) -> means.put(run, s[0] / s[1]));
        return means;
    }

    private static String dataName(Path settings) {
        if (!Files.isRegularFile(settings)) return "";
        return readJson(settings).path("data").asText("");
    }

    private static int positiveInt(JsonNode node, String field, Path file) {
        JsonNode v = node.get(field);
        if (v == null || !v.canConvertToInt() || !v.isIntegralNumber() || v.intValue() < 1) {
            throw new IllegalArgumentException(file + ": field 'training." + field + "' is " + (v == null ? "missing" : "'" + v + "'")
                    + "; expected a whole number >= 1 (the run.json that tornadovit sweep writes)");
        }
        return v.intValue();
    }

    private static JsonNode readJson(Path file) {
        String text = readRunFile(file, "the run's record that tornadovit sweep writes");
        try {
            return JSON.readTree(text);
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": not JSON (" + e.getMessage().lines().findFirst().orElse("") + ")");
        }
    }

    private static String readRunFile(Path file, String what) {
        if (!Files.isRegularFile(file)) throw new IllegalArgumentException(file + ": missing; expected " + what);
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + IoErrors.reason(e), e);
        }
    }

    /** A CSV with a header; fields looked up by column name, errors naming the file, line and column. */
    private static final class Table {
        final Path file;
        final List<String> header;
        final List<String[]> rows = new ArrayList<>();
        /** Each row's line number in the file, for messages (blank lines are skipped). */
        final List<Integer> lineNumbers = new ArrayList<>();

        private Table(Path file, List<String> header) {
            this.file = file;
            this.header = header;
        }

        static Table read(Path file, String[] needed, String what) {
            List<String> lines;
            try {
                lines = Files.readAllLines(file);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read " + file + ": " + IoErrors.reason(e), e);
            }
            if (lines.isEmpty() || lines.getFirst().isBlank()) {
                throw new IllegalArgumentException(file + ": empty; expected " + what + " with a header line");
            }
            Table t = new Table(file, Arrays.asList(lines.getFirst().strip().split(",", -1)));
            for (String column : needed) {
                if (!t.header.contains(column)) {
                    throw new IllegalArgumentException(file + ": header has no column '" + column + "'; expected " + what
                            + " (columns " + String.join(", ", needed) + ")");
                }
            }
            for (int i = 1; i < lines.size(); i++) {
                if (lines.get(i).isBlank()) continue;
                String[] fields = lines.get(i).split(",", -1);
                if (fields.length != t.header.size()) {
                    throw new IllegalArgumentException(file + ": line " + (i + 1) + " has " + fields.length + " fields; expected "
                            + t.header.size() + " as in the header");
                }
                t.rows.add(fields);
                t.lineNumbers.add(i + 1);
            }
            return t;
        }

        int line(int row) {
            return lineNumbers.get(row);
        }

        String text(int row, String column) {
            return rows.get(row)[header.indexOf(column)].strip();
        }

        IllegalArgumentException bad(int row, String column, String expected) {
            return new IllegalArgumentException(file + ": line " + line(row) + ", column '" + column + "' is '" + text(row, column)
                    + "'; expected " + expected);
        }

        double number(int row, String column, String expected) {
            try {
                double v = Double.parseDouble(text(row, column));
                if (Double.isFinite(v)) return v;
            } catch (NumberFormatException e) {
                // reported below
            }
            throw bad(row, column, expected);
        }

        int integer(int row, String column) {
            try {
                return Integer.parseInt(text(row, column));
            } catch (NumberFormatException e) {
                throw bad(row, column, "a whole number");
            }
        }

        boolean bool(int row, String column) {
            return switch (text(row, column)) {
                case "true" -> true;
                case "false" -> false;
                default -> throw bad(row, column, "true or false");
            };
        }
    }
}
