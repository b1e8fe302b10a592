package dev.tornadovit.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * OpenBLAS's {@code cblas_sgemm}, called in-process through the Foreign Function API: the peer that
 * {@link MatmulBench} times right next to our kernels, call by call, so that both see the same machine
 * (on a shared machine, a peer timed a minute later in another process mostly measures the neighbours).
 *
 * <p>Benchmarks and tests only; the library is never needed to train. Java arrays are handed to OpenBLAS without a
 * copy ({@link Linker.Option#critical critical} calls may read the heap), so a call costs what OpenBLAS costs.
 */
public final class OpenBlas {

    /** Where Debian's packages put it: libopenblas0-pthread first (what PyTorch uses here), then the others. */
    static final List<String> DEFAULT_PATHS = List.of(
            "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
            "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
            "/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0",
            "/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
            "/usr/lib/aarch64-linux-gnu/libopenblas.so.0");

    /** What to install when no library is found. */
    public static final String INSTALL_HINT = "apt-get install libopenblas0-pthread, or pass the library's path";

    private static final int ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112;

    /**
     * OpenBLAS's idle threads spin (sched_yield) for 2^n TSC cycles after a call before they sleep; its default
     * (n = 28, ~0.1 s) would take a core from whatever runs next, here our next call. 2^17 cycles is about the
     * 50 µs our pool's workers spin ({@code CpuParallel}), so both sides wait for the next call alike. Read once, when
     * the library loads; a value the user set is kept.
     */
    static final String THREAD_TIMEOUT_VARIABLE = "OPENBLAS_THREAD_TIMEOUT";
    static final int THREAD_TIMEOUT_EXPONENT = 17;

    private final Path path;
    private final MethodHandle sgemm;
    private final MethodHandle setThreads;
    private final String config;

    private OpenBlas(Path path) {
        this.path = path;
        Linker linker = Linker.nativeLinker();
        setEnvironmentDefault(linker, THREAD_TIMEOUT_VARIABLE, Integer.toString(THREAD_TIMEOUT_EXPONENT));
        SymbolLookup library = SymbolLookup.libraryLookup(path, Arena.global());
        MemorySegment sgemmSymbol = library.find("cblas_sgemm").orElseThrow(() -> new IllegalArgumentException(
                path + " has no cblas_sgemm symbol: expected an OpenBLAS library (" + INSTALL_HINT + ")"));
        sgemm = linker.downcallHandle(sgemmSymbol,
                FunctionDescriptor.ofVoid(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_FLOAT,
                        ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, JAVA_FLOAT, ADDRESS, JAVA_INT),
                Linker.Option.critical(true));
        setThreads = library.find("openblas_set_num_threads")
                .map(s -> linker.downcallHandle(s, FunctionDescriptor.ofVoid(JAVA_INT)))
                .orElse(null);
        config = library.find("openblas_get_config")
                .map(s -> {
                    try {
                        MemorySegment text = (MemorySegment) linker.downcallHandle(s, FunctionDescriptor.of(ADDRESS))
                                .invokeExact();
                        return text.reinterpret(256).getString(0);
                    } catch (Throwable t) {
                        return "OpenBLAS (configuration unknown: " + t + ")";
                    }
                })
                .orElse("a CBLAS library");
    }

    /**
     * Loads OpenBLAS from {@code path}, or from the first of Debian's usual places when {@code path} is null; empty when
     * none is there.
     *
     * @throws IllegalArgumentException when {@code path} is given but is not a loadable OpenBLAS
     */
    public static Optional<OpenBlas> load(String path) {
        if (path != null) {
            Path p = Path.of(path);
            if (!Files.isReadable(p)) {
                throw new IllegalArgumentException("OpenBLAS library " + p + ": no such readable file");
            }
            return Optional.of(new OpenBlas(p));
        }
        for (String candidate : DEFAULT_PATHS) {
            Path p = Path.of(candidate);
            if (Files.isReadable(p)) return Optional.of(new OpenBlas(p));
        }
        return Optional.empty();
    }

    /** Sets a variable of this process's C environment unless it is set already (Java has no setenv). */
    private static void setEnvironmentDefault(Linker linker, String name, String value) {
        MethodHandle setenv = linker.defaultLookup().find("setenv")
                .map(s -> linker.downcallHandle(s, FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT)))
                .orElse(null);
        if (setenv == null) return;
        try (Arena arena = Arena.ofConfined()) {
            int ignored = (int) setenv.invokeExact(arena.allocateFrom(name), arena.allocateFrom(value), 0);
        } catch (Throwable t) {
            throw new IllegalStateException("setenv(" + name + ") failed", t);
        }
    }

    /** The C environment's value of a variable (what OpenBLAS read), or null; Java's own copy misses setenv. */
    static String environment(String name) {
        Linker linker = Linker.nativeLinker();
        MethodHandle getenv = linker.defaultLookup().find("getenv")
                .map(s -> linker.downcallHandle(s, FunctionDescriptor.of(ADDRESS, ADDRESS)))
                .orElse(null);
        if (getenv == null) return System.getenv(name);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment value = (MemorySegment) getenv.invokeExact(arena.allocateFrom(name));
            return value.equals(MemorySegment.NULL) ? null : value.reinterpret(4096).getString(0);
        } catch (Throwable t) {
            throw new IllegalStateException("getenv(" + name + ") failed", t);
        }
    }

    /** How long OpenBLAS's idle threads spin, as set in {@value #THREAD_TIMEOUT_VARIABLE} (2^n cycles). */
    public String threadTimeout() {
        String value = environment(THREAD_TIMEOUT_VARIABLE);
        return THREAD_TIMEOUT_VARIABLE + "=" + (value == null ? "unset" : value);
    }

    public Path path() {
        return path;
    }

    /** OpenBLAS's own description of its build (version, kernel, thread model). */
    public String config() {
        return config;
    }

    /** Sets OpenBLAS's thread count, when the library can. */
    public void setThreads(int threads) {
        if (setThreads == null) return;
        try {
            setThreads.invokeExact(threads);
        } catch (Throwable t) {
            throw new IllegalStateException("openblas_set_num_threads failed", t);
        }
    }

    /**
     * Row-major {@code C[M,N] = alpha·op(A)·op(B) + beta·C}, the operands read from the start of each array, with
     * CBLAS's meaning of every argument.
     */
    public void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha, float[] a, int lda,
                      float[] b, int ldb, float beta, float[] c, int ldc) {
        try {
            sgemm.invokeExact(ROW_MAJOR, transA ? TRANS : NO_TRANS, transB ? TRANS : NO_TRANS, m, n, k, alpha,
                    MemorySegment.ofArray(a), lda, MemorySegment.ofArray(b), ldb, beta, MemorySegment.ofArray(c), ldc);
        } catch (Throwable t) {
            throw new IllegalStateException("cblas_sgemm failed", t);
        }
    }

    /** y[M,N] = x[M,K]·w[N,K]ᵀ: our linear layer's forward product (without the bias). */
    public void linearForward(float[] x, float[] w, float[] y, int m, int k, int n) {
        sgemm(false, true, m, n, k, 1f, x, k, w, k, 0f, y, n);
    }

    /** dx[M,K] = dy[M,N]·w[N,K]. */
    public void linearBackwardInput(float[] dy, float[] w, float[] dx, int m, int k, int n) {
        sgemm(false, false, m, k, n, 1f, dy, n, w, k, 0f, dx, k);
    }

    /** dw[N,K] += dy[M,N]ᵀ·x[M,K]. */
    public void linearBackwardWeight(float[] dy, float[] x, float[] dw, int m, int k, int n) {
        sgemm(true, false, n, k, m, 1f, dy, n, x, k, 1f, dw, k);
    }
}
