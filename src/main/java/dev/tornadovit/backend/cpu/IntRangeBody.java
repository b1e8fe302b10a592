package dev.tornadovit.backend.cpu;

/** The body of a {@link CpuParallel#parallelFor} loop: processes the indices {@code [start, end)}. */
@FunctionalInterface
public interface IntRangeBody {
    void run(int start, int end);
}
