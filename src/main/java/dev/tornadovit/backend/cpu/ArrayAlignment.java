package dev.tornadovit.backend.cpu;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * Where a Java array's elements lie in memory, modulo a vector's size, so that {@link Gemm} can start its packed B
 * on a vector boundary. Java aligns arrays to 8 bytes only and does not say where one starts; the micro-kernel's
 * 32-byte loads of B then straddle cache lines at three of the four possible offsets, a few per cent of a GEMM.
 *
 * <p>The address comes from {@code memset(p, 0, 0)}, which writes nothing and returns p, called as a
 * {@linkplain Linker.Option#critical(boolean) critical} downcall that passes the array itself (no copy). It is valid
 * only until the garbage collector next moves the array; a stale answer costs speed, never correctness, since
 * callers only use it to choose where in their own buffer to start. Without native access for this module (the
 * {@code --enable-native-access} flag), or without a C library, every answer is 0 and nothing is called.
 */
final class ArrayAlignment {

    /**
     * memset(p, c, n) returning p as a number; null when it cannot be called. Deliberately not final: C2 then calls
     * the downcall out of line instead of inlining its adapters into every caller. Inlined into the GEMM, which the
     * attention's loop inlines too, they can push that loop's compiled size past C2's budget, and its softmax vectors
     * are then left as objects (allocating every step, several times slower).
     */
    @SuppressWarnings("FieldMayBeFinal")
    private static MethodHandle memset = findMemset();

    private ArrayAlignment() {
    }

    private static MethodHandle findMemset() {
        // Checked first so that a library user who did not grant native access gets no JVM warning, only no alignment.
        if (!ArrayAlignment.class.getModule().isNativeAccessEnabled()) return null;
        try {
            Linker linker = Linker.nativeLinker();
            return linker.defaultLookup().find("memset")
                    .map(symbol -> linker.downcallHandle(symbol, FunctionDescriptor.of(JAVA_LONG, ADDRESS, JAVA_INT,
                            JAVA_LONG), Linker.Option.critical(true)))
                    .orElse(null);
        } catch (RuntimeException | LinkageError e) {
            return null;
        }
    }

    /** Whether answers are real addresses (native access granted and memset found). */
    static boolean available() {
        return memset != null;
    }

    /**
     * How many floats to skip from the start of {@code array} (a segment over a float[]) so that the element there
     * starts on a multiple of {@code bytes} (a power of two, at least 4): 0 to bytes/4 − 1; 0 when not
     * {@link #available()}.
     */
    static int floatsToAlign(MemorySegment array, int bytes) {
        if (memset == null) return 0;
        long address;
        try {
            address = (long) memset.invokeExact(array, 0, 0L);
        } catch (Throwable t) {
            return 0;
        }
        return (int) ((-address & (bytes - 1)) >>> 2);
    }
}
