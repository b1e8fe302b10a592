package dev.tornadovit.research;

import dev.tornadovit.report.Charts;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * The best α of φ = L^-α·h for each activation h and number of keys L, from the runs of one or more sweeps.
 *
 * <p>Runs are grouped into {@link Series}: the same data, model (apart from h and α) and training budget. Sweeps at
 * different L with the same budget (a CPU sweep at 50 keys and one at 197) form one series, so the best α can be
 * followed along L; runs trained for different budgets are never averaged together.
 *
 * <p>Within a series, for each h and L: the mean and standard deviation over seeds of every α, the best α (the highest
 * mean; on equal means the smaller α), and the <em>tied set</em>. An α is tied with the best unless their difference
 * in means exceeds twice its standard error, √(s_best²/n_best + s_α²/n_α), with the sample standard deviations s over
 * the n seeds; an α with a single seed has no spread and so stays tied. This rule was chosen over a bootstrap over
 * seeds because sweeps have two or three seeds: a bootstrap of two seeds has three distinct resampled means and
 * shrinks the spread by (n−1)/n, so its "probability that α wins" would look surer than the data are. The rule keeps
 * an α in the set unless the seeds separate it, and uses the same mean ± std the sweep's tables print. With so few
 * seeds it is a screen, not a significance test: a tied set of one α says the others were separated by more than two
 * standard errors, not that the best is known at 95 %.
 */
public final class BestAlpha {
    /** How many standard errors of the difference separate an α from the best. */
    public static final double SEPARATION = 2;

    private BestAlpha() {
    }

    /** Runs that may be compared: the same data, model apart from h and α, and training budget. */
    public record Series(String data, int width, int depth, int heads, boolean qkNorm, boolean gate, String reattention,
                         SweepFolder.Budget budget) {
        static Series of(SweepFolder.Run r) {
            SweepRun.Axes a = r.axes();
            return new Series(r.data(), a.width(), a.depth(), r.heads(), a.qkNorm(), a.gate(), a.reattention(), r.budget());
        }

        /** E.g. "w32 d4 h4, 1 epoch, 156 steps of 64", with the options and data when they are set. */
        public String label() {
            StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "w%d d%d h%d", width, depth, heads));
            if (qkNorm) sb.append(" +qk-norm");
            if (gate) sb.append(" +gate");
            if (!"none".equals(reattention)) sb.append(" +re-attn(").append(reattention).append(')');
            sb.append(", ").append(budget.label());
            if (!data.isEmpty()) sb.append(", ").append(data);
            return sb.toString();
        }
    }

    /** One α's scores over seeds; {@code failed} runs diverged and have none. */
    public record AlphaScore(double alpha, LinearProbe.Spread spread, int failed) {
    }

    /**
     * The best α of one activation at one L in one series.
     *
     * @param alphas  every α with at least one scored run, ascending
     * @param tied    the α not separated from the best (the best included), ascending
     * @param softmax softmax's score in the same series at the same L (null when the sweeps have none)
     * @param sweeps  the sweep folders the runs came from
     */
    public record Point(Series series, String activation, int keys, List<AlphaScore> alphas, double best, List<Double> tied,
                        LinearProbe.Spread softmax, List<Path> sweeps) {
        public AlphaScore bestScore() {
            return alphas.stream().filter(a -> a.alpha() == best).findFirst().orElseThrow();
        }

        /** The fewest seeds any α has: how much the tied set rests on. */
        public int minSeeds() {
            return alphas.stream().mapToInt(a -> a.spread().count()).min().orElse(0);
        }
    }

    /**
     * Groups {@code runs} and finds each best α. Points are in the order their series, activation and L first appear,
     * L ascending within an activation.
     *
     * @throws IllegalArgumentException when one run appears twice (the same folder passed twice, or a copy)
     */
    public static List<Point> analyse(List<SweepFolder.Run> runs) {
        rejectDuplicates(runs);
        record Key(Series series, String activation, int keys) {
        }
        Map<Series, Map<String, TreeMap<Integer, List<SweepFolder.Run>>>> grouped = new LinkedHashMap<>();
        Map<Key, List<SweepFolder.Run>> softmax = new HashMap<>();
        for (SweepFolder.Run r : runs) {
            Series s = Series.of(r);
            if (r.axes().softmax()) {
                softmax.computeIfAbsent(new Key(s, SweepRun.Axes.SOFTMAX, r.keys()), k -> new ArrayList<>()).add(r);
            } else {
                grouped.computeIfAbsent(s, k -> new LinkedHashMap<>()).computeIfAbsent(r.axes().attention(), k -> new TreeMap<>())
                        .computeIfAbsent(r.keys(), k -> new ArrayList<>()).add(r);
            }
        }
        List<Point> points = new ArrayList<>();
        grouped.forEach((series, byActivation) -> byActivation.forEach((activation, byKeys) -> byKeys.forEach((keys, group) -> {
            List<SweepFolder.Run> reference = softmax.get(new Key(series, SweepRun.Axes.SOFTMAX, keys));
            Point p = point(series, activation, keys, group, reference);
            if (p != null) points.add(p);
        })));
        return points;
    }

    /** Null when no α of the group has a score (every run diverged or went unprobed). */
    private static Point point(Series series, String activation, int keys, List<SweepFolder.Run> group,
                               List<SweepFolder.Run> reference) {
        TreeMap<Double, List<SweepFolder.Run>> byAlpha = new TreeMap<>();
        for (SweepFolder.Run r : group) byAlpha.computeIfAbsent(r.axes().alpha(), k -> new ArrayList<>()).add(r);
        List<AlphaScore> scores = new ArrayList<>();
        byAlpha.forEach((alpha, list) -> {
            double[] values = scored(list);
            int failed = (int) list.stream().filter(r -> !r.finished()).count();
            if (values.length > 0) scores.add(new AlphaScore(alpha, LinearProbe.Spread.of(values), failed));
        });
        if (scores.isEmpty()) return null;
        AlphaScore best = scores.getFirst();
        for (AlphaScore s : scores) if (s.spread().mean() > best.spread().mean()) best = s;
        List<Double> tied = new ArrayList<>();
        for (AlphaScore s : scores) if (tiedWith(best.spread(), s.spread())) tied.add(s.alpha());
        LinearProbe.Spread softmax = null;
        if (reference != null && scored(reference).length > 0) softmax = LinearProbe.Spread.of(scored(reference));
        Set<Path> sweeps = new LinkedHashSet<>();
        group.forEach(r -> sweeps.add(r.folder()));
        if (reference != null) reference.forEach(r -> sweeps.add(r.folder()));
        return new Point(series, activation, keys, List.copyOf(scores), best.alpha(), List.copyOf(tied), softmax,
                List.copyOf(sweeps));
    }

    private static double[] scored(List<SweepFolder.Run> runs) {
        return runs.stream().filter(SweepFolder.Run::finished).mapToDouble(SweepFolder.Run::value)
                .filter(v -> !Double.isNaN(v)).toArray();
    }

    /**
     * Whether {@code other} is not separated from {@code best}: the gap in means is at most {@link #SEPARATION}
     * standard errors of the difference, or either has a single seed (no spread to judge by).
     */
    static boolean tiedWith(LinearProbe.Spread best, LinearProbe.Spread other) {
        if (best.count() < 2 || other.count() < 2) return true;
        double standardError = Math.sqrt(best.std() * best.std() / best.count() + other.std() * other.std() / other.count());
        return best.mean() - other.mean() <= SEPARATION * standardError;
    }

    private static void rejectDuplicates(List<SweepFolder.Run> runs) {
        record Identity(Series series, SweepRun.Axes axes, int keys) {
        }
        Map<Identity, SweepFolder.Run> seen = new HashMap<>();
        for (SweepFolder.Run r : runs) {
            SweepFolder.Run before = seen.putIfAbsent(new Identity(Series.of(r), r.axes(), r.keys()), r);
            if (before != null) {
                throw new IllegalArgumentException("run " + r.id() + " (seed " + r.axes().seed() + ") is in both "
                        + before.folder() + " and " + r.folder() + "; expected each run once (pass each sweep folder once)");
            }
        }
    }

    /** The table's file in the output folder. */
    public static final String CSV = "best-alpha.csv", PNG = "best-alpha.png";

    /**
     * Reads the sweeps, finds each best α and writes {@value #CSV} and {@value #PNG} into {@code out} (the plot only
     * warns where it cannot be drawn). Every folder is read before anything is written.
     *
     * @throws IllegalArgumentException for a folder that is not a sweep, or when no pointwise run has a score
     */
    public static List<Point> write(List<Path> sweeps, SweepFolder.Metric metric, Path out) {
        List<SweepFolder.Run> runs = new ArrayList<>();
        for (Path dir : sweeps) runs.addAll(SweepFolder.read(dir, metric));
        // a folder of softmax runs alone gives the softmax column of the series it shares with other folders
        if (runs.stream().allMatch(r -> r.axes().softmax())) {
            throw new IllegalArgumentException(sweeps.stream().map(Path::toString).collect(Collectors.joining(", "))
                    + ": every run uses softmax attention; expected runs with a pointwise activation and α "
                    + "(tornadovit sweep --attention relu --alpha 0,0.5,1)");
        }
        List<Point> points = analyse(runs);
        if (points.isEmpty()) {
            throw new IllegalArgumentException(sweeps.stream().map(Path::toString).collect(Collectors.joining(", "))
                    + ": no pointwise-attention run has a " + metric.description() + " (every one failed"
                    + (metric == SweepFolder.Metric.PROBE ? " or is missing from " + SweepFolder.PROBE_CSV : "") + ")");
        }
        Sweep.writeAtomically(out.resolve(CSV), csv(points, metric));
        Charts.drawOrWarn(out.resolve(PNG).toString(), CSV, () -> BestAlphaPlot.write(points, metric, out.resolve(PNG)));
        return points;
    }

    /** The CSV header of {@link #csv}. */
    public static final String CSV_HEADER = "series,activation,keys,best_alpha,best_mean,best_std,tied_alphas,min_seeds,"
            + "alphas,means,stds,seeds,failed,softmax_mean,softmax_std,softmax_seeds,metric,data,width,depth,heads,qk_norm,"
            + "gate,reattention,epochs,steps,batch_size,sweeps";

    /**
     * One row per point. Per-α values are space-separated lists in the order of {@code alphas}; scores are fractions;
     * {@code sweeps} lists folder names (space-separated).
     */
    public static String csv(List<Point> points, SweepFolder.Metric metric) {
        StringBuilder sb = new StringBuilder(CSV_HEADER).append('\n');
        for (Point p : points) {
            Series s = p.series();
            AlphaScore best = p.bestScore();
            sb.append(String.join(",", quoted(s.label()), p.activation(), Integer.toString(p.keys()),
                    SweepRun.formatNumber(p.best()), fraction(best.spread().mean()), fraction(best.spread().std()),
                    alphaList(p.tied()), Integer.toString(p.minSeeds()), alphaList(p.alphas().stream().map(AlphaScore::alpha).toList()),
                    join(p.alphas(), a -> fraction(a.spread().mean())), join(p.alphas(), a -> fraction(a.spread().std())),
                    join(p.alphas(), a -> Integer.toString(a.spread().count())), join(p.alphas(), a -> Integer.toString(a.failed())),
                    p.softmax() == null ? "" : fraction(p.softmax().mean()), p.softmax() == null ? "" : fraction(p.softmax().std()),
                    p.softmax() == null ? "" : Integer.toString(p.softmax().count()), metric.configName(), quoted(s.data()),
                    Integer.toString(s.width()), Integer.toString(s.depth()), Integer.toString(s.heads()),
                    Boolean.toString(s.qkNorm()), Boolean.toString(s.gate()), s.reattention(),
                    Integer.toString(s.budget().epochs()), Long.toString(s.budget().steps()), Integer.toString(s.budget().batchSize()),
                    quoted(p.sweeps().stream().map(f -> String.valueOf(f.toAbsolutePath().normalize().getFileName()))
                            .collect(Collectors.joining(" "))))).append('\n');
        }
        return sb.toString();
    }

    /**
     * A Markdown table: per point the best α, the tied set and every α's mean ± std over seeds in % (the best in bold,
     * seeds in brackets), softmax beside them.
     */
    public static String markdown(List<Point> points, SweepFolder.Metric metric) {
        StringBuilder sb = new StringBuilder();
        sb.append("| series | h | L | best α | tied α | ").append(metric.description())
                .append(", % (mean ± std, seeds) per α | softmax |\n");
        sb.append("|---|---|---|---|---|---|---|\n");
        for (Point p : points) {
            String perAlpha = p.alphas().stream().map(a -> {
                String cell = percent(a.spread());
                if (a.alpha() == p.best()) cell = "**" + cell + "**";
                String failed = a.failed() > 0 ? ", " + a.failed() + " failed" : "";
                return "α=" + SweepRun.formatNumber(a.alpha()) + ": " + cell + " (" + a.spread().count() + failed + ")";
            }).collect(Collectors.joining("; "));
            sb.append("| ").append(p.series().label()).append(" | ").append(p.activation()).append(" | ").append(p.keys())
                    .append(" | ").append(SweepRun.formatNumber(p.best())).append(" | ")
                    .append(p.tied().stream().map(SweepRun::formatNumber).collect(Collectors.joining(", "))).append(" | ")
                    .append(perAlpha).append(" | ")
                    .append(p.softmax() == null ? "–" : percent(p.softmax()) + " (" + p.softmax().count() + ")").append(" |\n");
        }
        return sb.toString();
    }

    private static String percent(LinearProbe.Spread s) {
        return String.format(Locale.ROOT, "%.1f ± %.1f", 100 * s.mean(), 100 * s.std());
    }

    private static String fraction(double v) {
        return Double.isNaN(v) ? "" : String.format(Locale.ROOT, "%.6f", v);
    }

    private static String alphaList(List<Double> alphas) {
        return alphas.stream().map(SweepRun::formatNumber).collect(Collectors.joining(" "));
    }

    private static String join(List<AlphaScore> alphas, java.util.function.Function<AlphaScore, String> f) {
        return alphas.stream().map(f).collect(Collectors.joining(" "));
    }

    /** A CSV field: quoted when it holds a comma or quote (series labels do). */
    static String quoted(String field) {
        if (!field.contains(",") && !field.contains("\"")) return field;
        return '"' + field.replace("\"", "\"\"") + '"';
    }

    /** The distinct L values present, ascending. */
    public static int[] keys(List<Point> points) {
        return points.stream().mapToInt(Point::keys).distinct().sorted().toArray();
    }
}
