package dev.tornadovit.research;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every chunk of tornado-tasks/scripts/gpu-experiments.sh (the research grid cut for short GPU runs) is a sweep the
 * command line accepts: a chunk whose options the CLI no longer takes would be found only on the GPU machine, after
 * its start-up has been paid for.
 */
class GpuExperimentChunksTest {
    private static final Path SCRIPT = Path.of("tornado-tasks", "scripts", "gpu-experiments.sh");

    private static String bash(Path experiments, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("bash", SCRIPT.toString()));
        command.addAll(Arrays.asList(args));
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        pb.environment().put("DRY_RUN", "1");
        pb.environment().put("OUT", experiments.resolve("out").toString());
        pb.environment().put("EXPERIMENTS", experiments.toString());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "gpu-experiments.sh " + String.join(" ", args) + " did not end");
        assertEquals(0, p.exitValue(), "gpu-experiments.sh " + String.join(" ", args) + ": " + out);
        return out;
    }

    @Test
    void everyChunkIsASweepTheCommandLineTakes(@TempDir Path experiments) throws Exception {
        List<String> chunks = bash(experiments, "list").lines().map(l -> l.split("\\s+")[0]).toList();
        assertTrue(chunks.size() >= 12, chunks.toString());
        for (String chunk : chunks) {
            String line = bash(experiments, chunk).strip();
            assertTrue(line.startsWith("run.sh cli sweep "), chunk + ": " + line);
            List<String> args = new ArrayList<>(Arrays.asList(line.substring("run.sh cli ".length()).split(" ")));
            args.add("--dry-run");
            ResearchCommandsTest.Run run = ResearchCommandsTest.cli(args.toArray(String[]::new));
            assertEquals(0, run.code(), chunk + ": " + line + "\n" + run.out() + run.err());
            assertTrue(run.out().contains("sweep of "), chunk + ": " + run.out());
        }
    }
}
