package dev.tornadovit.tensor;

/**
 * A device a backend can run on.
 *
 * @param id           what to pass to {@code --device}
 * @param backend      e.g. "cpu", "opencl", "ptx", "spirv"
 * @param memoryBytes  global memory (for the CPU: the JVM's maximum heap)
 */
public record DeviceInfo(String id, String backend, String name, long memoryBytes, int computeUnits) {
}
