package dev.tornadovit.tornado;

import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.BackendProvider;
import dev.tornadovit.tensor.DeviceInfo;

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
    public Backend create(String device) {
        return new TornadoBackend(device);
    }

    @Override
    public List<DeviceInfo> devices() {
        return TornadoDevices.infos();
    }
}
