package dev.tornadovit.research;

import dev.tornadovit.model.Pooling;
import dev.tornadovit.research.SweepFixtures.FakeRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYSeries;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link SweepFolder} and {@link BestAlpha} on small sweep folders written in the sweep's format. */
class BestAlphaTest {
    private static final SweepFolder.Metric ACCURACY = SweepFolder.Metric.TEST_ACCURACY;

    /** relu at patch size {@code patch}: α → the accuracies of seeds 0, 1, ...; runs in ascending α. */
    private static List<FakeRun> relu(int patch, Map<Double, double[]> accuracies) {
        List<FakeRun> runs = new ArrayList<>();
        new java.util.TreeMap<>(accuracies).forEach((alpha, values) -> {
            for (int s = 0; s < values.length; s++) runs.add(FakeRun.of("relu", alpha, s, patch, values[s]));
        });
        return runs;
    }

    @Test
    void keysComeFromEachRunsImageAndPatchSizePlusTheClassToken(@TempDir Path dir) {
        List<FakeRun> runs = List.of(FakeRun.of("relu", 0, 0, 7, 0.5), FakeRun.of("relu", 0, 1, 4, 0.5),
                FakeRun.of("relu", 0, 2, 2, 0.5), FakeRun.of("relu", 0, 3, 4, 0.5).withImage(32, Pooling.CLS),
                FakeRun.of("relu", 0, 4, 4, 0.5).withImage(32, Pooling.GAP));
        // The folder's name says nothing true about L: it must not be read.
        List<SweepFolder.Run> read = SweepFolder.read(SweepFixtures.write(dir.resolve("keys-999"), "fashion-mnist", runs), ACCURACY);
        // 28/7 = 4 → 16 patches + cls; 28/4 = 7 → 49 + 1; 28/2 = 14 → 196 + 1; 32/4 = 8 → 64 + 1; gap has no cls token.
        assertEquals(List.of(17, 50, 197, 65, 64), read.stream().map(SweepFolder.Run::keys).toList());
        assertEquals(new SweepFolder.Budget(1, 156, 64), read.getFirst().budget());
        assertEquals("fashion-mnist", read.getFirst().data());
    }

    @Test
    void bestAlphaIsTheHighestMeanAndTheTiedSetHoldsEveryAlphaWithinTwoStandardErrors(@TempDir Path dir) {
        // α=0: mean 0.61, std 0.01414; α=0.5: mean 0.60, std 0.01414 → gap 0.01 < 2·√(0.0002/2 + 0.0002/2) = 0.0283: tied.
        // α=1: mean 0.505, std 0.00707 → gap 0.105 > 2·√(0.0001 + 0.000025) = 0.0224: separated.
        // α=1.5: a single seed has no spread, so nothing separates it, low as it is.
        Path sweep = SweepFixtures.write(dir.resolve("s"), "fashion-mnist", relu(7, Map.of(0.0, new double[]{0.60, 0.62},
                0.5, new double[]{0.59, 0.61}, 1.0, new double[]{0.50, 0.51}, 1.5, new double[]{0.40})));
        List<BestAlpha.Point> points = BestAlpha.analyse(SweepFolder.read(sweep, ACCURACY));
        assertEquals(1, points.size());
        BestAlpha.Point p = points.getFirst();
        assertEquals("relu", p.activation());
        assertEquals(17, p.keys());
        assertEquals(0.0, p.best());
        assertEquals(List.of(0.0, 0.5, 1.5), p.tied());
        assertEquals(List.of(0.0, 0.5, 1.0, 1.5), p.alphas().stream().map(BestAlpha.AlphaScore::alpha).toList());
        assertEquals(0.61, p.bestScore().spread().mean(), 1e-9);
        assertEquals(Math.sqrt(0.0002), p.bestScore().spread().std(), 1e-9);
        assertEquals(1, p.minSeeds());
        assertNull(p.softmax());
    }

    @Test
    void tieRuleComparesTheGapWithTwoStandardErrorsOfTheDifference() {
        LinearProbe.Spread best = new LinearProbe.Spread(0.70, 0.02, 3);
        double se = Math.sqrt(0.02 * 0.02 / 3 + 0.01 * 0.01 / 4);
        assertTrue(BestAlpha.tiedWith(best, new LinearProbe.Spread(0.70 - 1.99 * se, 0.01, 4)));
        assertFalse(BestAlpha.tiedWith(best, new LinearProbe.Spread(0.70 - 2.01 * se, 0.01, 4)));
        // Two seeds that agree exactly have no spread: any lower mean is separated.
        assertFalse(BestAlpha.tiedWith(new LinearProbe.Spread(0.7, 0, 2), new LinearProbe.Spread(0.69, 0, 2)));
        assertTrue(BestAlpha.tiedWith(new LinearProbe.Spread(0.7, 0, 1), new LinearProbe.Spread(0.1, 0.1, 3)));
    }

    @Test
    void equalMeansGoToTheSmallerAlpha(@TempDir Path dir) {
        Path sweep = SweepFixtures.write(dir.resolve("s"), "d", relu(7, Map.of(1.0, new double[]{0.5, 0.6},
                0.5, new double[]{0.6, 0.5})));
        BestAlpha.Point p = BestAlpha.analyse(SweepFolder.read(sweep, ACCURACY)).getFirst();
        assertEquals(0.5, p.best());
        assertEquals(List.of(0.5, 1.0), p.tied());
    }

    @Test
    void sweepsOfOneBudgetFormOneSeriesAcrossKeysAndOtherBudgetsStayApart(@TempDir Path dir) {
        Path keys17 = SweepFixtures.write(dir.resolve("a"), "fashion-mnist", relu(7, Map.of(0.0, new double[]{0.6, 0.62},
                1.0, new double[]{0.5, 0.52})));
        List<FakeRun> at50 = new ArrayList<>(relu(4, Map.of(0.0, new double[]{0.4, 0.42}, 1.0, new double[]{0.5, 0.52})));
        at50.add(FakeRun.of("softmax", 1, 0, 4, 0.45));
        at50.add(FakeRun.of("softmax", 1, 1, 4, 0.47));
        Path keys50 = SweepFixtures.write(dir.resolve("b"), "fashion-mnist", at50);
        // The same L as the first folder, trained 5 epochs of 2,340 steps of 128: another series.
        Path longer = SweepFixtures.write(dir.resolve("c"), "fashion-mnist", relu(7, Map.of(0.0, new double[]{0.84, 0.845},
                1.0, new double[]{0.855, 0.86})).stream().map(r -> r.withBudget(5, 2340, 128)).toList());
        List<SweepFolder.Run> runs = new ArrayList<>();
        for (Path p : List.of(keys17, keys50, longer)) runs.addAll(SweepFolder.read(p, ACCURACY));
        List<BestAlpha.Point> points = BestAlpha.analyse(runs);

        assertEquals(3, points.size());
        BestAlpha.Point a = points.get(0), b = points.get(1), c = points.get(2);
        assertEquals(a.series(), b.series(), "17 and 50 keys at one budget: one series");
        assertFalse(a.series().equals(c.series()), "another budget: another series");
        assertEquals(List.of(17, 50, 17), List.of(a.keys(), b.keys(), c.keys()));
        assertEquals(List.of(0.0, 1.0, 1.0), List.of(a.best(), b.best(), c.best()));
        assertEquals("w32 d4 h4, 1 epoch, 156 steps of 64, fashion-mnist", a.series().label());
        assertEquals("w32 d4 h4, 5 epochs, 2,340 steps of 128, fashion-mnist", c.series().label());
        // Softmax is the reference at its own L only.
        assertNull(a.softmax());
        assertEquals(0.46, b.softmax().mean(), 1e-9);
        assertEquals(List.of(keys50), b.sweeps());
        assertEquals(List.of(1.0), c.tied(), "0.8425 ± 0.0035 against 0.8575 ± 0.0035: gap 0.015 > 2·√(2·0.0035²/2) = 0.0071");
    }

    @Test
    void aFolderOfSoftmaxRunsAloneGivesTheSoftmaxColumnOfItsSeries(@TempDir Path dir) {
        Path relu = SweepFixtures.write(dir.resolve("relu"), "fashion-mnist", relu(7, Map.of(0.0, new double[]{0.6, 0.62},
                1.0, new double[]{0.5, 0.52})));
        Path softmax = SweepFixtures.write(dir.resolve("softmax"), "fashion-mnist",
                List.of(FakeRun.of("softmax", 1, 0, 7, 0.55), FakeRun.of("softmax", 1, 1, 7, 0.57)));
        List<BestAlpha.Point> points = BestAlpha.write(List.of(relu, softmax), ACCURACY, dir.resolve("out"));
        assertEquals(1, points.size(), "softmax is no point of its own");
        assertEquals(0.56, points.getFirst().softmax().mean(), 1e-9);
        assertEquals(2, points.getFirst().softmax().count());
    }

    @Test
    void aDivergedRunIsCountedAsFailedAndLeftOutOfTheMean(@TempDir Path dir) {
        List<FakeRun> runs = new ArrayList<>(relu(7, Map.of(0.0, new double[]{0.6, Double.NaN, 0.62}, 1.0, new double[]{0.5, 0.5})));
        Path sweep = SweepFixtures.write(dir.resolve("s"), "d", runs);
        List<SweepFolder.Run> read = SweepFolder.read(sweep, ACCURACY);
        SweepFolder.Run failed = read.stream().filter(r -> !r.finished()).findFirst().orElseThrow();
        assertEquals(156, failed.budget().steps(), "a failed run takes its folder's budget, not the steps it reached");
        BestAlpha.Point p = BestAlpha.analyse(read).getFirst();
        BestAlpha.AlphaScore zero = p.bestScore();
        assertEquals(0.0, zero.alpha());
        assertEquals(2, zero.spread().count());
        assertEquals(1, zero.failed());
        assertEquals(0.61, zero.spread().mean(), 1e-9);
    }

    @Test
    void csvHasOneRowPerPointWithTheTiedSetAndEveryAlphasScores(@TempDir Path dir) throws IOException {
        List<FakeRun> runs = new ArrayList<>(relu(4, Map.of(0.0, new double[]{0.60, 0.62}, 0.5, new double[]{0.59, 0.61},
                1.0, new double[]{0.50, 0.51})));
        runs.add(FakeRun.of("softmax", 1, 0, 4, 0.55));
        runs.add(FakeRun.of("softmax", 1, 1, 4, 0.57));
        Path sweep = SweepFixtures.write(dir.resolve("alpha-keys"), "fashion-mnist", runs);
        Path out = dir.resolve("out");
        List<BestAlpha.Point> points = BestAlpha.write(List.of(sweep), ACCURACY, out);
        assertEquals(1, points.size());

        List<String> lines = Files.readAllLines(out.resolve(BestAlpha.CSV));
        assertEquals(BestAlpha.CSV_HEADER, lines.get(0));
        assertEquals(2, lines.size());
        Map<String, String> row = csvRow(lines.get(0), lines.get(1));
        assertEquals("w32 d4 h4, 1 epoch, 156 steps of 64, fashion-mnist", row.get("series"));
        assertEquals("relu", row.get("activation"));
        assertEquals("50", row.get("keys"));
        assertEquals("0", row.get("best_alpha"));
        assertEquals("0.610000", row.get("best_mean"));
        assertEquals("0 0.5", row.get("tied_alphas"));
        assertEquals("0 0.5 1", row.get("alphas"));
        assertEquals("0.610000 0.600000 0.505000", row.get("means"));
        assertEquals("2 2 2", row.get("seeds"));
        assertEquals("0 0 0", row.get("failed"));
        assertEquals("0.560000", row.get("softmax_mean"));
        assertEquals("test-accuracy", row.get("metric"));
        assertEquals("1", row.get("epochs"));
        assertEquals("156", row.get("steps"));
        assertEquals("64", row.get("batch_size"));
        assertEquals("alpha-keys", row.get("sweeps"));

        String table = BestAlpha.markdown(points, ACCURACY);
        assertTrue(table.contains("| w32 d4 h4, 1 epoch, 156 steps of 64, fashion-mnist | relu | 50 | 0 | 0, 0.5 | "
                + "α=0: **61.0 ± 1.4** (2); α=0.5: 60.0 ± 1.4 (2); α=1: 50.5 ± 0.7 (2) | 56.0 ± 1.4 (2) |"), table);
    }

    @Test
    void plotHasOneLinePerActivationAndSeriesAndTieBarsOutOfTheLegend(@TempDir Path dir) throws IOException {
        List<FakeRun> runs = new ArrayList<>(relu(7, Map.of(0.0, new double[]{0.60, 0.62}, 0.5, new double[]{0.59, 0.61})));
        runs.add(FakeRun.of("gelu", 0.5, 0, 7, 0.5));
        List<SweepFolder.Run> read = new ArrayList<>(SweepFolder.read(SweepFixtures.write(dir.resolve("a"), "d", runs), ACCURACY));
        read.addAll(SweepFolder.read(SweepFixtures.write(dir.resolve("b"), "d",
                relu(4, Map.of(0.0, new double[]{0.40, 0.42}, 1.0, new double[]{0.50, 0.52}))), ACCURACY));
        List<BestAlpha.Point> points = BestAlpha.analyse(read);
        XYChart chart = BestAlphaPlot.chart(points, ACCURACY);
        List<String> inLegend = chart.getSeriesMap().values().stream().filter(XYSeries::isShowInLegend).map(XYSeries::getName).toList();
        assertEquals(List.of("relu — w32 d4 h4, 1 epoch, 156 steps of 64, d", "gelu — w32 d4 h4, 1 epoch, 156 steps of 64, d",
                "α = 1 (the paper's choice)"), inLegend);
        XYSeries relu = chart.getSeriesMap().get(inLegend.getFirst());
        assertEquals(List.of(0.0, 1.0), java.util.Arrays.stream(relu.getYData()).boxed().toList());
        // One tie bar: relu at 17 keys (α 0 and 0.5); 50 keys has one α tied, gelu one run.
        assertEquals(1, chart.getSeriesMap().size() - inLegend.size());
        assertTrue(chart.getStyler().isXAxisLogarithmic());

        Path png = dir.resolve("best-alpha.png");
        BestAlphaPlot.write(points, ACCURACY, png);
        BufferedImage image = ImageIO.read(png.toFile());
        assertNotNull(image);
        assertEquals(1000, image.getWidth());
    }

    @Test
    void probeMetricAveragesTheProbesSeedsPerRun(@TempDir Path dir) throws IOException {
        List<FakeRun> runs = relu(7, Map.of(0.0, new double[]{0.9, 0.9}, 1.0, new double[]{0.1, 0.1}));
        Path sweep = SweepFixtures.write(dir.resolve("s"), "d", runs);
        StringBuilder probe = new StringBuilder("checkpoint,seed,shots,l2,validation_accuracy,test_accuracy\n");
        // The probe ranks the other way round from the accuracy; one run of α=1 was not probed.
        double[][] values = {{0.50, 0.54}, {0.52, 0.56}, {0.70, 0.74}};
        for (int i = 0; i < 3; i++) {
            String checkpoint = "runs/s/" + SweepFixtures.idOf(runs.get(i)) + "/best.safetensors";
            for (int seed = 0; seed < 2; seed++) {
                probe.append(checkpoint).append(',').append(seed).append(",10,1.0,0.5,").append(values[i][seed]).append('\n');
            }
        }
        Files.writeString(sweep.resolve(SweepFolder.PROBE_CSV), probe.toString());
        BestAlpha.Point p = BestAlpha.analyse(SweepFolder.read(sweep, SweepFolder.Metric.PROBE)).getFirst();
        assertEquals(1.0, p.best());
        assertEquals(1, p.bestScore().spread().count());
        assertEquals(0.72, p.bestScore().spread().mean(), 1e-9);
        assertEquals(0.53, p.alphas().getFirst().spread().mean(), 1e-9, "mean over seeds of each run's mean over probe seeds");
    }

    @Test
    void badFoldersAreRefusedInOneLineNamingTheFileAndWhatWasExpected(@TempDir Path dir) throws IOException {
        Path missing = dir.resolve("missing");
        assertRefused(() -> SweepFolder.read(missing, ACCURACY), missing + ": no such folder; expected a sweep folder");
        Path empty = Files.createDirectories(dir.resolve("empty"));
        assertRefused(() -> SweepFolder.read(empty, ACCURACY), empty + ": not a sweep folder: it has no results.csv");

        List<FakeRun> runs = relu(7, Map.of(0.0, new double[]{0.6}, 1.0, new double[]{0.5}));
        Path sweep = SweepFixtures.write(dir.resolve("s"), "d", runs);
        Path results = sweep.resolve(Sweep.RESULTS);
        String good = Files.readString(results);

        Files.writeString(results, good.replaceFirst(",alpha,", ",alfa,"));
        assertRefused(() -> SweepFolder.read(sweep, ACCURACY), results + ": header has no column 'alpha'; expected a "
                + "sweep's results.csv (columns run, status, attention, alpha,");
        Files.writeString(results, good.replaceFirst(",relu,0,", ",relu,,"));
        assertRefused(() -> SweepFolder.read(sweep, ACCURACY), results + ": line 2, column 'alpha' is ''; expected the run's α");
        Files.writeString(results, good.replaceFirst(",finished,", ",done,"));
        assertRefused(() -> SweepFolder.read(sweep, ACCURACY), results + ": line 2, column 'status' is 'done'; expected finished, failed or pending");
        Files.writeString(results, good.lines().limit(2).collect(Collectors.joining("\n")) + "\nx,y\n");
        assertRefused(() -> SweepFolder.read(sweep, ACCURACY), results + ": line 3 has 2 fields; expected 21");
        Files.writeString(results, good);

        Path config = sweep.resolve(SweepFixtures.idOf(runs.getFirst())).resolve("config.json");
        String configText = Files.readString(config);
        Files.writeString(config, configText.replace("\"alpha\" : 0.0", "\"alpha\" : 0.5"));
        assertRefused(() -> SweepFolder.read(sweep, ACCURACY), config + ": attention relu/L^0.5, but " + results
                + " line 2 says relu α=0; expected the run folder that results.csv lists");
        Files.delete(config);
        assertRefused(() -> SweepFolder.read(sweep, ACCURACY), config + ": missing; expected the run's model config "
                + "(the number of keys L is its image size over its patch size, + 1 for the class token)");
        Files.writeString(config, configText);

        Path runInfo = sweep.resolve(SweepFixtures.idOf(runs.getFirst())).resolve(Sweep.RUN_INFO);
        String runInfoText = Files.readString(runInfo);
        Files.writeString(runInfo, runInfoText.replace("\"batchSize\":64", "\"batchSize\":0"));
        assertRefused(() -> SweepFolder.read(sweep, ACCURACY), runInfo + ": field 'training.batchSize' is '0'; expected a "
                + "whole number >= 1");
        Files.writeString(runInfo, runInfoText);

        assertRefused(() -> SweepFolder.read(sweep, SweepFolder.Metric.PROBE), sweep.resolve("probe.csv")
                + ": missing; --metric probe reads the CSV of tornadovit probe");
        assertRefused(() -> BestAlpha.analyse(concat(SweepFolder.read(sweep, ACCURACY), SweepFolder.read(sweep, ACCURACY))),
                "is in both " + sweep + " and " + sweep + "; expected each run once");

        Path softmaxOnly = SweepFixtures.write(dir.resolve("softmax"), "d", List.of(FakeRun.of("softmax", 1, 0, 7, 0.6)));
        assertRefused(() -> BestAlpha.write(List.of(softmaxOnly), ACCURACY, dir.resolve("out")), softmaxOnly
                + ": every run uses softmax attention; expected runs with a pointwise activation and α");

        Path allFailed = SweepFixtures.write(dir.resolve("failed"), "d", List.of(FakeRun.of("relu", 1, 0, 7, Double.NaN)));
        assertRefused(() -> BestAlpha.write(List.of(allFailed), ACCURACY, dir.resolve("out")),
                allFailed + ": no pointwise-attention run has a final test accuracy (every one failed)");
        assertFalse(Files.exists(dir.resolve("out")), "nothing written");
    }

    @Test
    void metricNamesParseAndOthersAreListed() {
        assertEquals(SweepFolder.Metric.PROBE, SweepFolder.Metric.parse("probe"));
        assertEquals(SweepFolder.Metric.BEST_TEST_ACCURACY, SweepFolder.Metric.parse("Best-Test-Accuracy"));
        assertRefused(() -> SweepFolder.Metric.parse("f1"), "expected test-accuracy, best-test-accuracy or probe, got 'f1'");
    }

    private static List<SweepFolder.Run> concat(List<SweepFolder.Run> a, List<SweepFolder.Run> b) {
        List<SweepFolder.Run> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    private static void assertRefused(org.junit.jupiter.api.function.Executable call, String expected) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(expected), "expected '" + expected + "' in: " + e.getMessage());
        assertEquals(1, e.getMessage().lines().count(), "one line: " + e.getMessage());
    }

    /** Header name → field, for one CSV line whose fields may be quoted. */
    private static Map<String, String> csvRow(String header, String line) {
        List<String> fields = new ArrayList<>();
        StringBuilder field = new StringBuilder();
        boolean quoted = false;
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (c == '"') {
                if (quoted && i + 1 < line.length() && line.charAt(i + 1) == '"') {
                    field.append('"');
                    i++;
                } else {
                    quoted = !quoted;
                }
            } else if (c == ',' && !quoted) {
                fields.add(field.toString());
                field.setLength(0);
            } else {
                field.append(c);
            }
        }
        fields.add(field.toString());
        String[] names = header.split(",");
        assertEquals(names.length, fields.size(), line);
        Map<String, String> row = new java.util.LinkedHashMap<>();
        for (int i = 0; i < names.length; i++) row.put(names[i], fields.get(i));
        return row;
    }
}
