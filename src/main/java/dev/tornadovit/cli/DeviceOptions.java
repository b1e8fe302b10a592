package dev.tornadovit.cli;

import dev.tornadovit.backend.Backends;
import dev.tornadovit.tensor.Backend;
import picocli.CommandLine.Option;

/** --device and --threads. */
public final class DeviceOptions {
    @Option(names = "--device", defaultValue = "cpu", paramLabel = "DEVICE",
            description = "cpu (default), reference (float64, slow), or a TornadoVM device: tornado, tornado:B:D or B:D "
                    + "(backend and device index), or a device-name substring. See the 'devices' command.")
    String device;

    @Option(names = "--threads", defaultValue = "0", paramLabel = "N",
            description = "CPU threads (default: all cores).")
    int threads;

    Backend create() {
        if (threads < 0) throw new IllegalArgumentException("--threads must be >= 0, got " + threads);
        return Backends.create(device, threads);
    }
}
