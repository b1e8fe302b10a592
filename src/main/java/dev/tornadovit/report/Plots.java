package dev.tornadovit.report;

import dev.tornadovit.io.IoErrors;
import dev.tornadovit.io.TempFiles;
import dev.tornadovit.train.EpochRecord;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.internal.chartpart.Chart;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/** PNG charts (XChart): training curves and the research tools' plots. */
public final class Plots {
    static {
        System.setProperty("java.awt.headless", "true");
    }

    private Plots() {
    }

    public static XYChart chart(String title, String xLabel, String yLabel, int width, int height) {
        XYChart chart = new XYChartBuilder().width(width).height(height).title(title).xAxisTitle(xLabel).yAxisTitle(yLabel).build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideSE);
        chart.getStyler().setChartBackgroundColor(Color.WHITE);
        chart.getStyler().setPlotBackgroundColor(Color.WHITE);
        chart.getStyler().setPlotGridLinesColor(new Color(220, 220, 220));
        chart.getStyler().setMarkerSize(6);
        return chart;
    }

    /** Loss and accuracy per epoch, side by side, in one PNG. */
    public static void trainingCurves(List<EpochRecord> history, String title, Path png) {
        if (history.isEmpty()) return;
        double[] epochs = history.stream().mapToDouble(EpochRecord::epoch).toArray();
        XYChart loss = chart(title + ": loss", "epoch", "cross-entropy", 600, 420);
        loss.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE);
        loss.addSeries("train", epochs, history.stream().mapToDouble(EpochRecord::trainLoss).toArray()).setMarker(SeriesMarkers.CIRCLE);
        loss.addSeries("eval", epochs, history.stream().mapToDouble(EpochRecord::evalLoss).toArray()).setMarker(SeriesMarkers.DIAMOND);
        XYChart acc = chart(title + ": top-1 accuracy", "epoch", "accuracy (%)", 600, 420);
        acc.addSeries("train", epochs, history.stream().mapToDouble(r -> 100 * r.trainAccuracy()).toArray()).setMarker(SeriesMarkers.CIRCLE);
        acc.addSeries("eval", epochs, history.stream().mapToDouble(r -> 100 * r.evalAccuracy()).toArray()).setMarker(SeriesMarkers.DIAMOND);
        for (XYSeries s : loss.getSeriesMap().values()) s.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Line);
        saveSideBySide(png, loss, acc);
    }

    /**
     * The y-axis number format for values spanning [min, max]: enough decimals to tell ticks a tenth of the span apart,
     * and no more (XChart's default prints up to 15 digits when the values are close together).
     */
    static String decimalPattern(double min, double max) {
        double span = max - min, magnitude = Math.max(Math.abs(min), Math.abs(max));
        // A flat series has no span: give it three significant digits of its value.
        double step = span > 0 ? span / 20 : magnitude > 0 ? magnitude / 100 : 1;
        int decimals = Math.clamp((long) Math.ceil(-Math.log10(step)), 0, 8);
        return decimals == 0 ? "#,##0" : "#,##0." + "0".repeat(decimals);
    }

    /** Sets each XY chart's y-axis format from its data, unless the chart has one already. */
    private static void tidyAxes(Chart<?, ?>... charts) {
        for (Chart<?, ?> chart : charts) {
            if (!(chart instanceof XYChart xy) || xy.getStyler().getYAxisDecimalPattern() != null) continue;
            double min = Double.POSITIVE_INFINITY, max = Double.NEGATIVE_INFINITY;
            for (XYSeries series : xy.getSeriesMap().values()) {
                for (double y : series.getYData()) {
                    if (Double.isFinite(y)) {
                        min = Math.min(min, y);
                        max = Math.max(max, y);
                    }
                }
            }
            if (min <= max) xy.getStyler().setYAxisDecimalPattern(decimalPattern(min, max));
        }
    }

    /** Several charts in a row, one PNG, written atomically. */
    public static void saveSideBySide(Path png, Chart<?, ?>... charts) {
        tidyAxes(charts);
        int width = 0, height = 0;
        BufferedImage[] images = new BufferedImage[charts.length];
        for (int i = 0; i < charts.length; i++) {
            images[i] = BitmapEncoder.getBufferedImage(charts[i]);
            width += images[i].getWidth();
            height = Math.max(height, images[i].getHeight());
        }
        BufferedImage all = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        var g = all.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, width, height);
        int x = 0;
        for (BufferedImage im : images) {
            g.drawImage(im, x, 0, null);
            x += im.getWidth();
        }
        g.dispose();
        write(all, png);
    }

    public static void write(BufferedImage image, Path png) {
        try {
            Path dir = png.toAbsolutePath().getParent();
            Files.createDirectories(dir);
            Path tmp = TempFiles.create(dir, ".plot", ".png");
            javax.imageio.ImageIO.write(image, "png", tmp.toFile());
            Files.move(tmp, png, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + png + ": " + IoErrors.reason(e), e);
        }
    }
}
