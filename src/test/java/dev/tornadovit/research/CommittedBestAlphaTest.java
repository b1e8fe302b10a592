package dev.tornadovit.research;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * docs/experiments/best-alpha/best-alpha.csv is what {@code analyze best-alpha} gives for the sweep folders it names:
 * the committed table and the committed sweeps stay in step.
 */
class CommittedBestAlphaTest {
    private static final Path EXPERIMENTS = Path.of("docs", "experiments");

    @Test
    void committedTableIsTheCommandsOutputOnTheCommittedSweeps(@TempDir Path out) throws IOException {
        Path committed = EXPERIMENTS.resolve("best-alpha").resolve(BestAlpha.CSV);
        List<String> lines = Files.readAllLines(committed);
        // The last column names each point's sweep folders, all under docs/experiments.
        Set<String> folders = new LinkedHashSet<>();
        for (String line : lines.subList(1, lines.size())) {
            String sweeps = line.substring(line.lastIndexOf(',') + 1).replace("\"", "");
            folders.addAll(Arrays.asList(sweeps.split(" ")));
        }
        assertFalse(folders.isEmpty());
        List<Path> sweeps = folders.stream().map(EXPERIMENTS::resolve).toList();
        BestAlpha.write(sweeps, SweepFolder.Metric.TEST_ACCURACY, out);
        // Point order follows the order the folders were given in, which the CSV does not record: compare as sets of rows.
        assertEquals(sorted(lines), sorted(Files.readAllLines(out.resolve(BestAlpha.CSV))));
    }

    private static List<String> sorted(List<String> lines) {
        return lines.stream().sorted().toList();
    }
}
