package dev.tornadovit.research;

import dev.tornadovit.report.Plots;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.lines.SeriesLines;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.AffineTransform;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.stream.IntStream;

/** The attention-collapse pictures: the depth×depth similarity heatmap and per-block curves. */
public final class CollapsePlots {
    static {
        System.setProperty("java.awt.headless", "true");
    }

    /** Viridis at five stops: perceptually even and readable in grey. */
    private static final Color[] VIRIDIS = {new Color(68, 1, 84), new Color(59, 82, 139), new Color(33, 145, 140),
            new Color(94, 201, 98), new Color(253, 231, 37)};

    private CollapsePlots() {
    }

    /**
     * A heatmap of {@code matrix[p][q]} (block p's similarity to block q, blocks numbered from 1 as in the papers),
     * with a colour bar; values are written into the cells when they fit. The colour scale runs from the smallest
     * value (rounded down to 0.05, and at most 0.5 so that a range stays visible) to 1: collapsed models have all
     * values near 1, and a fixed 0–1 scale would paint them one colour.
     *
     * @param measure what the values are, for the colour bar ("cosine", ...)
     */
    public static BufferedImage heatmap(double[][] matrix, String title, String measure) {
        int n = matrix.length;
        // About 480 px of grid whatever the depth; the picture widens for a long title.
        int cell = Math.max(14, Math.round(480f / Math.max(1, n)));
        int left = 80, top = 70, bottom = 70, barGap = 30, barWidth = 22, right = 110;
        int grid = cell * n;
        Font titleFont = new Font(Font.SANS_SERIF, Font.BOLD, 15);
        Graphics2D scratch = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB).createGraphics();
        int titleWidth = scratch.getFontMetrics(titleFont).stringWidth(title);
        scratch.dispose();
        int plotWidth = left + grid + barGap + barWidth + right;
        int extra = Math.max(0, titleWidth + 40 - plotWidth);
        left += extra / 2;
        int width = plotWidth + extra, height = top + grid + bottom;
        double low = 0.5;
        for (double[] row : matrix) for (double v : row) if (!Double.isNaN(v)) low = Math.min(low, v);
        // A round tick step giving at most six intervals, and the scale's bottom on a tick.
        double step = 0.5;
        for (double candidate : new double[]{0.05, 0.1, 0.2, 0.25, 0.5}) {
            if ((1 - low) / candidate <= 6) {
                step = candidate;
                break;
            }
        }
        double lowest = Math.floor(low / step + 1e-9) * step;
        int ticks = (int) Math.round((1 - lowest) / step);

        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, width, height);

        g.setColor(Color.BLACK);
        g.setFont(titleFont);
        centred(g, title, width / 2, 28);

        Font valueFont = new Font(Font.SANS_SERIF, Font.PLAIN, Math.min(16, Math.max(8, cell / 3)));
        boolean writeValues = cell >= 30;
        for (int p = 0; p < n; p++) {
            for (int q = 0; q < n; q++) {
                double v = matrix[p][q];
                int x = left + q * cell, y = top + p * cell;
                g.setColor(Double.isNaN(v) ? Color.LIGHT_GRAY : colour((v - lowest) / (1 - lowest)));
                g.fillRect(x, y, cell, cell);
                if (writeValues && !Double.isNaN(v)) {
                    g.setFont(valueFont);
                    g.setColor((v - lowest) / (1 - lowest) > 0.6 ? Color.BLACK : Color.WHITE);
                    centred(g, String.format(Locale.ROOT, "%.2f", v), x + cell / 2, y + cell / 2 + g.getFontMetrics().getAscent() / 2 - 1);
                }
            }
        }
        g.setColor(Color.DARK_GRAY);
        g.drawRect(left, top, grid, grid);

        // Block numbers: all of them when they fit, else every k-th.
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        int every = n <= 16 ? 1 : n <= 32 ? 2 : 4;
        for (int i = 0; i < n; i++) {
            if ((i + 1) % every != 0 && i != 0) continue;
            String label = Integer.toString(i + 1);
            centred(g, label, left + i * cell + cell / 2, top + grid + 16);
            FontMetrics fm = g.getFontMetrics();
            g.drawString(label, left - 6 - fm.stringWidth(label), top + i * cell + cell / 2 + fm.getAscent() / 2 - 1);
        }
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
        centred(g, "block q", left + grid / 2, top + grid + 40);
        AffineTransform saved = g.getTransform();
        g.rotate(-Math.PI / 2);
        centred(g, "block p", -(top + grid / 2), left - 40);
        g.setTransform(saved);

        // Colour bar with ticks.
        int barX = left + grid + barGap;
        for (int y = 0; y < grid; y++) {
            g.setColor(colour(1 - (double) y / Math.max(1, grid - 1)));
            g.fillRect(barX, top + y, barWidth, 1);
        }
        g.setColor(Color.DARK_GRAY);
        g.drawRect(barX, top, barWidth, grid);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        for (int k = 0; k <= ticks; k++) {
            double v = lowest + (1 - lowest) * k / ticks;
            int y = top + grid - (int) Math.round((double) grid * k / ticks);
            g.drawLine(barX + barWidth, y, barX + barWidth + 4, y);
            g.drawString(String.format(Locale.ROOT, "%.2f", v), barX + barWidth + 7, y + 4);
        }
        saved = g.getTransform();
        g.rotate(Math.PI / 2);
        centred(g, measure, top + grid / 2, -(barX + barWidth + 60));
        g.setTransform(saved);
        g.dispose();
        return image;
    }

    private static void centred(Graphics2D g, String text, int x, int baseline) {
        g.drawString(text, x - g.getFontMetrics().stringWidth(text) / 2, baseline);
    }

    /** t in [0,1] → viridis. */
    static Color colour(double t) {
        double s = Math.max(0, Math.min(1, t)) * (VIRIDIS.length - 1);
        int i = Math.min(VIRIDIS.length - 2, (int) s);
        double f = s - i;
        Color a = VIRIDIS[i], b = VIRIDIS[i + 1];
        return new Color((int) Math.round(a.getRed() + f * (b.getRed() - a.getRed())),
                (int) Math.round(a.getGreen() + f * (b.getGreen() - a.getGreen())),
                (int) Math.round(a.getBlue() + f * (b.getBlue() - a.getBlue())));
    }

    /**
     * Per block: similarity to the next 1–3 blocks, mean similarity between its heads, and its output features'
     * similarity to the last block's; the threshold as a dashed line.
     */
    public static XYChart perBlock(AttentionSimilarity.Result r, double threshold, String title, String measure) {
        int depth = r.depth();
        XYChart chart = Plots.chart(title, "block p", measure, 1000, 520);
        chart.getStyler().setSeriesColors(SweepPlots.PALETTE);
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideE);
        chart.getStyler().setYAxisDecimalPattern("0.00");
        chart.getStyler().setXAxisDecimalPattern("0");
        double[] blocks = IntStream.rangeClosed(1, depth).asDoubleStream().toArray();
        for (int offset = 1; offset <= Math.min(3, depth - 1); offset++) {
            int o = offset;
            int count = depth - offset;
            double[] x = java.util.Arrays.copyOf(blocks, count);
            double[] y = IntStream.range(0, count).mapToDouble(p -> r.toNext(p, o)).toArray();
            chart.addSeries("attention map vs block p+" + offset, x, y).setMarker(SeriesMarkers.CIRCLE);
        }
        if (!Double.isNaN(r.meanWithinLayer())) {
            chart.addSeries("between heads of block p", blocks, r.withinLayer()).setMarker(SeriesMarkers.SQUARE);
        }
        chart.addSeries("output features vs last block", blocks, r.featureToLast()).setMarker(SeriesMarkers.DIAMOND);
        XYSeries line = chart.addSeries(String.format(Locale.ROOT, "threshold %.2f", threshold),
                new double[]{1, depth}, new double[]{threshold, threshold});
        line.setMarker(SeriesMarkers.NONE);
        line.setLineStyle(SeriesLines.DASH_DASH);
        line.setLineColor(Color.BLACK);
        return chart;
    }

    /** Several models' similarity of each block to the next, on one chart, against block number. */
    public static XYChart adjacentComparison(Map<String, AttentionSimilarity.Result> results, double threshold, String measure) {
        XYChart chart = Plots.chart("Attention-map similarity of block p to block p+1", "block p", measure, 900, 560);
        chart.getStyler().setSeriesColors(SweepPlots.PALETTE);
        chart.getStyler().setSeriesMarkers(SweepPlots.MARKERS);
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideE);
        chart.getStyler().setYAxisDecimalPattern("0.00");
        chart.getStyler().setXAxisDecimalPattern("0");
        int maxDepth = 2;
        Map<String, AttentionSimilarity.Result> ordered = new LinkedHashMap<>(results);
        for (var e : ordered.entrySet()) {
            AttentionSimilarity.Result r = e.getValue();
            if (r.depth() < 2) continue;
            maxDepth = Math.max(maxDepth, r.depth());
            double[] x = IntStream.rangeClosed(1, r.depth() - 1).asDoubleStream().toArray();
            double[] y = IntStream.range(0, r.depth() - 1).mapToDouble(p -> r.toNext(p, 1)).toArray();
            chart.addSeries(e.getKey() + " (" + r.similarBlocks(threshold) + " similar)", x, y);
        }
        XYSeries line = chart.addSeries(String.format(Locale.ROOT, "threshold %.2f", threshold),
                new double[]{1, maxDepth - 1}, new double[]{threshold, threshold});
        line.setMarker(SeriesMarkers.NONE);
        line.setLineStyle(SeriesLines.DASH_DASH);
        line.setLineColor(Color.BLACK);
        line.setLineWidth(1.5f);
        return chart;
    }

    /** Draws {@code image} to {@code png} (atomically). */
    public static void write(BufferedImage image, Path png) {
        Plots.write(image, png);
    }
}
