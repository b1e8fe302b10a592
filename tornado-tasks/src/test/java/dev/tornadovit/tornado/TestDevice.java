package dev.tornadovit.tornado;

/**
 * The TornadoVM device the tests run on: the system property {@code tornadovit.test.device} (scripts/tornadovm.sh
 * runs the suite once per device), TornadoVM's default device otherwise.
 */
public final class TestDevice {
    private TestDevice() {
    }

    public static String spec() {
        return System.getProperty("tornadovit.test.device", "tornado");
    }

    public static TornadoBackend backend() {
        requireNoBailout();
        return new TornadoBackend(spec());
    }

    /** A backend on the test device whose matrix products use {@code gemm}. */
    static TornadoBackend backend(GemmStrategy gemm) {
        requireNoBailout();
        return new TornadoBackend(TornadoDevices.resolve(spec()), 0, gemm);
    }

    private static void requireNoBailout() {
        if (!"false".equalsIgnoreCase(System.getProperty("tornado.recover.bailout"))) {
            throw new IllegalStateException("run the TornadoVM tests with -Dtornado.recover.bailout=false: otherwise a "
                    + "kernel that cannot be compiled runs silently as Java and its test proves nothing");
        }
    }
}
