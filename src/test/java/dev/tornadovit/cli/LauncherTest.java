package dev.tornadovit.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.tools.ToolProvider;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The tornadovit launcher, started through links on PATH from another folder, and the bundled data found from anywhere. */
class LauncherTest {

    private static boolean onPath(String command) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, command))) return true;
        }
        return false;
    }

    /**
     * A copy of the launcher in a checkout of its own whose jar is a stub Main that prints its arguments, so that only
     * the script is under test: it must find its checkout through two links (one relative) from an unrelated folder.
     */
    @Test
    void startsThroughASymlinkOnPathFromAnotherFolder(@TempDir Path dir) throws Exception {
        assumeTrue(onPath("bash") && onPath("mvn"), "bash and mvn on PATH");
        Path checkout = dir.resolve("checkout");
        Files.createDirectories(checkout.resolve("scripts"));
        Files.createDirectories(checkout.resolve("src/main"));
        Files.copy(Path.of("tornadovit"), checkout.resolve("tornadovit"));
        Files.copy(Path.of("scripts/jdk.sh"), checkout.resolve("scripts/jdk.sh"));
        Files.writeString(checkout.resolve("pom.xml"), "<project/>");
        Path jar = checkout.resolve("target/tornadovit.jar");
        stubJar(dir.resolve("stub"), jar);
        // Sources older than the jar: the script must not rebuild.
        FileTime old = FileTime.fromMillis(System.currentTimeMillis() - 3_600_000);
        for (Path p : List.of(checkout.resolve("pom.xml"), checkout.resolve("src/main"))) Files.setLastModifiedTime(p, old);

        Path bin = Files.createDirectories(dir.resolve("bin"));
        Files.createSymbolicLink(bin.resolve("tornadovit"), checkout.resolve("tornadovit"));
        Path links = Files.createDirectories(dir.resolve("links"));
        Files.createSymbolicLink(links.resolve("tv"), Path.of("../bin/tornadovit"));
        Path elsewhere = Files.createDirectories(dir.resolve("elsewhere"));

        ProcessBuilder pb = new ProcessBuilder("bash", "-c", "tv --help").directory(elsewhere.toFile()).redirectErrorStream(true);
        pb.environment().put("PATH", links + ":" + System.getenv("PATH"));
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        pb.environment().remove("TORNADOVM_HOME");
        Process p = pb.start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the launcher did not stop");
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("stub main: --help"), out);
    }

    private static void stubJar(Path work, Path jar) throws IOException {
        Path source = work.resolve("dev/tornadovit/cli/Main.java");
        Files.createDirectories(source.getParent());
        Files.writeString(source, "package dev.tornadovit.cli; public class Main { public static void main(String[] a) "
                + "{ System.out.println(\"stub main: \" + String.join(\" \", a)); } }");
        assumeTrue(ToolProvider.getSystemJavaCompiler() != null, "a JDK's compiler");
        assertEquals(0, ToolProvider.getSystemJavaCompiler().run(null, null, null, source.toString()));
        Files.createDirectories(jar.getParent());
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar))) {
            out.putNextEntry(new JarEntry("dev/tornadovit/cli/Main.class"));
            try (OutputStream entry = new java.io.FilterOutputStream(out) {
                @Override
                public void close() {
                    // the jar stream stays open for closeEntry
                }
            }) {
                Files.copy(source.resolveSibling("Main.class"), entry);
            }
            out.closeEntry();
        }
    }

    /** The bundled Fashion-MNIST is found next to the program's classes when the working folder is elsewhere. */
    @Test
    void findsTheBundledDataFromAnotherWorkingFolder(@TempDir Path dir) throws Exception {
        Path log = dir.resolve("log");
        Path run = dir.resolve("run");
        ProcessBuilder pb = new ProcessBuilder(CliProcess.command(List.of(), List.of("train", "--train-limit", "64",
                "--eval-limit", "32", "--epochs", "1", "--batch-size", "32", "--width", "8", "--depth", "1", "--heads",
                "1", "--mlp-dim", "8", "--run-dir", run.toString()))).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile());
        pb.environment().remove("TORNADOVIT_DATA");
        Process p = pb.start();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "train did not stop");
        String out = Files.readString(log);
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("final eval accuracy") && Files.exists(run.resolve("best.safetensors")), out);
    }
}
