package dev.tornadovit.distributed;

import dev.tornadovit.cli.CliProcess;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * scripts/mpi-bundle.sh packs this machine's Open MPI into a folder that runs from wherever it is unpacked, for a
 * machine without Open MPI: moved to another folder, the bundle reports that folder as its install directories, and
 * scripts/bench-data-parallel.sh, given the bundle's mpirun (MPIRUN) and a plain java command line (TORNADOVIT), runs 2
 * ranks whose every Open MPI, PMIx, hwloc and libevent library and plug-in is loaded from the bundle: the dynamic
 * loader's own log (LD_DEBUG=libs) of mpirun, the ranks and everything they start says so. Skipped where Open MPI 4.1,
 * the version the script packs, is not installed.
 */
class RelocatedOpenMpiTest {
    private static final Pattern LOADED = Pattern.compile("calling init: (/\\S+)");
    private static final Pattern OPEN_MPI_FILE =
            Pattern.compile("libmpi\\.|libopen-(pal|rte)\\.|libpmix\\.|libhwloc\\.|libevent|/mca_|/pmix_mca_");

    @Test
    void theBundleRunsRanksFromAnotherFolderWithNothingOfTheSystemsOpenMpi(@TempDir Path dir) throws Exception {
        assumeOpenMpi41();
        Path out = dir.resolve("out");
        run(List.of("bash", "scripts/mpi-bundle.sh", out.toString()), Map.of(), dir.resolve("pack.log"));
        Path archive = out.resolve("openmpi.tar.xz");
        // It travels to the GPU machine beside the GPU bundle (about 27 MB), within 64 MiB.
        assertTrue(Files.size(archive) < 8 << 20, "openmpi.tar.xz is " + Files.size(archive) + " bytes");
        Path moved = Files.createDirectories(dir.resolve("elsewhere"));
        run(List.of("tar", "-C", moved.toString(), "-xJf", archive.toString()), Map.of(), dir.resolve("unpack.log"));
        Path bundle = moved.resolve("openmpi");

        String paths = run(List.of("bash", "-c", "source \"$0/env\" && ompi_info --parsable --path all", bundle.toString()),
                Map.of(), dir.resolve("paths.log"));
        List<String> dirs = paths.lines().filter(l -> l.startsWith("path:")).toList();
        assertEquals(18, dirs.size(), "prefix … pkgincludedir (pkglibdir twice): " + paths);
        for (String line : dirs) {
            String value = line.substring(line.indexOf(':', "path:".length()) + 1);
            assertTrue(value.startsWith(bundle.toString()), "an install directory outside the bundle: " + line);
        }

        // MPIRUN and TORNADOVIT are split into words: paths without spaces.
        Path ld = Files.createDirectories(dir.resolve("ld"));
        String java = String.join(" ", CliProcess.command(List.of("--enable-native-access=ALL-UNNAMED"), List.of()));
        assertFalse(java.contains("  "), java);
        String table = run(List.of("bash", "scripts/bench-data-parallel.sh", "--batch", "2", "--steps", "2",
                        "--attention", "relu"),
                Map.of("MPIRUN", bundle.resolve("mpirun").toString(), "TORNADOVIT", java, "RANKS", "2", "OVERLAP", "true",
                        "CORES", "2", "LD_DEBUG", "libs", "LD_DEBUG_OUTPUT", ld.resolve("ld").toString()),
                dir.resolve("bench.log"));
        assertTrue(table.lines().anyMatch(l -> l.matches("2\\s+1\\s+yes\\s+[0-9.]+\\s+[0-9.]+\\s+[0-9.]+ %.*")),
                "a row of 2 ranks, 1 thread each, overlapped: " + table);

        TreeSet<String> openMpi = new TreeSet<>();
        try (Stream<Path> logs = Files.list(ld)) {
            for (Path log : logs.toList()) {
                Matcher m = LOADED.matcher(Files.readString(log));
                while (m.find()) {
                    if (OPEN_MPI_FILE.matcher(m.group(1)).find()) openMpi.add(m.group(1));
                }
            }
        }
        assertTrue(openMpi.contains(bundle.resolve("lib/libmpi.so.40").toString()), "the ranks' libmpi: " + openMpi);
        assertTrue(openMpi.contains(bundle.resolve("lib/openmpi3/mca_btl_vader.so").toString()),
                "the shared-memory transport: " + openMpi);
        assertTrue(openMpi.contains(bundle.resolve("lib/pmix/pmix_mca_prm_default.so").toString()),
                "PMIx's plug-ins: " + openMpi);
        assertEquals(List.of(), openMpi.stream().filter(f -> !f.startsWith(bundle.toString())).toList(),
                "loaded from outside the bundle");
    }

    private static void assumeOpenMpi41() {
        String info;
        try {
            Process p = new ProcessBuilder("ompi_info", "--parsable").redirectErrorStream(true).start();
            info = new String(p.getInputStream().readAllBytes());
            p.waitFor(60, TimeUnit.SECONDS);
        } catch (IOException e) {
            info = "";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            info = "";
        }
        Assumptions.assumeTrue(info.contains("ompi:version:full:4.1."),
                "Open MPI 4.1 is not installed (Debian 12/Ubuntu: apt-get install openmpi-bin); mpi-bundle.sh packs it");
    }

    /** Runs {@code command} with {@code env} added, its output going to {@code log}; returns that output. */
    private static String run(List<String> command, Map<String, String> env, Path log) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(env);
        Process p = pb.start();
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), () -> "still running: " + command + "\n" + MpiRun.read(log));
        String output = Files.readString(log);
        assertEquals(0, p.exitValue(), () -> command + "\n" + output);
        return output;
    }
}
