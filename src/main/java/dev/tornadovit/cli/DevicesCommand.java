package dev.tornadovit.cli;

import dev.tornadovit.backend.Backends;
import dev.tornadovit.tensor.DeviceInfo;
import picocli.CommandLine.Command;

import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "devices", mixinStandardHelpOptions = true, description = "List the devices TornadoViT can run on.")
final class DevicesCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        System.out.printf(Locale.ROOT, "%-14s %-8s %10s %6s  %s%n", "--device", "backend", "memory", "units", "name");
        for (DeviceInfo d : Backends.devices()) {
            System.out.printf(Locale.ROOT, "%-14s %-8s %8.1fGB %6d  %s%n", d.id(), d.backend(), d.memoryBytes() / 1e9,
                    d.computeUnits(), d.name());
        }
        if (Backends.providers().isEmpty()) {
            System.out.println();
            System.out.println("TornadoVM is not enabled: GPUs (OpenCL, CUDA/PTX, SPIR-V) and FPGAs are not listed. To enable it, build "
                    + "TornadoVM, set TORNADOVM_HOME to its SDK folder and start through ./tornadovit (README: 'GPUs and other devices').");
        }
        return 0;
    }
}
