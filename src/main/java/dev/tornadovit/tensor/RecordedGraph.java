package dev.tornadovit.tensor;

/**
 * A fixed sequence of operations on fixed tensors, made by {@link Backend#record} and run as one unit by {@link #run}.
 *
 * <p>The handle is the graph's identity: a caller keeps one per distinct sequence (per layer and pass, batch size,
 * mode, input tensor...) in a field and runs it every step. The CPU backends run the body on every {@code run()}; a
 * TornadoVM backend runs it once, at the first {@code run()}, to record its operations into task graphs, and replays
 * those afterwards without calling the body. So a body must not read host values that change between runs: anything
 * that changes per step lives in a tensor. A handle belongs to the backend that made it and fails with a clear error
 * once that backend is closed.
 *
 * <pre>{@code
 * RecordedGraph block = backend.record("block0.forward", () -> block0.forward(x, batch));
 * for (...) block.run();
 * }</pre>
 */
@FunctionalInterface
public interface RecordedGraph {

    /**
     * Runs the graph's operations; once it returns, downloads and later graphs see their results. The device may
     * still be running them ({@link Backend#synchronize} waits).
     */
    void run();
}
