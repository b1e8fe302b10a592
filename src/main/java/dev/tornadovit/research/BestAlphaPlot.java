package dev.tornadovit.research;

import dev.tornadovit.report.Plots;
import org.knowm.xchart.AnnotationLine;
import org.knowm.xchart.AnnotationText;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.lines.SeriesLines;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.awt.BasicStroke;
import java.awt.Color;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * best-alpha.png: the best α (y) against the number of keys L (x, log scale), one line per activation h and
 * {@link BestAlpha.Series}, the tied set of each point drawn as a thin vertical bar with a dot at each tied α, and
 * α = 1 (the pointwise-attention paper's choice) as a dashed level.
 */
public final class BestAlphaPlot {
    static {
        // Charts are drawn off-screen; set before the first AWT class loads (Plots does the same).
        System.setProperty("java.awt.headless", "true");
    }

    /**
     * Lines at the same L are spread sideways over this factor (×/÷ half of it each way), so that their tie bars do not
     * overlap; small next to the distance between L values that sweeps use (17, 50, 197, 785).
     */
    private static final double SPREAD = 1.3;

    private BestAlphaPlot() {
    }

    public static void write(List<BestAlpha.Point> points, SweepFolder.Metric metric, Path png) {
        Plots.saveSideBySide(png, chart(points, metric));
    }

    static XYChart chart(List<BestAlpha.Point> points, SweepFolder.Metric metric) {
        XYChart chart = Plots.chart("Best α of φ = L^-α·h against the number of keys L (by " + metric.description() + ")",
                "keys L (log scale)", "best α (bar: α tied with it)", 1000, 620);
        chart.getStyler().setXAxisLogarithmic(true);
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS);
        chart.getStyler().setLegendLayout(Styler.LegendLayout.Vertical);
        chart.getStyler().setMarkerSize(9);
        chart.getStyler().setYAxisDecimalPattern("0.00");

        // One line per (series, h), in the order the points came.
        Map<String, List<BestAlpha.Point>> lines = new LinkedHashMap<>();
        for (BestAlpha.Point p : points) {
            lines.computeIfAbsent(p.activation() + " — " + p.series().label(), k -> new ArrayList<>()).add(p);
        }
        int[] keys = BestAlpha.keys(points);
        double low = 0, high = 1;
        for (BestAlpha.Point p : points) {
            for (double a : p.tied()) {
                low = Math.min(low, a);
                high = Math.max(high, a);
            }
        }
        // The lines with a point at each L, in legend order: each gets its own place around L.
        Map<Integer, List<String>> atKeys = new HashMap<>();
        lines.forEach((name, ps) -> ps.forEach(p -> atKeys.computeIfAbsent(p.keys(), l -> new ArrayList<>()).add(name)));
        int k = 0;
        for (var line : lines.entrySet()) {
            Color colour = SweepPlots.PALETTE[k % SweepPlots.PALETTE.length];
            List<BestAlpha.Point> ps = line.getValue();
            double[] x = ps.stream().mapToDouble(p -> place(p.keys(), atKeys.get(p.keys()).indexOf(line.getKey()),
                    atKeys.get(p.keys()).size())).toArray();
            double[] y = ps.stream().mapToDouble(BestAlpha.Point::best).toArray();
            XYSeries s = chart.addSeries(line.getKey(), x, y);
            s.setLineColor(colour);
            s.setMarkerColor(colour);
            s.setMarker(SweepPlots.MARKERS[k % SweepPlots.MARKERS.length]);
            for (int i = 0; i < ps.size(); i++) {
                BestAlpha.Point p = ps.get(i);
                if (p.tied().size() < 2) continue;
                double[] tiedX = new double[p.tied().size()];
                Arrays.fill(tiedX, x[i]);
                XYSeries bar = chart.addSeries(String.format(Locale.ROOT, "tied %d at L=%d", k, p.keys()), tiedX,
                        p.tied().stream().mapToDouble(Double::doubleValue).toArray());
                bar.setShowInLegend(false);
                bar.setLineColor(colour);
                bar.setMarkerColor(colour);
                bar.setMarker(SeriesMarkers.CIRCLE);
                bar.setLineStyle(new BasicStroke(2.5f));
            }
            k++;
        }
        double left = keys[0] / 1.4, right = keys[keys.length - 1] * 1.4;
        XYSeries paper = chart.addSeries("α = 1 (the paper's choice)", new double[]{left, right}, new double[]{1, 1});
        paper.setMarker(SeriesMarkers.NONE);
        paper.setLineStyle(SeriesLines.DASH_DASH);
        paper.setLineColor(Color.BLACK);
        chart.getStyler().setXAxisMin(left);
        chart.getStyler().setXAxisMax(right);
        double bottom = low - 0.15, top = high + 0.15;
        chart.getStyler().setYAxisMin(bottom);
        chart.getStyler().setYAxisMax(top);
        // The log axis labels only powers of ten: mark and name each L that has data.
        for (int l : keys) {
            chart.addAnnotation(new AnnotationLine(l, true, false));
            chart.addAnnotation(new AnnotationText("L = " + l, l, top - 0.04 * (top - bottom), false));
        }
        chart.getStyler().setAnnotationLineColor(new Color(200, 200, 200));
        chart.getStyler().setAnnotationLineStroke(new BasicStroke(1f));
        chart.getStyler().setAnnotationTextFontColor(Color.DARK_GRAY);
        return chart;
    }

    /** Where the {@code index}-th of {@code count} lines with a point at L draws it. */
    private static double place(int keys, int index, int count) {
        return count == 1 ? keys : keys * Math.pow(SPREAD, (double) index / (count - 1) - 0.5);
    }
}
