package dev.tornadovit.tornado;

import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.BackendProvider;
import dev.tornadovit.tensor.DeviceInfo;
import dev.tornadovit.tensor.Precision;

import java.util.List;

/** Makes TornadoVM devices available to {@code --device} and the {@code devices} command (found by ServiceLoader). */
public final class TornadoBackendProvider implements BackendProvider {
    @Override
    public String name() {
        return "tornado";
    }

    @Override
    public boolean accepts(String device) {
        return TornadoDevices.accepts(device);
    }

    @Override
    public Backend create(String device, Precision precision) {
        return new TornadoBackend(device, precision);
    }

    @Override
    public List<DeviceInfo> devices() {
        return TornadoDevices.infos();
    }
}
