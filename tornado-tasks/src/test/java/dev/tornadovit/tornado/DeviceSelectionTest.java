package dev.tornadovit.tornado;

import dev.tornadovit.backend.Backends;
import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.BackendProvider;
import dev.tornadovit.tensor.DeviceInfo;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code --device} finds this module's backend through its {@link BackendProvider} service entry. */
class DeviceSelectionTest {

    @Test
    void theTornadoProviderIsFoundByServiceLoader() {
        List<BackendProvider> providers = Backends.providers();
        assertEquals(1, providers.size(), providers.toString());
        assertInstanceOf(TornadoBackendProvider.class, providers.getFirst());
        assertEquals("tornado", providers.getFirst().name());
    }

    @Test
    void deviceStringsPickTheBackend() {
        try (Backend cpu = Backends.create("cpu", 1)) {
            assertInstanceOf(CpuBackend.class, cpu);
        }
        try (Backend device = Backends.create(TestDevice.spec(), 0)) {
            assertInstanceOf(TornadoBackend.class, device);
            assertEquals(TornadoDevices.resolve(TestDevice.spec()).id(), ((TornadoBackend) device).device().id());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Backends.create("tpu9", 0));
        assertTrue(e.getMessage().contains("unknown device 'tpu9'") && e.getMessage().contains("'devices' command"),
                e.getMessage());
    }

    @Test
    void theDevicesListHasTheCpuThenTheTornadoDevices() {
        List<DeviceInfo> devices = Backends.devices();
        assertEquals("cpu", devices.getFirst().id());
        assertEquals(TornadoDevices.infos().size() + 1, devices.size(), devices.toString());
        assertTrue(devices.stream().anyMatch(d -> d.id().startsWith("tornado:")), devices.toString());
    }
}
