package dev.tornadovit.tornado;

import uk.ac.manchester.tornado.api.ImmutableTaskGraph;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoTaskGraphInterface;

import java.lang.reflect.Field;
import java.util.Map;

/**
 * Lets a task graph use device buffers that another graph, in another execution plan, allocated.
 *
 * <p>Why: TornadoVM shares buffers between graphs through {@code persistOnDevice}/{@code consumeFromDevice}, but a
 * graph takes them from the graph its plan ran last, so all graphs must sit in one plan built up front. The backend
 * records graphs lazily, one per model part, each in its own plan, so it points a graph at the graph that owns the
 * buffers and asks TornadoVM to adopt them ({@link TornadoTaskGraphInterface#setLastExecutedTaskGraph} and
 * {@link TornadoTaskGraphInterface#updatePersistedObjectState}, both public API). The only internal step is reaching
 * the graph behind an {@link ImmutableTaskGraph}, which needs
 * {@code --add-opens tornado.api/uk.ac.manchester.tornado.api=ALL-UNNAMED} (scripts/tornadovm.sh adds it).
 */
final class GraphLinks {
    private static final Field IMMUTABLE_GRAPH, GRAPH_IMPL;

    static {
        try {
            IMMUTABLE_GRAPH = ImmutableTaskGraph.class.getDeclaredField("taskGraph");
            IMMUTABLE_GRAPH.setAccessible(true);
            GRAPH_IMPL = TaskGraph.class.getDeclaredField("taskGraphImpl");
            GRAPH_IMPL.setAccessible(true);
        } catch (NoSuchFieldException e) {
            throw new IllegalStateException("this TornadoVM version keeps its task graphs differently; the TornadoViT "
                    + "backend needs TornadoVM 5.x (jdk25 branch)", e);
        } catch (RuntimeException e) {
            throw new IllegalStateException("cannot reach TornadoVM's task graphs: start the JVM with "
                    + "--add-opens tornado.api/uk.ac.manchester.tornado.api=ALL-UNNAMED (./tornadovit and "
                    + "scripts/tornadovm.sh do)", e);
        }
    }

    private GraphLinks() {
    }

    static TornadoTaskGraphInterface implementation(ImmutableTaskGraph graph) {
        try {
            return (TornadoTaskGraphInterface) GRAPH_IMPL.get(IMMUTABLE_GRAPH.get(graph));
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * The CUDA graph TornadoVM captured for {@code graph} at its first run (its {@code withCUDAGraph} plan), or 0 when
     * there is not exactly one or this TornadoVM keeps them elsewhere. Reaching it needs {@code --add-opens} of
     * {@code tornado.runtime}'s {@code runtime}, {@code runtime.tasks} and {@code runtime.interpreter} packages
     * (tornado-flags.sh adds them).
     */
    static long capturedCudaGraph(ImmutableTaskGraph graph) {
        try {
            Object impl = implementation(graph);
            Object vm = field(impl.getClass(), "vm").get(impl);
            if (vm == null) return 0;
            Object[] interpreters = (Object[]) field(vm.getClass(), "tornadoVMInterpreters").get(vm);
            if (interpreters == null || interpreters.length != 1) return 0;
            Map<?, ?> handles = (Map<?, ?>) field(interpreters[0].getClass(), "executionGraphHandles").get(interpreters[0]);
            return handles.size() == 1 && handles.values().iterator().next() instanceof Long handle ? handle : 0;
        } catch (ReflectiveOperationException | RuntimeException e) {
            return 0;
        }
    }

    private static Field field(Class<?> type, String name) throws NoSuchFieldException {
        Field f = type.getDeclaredField(name);
        f.setAccessible(true);
        return f;
    }

    /**
     * Makes {@code consumer} use the device buffers of the arrays it declared with
     * {@code consumeFromDevice(owner's name, ...)}. Called in the owners' creation order before the consumer's first
     * run; the owner pulled last stays the consumer's "last executed" graph, so TornadoVM's own re-sync at each run
     * changes nothing.
     */
    static void adopt(ImmutableTaskGraph consumer, ImmutableTaskGraph owner) {
        TornadoTaskGraphInterface c = implementation(consumer);
        c.setLastExecutedTaskGraph(implementation(owner));
        c.updatePersistedObjectState();
    }
}
