package dev.tornadovit.report;

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

    /** Several charts in a row, one PNG, written atomically. */
    public static void saveSideBySide(Path png, Chart<?, ?>... charts) {
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
            Path tmp = Files.createTempFile(dir, ".plot", ".png");
            javax.imageio.ImageIO.write(image, "png", tmp.toFile());
            Files.move(tmp, png, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + png + ": " + e.getMessage(), e);
        }
    }
}
