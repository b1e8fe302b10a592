package dev.tornadovit.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The command line in a JVM of its own (to kill it, or to give it other JVM options), its output going to a file. */
public final class CliProcess {

    private CliProcess() {
    }

    /** Starts {@code tornadovit args...} on this test run's JDK and classpath, with {@code jvmOptions} added. */
    public static Process start(List<String> jvmOptions, List<String> args, Path log) throws IOException {
        return new ProcessBuilder(command(jvmOptions, args)).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    /** The command line that runs {@code tornadovit args...} on this test run's JDK and classpath. */
    public static List<String> command(List<String> jvmOptions, List<String> args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(jvmOptions);
        cmd.addAll(List.of("--add-modules", "jdk.incubator.vector", "-cp", System.getProperty("java.class.path"),
                Main.class.getName()));
        cmd.addAll(args);
        return cmd;
    }
}
