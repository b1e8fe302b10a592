package dev.tornadovit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The library an application depends on: its packages need only what pom.xml passes on (Jackson and the SLF4J API),
 * never the command line's optional libraries (picocli, Logback, XChart, progress bars, JMH) or the tool packages
 * built on them; and an example application runs with nothing else on its class path.
 */
class LibraryArtifactTest {
    /** The packages an application uses; every other package of src/main is a tool built on them. */
    static final List<String> LIBRARY_PACKAGES = List.of("backend", "tensor", "model", "train", "data", "io",
            "checkpoint", "distributed");
    static final List<String> TOOL_IMPORTS = List.of("picocli.", "ch.qos.logback.", "org.knowm.", "me.tongfei.",
            "org.openjdk.jmh.", "dev.tornadovit.cli.", "dev.tornadovit.bench.", "dev.tornadovit.report.",
            "dev.tornadovit.research.");
    private static final Path SOURCES = Path.of("src/main/java/dev/tornadovit");

    @Test
    void libraryPackagesImportNoToolAndNoOptionalLibrary() throws IOException {
        List<Path> files = new ArrayList<>(List.of(SOURCES.resolve("ImageClassifier.java")));
        for (String pkg : LIBRARY_PACKAGES) {
            Path dir = SOURCES.resolve(pkg);
            if (!Files.isDirectory(dir)) continue;
            try (Stream<Path> walk = Files.walk(dir)) {
                walk.filter(p -> p.toString().endsWith(".java")).forEach(files::add);
            }
        }
        List<String> offending = new ArrayList<>();
        for (Path file : files) {
            for (String line : Files.readAllLines(file)) {
                String t = line.strip();
                if (!t.startsWith("import ")) continue;
                for (String tool : TOOL_IMPORTS) {
                    if (t.replace("import static ", "").replace("import ", "").startsWith(tool)) {
                        offending.add(file + ": " + t);
                    }
                }
            }
        }
        assertTrue(files.size() > 30, "found only " + files.size() + " library sources");
        assertEquals(List.of(), offending, "library sources that need a tool or an optional library");
    }

    @Test
    void anExampleApplicationRunsWithTheLibraryAndItsOwnDependenciesAlone(@TempDir Path dir) throws Exception {
        List<String> classPath = new ArrayList<>();
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            String name = Path.of(entry).getFileName().toString();
            // the library's classes, the examples (compiled with the tests) and the two libraries the pom passes on
            if (entry.endsWith("classes") || name.startsWith("jackson-") || name.startsWith("slf4j-api")) {
                classPath.add(entry);
            }
        }
        assertTrue(classPath.stream().noneMatch(e -> e.contains("picocli") || e.contains("logback")), classPath::toString);
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Path log = dir.resolve("example.log");
        Process p = new ProcessBuilder(java.toString(), "--add-modules", "jdk.incubator.vector", "-Xmx1g",
                "-cp", String.join(File.pathSeparator, classPath), "TrainCustomAttention", dir.resolve("run").toString(),
                "512")
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        assertTrue(p.waitFor(5, TimeUnit.MINUTES), "the example did not finish");
        String output = Files.readString(log);
        assertEquals(0, p.exitValue(), output);
        assertTrue(output.contains("test accuracy after 512 images"), output);
        assertTrue(Files.exists(dir.resolve("run/best.safetensors")), output);
    }
}
