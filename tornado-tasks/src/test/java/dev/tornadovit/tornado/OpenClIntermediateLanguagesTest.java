package dev.tornadovit.tornado;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The SPIR-V check asks the OpenCL driver directly and sees the devices TornadoVM's OpenCL backend sees. */
class OpenClIntermediateLanguagesTest {

    @Test
    void everyOpenClDeviceOfTornadoVmIsFoundByTheDriverQuery() {
        List<OpenClIntermediateLanguages.Device> devices = OpenClIntermediateLanguages.devices();
        List<String> names = devices.stream().map(OpenClIntermediateLanguages.Device::name).toList();
        List<TornadoDevices.Found> openCl = TornadoDevices.all().stream().filter(f -> f.backend().equals("opencl")).toList();
        for (TornadoDevices.Found f : openCl) {
            String name = f.device().getPhysicalDevice().getDeviceName();
            assertTrue(names.stream().anyMatch(n -> n.equals(name) || name.contains(n) || n.contains(name)),
                    "TornadoVM's OpenCL device '" + name + "' is not among the driver's " + names);
        }
        for (OpenClIntermediateLanguages.Device d : devices) {
            assertFalse(d.name().isBlank(), devices.toString());
            assertTrue(d.version().startsWith("OpenCL "), d.toString());
        }
    }

    @Test
    void aDeviceIngestsSpirvByItsIlVersionOrTheExtension() {
        assertTrue(new OpenClIntermediateLanguages.Device("a", "OpenCL 3.0", "SPIR-V_1.2", false).ingestsSpirv());
        assertTrue(new OpenClIntermediateLanguages.Device("b", "OpenCL 1.2", "", true).ingestsSpirv());
        assertFalse(new OpenClIntermediateLanguages.Device("c", "OpenCL 3.0", "", false).ingestsSpirv());
    }
}
