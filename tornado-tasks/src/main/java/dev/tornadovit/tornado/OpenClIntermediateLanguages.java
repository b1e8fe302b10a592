package dev.tornadovit.tornado;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Which OpenCL devices of this machine ingest SPIR-V: TornadoVM's SPIR-V backend hands its kernels to an OpenCL driver
 * as SPIR-V intermediate language ({@code clCreateProgramWithIL}), which a device accepts only if it reports an IL
 * version ({@code CL_DEVICE_IL_VERSION}, OpenCL 2.1+) or the {@code cl_khr_il_program} extension. Asked straight from
 * the OpenCL ICD loader ({@code libOpenCL.so.1}) through Java's foreign-function API, without TornadoVM, so that the
 * answer holds for an SDK built without the SPIR-V backend.
 *
 * <p>{@code java -cp ... dev.tornadovit.tornado.OpenClIntermediateLanguages} prints one line per device.
 */
public final class OpenClIntermediateLanguages {
    private static final int CL_SUCCESS = 0, CL_PLATFORM_NOT_FOUND_KHR = -1001;
    private static final long CL_DEVICE_TYPE_ALL = 0xFFFFFFFFL;
    private static final int CL_DEVICE_NAME = 0x102B, CL_DEVICE_VERSION = 0x102F, CL_DEVICE_EXTENSIONS = 0x1030;
    private static final int CL_DEVICE_IL_VERSION = 0x105B;

    /** One OpenCL device: its name, OpenCL version, IL versions (empty: none) and whether it lists cl_khr_il_program. */
    public record Device(String name, String version, String ilVersions, boolean ilProgramExtension) {
        /** Whether TornadoVM's SPIR-V backend could hand this device its kernels. */
        public boolean ingestsSpirv() {
            return ilVersions.contains("SPIR-V") || ilProgramExtension;
        }
    }

    private OpenClIntermediateLanguages() {
    }

    /**
     * The OpenCL devices the ICD loader finds; empty when it finds no platform.
     *
     * @throws IllegalStateException when libOpenCL.so.1 is missing or a query fails
     */
    public static List<Device> devices() {
        Linker linker = Linker.nativeLinker();
        SymbolLookup cl;
        try {
            cl = SymbolLookup.libraryLookup("libOpenCL.so.1", Arena.global());
        } catch (IllegalArgumentException e) {
            throw new IllegalStateException("no OpenCL ICD loader (libOpenCL.so.1) on this machine", e);
        }
        MethodHandle platformIds = linker.downcallHandle(cl.find("clGetPlatformIDs").orElseThrow(),
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
        MethodHandle deviceIds = linker.downcallHandle(cl.find("clGetDeviceIDs").orElseThrow(),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS));
        MethodHandle deviceInfo = linker.downcallHandle(cl.find("clGetDeviceInfo").orElseThrow(),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS));
        List<Device> out = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment count = arena.allocate(JAVA_INT);
            int status = (int) platformIds.invokeExact(0, MemorySegment.NULL, count);
            if (status == CL_PLATFORM_NOT_FOUND_KHR) return out;
            check(status, "clGetPlatformIDs");
            int platforms = count.get(JAVA_INT, 0);
            MemorySegment platformList = arena.allocate(ADDRESS, platforms);
            check((int) platformIds.invokeExact(platforms, platformList, count), "clGetPlatformIDs");
            for (int p = 0; p < platforms; p++) {
                MemorySegment platform = platformList.getAtIndex(ADDRESS, p);
                int found = (int) deviceIds.invokeExact(platform, CL_DEVICE_TYPE_ALL, 0, MemorySegment.NULL, count);
                if (found != CL_SUCCESS) continue; // a platform without devices
                int devices = count.get(JAVA_INT, 0);
                MemorySegment deviceList = arena.allocate(ADDRESS, devices);
                check((int) deviceIds.invokeExact(platform, CL_DEVICE_TYPE_ALL, devices, deviceList, MemorySegment.NULL),
                        "clGetDeviceIDs");
                for (int d = 0; d < devices; d++) {
                    MemorySegment device = deviceList.getAtIndex(ADDRESS, d);
                    String extensions = info(deviceInfo, arena, device, CL_DEVICE_EXTENSIONS);
                    String version = info(deviceInfo, arena, device, CL_DEVICE_VERSION);
                    // OpenCL 1.x devices do not know the IL-version query; they answer CL_INVALID_VALUE
                    String il = version.startsWith("OpenCL 1.") ? "" : info(deviceInfo, arena, device, CL_DEVICE_IL_VERSION);
                    out.add(new Device(info(deviceInfo, arena, device, CL_DEVICE_NAME), version, il.strip(),
                            List.of(extensions.split(" ")).contains("cl_khr_il_program")));
                }
            }
        } catch (Throwable e) {
            if (e instanceof RuntimeException r) throw r;
            throw new IllegalStateException("OpenCL query failed: " + e, e);
        }
        return out;
    }

    private static String info(MethodHandle deviceInfo, Arena arena, MemorySegment device, int what) throws Throwable {
        MemorySegment size = arena.allocate(JAVA_LONG);
        int status = (int) deviceInfo.invokeExact(device, what, 0L, MemorySegment.NULL, size);
        if (status != CL_SUCCESS) return "";
        long bytes = size.get(JAVA_LONG, 0);
        if (bytes == 0) return "";
        MemorySegment value = arena.allocate(bytes);
        check((int) deviceInfo.invokeExact(device, what, bytes, value, MemorySegment.NULL), "clGetDeviceInfo");
        return value.getString(0);
    }

    private static void check(int status, String call) {
        if (status != CL_SUCCESS) throw new IllegalStateException(call + " failed: OpenCL error " + status);
    }

    public static void main(String[] args) {
        List<Device> devices = devices();
        if (devices.isEmpty()) System.out.println("no OpenCL platform found");
        for (Device d : devices) {
            System.out.printf("%-48s %-24s IL: %-20s cl_khr_il_program: %-3s SPIR-V backend: %s%n", d.name(),
                    d.version(), d.ilVersions().isEmpty() ? "none" : d.ilVersions(), d.ilProgramExtension() ? "yes" : "no",
                    d.ingestsSpirv() ? "could run" : "cannot run");
        }
    }
}
