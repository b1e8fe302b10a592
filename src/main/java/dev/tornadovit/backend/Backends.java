package dev.tornadovit.backend;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.backend.cpu.CpuParallel;
import dev.tornadovit.backend.reference.ReferenceBackend;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.BackendProvider;
import dev.tornadovit.tensor.DeviceInfo;
import dev.tornadovit.tensor.Precision;

import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;

/** Turns a {@code --device} string into a backend: "cpu", "reference", or whatever an installed provider accepts. */
public final class Backends {
    private Backends() {
    }

    public static List<BackendProvider> providers() {
        List<BackendProvider> list = new ArrayList<>();
        ServiceLoader.load(BackendProvider.class).forEach(list::add);
        return list;
    }

    /** An fp32 backend; see {@link #create(String, int, Precision)}. */
    public static Backend create(String device, int threads) {
        return create(device, threads, Precision.FP32);
    }

    /**
     * @param threads   CPU threads for the CPU backend (0: all cores)
     * @param precision the matrix products' operand format: the CPU emulates tf32 and bf16 (for reference and
     *                  testing, no faster); "reference" runs fp32 only; a TornadoVM device runs what its matrix
     *                  products can. A precision the device cannot run is refused in one line, never replaced.
     */
    public static Backend create(String device, int threads, Precision precision) {
        String d = device == null ? "cpu" : device.trim();
        if (d.equalsIgnoreCase("cpu")) return new CpuBackend(Math.max(0, threads), precision);
        if (d.equalsIgnoreCase("reference")) return new ReferenceBackend(precision);
        for (BackendProvider p : providers()) {
            if (p.accepts(d)) return p.create(d, precision);
        }
        throw new IllegalArgumentException("unknown device '" + device + "'. Devices: 'cpu', 'reference' (float64, slow)"
                + (providers().isEmpty()
                ? "; TornadoVM devices ('tornado', 'tornado:B:D', a name substring) need the TornadoVM backend: "
                + "set TORNADOVM_HOME to a TornadoVM SDK and start through ./tornadovit (see README, 'GPUs and other devices')"
                : ", or one listed by the 'devices' command"));
    }

    /** The CPU and every provider's devices. */
    public static List<DeviceInfo> devices() {
        List<DeviceInfo> all = new ArrayList<>();
        all.add(new DeviceInfo("cpu", "cpu", System.getProperty("os.arch") + " (" + CpuParallel.threads() + " threads, Java Vector API)",
                Runtime.getRuntime().maxMemory(), Runtime.getRuntime().availableProcessors()));
        for (BackendProvider p : providers()) all.addAll(p.devices());
        return all;
    }
}
