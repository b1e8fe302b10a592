package dev.tornadovit.research;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.tornadovit.data.ImageDataset;
import dev.tornadovit.data.Normalization;
import dev.tornadovit.distributed.Distributed;
import dev.tornadovit.io.IoErrors;
import dev.tornadovit.io.TempFiles;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.report.Charts;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.train.EpochRecord;
import dev.tornadovit.train.NonFiniteException;
import dev.tornadovit.train.RunFolder;
import dev.tornadovit.train.Trainer;
import dev.tornadovit.train.TrainingListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Function;
import java.util.function.IntFunction;

/**
 * Runs a list of training runs, each in its own folder under the sweep folder, and tabulates them.
 *
 * <p>Resumable: a run whose {@code metrics.csv} shows every epoch (or the step limit) is finished and skipped; one
 * with a {@code last.safetensors} continues from it through {@link Trainer#resume()} (which refuses a checkpoint
 * of a different model); a run that diverged (a non-finite or exploded loss) leaves {@value #FAILED} in its folder and is
 * reported, not retried (delete that file to retry it). The settings shared by all runs are stored in
 * {@value #SETTINGS}; calling again on the same folder with different ones is refused, since a run trained for 1
 * epoch is not "finished" for a sweep of 2 and its learning-rate schedule could not be continued.
 *
 * <p>Outputs in the sweep folder: {@value #RESULTS} (one row per run), {@value #SUMMARY} (mean and spread over
 * seeds) and PNG plots ({@link SweepPlots}). {@link #report()} writes them from the runs finished so far without
 * training any: a grid that spans several machines or device runs is tabulated where its run folders are gathered.
 */
public final class Sweep {
    private static final Logger log = LoggerFactory.getLogger(Sweep.class);
    public static final String SETTINGS = "sweep.json", RESULTS = "results.csv", SUMMARY = "summary.csv",
            RUN_INFO = "run.json", FAILED = "FAILED.txt";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** What happened to a run in this invocation; PENDING: not finished, and not trained by {@link #report()}. */
    public enum Status { TRAINED, RESUMED, SKIPPED, FAILED, PENDING }

    /**
     * A run and its outcome; {@code history} is empty for a run that failed before its first epoch ended.
     *
     * @param failure why it stopped (null unless {@code status} is FAILED)
     */
    public record Result(SweepRun run, Status status, String failure, long parameters, List<EpochRecord> history) {
        /** Trained to its end, now or before. */
        public boolean finished() {
            return status != Status.FAILED && status != Status.PENDING;
        }

        /** How results.csv names the status: finished, failed or pending. */
        public String state() {
            return finished() ? "finished" : status.name().toLowerCase(Locale.ROOT);
        }

        public EpochRecord last() {
            return history.isEmpty() ? null : history.getLast();
        }

        public double bestAccuracy() {
            return history.stream().mapToDouble(EpochRecord::evalAccuracy).max().orElse(Double.NaN);
        }

        public int bestEpoch() {
            EpochRecord best = null;
            for (EpochRecord r : history) if (best == null || r.evalAccuracy() > best.evalAccuracy()) best = r;
            return best == null ? 0 : best.epoch();
        }

        /** Mean training throughput over the epochs. */
        public double imagesPerSecond() {
            return history.stream().mapToDouble(EpochRecord::imagesPerSecond).average().orElse(Double.NaN);
        }
    }

    private final Path dir;
    private final List<SweepRun> runs;
    private final ImageDataset train, eval;
    private final Normalization normalization;
    private final IntFunction<Backend> backends;
    private final Function<SweepRun, TrainingListener> listeners;

    /**
     * @param backends  makes a backend for one run given its CPU thread count
     * @param listeners progress display per run (may return null)
     */
    public Sweep(Path dir, List<SweepRun> runs, ImageDataset train, ImageDataset eval, Normalization normalization,
                 IntFunction<Backend> backends, Function<SweepRun, TrainingListener> listeners) {
        this.dir = dir;
        this.runs = List.copyOf(runs);
        this.train = train;
        this.eval = eval;
        this.normalization = normalization;
        this.backends = backends;
        this.listeners = listeners;
        long distinct = runs.stream().map(SweepRun::id).distinct().count();
        if (distinct != runs.size()) throw new IllegalArgumentException("the sweep lists the same run twice");
    }

    /**
     * Checks {@code settings} against those stored in the sweep folder (storing them the first time).
     *
     * @throws IllegalArgumentException naming the first setting that differs
     */
    public void checkSettings(Map<String, String> settings) {
        Path file = dir.resolve(SETTINGS);
        try {
            Files.createDirectories(dir);
            if (Files.exists(file)) {
                Map<String, String> stored = JSON.readValue(file.toFile(), JSON.getTypeFactory()
                        .constructMapType(LinkedHashMap.class, String.class, String.class));
                for (var e : settings.entrySet()) {
                    String before = stored.get(e.getKey());
                    if (before == null || !before.equals(e.getValue())) {
                        throw new IllegalArgumentException(file + ": this sweep folder was made with " + e.getKey() + " = "
                                + (before == null ? "(not set)" : before) + ", now " + e.getValue()
                                + "; use the same settings to continue it, or another --sweep-dir");
                    }
                }
            } else {
                writeAtomically(file, JSON.writeValueAsString(settings));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read or write " + file + ": " + IoErrors.reason(e), e);
        }
    }

    /**
     * Runs (or skips) every run, {@code parallel} at a time with {@code threadsPerRun} CPU threads each, then
     * writes the tables and plots. Results are in the order of the runs.
     */
    public List<Result> run(int parallel, int threadsPerRun) {
        return run(parallel, threadsPerRun, Distributed.single());
    }

    /**
     * As {@link #run(int, int)}, the grid spread over the ranks of an Open MPI job: rank r trains runs r, r + N,
     * r + 2N … (each alone, in its own folder under its host's sweep folder), then every rank learns every run's
     * outcome and rank 0 writes the tables and plots. Results are in the order of the runs.
     */
    public List<Result> run(int parallel, int threadsPerRun, Distributed distributed) {
        if (parallel < 1) throw new IllegalArgumentException("--parallel must be >= 1, got " + parallel);
        List<Integer> mine = new ArrayList<>();
        for (int i = distributed.rank(); i < runs.size(); i += distributed.size()) mine.add(i);
        List<Result> own = new ArrayList<>();
        if (parallel == 1) {
            for (int i : mine) own.add(runOne(runs.get(i), i, threadsPerRun));
        } else {
            ExecutorService pool = Executors.newFixedThreadPool(parallel, r -> {
                Thread t = new Thread(r, "sweep-run");
                t.setDaemon(true);
                return t;
            });
            try {
                List<Future<Result>> futures = new ArrayList<>();
                for (int i : mine) futures.add(pool.submit(() -> runOne(runs.get(i), i, threadsPerRun)));
                for (Future<Result> f : futures) own.add(f.get());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for sweep runs", e);
            } catch (ExecutionException e) {
                if (e.getCause() instanceof RuntimeException re) throw re;
                throw new IllegalStateException(e.getCause());
            } finally {
                pool.shutdownNow();
            }
        }
        List<Result> results = SweepShare.allResults(distributed, runs, mine, own);
        if (distributed.isRoot()) writeTables(results);
        return results;
    }

    /** A sweep over {@code runs} in {@code dir} that only {@link #report}s: it has no data or device to train with. */
    public static Sweep forReport(Path dir, List<SweepRun> runs) {
        return new Sweep(dir, runs, null, null, null, threads -> {
            throw new IllegalStateException("a sweep report trains nothing");
        }, run -> null);
    }

    /**
     * Writes the tables and plots from what the run folders hold, training nothing: finished runs as SKIPPED, runs
     * that diverged as FAILED, the rest (not started, or stopped part-way) as PENDING — listed in {@value #RESULTS}
     * with the epochs they have, left out of {@value #SUMMARY} and the plots. Results are in the order of the runs.
     */
    public List<Result> report() {
        List<Result> results = new ArrayList<>();
        for (SweepRun run : runs) {
            Result settled = settled(run);
            results.add(settled != null ? settled : new Result(run, Status.PENDING, null,
                    readParameters(dir.resolve(run.id())), readMetrics(dir.resolve(run.id()))));
        }
        writeTables(results);
        return results;
    }

    /** What the run's folder already settles: FAILED (it diverged before), SKIPPED (finished), or null (to train). */
    private Result settled(SweepRun run) {
        Path runDir = dir.resolve(run.id());
        if (Files.exists(runDir.resolve(FAILED))) {
            return new Result(run, Status.FAILED, read(runDir.resolve(FAILED)).strip(), readParameters(runDir),
                    readMetrics(runDir));
        }
        List<EpochRecord> done = readMetrics(runDir);
        return isFinished(run, done) ? new Result(run, Status.SKIPPED, null, readParameters(runDir), done) : null;
    }

    private void writeTables(List<Result> results) {
        writeResults(results);
        List<Result> settled = results.stream().filter(r -> r.status() != Status.PENDING).toList();
        writeSummary(settled);
        Charts.drawOrWarn("the sweep's plots in " + dir, "results.csv and summary.csv",
                () -> SweepPlots.writeAll(settled, dir));
    }

    private Result runOne(SweepRun run, int index, int threads) {
        Path runDir = dir.resolve(run.id());
        String position = String.format(Locale.ROOT, "[%d/%d] %s", index + 1, runs.size(), run.id());
        Result settled = settled(run);
        if (settled != null && settled.status() == Status.FAILED) {
            log.info("{}: failed before ({}); delete {} to retry", position, settled.failure(), runDir.resolve(FAILED));
            return settled;
        }
        if (settled != null) {
            log.info("{}: already finished, skipped", position);
            return settled;
        }
        // The run's folder is held from its first write on, so a second sweep on the same folder is refused.
        try (RunFolder held = RunFolder.open(runDir); Backend be = backends.apply(threads)) {
            VisionTransformer model = new VisionTransformer(run.config(), be, run.options().seed());
            writeRunInfo(runDir, run, model.parameterCount());
            Trainer trainer = new Trainer(model, train, eval, normalization, run.options(), runDir, listeners.apply(run));
            boolean resumed = trainer.resume();
            log.info("{}: {} ({} parameters)", position, resumed ? "resuming" : "training", model.parameterCount());
            try {
                List<EpochRecord> history = trainer.run();
                return new Result(run, resumed ? Status.RESUMED : Status.TRAINED, null, model.parameterCount(), history);
            } catch (NonFiniteException e) {
                // A diverging configuration is a result of the sweep (e.g. identity attention at α = 0), not an error.
                writeAtomically(runDir.resolve(FAILED), e.getMessage() + "\n");
                log.warn("{}: {}", position, e.getMessage());
                return new Result(run, Status.FAILED, e.getMessage(), model.parameterCount(), readMetrics(runDir));
            }
        }
    }

    /** Every epoch recorded, or the step limit reached (the trainer then stops early by design). */
    static boolean isFinished(SweepRun run, List<EpochRecord> history) {
        if (history.isEmpty()) return false;
        if (history.size() >= run.options().epochs()) return true;
        long maxSteps = run.options().maxSteps();
        return maxSteps > 0 && history.getLast().step() >= maxSteps;
    }

    /** The epochs recorded in a run folder's metrics.csv (empty when there is none yet). */
    static List<EpochRecord> readMetrics(Path runDir) {
        Path file = runDir.resolve(Trainer.METRICS);
        if (!Files.exists(file)) return List.of();
        List<String> lines;
        try {
            lines = Files.readAllLines(file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + IoErrors.reason(e), e);
        }
        if (lines.isEmpty()) return List.of();
        List<String> header = Arrays.asList(lines.getFirst().split(","));
        String[] needed = {"epoch", "step", "train_loss", "train_accuracy", "eval_loss", "eval_accuracy", "lr",
                "images_per_second", "elapsed_seconds"};
        int[] column = new int[needed.length];
        for (int i = 0; i < needed.length; i++) {
            column[i] = header.indexOf(needed[i]);
            if (column[i] < 0) throw new IllegalArgumentException(file + ": header has no column '" + needed[i] + "'; found " + header);
        }
        List<EpochRecord> records = new ArrayList<>();
        for (int row = 1; row < lines.size(); row++) {
            if (lines.get(row).isBlank()) continue;
            String[] f = lines.get(row).split(",");
            try {
                records.add(new EpochRecord(Integer.parseInt(f[column[0]]), Long.parseLong(f[column[1]]),
                        Double.parseDouble(f[column[2]]), Double.parseDouble(f[column[3]]), Double.parseDouble(f[column[4]]),
                        Double.parseDouble(f[column[5]]), Double.parseDouble(f[column[6]]), Double.parseDouble(f[column[7]]),
                        Double.parseDouble(f[column[8]])));
            } catch (RuntimeException e) {
                throw new IllegalArgumentException(file + ": line " + (row + 1) + " is not a metrics row (" + e.getMessage() + ")");
            }
        }
        return records;
    }

    private static void writeRunInfo(Path runDir, SweepRun run, long parameters) {
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("id", run.id());
        info.put("parameters", parameters);
        info.put("axes", run.axes());
        info.put("training", run.options());
        try {
            Files.createDirectories(runDir);
            writeAtomically(runDir.resolve(RUN_INFO), JSON.writeValueAsString(info));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + runDir.resolve(RUN_INFO) + ": " + IoErrors.reason(e), e);
        }
    }

    private static long readParameters(Path runDir) {
        Path file = runDir.resolve(RUN_INFO);
        if (!Files.exists(file)) return 0;
        try {
            return JSON.readTree(file.toFile()).path("parameters").asLong(0);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + IoErrors.reason(e), e);
        }
    }

    static final String RESULTS_HEADER = "run,status,attention,alpha,qk_norm,gate,reattention,width,depth,heads,seed,"
            + "parameters,epochs,steps,final_eval_accuracy,best_eval_accuracy,best_epoch,final_train_loss,final_eval_loss,"
            + "images_per_second,wall_seconds";

    private void writeResults(List<Result> results) {
        StringBuilder sb = new StringBuilder(RESULTS_HEADER).append('\n');
        for (Result r : results) {
            SweepRun.Axes a = r.run().axes();
            EpochRecord last = r.last();
            sb.append(String.join(",", r.run().id(), r.state(), a.attention(),
                    SweepRun.formatNumber(a.alpha()), Boolean.toString(a.qkNorm()), Boolean.toString(a.gate()), a.reattention(),
                    Integer.toString(a.width()), Integer.toString(a.depth()), Integer.toString(r.run().config().heads()),
                    Long.toString(a.seed()), Long.toString(r.parameters()), Integer.toString(r.history().size()),
                    last == null ? "" : Long.toString(last.step()),
                    number(last == null ? Double.NaN : last.evalAccuracy()), number(r.bestAccuracy()),
                    Integer.toString(r.bestEpoch()), number(last == null ? Double.NaN : last.trainLoss()),
                    number(last == null ? Double.NaN : last.evalLoss()), String.format(Locale.ROOT, "%.1f", r.imagesPerSecond()),
                    String.format(Locale.ROOT, "%.1f", last == null ? Double.NaN : last.elapsedSeconds()))).append('\n');
        }
        writeAtomically(dir.resolve(RESULTS), sb.toString());
    }

    /** One group of runs that differ only by seed. */
    public record Group(SweepRun.Axes axes, List<Result> runs) {
        /** Final accuracies of the finished runs. */
        public double[] accuracies() {
            return runs.stream().filter(Result::finished).filter(r -> r.last() != null)
                    .mapToDouble(r -> r.last().evalAccuracy()).toArray();
        }

        public LinearProbe.Spread accuracy() {
            return LinearProbe.Spread.of(accuracies());
        }

        public LinearProbe.Spread imagesPerSecond() {
            return LinearProbe.Spread.of(runs.stream().filter(r -> !r.history().isEmpty()).mapToDouble(Result::imagesPerSecond).toArray());
        }

        public long failed() {
            return runs.stream().filter(r -> !r.finished()).count();
        }
    }

    /** Results grouped over seeds, in first-appearance order. */
    public static List<Group> groups(List<Result> results) {
        Map<SweepRun.Axes, List<Result>> byAxes = new LinkedHashMap<>();
        for (Result r : results) byAxes.computeIfAbsent(r.run().axes().withoutSeed(), k -> new ArrayList<>()).add(r);
        List<Group> groups = new ArrayList<>();
        byAxes.forEach((axes, list) -> groups.add(new Group(axes, list)));
        return groups;
    }

    private void writeSummary(List<Result> results) {
        StringBuilder sb = new StringBuilder("attention,alpha,qk_norm,gate,reattention,width,depth,seeds,failed,"
                + "mean_final_eval_accuracy,std_final_eval_accuracy,min_final_eval_accuracy,max_final_eval_accuracy,"
                + "mean_images_per_second\n");
        for (Group g : groups(results)) {
            SweepRun.Axes a = g.axes();
            double[] acc = g.accuracies();
            LinearProbe.Spread s = g.accuracy();
            sb.append(String.join(",", a.attention(), SweepRun.formatNumber(a.alpha()), Boolean.toString(a.qkNorm()),
                    Boolean.toString(a.gate()), a.reattention(), Integer.toString(a.width()), Integer.toString(a.depth()),
                    Integer.toString(g.runs().size()), Long.toString(g.failed()), number(s.mean()), number(s.std()),
                    number(Arrays.stream(acc).min().orElse(Double.NaN)), number(Arrays.stream(acc).max().orElse(Double.NaN)),
                    String.format(Locale.ROOT, "%.1f", g.imagesPerSecond().mean()))).append('\n');
        }
        writeAtomically(dir.resolve(SUMMARY), sb.toString());
    }

    private static String number(double v) {
        return Double.isNaN(v) ? "" : String.format(Locale.ROOT, "%.6f", v);
    }

    static void writeAtomically(Path file, String text) {
        try {
            Path parent = file.toAbsolutePath().getParent();
            Files.createDirectories(parent);
            Path tmp = TempFiles.create(parent, "." + file.getFileName(), ".tmp");
            Files.writeString(tmp, text);
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + ": " + IoErrors.reason(e), e);
        }
    }

    private static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + IoErrors.reason(e), e);
        }
    }

    /** Settings as strings for {@link #checkSettings}: records and numbers print the same on every run. */
    public static String json(Object value) {
        try {
            return new ObjectMapper().writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
