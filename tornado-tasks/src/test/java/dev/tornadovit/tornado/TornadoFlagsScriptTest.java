package dev.tornadovit.tornado;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * scripts/tornado-flags.sh on a made-up SDK whose OpenCL JNI library loads (a copy of the C library, whose own
 * dependencies resolve) and whose CUDA one is absent: the CUDA driver, its JNI jar and its module leave the module
 * path, --add-modules, the exports and native access, one line says so, and CUDA does not become the default backend.
 */
class TornadoFlagsScriptTest {
    private static Path script() {
        for (Path p : List.of(Path.of("scripts/tornado-flags.sh"), Path.of("tornado-tasks/scripts/tornado-flags.sh"))) {
            if (Files.isRegularFile(p)) return p.toAbsolutePath();
        }
        throw new IllegalStateException("tornado-flags.sh not found from " + Path.of("").toAbsolutePath()
                + ": run the tests from the repository or from tornado-tasks/");
    }

    private static Path loadableLibrary() {
        for (String p : List.of("/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib64/libc.so.6")) {
            if (Files.isRegularFile(Path.of(p))) return Path.of(p);
        }
        throw new IllegalStateException("no C library found to stand in for a JNI library");
    }

    @Test
    void aBackendWhoseNativeLibraryCannotLoadIsLeftOutAndNamed(@TempDir Path sdk) throws Exception {
        Path jars = Files.createDirectories(sdk.resolve("share/java/tornado"));
        for (String jar : List.of("tornado-runtime-5.2.jar", "tornado-drivers-opencl-5.2.jar",
                "tornado-drivers-cuda-5.2.jar", "tornado-drivers-cuda-jni-5.2-libs.jar")) {
            Files.writeString(jars.resolve(jar), "");
        }
        Files.createDirectories(sdk.resolve("lib"));
        Files.copy(loadableLibrary(), sdk.resolve("lib/libtornado-opencl.so"));
        Path built = Path.of("/somewhere/else/sdk"); // the folder the argfile was generated in
        Files.writeString(sdk.resolve("tornado-argfile"), String.join("\n",
                "-Djava.library.path=" + built + "/lib",
                "--module-path .:" + built + "/share/java/tornado",
                "--add-modules ALL-SYSTEM,tornado.runtime,tornado.drivers.opencl,tornado.drivers.cuda,tornado.cufft",
                "--enable-native-access=tornado.drivers.opencl",
                "--add-exports jdk.graal.compiler/jdk.graal.compiler.nodes=tornado.runtime,tornado.drivers.cuda",
                "--add-exports=jdk.graal.compiler/jdk.graal.compiler.lir=tornado.drivers.cuda",
                "--add-opens=tornado.drivers.cuda/uk.ac.manchester.tornado.drivers.cuda=tornado.runtime",
                "--add-reads=tornado.drivers.opencl=jdk.graal.compiler", ""), StandardCharsets.UTF_8);

        Process p = new ProcessBuilder("bash", "-c", "set -euo pipefail; source \"$0\"; tornado_sdk_flags \"$1\"; "
                + "printf '%s\\n' \"${TORNADO_SDK_FLAGS[@]}\"", script().toString(), sdk.toString()).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), err);

        assertEquals("TornadoVM: left out for want of native libraries on this machine: CUDA (libtornado-cuda.so is "
                + "absent from the SDK)", err.strip());
        List<String> flags = out.lines().toList();
        String modulePath = flags.get(flags.indexOf("--module-path") + 1);
        assertEquals(jars.resolve("tornado-drivers-opencl-5.2.jar") + ":" + jars.resolve("tornado-runtime-5.2.jar"),
                modulePath, "the module path lists the SDK's jars, without '.' or the CUDA driver and its JNI jar");
        assertEquals("ALL-SYSTEM,tornado.runtime,tornado.drivers.opencl", flags.get(flags.indexOf("--add-modules") + 1));
        assertTrue(flags.contains("-Djava.library.path=" + sdk + "/lib"), "library path moved to the SDK: " + flags);
        // the present backend's module, and the class path, where our CUDA library tasks bind cuBLAS and NCCL
        assertTrue(flags.contains("--enable-native-access=tornado.drivers.opencl,ALL-UNNAMED"), flags.toString());
        assertEquals("jdk.graal.compiler/jdk.graal.compiler.nodes=tornado.runtime",
                flags.get(flags.indexOf("--add-exports") + 1), "an export keeps its targets that are present");
        assertTrue(flags.contains("--add-reads=tornado.drivers.opencl=jdk.graal.compiler"), flags.toString());
        try (Stream<String> cuda = flags.stream().filter(f -> f.contains("cuda"))) {
            assertEquals(List.of(), cuda.toList(), "nothing of the left-out backend remains");
        }
        assertFalse(flags.contains("-Dtornado.cuda.priority=100"));
    }

    @Test
    void aFolderWithoutAnArgfileIsNotAnSdk(@TempDir Path dir) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("bash", "-c", "source \"$0\"; tornado_sdk_flags \"$1\"", script().toString(),
                dir.toString()).start();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(1, p.waitFor());
        assertEquals(dir.resolve("tornado-argfile") + " is missing: " + dir + " is not a TornadoVM SDK", err.strip());
    }
}
