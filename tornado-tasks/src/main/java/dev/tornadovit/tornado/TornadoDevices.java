package dev.tornadovit.tornado;

import dev.tornadovit.tensor.DeviceInfo;
import uk.ac.manchester.tornado.api.TornadoBackend;
import uk.ac.manchester.tornado.api.TornadoRuntime;
import uk.ac.manchester.tornado.api.common.TornadoDevice;
import uk.ac.manchester.tornado.api.runtime.TornadoRuntimeProvider;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The TornadoVM devices of this machine and the {@code --device} strings that name them: {@code tornado} (TornadoVM's
 * default device), {@code tornado:B:D} (backend B, device D, as TornadoVM numbers them) or a case-insensitive
 * substring of a device's name (e.g. {@code pthread}, {@code H100}).
 *
 * <p>One GPU can appear once per backend (an H100 through CUDA, PTX and OpenCL). A name, and {@code tornado} when
 * TornadoVM's default device has such twins, picks the twin on the most preferred backend ({@link #BACKEND_PREFERENCE}):
 * CUDA for NVIDIA GPUs, where the cuBLAS GEMM runs; OpenCL for every other device.
 */
public final class TornadoDevices {
    /**
     * TornadoVM caps the buffers of each device at {@code -Dtornado.device.memory} (default 4 GB, whatever the device
     * has), read once when its runtime starts: ViT-S/16 at batch 128 needs more. We check every allocation against the
     * device's own memory ({@link DeviceMemory}), so unless the user set the cap, it is lifted here, before anything
     * touches the runtime; a cap the user did set is kept and honoured by our check too.
     */
    static final long USER_MEMORY_CAP;

    static {
        String cap = System.getProperty("tornado.device.memory");
        if (cap == null) System.setProperty("tornado.device.memory", "1048576GB");
        USER_MEMORY_CAP = cap == null ? 0 : parseSize(cap);
    }

    /**
     * TornadoVM's size syntax: a number of bytes, or with a K/M/G/T suffix and a B ("24GB"). Not TornadoVM's own
     * parser (RuntimeUtilities, in its runtime, which uses its options): nothing of TornadoVM may load before the cap
     * is lifted above.
     */
    static long parseSize(String size) {
        String s = size.trim().toUpperCase(Locale.ROOT);
        try {
            if (!s.endsWith("B")) return Long.parseLong(s);
            int unit = "KMGTPE".indexOf(s.charAt(s.length() - 2));
            if (unit < 0) return Long.parseLong(s.substring(0, s.length() - 1));
            return Long.parseLong(s.substring(0, s.length() - 2)) << (10 * (unit + 1));
        } catch (NumberFormatException | StringIndexOutOfBoundsException e) {
            throw new IllegalArgumentException("-Dtornado.device.memory=" + size + " is not a size: write e.g. 24GB", e);
        }
    }

    private TornadoDevices() {
    }

    /** One device with its indices. */
    public record Found(int backendIndex, int deviceIndex, TornadoDevice device, String backend) {
        public String id() {
            return "tornado:" + backendIndex + ":" + deviceIndex;
        }

        public String name() {
            return device.getPhysicalDevice().getDeviceName().trim();
        }
    }

    public static List<Found> all() {
        TornadoRuntime runtime = TornadoRuntimeProvider.getTornadoRuntime();
        List<Found> found = new ArrayList<>();
        for (int b = 0; b < runtime.getNumBackends(); b++) {
            TornadoBackend backend = runtime.getBackend(b);
            String kind = backend.getBackendType().name().toLowerCase(Locale.ROOT);
            for (int d = 0; d < backend.getNumDevices(); d++) found.add(new Found(b, d, backend.getDevice(d), kind));
        }
        return found;
    }

    /** Whether {@code device} looks like a TornadoVM device string (the provider then resolves it or explains). */
    public static boolean accepts(String device) {
        String d = device.trim().toLowerCase(Locale.ROOT);
        if (d.equals("tornado") || d.startsWith("tornado:") || BACKEND_AND_DEVICE.matcher(d).matches()) return true;
        if (d.equals("cpu") || d.equals("reference") || d.isEmpty()) return false;
        for (Found f : all()) if (f.name().toLowerCase(Locale.ROOT).contains(d)) return true;
        return false;
    }

    /** A bare "B:D" (backend and device index), the same as "tornado:B:D". */
    private static final java.util.regex.Pattern BACKEND_AND_DEVICE = java.util.regex.Pattern.compile("\\d+:\\d+");

    /** Backends from most to least preferred for one physical device; others come last. */
    static final List<String> BACKEND_PREFERENCE = List.of("cuda", "ptx", "opencl", "spirv");

    private static int preference(Found f) {
        int i = BACKEND_PREFERENCE.indexOf(f.backend());
        return i < 0 ? BACKEND_PREFERENCE.size() : i;
    }

    /** Of the devices named {@code name}, the one on the most preferred backend. */
    private static Found preferred(List<Found> all, String name) {
        return all.stream().filter(f -> f.name().equals(name)).min(java.util.Comparator.comparingInt(TornadoDevices::preference))
                .orElseThrow();
    }

    public static Found resolve(String device) {
        String d = BACKEND_AND_DEVICE.matcher(device.trim()).matches() ? "tornado:" + device.trim() : device.trim();
        List<Found> all = all();
        if (all.isEmpty()) throw new IllegalArgumentException("TornadoVM found no device (no OpenCL, CUDA, PTX or SPIR-V driver)");
        if (d.equalsIgnoreCase("tornado")) {
            TornadoDevice def = TornadoRuntimeProvider.getTornadoRuntime().getDefaultDevice();
            for (Found f : all) {
                if (f.device() == def || f.device().getDeviceName().equals(def.getDeviceName())) return preferred(all, f.name());
            }
            return all.getFirst();
        }
        if (d.toLowerCase(Locale.ROOT).startsWith("tornado:")) {
            String[] parts = d.substring("tornado:".length()).split(":");
            try {
                if (parts.length == 2) {
                    int b = Integer.parseInt(parts[0]), i = Integer.parseInt(parts[1]);
                    for (Found f : all) if (f.backendIndex() == b && f.deviceIndex() == i) return f;
                    throw new IllegalArgumentException("there is no TornadoVM device " + d + "; devices: " + list(all));
                }
            } catch (NumberFormatException e) {
                // falls through to the explanation below
            }
            throw new IllegalArgumentException("'" + d + "' is not a TornadoVM device: use tornado, tornado:B:D or B:D "
                    + "(backend and device index) or part of a device name; devices: " + list(all));
        }
        List<Found> matches = all.stream().filter(f -> f.name().toLowerCase(Locale.ROOT).contains(d.toLowerCase(Locale.ROOT))).toList();
        if (matches.isEmpty()) throw new IllegalArgumentException("no TornadoVM device name contains '" + d + "'; devices: " + list(all));
        return preferred(all, matches.getFirst().name());
    }

    private static String list(List<Found> all) {
        StringBuilder s = new StringBuilder();
        for (Found f : all) s.append(s.isEmpty() ? "" : ", ").append(f.id()).append(" (").append(f.backend()).append(": ").append(f.name()).append(')');
        return s.toString();
    }

    public static List<DeviceInfo> infos() {
        List<DeviceInfo> out = new ArrayList<>();
        for (Found f : all()) {
            // the name carries the GEMM strategy that 'auto' picks there: the devices command prints it as it is
            out.add(new DeviceInfo(f.id(), f.backend(), f.name() + " (GEMM: " + GemmStrategy.best(f).label() + ")",
                    f.device().getMaxGlobalMemory(),
                    f.device().getPhysicalDevice().getDeviceMaxComputeUnits()));
        }
        return out;
    }

    /**
     * Lists the devices (id, backend, memory, compute units, the GEMM strategy {@code auto} picks, name); with
     * {@code --ids} only their ids, one a line (scripts/tornadovm.sh tests each).
     */
    public static void main(String[] args) {
        List<Found> all = all();
        if (all.isEmpty()) {
            System.err.println("TornadoVM found no device");
            System.exit(1);
        }
        boolean idsOnly = args.length > 0 && args[0].equals("--ids");
        for (Found f : all) {
            if (idsOnly) System.out.println(f.id());
            else System.out.printf(Locale.ROOT, "%-12s %-7s %8.1fGB %5d  gemm=%-7s %s%n", f.id(), f.backend(),
                    f.device().getMaxGlobalMemory() / 1e9, f.device().getPhysicalDevice().getDeviceMaxComputeUnits(),
                    GemmStrategy.best(f).label(), f.name());
        }
    }
}
