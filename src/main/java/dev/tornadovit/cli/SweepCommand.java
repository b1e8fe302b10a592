package dev.tornadovit.cli;

import dev.tornadovit.backend.Backends;
import dev.tornadovit.data.Normalization;
import dev.tornadovit.distributed.Distributed;
import dev.tornadovit.distributed.LocalRanks;
import dev.tornadovit.distributed.RootBroadcast;
import dev.tornadovit.model.AttentionConfig;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.research.Sweep;
import dev.tornadovit.research.SweepRun;
import dev.tornadovit.train.EpochRecord;
import dev.tornadovit.train.TrainingListener;
import dev.tornadovit.train.TrainingOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Function;

@Command(name = "sweep", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Train a grid of ViTs (attention × α × qk-norm × gate × Re-attention × width × depth × seed), one run "
                + "folder each, and write results.csv, summary.csv (mean ± std over seeds) and PNG plots.",
                "Grid options take comma lists, e.g. --attention softmax,relu,relu2 --alpha 0,0.5,1 --qk-norm false,true "
                        + "--depth 4,6 --seeds 0,1,2. Softmax ignores --alpha (it runs once per other combination).",
                "Resumable: run it again with the same --sweep-dir and settings; finished runs are skipped and an "
                        + "interrupted one continues from its last checkpoint."})
final class SweepCommand implements Callable<Integer> {
    private static final Logger log = LoggerFactory.getLogger(SweepCommand.class);

    @Option(names = "--attention", defaultValue = "softmax,relu", paramLabel = "LIST",
            description = "softmax and/or pointwise activations h: relu, relu2, gelu, softplus, identity, relu6, sigmoid (default ${DEFAULT-VALUE}).")
    String attention;
    @Option(names = "--alpha", defaultValue = "1", paramLabel = "LIST", description = "α values of φ = L^-α·h (default ${DEFAULT-VALUE}).")
    String alpha;
    @Option(names = "--qk-norm", defaultValue = "false", paramLabel = "LIST", description = "false and/or true (default ${DEFAULT-VALUE}).")
    String qkNorm;
    @Option(names = "--gate", defaultValue = "false", paramLabel = "LIST", description = "false and/or true (default ${DEFAULT-VALUE}).")
    String gate;
    @Option(names = "--reattention", defaultValue = "none", paramLabel = "LIST",
            description = "none, batchnorm and/or layernorm (default ${DEFAULT-VALUE}).")
    String reattention;
    @Option(names = "--reattention-blocks", defaultValue = "all", description = "all or last:K, for every Re-attention run.")
    String reattentionBlocks;
    @Option(names = "--width", defaultValue = "" + ModelOptions.DEFAULT_WIDTH, paramLabel = "LIST", description = "Widths D (default ${DEFAULT-VALUE}).")
    String width;
    @Option(names = "--depth", defaultValue = "" + ModelOptions.DEFAULT_DEPTH, paramLabel = "LIST", description = "Depths (default ${DEFAULT-VALUE}).")
    String depth;
    @Option(names = "--seeds", paramLabel = "LIST", description = "Seeds (default: --seed). Each seed sets initialisation and data order.")
    String seeds;

    @Option(names = "--heads", defaultValue = "" + ModelOptions.DEFAULT_HEADS, description = "Heads of every model (default ${DEFAULT-VALUE}).")
    int heads;
    @Option(names = "--mlp-ratio", defaultValue = "2", description = "MLP width = ratio × D (default ${DEFAULT-VALUE}).")
    double mlpRatio;
    @Option(names = "--patch-size", description = "Patch size (default: 7 for 28×28 images, else 4 or smaller).")
    Integer patchSize;
    @Option(names = "--pool", defaultValue = "cls", description = "cls or gap (default ${DEFAULT-VALUE}).")
    String pool;
    @Option(names = "--pos-embed", defaultValue = "learned", description = "learned or sincos2d (default ${DEFAULT-VALUE}).")
    String posEmbed;
    @Option(names = "--label-smoothing", defaultValue = "0.0", description = "Label smoothing ε of the loss (default ${DEFAULT-VALUE}).")
    double labelSmoothing;

    @Mixin
    TrainingSettings training;
    @Mixin
    DataOptions data;
    @Mixin
    DeviceOptions device;

    @Option(names = "--sweep-dir", paramLabel = "DIR", description = "Sweep folder (default runs/sweep-<timestamp>); reuse it to resume.")
    Path sweepDir;
    @Option(names = "--parallel", defaultValue = "1", paramLabel = "N",
            description = "Runs trained at once in this process (default ${DEFAULT-VALUE}). The CPU threads (--threads, default all "
                    + "cores) are split between them; the CPU backend's pool is shared, so a run that finds it busy computes on its own thread.")
    int parallel;
    @Option(names = "--dry-run", description = "List the runs and exit.")
    boolean dryRun;
    @Option(names = "--report", description = "Train nothing: write results.csv, summary.csv and the plots from the runs "
            + "finished so far in --sweep-dir (the others are listed as pending), e.g. after gathering run folders from "
            + "several machines.")
    boolean report;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        Distributed distributed = Distributed.fromEnvironment();
        RankLogging.apply(distributed);
        return RankGuard.run(distributed, () -> distributed.isRoot() ? "Finished runs are kept; run the same command "
                + "again to continue the sweep." : "", () -> sweep(distributed));
    }

    private int sweep(Distributed distributed) {
        if (parallel < 1) throw new IllegalArgumentException("--parallel must be >= 1, got " + parallel);
        OptionChecks.positive("--mlp-ratio", mlpRatio);
        OptionChecks.check(training);
        if (seeds != null && spec.commandLine().getParseResult().hasMatchedOption("--seed")) {
            throw new IllegalArgumentException("give --seeds (a list) or --seed, not both");
        }
        List<String> attentions = Grid.words("--attention", attention);
        List<Double> alphas = Grid.numbers("--alpha", alpha);
        List<Boolean> qkNorms = Grid.booleans("--qk-norm", qkNorm), gates = Grid.booleans("--gate", gate);
        List<String> reattentions = Grid.words("--reattention", reattention);
        List<Integer> widths = Grid.integers("--width", width), depths = Grid.integers("--depth", depth);
        List<Long> seedList = seeds == null ? List.of(training.seed)
                : Grid.integers("--seeds", seeds).stream().map(Integer::longValue).toList();

        DataOptions.Splits splits = data.load(training.seed);
        TrainingOptions base = training.options();
        List<SweepRun> runs = new ArrayList<>();
        // The gate is the innermost axis so that runs with and without it follow each other: their throughputs,
        // which the gate plot compares, then see the same machine load and JIT state.
        for (int w : widths) for (int d : depths) for (String re : reattentions) for (boolean qk : qkNorms)
            for (String a : attentions) {
                // Softmax has no α: one run per remaining combination, not one per α.
                List<Double> alphaValues = AttentionConfig.parse(a, 1).isSoftmax() ? List.of(1.0) : alphas;
                for (double al : alphaValues) for (long seed : seedList) for (boolean g : gates) {
                    ViTConfig config = model(splits, a, al, qk, g, re, w, d);
                    runs.add(SweepRun.of(config, base.withSeed(seed)));
                }
            }
        Path dir = sweepDir != null ? sweepDir
                : Path.of("runs", "sweep-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        // Ranks started in different seconds would name different default folders: rank 0's name holds.
        dir = Path.of(RootBroadcast.string(distributed, dir.toString()));
        if (distributed.isRoot()) {
            System.out.printf(Locale.ROOT, "sweep of %d runs in %s on %s%s%n", runs.size(), dir, splits.description(),
                    distributed.size() > 1 ? ", spread over " + distributed.size() + " ranks" : "");
        }
        if (dryRun) {
            if (distributed.isRoot()) runs.forEach(r -> System.out.println("  " + r.id()));
            return 0;
        }
        if (report) {
            if (sweepDir == null) throw new IllegalArgumentException("--report needs the --sweep-dir to tabulate");
            if (!Files.isDirectory(dir)) throw new IllegalArgumentException("--sweep-dir " + dir + ": no such folder");
            if (distributed.isRoot()) {
                Sweep sweep = Sweep.forReport(dir, runs);
                sweep.checkSettings(settings());
                print(sweep.report(), dir);
            }
            return 0;
        }
        Normalization norm = Normalization.compute(splits.train());
        if (device.threads < 0) throw new IllegalArgumentException("--threads must be >= 0, got " + device.threads);
        OptionChecks.checkSweepMemory(runs.stream().map(SweepRun::config).toList(), base, parallel, splits, device.device);
        Sweep sweep = new Sweep(dir, runs, splits.train(), splits.eval(), norm,
                threads -> Backends.create(LocalRanks.device(device.device, System.getenv()), threads),
                listener(distributed));
        sweep.checkSettings(settings());
        int ownThreads = LocalRanks.threads(device.threads, Runtime.getRuntime().availableProcessors(), System.getenv());
        int cores = ownThreads > 0 ? ownThreads : Runtime.getRuntime().availableProcessors();
        int threadsPerRun = parallel == 1 ? ownThreads : Math.max(1, cores / parallel);
        List<Sweep.Result> results = sweep.run(parallel, threadsPerRun, distributed);
        if (distributed.isRoot()) print(results, dir);
        return results.stream().allMatch(Sweep.Result::finished) ? 0 : 1;
    }

    private ViTConfig model(DataOptions.Splits splits, String attentionName, double alphaValue, boolean qk, boolean g,
                            String re, int w, int d) {
        ModelOptions m = new ModelOptions();
        m.attention = attentionName;
        m.alpha = alphaValue;
        m.qkNorm = qk;
        m.gate = g;
        m.reattention = re;
        m.reattentionBlocks = reattentionBlocks;
        m.width = w;
        m.depth = d;
        m.heads = heads;
        m.mlpDim = (int) Math.round(mlpRatio * w);
        m.patchSize = patchSize;
        m.pool = pool;
        m.posEmbed = posEmbed;
        m.labelSmoothing = labelSmoothing;
        return m.build(splits.train());
    }

    /** What all runs share: a sweep folder continued with other values would mix incomparable runs. */
    private Map<String, String> settings() {
        Map<String, String> s = new LinkedHashMap<>();
        s.put("data", data.data);
        s.put("image-size", data.imageSize());
        s.put("channels", Integer.toString(data.channels()));
        s.put("train-limit", Integer.toString(data.trainLimit));
        s.put("eval-limit", Integer.toString(data.evalLimit));
        s.put("validation-fraction", Double.toString(data.validationFraction));
        TrainingOptions o = training.options();
        s.put("epochs", Integer.toString(o.epochs()));
        s.put("steps", Long.toString(o.maxSteps()));
        s.put("batch-size", Integer.toString(o.batchSize()));
        s.put("lr", Double.toString(o.lr()));
        s.put("min-lr", Double.toString(o.minLr()));
        s.put("warmup", Double.toString(o.warmupFraction()));
        s.put("optimizer", Sweep.json(o.optimizer()));
        s.put("augmentation", Sweep.json(o.augmentation()));
        s.put("heads", Integer.toString(heads));
        s.put("mlp-ratio", Double.toString(mlpRatio));
        s.put("patch-size", String.valueOf(patchSize));
        s.put("pool", pool);
        s.put("pos-embed", posEmbed);
        s.put("label-smoothing", Double.toString(labelSmoothing));
        s.put("reattention-blocks", reattentionBlocks);
        return s;
    }

    private Function<SweepRun, TrainingListener> listener(Distributed distributed) {
        // Ranks other than 0 train quietly: their progress would interleave with rank 0's.
        if (!distributed.isRoot()) return run -> null;
        if (parallel == 1) return run -> new ProgressListener(training.batchSize, run.id() + " ");
        // Progress bars of runs trained at once would overwrite each other: one line per epoch instead.
        return run -> new TrainingListener() {
            @Override
            public void epochDone(EpochRecord r, boolean best) {
                log.info(String.format(Locale.ROOT, "%s epoch %d: eval acc %.2f%% | %.0f img/s", run.id(), r.epoch(),
                        100 * r.evalAccuracy(), r.imagesPerSecond()));
            }
        };
    }

    private static void print(List<Sweep.Result> results, Path dir) {
        Map<Sweep.Status, Integer> counts = new LinkedHashMap<>();
        for (Sweep.Status s : Sweep.Status.values()) counts.put(s, 0);
        int idWidth = Math.max(3, results.stream().mapToInt(r -> r.run().id().length()).max().orElse(3));
        System.out.printf(Locale.ROOT, "%n%-" + idWidth + "s %-8s %9s %9s %9s %9s%n", "run", "status", "final", "best", "img/s", "time");
        for (Sweep.Result r : results) {
            counts.merge(r.status(), 1, Integer::sum);
            EpochRecord last = r.last();
            System.out.printf(Locale.ROOT, "%-" + idWidth + "s %-8s %8.2f%% %8.2f%% %9.0f %8.0fs%n", r.run().id(),
                    r.status().name().toLowerCase(Locale.ROOT), last == null ? Double.NaN : 100 * last.evalAccuracy(),
                    100 * r.bestAccuracy(), r.imagesPerSecond(), last == null ? Double.NaN : last.elapsedSeconds());
        }
        System.out.printf(Locale.ROOT, "%d runs: %d trained, %d resumed, %d already finished (skipped), %d failed%s%n",
                results.size(), counts.get(Sweep.Status.TRAINED), counts.get(Sweep.Status.RESUMED),
                counts.get(Sweep.Status.SKIPPED), counts.get(Sweep.Status.FAILED), counts.get(Sweep.Status.PENDING) == 0 ? ""
                        : ", " + counts.get(Sweep.Status.PENDING) + " pending (not finished; left out of summary.csv and the plots)");
        System.out.println("Results: " + dir.resolve(Sweep.RESULTS) + ", " + dir.resolve(Sweep.SUMMARY) + " and the plots in " + dir);
    }

    /** Comma-list parsing for the grid options; errors name the option and the value that is wrong. */
    static final class Grid {
        private Grid() {
        }

        static List<String> words(String option, String text) {
            List<String> out = new ArrayList<>(new LinkedHashSet<>(split(option, text).stream()
                    .map(s -> s.toLowerCase(Locale.ROOT)).toList()));
            return out;
        }

        static List<Double> numbers(String option, String text) {
            List<Double> out = new ArrayList<>();
            for (String s : split(option, text)) {
                try {
                    double v = Double.parseDouble(s);
                    if (!Double.isFinite(v)) throw new NumberFormatException();
                    if (!out.contains(v)) out.add(v);
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException(option + ": '" + s + "' is not a number (expected a comma list such as 0,0.5,1)");
                }
            }
            return out;
        }

        static List<Integer> integers(String option, String text) {
            List<Integer> out = new ArrayList<>();
            for (String s : split(option, text)) {
                try {
                    int v = Integer.parseInt(s);
                    if (!out.contains(v)) out.add(v);
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException(option + ": '" + s + "' is not a whole number (expected a comma list such as 4,6)");
                }
            }
            return out;
        }

        static List<Boolean> booleans(String option, String text) {
            List<Boolean> out = new ArrayList<>();
            for (String s : split(option, text)) {
                boolean v = switch (s.toLowerCase(Locale.ROOT)) {
                    case "true", "on", "yes" -> true;
                    case "false", "off", "no" -> false;
                    default -> throw new IllegalArgumentException(option + ": '" + s + "' is not true or false (expected e.g. false,true)");
                };
                if (!out.contains(v)) out.add(v);
            }
            return out;
        }

        private static List<String> split(String option, String text) {
            List<String> parts = new ArrayList<>();
            for (String s : text.split(",")) if (!s.isBlank()) parts.add(s.strip());
            if (parts.isEmpty()) throw new IllegalArgumentException(option + ": expected a comma-separated list, got '" + text + "'");
            return parts;
        }
    }
}
