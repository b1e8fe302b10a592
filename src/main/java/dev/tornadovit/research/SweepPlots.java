package dev.tornadovit.research;

import dev.tornadovit.report.Plots;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.internal.chartpart.Chart;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.lines.SeriesLines;
import org.knowm.xchart.style.markers.Marker;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.awt.BasicStroke;
import java.awt.Color;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * The sweep's PNG plots, each drawn only when the grid varies what it compares: mean final accuracy over seeds
 * with ± one standard deviation as error bars. Runs that diverged are left out (results.csv lists them).
 * <ul>
 *   <li>{@value #OVERVIEW}: every configuration's accuracy, always drawn;</li>
 *   <li>{@value #ALPHA}: accuracy against α, one line per activation h, softmax as a dashed level (the pointwise
 *   attention paper's Fig. 2);</li>
 *   <li>{@value #QK_NORM}, {@value #REATTENTION}: accuracy with and without, per attention variant;</li>
 *   <li>{@value #GATE}: the same, beside the training throughput with and without the gate (its time cost);</li>
 *   <li>{@value #DEPTH}, {@value #WIDTH}: accuracy against model depth or width.</li>
 * </ul>
 */
public final class SweepPlots {
    public static final String OVERVIEW = "accuracy.png", ALPHA = "accuracy-vs-alpha.png", QK_NORM = "qk-norm.png", GATE = "gate.png",
            REATTENTION = "reattention.png", DEPTH = "accuracy-vs-depth.png", WIDTH = "accuracy-vs-width.png";

    static {
        // Charts are drawn off-screen; set before the first AWT class loads (Plots does the same).
        System.setProperty("java.awt.headless", "true");
    }

    private SweepPlots() {
    }

    /** The grid axes a label can name. */
    enum Axis { ALPHA, QK_NORM, GATE, REATTENTION, WIDTH, DEPTH }

    /** Writes every plot the results support; returns the files written. */
    public static List<Path> writeAll(List<Sweep.Result> results, Path dir) {
        List<Sweep.Group> groups = Sweep.groups(results).stream().filter(g -> g.accuracies().length > 0).toList();
        List<Path> written = new ArrayList<>();
        if (groups.isEmpty()) return written;
        Labels labels = new Labels(groups);
        written.add(save(dir.resolve(OVERVIEW), overview(groups, labels)));
        if (labels.varies(Axis.ALPHA)) written.add(alphaPlot(groups, labels, dir.resolve(ALPHA)));
        if (labels.varies(Axis.QK_NORM)) {
            written.add(save(dir.resolve(QK_NORM), bars("accuracy with and without qk-norm", groups, labels, Axis.QK_NORM,
                    a -> a.qkNorm() ? "with qk-norm" : "without qk-norm", g -> g.accuracy(), "final test accuracy (%)", 100)));
        }
        if (labels.varies(Axis.GATE)) {
            Function<SweepRun.Axes, String> gate = a -> a.gate() ? "with gate" : "without gate";
            CategoryChart accuracy = bars("accuracy with and without the gate", groups, labels, Axis.GATE, gate,
                    g -> g.accuracy(), "final test accuracy (%)", 100);
            CategoryChart speed = bars("training throughput" + gateCost(groups, labels), groups, labels, Axis.GATE, gate,
                    g -> g.imagesPerSecond(), "training images / s", 1);
            written.add(save(dir.resolve(GATE), accuracy, speed));
        }
        if (labels.varies(Axis.REATTENTION)) {
            written.add(save(dir.resolve(REATTENTION), bars("accuracy with and without Re-attention", groups, labels,
                    Axis.REATTENTION, a -> !a.hasReattention() ? "no Re-attention" : "Re-attention (" + a.reattention() + ")",
                    g -> g.accuracy(), "final test accuracy (%)", 100)));
        }
        if (labels.varies(Axis.DEPTH)) {
            written.add(numericPlot("accuracy against depth", "depth (blocks)", groups, labels, Axis.DEPTH,
                    SweepRun.Axes::depth, dir.resolve(DEPTH)));
        }
        if (labels.varies(Axis.WIDTH)) {
            written.add(numericPlot("accuracy against width", "width D", groups, labels, Axis.WIDTH,
                    SweepRun.Axes::width, dir.resolve(WIDTH)));
        }
        return written;
    }

    /** Short names for groups that mention only what differs between them. */
    static final class Labels {
        private final Map<Axis, Set<Object>> values = new LinkedHashMap<>();

        Labels(List<Sweep.Group> groups) {
            for (Axis axis : Axis.values()) values.put(axis, new LinkedHashSet<>());
            for (Sweep.Group g : groups) {
                SweepRun.Axes a = g.axes();
                if (!a.softmax()) values.get(Axis.ALPHA).add(a.alpha());
                values.get(Axis.QK_NORM).add(a.qkNorm());
                values.get(Axis.GATE).add(a.gate());
                values.get(Axis.REATTENTION).add(a.reattention());
                values.get(Axis.WIDTH).add(a.width());
                values.get(Axis.DEPTH).add(a.depth());
            }
        }

        boolean varies(Axis axis) {
            return values.get(axis).size() > 1;
        }

        /** E.g. "relu α=0.5 +qk-norm d6"; {@code omit} leaves those axes out (they are on the plot's x axis or legend). */
        String of(SweepRun.Axes a, boolean withAttention, Set<Axis> omit) {
            List<String> parts = new ArrayList<>();
            if (withAttention) {
                parts.add(a.softmax() || omit.contains(Axis.ALPHA) ? a.attention()
                        : a.attention() + " α=" + SweepRun.formatNumber(a.alpha()));
            }
            if (!omit.contains(Axis.QK_NORM) && a.qkNorm()) parts.add("+qk-norm");
            if (!omit.contains(Axis.GATE) && a.gate()) parts.add("+gate");
            if (!omit.contains(Axis.REATTENTION) && a.hasReattention()) parts.add("+re-attn(" + a.reattention() + ")");
            if (!omit.contains(Axis.WIDTH) && varies(Axis.WIDTH)) parts.add("w" + a.width());
            if (!omit.contains(Axis.DEPTH) && varies(Axis.DEPTH)) parts.add("d" + a.depth());
            return String.join(" ", parts);
        }
    }

    private static Path alphaPlot(List<Sweep.Group> groups, Labels labels, Path png) {
        XYChart chart = Plots.chart("Accuracy against α in φ = L^-α·h (softmax dashed)", "α", "final test accuracy (%)", 900, 560);
        style(chart);
        double minAlpha = Double.POSITIVE_INFINITY, maxAlpha = Double.NEGATIVE_INFINITY;
        // Series name → α → spread; TreeMap keeps α ascending for the line.
        Map<String, TreeMap<Double, LinearProbe.Spread>> pointwise = new LinkedHashMap<>();
        Map<String, LinearProbe.Spread> softmax = new LinkedHashMap<>();
        for (Sweep.Group g : groups) {
            SweepRun.Axes a = g.axes();
            String rest = labels.of(a, false, Set.of(Axis.ALPHA));
            String name = (a.attention() + " " + rest).strip();
            if (a.softmax()) {
                softmax.put(name, g.accuracy());
            } else {
                pointwise.computeIfAbsent(name, k -> new TreeMap<>()).put(a.alpha(), g.accuracy());
                minAlpha = Math.min(minAlpha, a.alpha());
                maxAlpha = Math.max(maxAlpha, a.alpha());
            }
        }
        for (var e : pointwise.entrySet()) {
            double[] x = e.getValue().keySet().stream().mapToDouble(Double::doubleValue).toArray();
            double[] y = e.getValue().values().stream().mapToDouble(s -> 100 * s.mean()).toArray();
            double[] err = e.getValue().values().stream().mapToDouble(s -> 100 * s.std()).toArray();
            chart.addSeries(e.getKey(), x, y, err);
        }
        // Softmax levels: black, told apart by dash pattern when there are several.
        BasicStroke[] dashes = {SeriesLines.DASH_DASH, SeriesLines.DOT_DOT, SeriesLines.DASH_DOT};
        int k = 0;
        for (var e : softmax.entrySet()) {
            double level = 100 * e.getValue().mean();
            XYSeries s = chart.addSeries(e.getKey() + String.format(Locale.ROOT, " (%.1f ± %.1f)", level, 100 * e.getValue().std()),
                    new double[]{minAlpha, maxAlpha}, new double[]{level, level});
            s.setMarker(SeriesMarkers.NONE);
            s.setLineStyle(dashes[k++ % dashes.length]);
            s.setLineColor(Color.BLACK);
        }
        return save(png, chart);
    }

    /** One bar per configuration (seeds averaged), in grid order. */
    private static CategoryChart overview(List<Sweep.Group> groups, Labels labels) {
        CategoryChart chart = categoryChart("Final test accuracy per configuration (mean ± std over seeds)",
                "configuration", "final test accuracy (%)", Math.max(900, 40 * groups.size() + 200));
        List<String> names = new ArrayList<>();
        List<Double> y = new ArrayList<>(), err = new ArrayList<>();
        double low = Double.POSITIVE_INFINITY;
        for (Sweep.Group g : groups) {
            String name = labels.of(g.axes(), true, Set.of());
            names.add(name.isEmpty() ? g.axes().attention() : name);
            y.add(100 * g.accuracy().mean());
            err.add(100 * g.accuracy().std());
            low = Math.min(low, 100 * (g.accuracy().mean() - g.accuracy().std()));
        }
        chart.addSeries("accuracy", names, y, err);
        chart.getStyler().setLegendVisible(false);
        chart.getStyler().setXAxisLabelRotation(groups.size() > 6 ? 45 : 0);
        if (low > 20) chart.getStyler().setYAxisMin(Math.floor((low - 5) / 5) * 5);
        return chart;
    }

    private static CategoryChart categoryChart(String title, String xLabel, String yLabel, int width) {
        CategoryChart chart = new CategoryChartBuilder().width(width).height(560).title(title).xAxisTitle(xLabel)
                .yAxisTitle(yLabel).build();
        chart.getStyler().setChartBackgroundColor(Color.WHITE);
        chart.getStyler().setPlotBackgroundColor(Color.WHITE);
        chart.getStyler().setPlotGridLinesColor(new Color(220, 220, 220));
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS);
        chart.getStyler().setLegendLayout(Styler.LegendLayout.Horizontal);
        chart.getStyler().setLabelsVisible(true);
        chart.getStyler().setLabelsFontColorAutomaticEnabled(false);
        chart.getStyler().setLabelsFontColor(Color.BLACK);
        chart.getStyler().setLabelsPosition(0.5);
        chart.getStyler().setErrorBarsColor(Color.BLACK);
        chart.getStyler().setYAxisDecimalPattern("#0.0");
        chart.getStyler().setSeriesColors(PALETTE);
        return chart;
    }

    private static Path numericPlot(String title, String xLabel, List<Sweep.Group> groups, Labels labels, Axis axis,
                                    Function<SweepRun.Axes, Integer> value, Path png) {
        XYChart chart = Plots.chart(title, xLabel, "final test accuracy (%)", 900, 560);
        style(chart);
        Map<String, TreeMap<Integer, LinearProbe.Spread>> series = new LinkedHashMap<>();
        for (Sweep.Group g : groups) {
            String name = labels.of(g.axes(), true, Set.of(axis));
            series.computeIfAbsent(name, k -> new TreeMap<>()).put(value.apply(g.axes()), g.accuracy());
        }
        for (var e : series.entrySet()) {
            double[] x = e.getValue().keySet().stream().mapToDouble(Integer::doubleValue).toArray();
            double[] y = e.getValue().values().stream().mapToDouble(s -> 100 * s.mean()).toArray();
            double[] err = e.getValue().values().stream().mapToDouble(s -> 100 * s.std()).toArray();
            chart.addSeries(e.getKey(), x, y, err);
        }
        return save(png, chart);
    }

    /**
     * Grouped bars: one category per variant (named without {@code axis}), one bar colour per value of the axis.
     * A variant missing one of the values gets no bar there.
     */
    private static CategoryChart bars(String title, List<Sweep.Group> groups, Labels labels, Axis axis,
                                      Function<SweepRun.Axes, String> seriesName,
                                      Function<Sweep.Group, LinearProbe.Spread> measure, String yLabel, double scale) {
        CategoryChart chart = categoryChart(title, "attention variant", yLabel, 900);
        chart.getStyler().setXAxisLabelRotation(groups.size() > 8 ? 30 : 0);
        List<String> categories = new ArrayList<>();
        Map<String, Map<String, LinearProbe.Spread>> bySeries = new TreeMap<>();
        for (Sweep.Group g : groups) {
            String category = labels.of(g.axes(), true, Set.of(axis));
            if (!categories.contains(category)) categories.add(category);
            bySeries.computeIfAbsent(seriesName.apply(g.axes()), k -> new LinkedHashMap<>()).put(category, measure.apply(g));
        }
        // "without …" sorts after "with …"; put the baseline first.
        List<String> names = new ArrayList<>(bySeries.keySet());
        names.sort((x, y) -> Boolean.compare(!isBaseline(x), !isBaseline(y)));
        double low = Double.POSITIVE_INFINITY;
        for (String name : names) {
            List<Double> y = new ArrayList<>(), err = new ArrayList<>();
            for (String c : categories) {
                LinearProbe.Spread s = bySeries.get(name).get(c);
                // a variant this series lacks (its runs failed or are pending) gets an empty bar: XChart takes no gaps
                y.add(s == null ? 0.0 : scale * s.mean());
                err.add(s == null ? 0.0 : scale * s.std());
                if (s != null) low = Math.min(low, scale * (s.mean() - s.std()));
            }
            chart.addSeries(name, categories, y, err);
        }
        // Accuracies differ by a few points: starting the axis at 0 would hide the differences the chart is for.
        if (scale == 100 && low > 20) chart.getStyler().setYAxisMin(Math.floor((low - 5) / 5) * 5);
        return chart;
    }

    private static boolean isBaseline(String seriesName) {
        return seriesName.startsWith("without") || seriesName.startsWith("no ");
    }

    /**
     * ": the gate costs x% on average": the mean relative throughput loss over variants measured both ways. A gain
     * can only be measurement noise (the gate adds work), and is labelled so.
     */
    private static String gateCost(List<Sweep.Group> groups, Labels labels) {
        Map<String, double[]> pairs = new LinkedHashMap<>();
        for (Sweep.Group g : groups) {
            String key = labels.of(g.axes(), true, Set.of(Axis.GATE));
            pairs.computeIfAbsent(key, k -> new double[]{Double.NaN, Double.NaN})[g.axes().gate() ? 1 : 0] = g.imagesPerSecond().mean();
        }
        double sum = 0;
        int n = 0;
        for (double[] p : pairs.values()) {
            if (Double.isNaN(p[0]) || Double.isNaN(p[1]) || p[0] <= 0) continue;
            sum += 1 - p[1] / p[0];
            n++;
        }
        if (n == 0) return "";
        double cost = 100 * sum / n;
        return cost >= 0 ? String.format(Locale.ROOT, ": the gate costs %.1f%% on average", cost)
                : String.format(Locale.ROOT, ": %.1f%% faster with the gate (noise?)", -cost);
    }

    /**
     * Tableau's ten colours plus black and navy: distinct for a dozen series, unlike XChart's default where several
     * look alike.
     */
    static final Color[] PALETTE = {new Color(31, 119, 180), new Color(255, 127, 14), new Color(44, 160, 44),
            new Color(214, 39, 40), new Color(148, 103, 189), new Color(140, 86, 75), new Color(227, 119, 194),
            new Color(127, 127, 127), new Color(188, 189, 34), new Color(23, 190, 207), Color.BLACK, new Color(0, 0, 128)};
    /**
     * Markers cycle too, with a length prime to the palette's, so lines that coincide (relu and relu6 below 6) stay
     * visible and no two of the first 84 series look the same.
     */
    static final Marker[] MARKERS = {SeriesMarkers.CIRCLE, SeriesMarkers.SQUARE, SeriesMarkers.DIAMOND,
            SeriesMarkers.TRIANGLE_UP, SeriesMarkers.TRIANGLE_DOWN, SeriesMarkers.CROSS, SeriesMarkers.PLUS};

    private static void style(XYChart chart) {
        chart.getStyler().setSeriesColors(PALETTE);
        chart.getStyler().setSeriesMarkers(MARKERS);
        chart.getStyler().setMarkerSize(8);
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideE);
        chart.getStyler().setErrorBarsColorSeriesColor(true);
        chart.getStyler().setYAxisDecimalPattern("#0.0");
    }

    /** One PNG with the charts side by side. */
    static Path save(Path png, Chart<?, ?>... charts) {
        Plots.saveSideBySide(png, charts);
        return png;
    }
}
