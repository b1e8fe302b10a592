package dev.tornadovit.distributed;

import dev.tornadovit.cli.Main;
import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Starts the command line as N ranks under Open MPI's mpirun, on this test run's JDK and classpath. Tests that need
 * mpirun call {@link #assumeInstalled()} first, so they are skipped, with the reason, where Open MPI is missing.
 */
final class MpiRun {
    private static Boolean installed;

    private MpiRun() {
    }

    static synchronized boolean installed() {
        if (installed == null) {
            try {
                Process p = new ProcessBuilder("mpirun", "--version").redirectErrorStream(true).start();
                p.getInputStream().readAllBytes();
                installed = p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
            } catch (IOException e) {
                installed = false;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                installed = false;
            }
        }
        return installed;
    }

    static void assumeInstalled() {
        Assumptions.assumeTrue(installed(), "Open MPI's mpirun is not installed (Debian/Ubuntu: apt-get install "
                + "openmpi-bin); the data-parallel tests need it");
    }

    /** {@code mpirun -np ranks --oversubscribe mpiOptions… java … Main args…}, its output going to {@code log}. */
    static Process start(int ranks, List<String> mpiOptions, List<String> args, Path log) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("mpirun", "-np", Integer.toString(ranks), "--oversubscribe"));
        cmd.addAll(mpiOptions);
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(List.of("--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-cp",
                System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        // Test machines (containers, CI) often run as root, which mpirun refuses unless told that it is meant.
        pb.environment().putAll(Map.of("OMPI_ALLOW_RUN_AS_ROOT", "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"));
        return pb.start();
    }

    /** The process of rank {@code rank} among mpirun's descendants (Linux: read from /proc/PID/environ). */
    static Optional<ProcessHandle> rank(Process mpirun, int rank) {
        String marker = "OMPI_COMM_WORLD_RANK=" + rank;
        return mpirun.descendants().filter(p -> {
            try {
                String env = Files.readString(Path.of("/proc", Long.toString(p.pid()), "environ"));
                return List.of(env.split("\0")).contains(marker);
            } catch (IOException | RuntimeException e) {
                return false;
            }
        }).findFirst();
    }

    static String read(Path log) {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "(unreadable " + log + ")";
        }
    }
}
