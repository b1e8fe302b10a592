package dev.tornadovit.tensor;

import java.util.List;

/**
 * A source of {@link Backend}s other than the built-in CPU ones, found with {@link java.util.ServiceLoader} (a
 * provider lists itself in {@code META-INF/services/dev.tornadovit.tensor.BackendProvider}) so the core never imports
 * an accelerator runtime. The TornadoVM module (tornado-tasks/) provides one.
 */
public interface BackendProvider {

    /** Short name, e.g. "tornado". */
    String name();

    /** Whether this provider understands a {@code --device} string such as "tornado", "tornado:0:1" or "gpu". */
    boolean accepts(String device);

    /**
     * A backend on {@code device} whose matrix products run in {@code precision}; a precision the device cannot run is
     * refused with a one-line {@link IllegalArgumentException} naming the device and the precisions it can run.
     */
    Backend create(String device, Precision precision);

    /** The devices this provider can run on, for the {@code devices} command. */
    List<DeviceInfo> devices();
}
