package dev.tornadovit.cli;

import dev.tornadovit.backend.Backends;
import dev.tornadovit.distributed.LocalRanks;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Precision;
import picocli.CommandLine.Option;

/** --device and --threads. */
public final class DeviceOptions {
    @Option(names = "--device", defaultValue = "cpu", paramLabel = "DEVICE",
            description = "cpu (default), reference (float64, slow), or a TornadoVM device: tornado, tornado:B:D or B:D "
                    + "(backend and device index), or a device-name substring. See the 'devices' command. Under "
                    + "mpirun a comma-separated list gives each rank on a host its own device.")
    String device;

    @Option(names = "--threads", defaultValue = "0", paramLabel = "N",
            description = "CPU threads (default: all cores; under mpirun, the host's cores shared out over its ranks).")
    int threads;

    Backend create() {
        return create(Precision.FP32);
    }

    /** The backend, its matrix products in {@code precision} (refused in one line where the device cannot run it). */
    Backend create(Precision precision) {
        if (threads < 0) throw new IllegalArgumentException("--threads must be >= 0, got " + threads);
        // Under mpirun: this rank's entry of a --device list, and by default its share of the host's cores.
        return Backends.create(LocalRanks.device(device, System.getenv()),
                LocalRanks.threads(threads, Runtime.getRuntime().availableProcessors(), System.getenv()), precision);
    }
}
