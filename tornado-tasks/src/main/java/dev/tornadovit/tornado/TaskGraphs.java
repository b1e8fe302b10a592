package dev.tornadovit.tornado;

import dev.tornadovit.tensor.RecordedGraph;
import uk.ac.manchester.tornado.api.GridScheduler;
import uk.ac.manchester.tornado.api.ImmutableTaskGraph;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static dev.tornadovit.tornado.Launches.task;

/**
 * {@link TornadoBackend}'s task graphs: {@link #record} makes a {@link RecordedGraph} whose first run runs the body
 * with every operation appending a {@link Task}, compiles the tasks into TornadoVM task graphs and runs them; later
 * runs replay the compiled graphs without the body. An operation submitted outside any graph runs at once as a graph
 * of its own, cached by its tasks' keys.
 */
final class TaskGraphs {
    /** The graphs recorded so far (a body without operations too), closed with the backend. */
    private final List<Recording> recordings = new ArrayList<>();
    private final Map<String, CompiledGraph> singleOps = new HashMap<>();
    private final TornadoBackend backend;
    private final DeviceMemory memory;
    private List<Task> recording;
    private int graphRuns;
    private GraphProfile profile;
    private boolean closed;

    /**
     * A recorded graph: one or more TornadoVM task graphs run in order. TornadoVM's graph holds at most 1024 nodes
     * (a task, its arguments, their transfers; it does not grow), so a long body — an optimizer step over every
     * parameter, zeroing every activation gradient — is cut into parts of at most {@link #PART_NODES}.
     */
    static final class CompiledGraph {
        final String label;
        final List<Part> parts;
        final int taskCount;
        /** Tasks per kernel name. */
        final Map<String, Integer> kernels = new HashMap<>();

        CompiledGraph(String label, List<Part> parts, List<Task> tasks) {
            this.label = label;
            this.parts = parts;
            this.taskCount = parts.stream().mapToInt(p -> p.taskCount).sum();
            for (Task task : tasks) kernels.merge(task.key().substring(0, task.key().indexOf('(')), 1, Integer::sum);
        }
    }

    static final class Part {
        final ImmutableTaskGraph graph;
        final TornadoExecutionPlan plan;
        final List<DeviceMemory.OwnerGroup> owners;
        final int taskCount;
        /** Whether TornadoVM captures the part as a CUDA graph. */
        final boolean captured;
        boolean linked;
        /** The CUDA graph TornadoVM captured at the first run, replayed directly after it; 0 when none is. */
        long cudaGraph;

        Part(ImmutableTaskGraph graph, TornadoExecutionPlan plan, List<DeviceMemory.OwnerGroup> owners, int taskCount,
             boolean captured) {
            this.graph = graph;
            this.plan = plan;
            this.owners = owners;
            this.taskCount = taskCount;
            this.captured = captured;
        }
    }

    /**
     * Whether recorded graphs replay as CUDA graphs (TornadoVM's {@code withCUDAGraph}: one launch a graph instead of
     * one driver call per task): on the CUDA backend unless {@code -Dtornadovit.cudaGraphs=false}. Safe because a
     * recorded graph's buffers never move (owner graphs keep them until the backend closes) and its library tasks make
     * their handles, workspaces and plans before capture ({@code CudaLibraryProvider.prepare}).
     */
    private final boolean cudaGraphs;

    /**
     * Whether a captured graph is replayed straight through the CUDA driver after its first run (queued runs only:
     * {@link Plans#replay}) rather than by TornadoVM, whose replay waits for the device and walks the graph on the host
     * first. {@code -Dtornadovit.directReplay=false} leaves every replay to TornadoVM.
     */
    private final boolean directReplay;
    private int directReplays;

    /** -Dtornadovit.printTasks=true: prints what each TornadoVM task id of a compiled graph runs. */
    private static final boolean PRINT_TASKS = Boolean.getBoolean("tornadovit.printTasks");

    /** TornadoVM graph nodes one part may use, with room to spare below TornadoVM's fixed 1024. */
    static final int PART_NODES = 700;

    TaskGraphs(TornadoBackend backend, DeviceMemory memory, boolean cudaGraphs) {
        this.backend = backend;
        this.memory = memory;
        this.cudaGraphs = cudaGraphs;
        this.directReplay = cudaGraphs && memory.plans().replaysCudaGraphs()
                && !"false".equals(System.getProperty("tornadovit.directReplay"));
    }

    /** Parts of graphs replayed straight through the CUDA driver so far. */
    int directReplays() {
        return directReplays;
    }

    /** Whether a graph body is being recorded. */
    boolean recording() {
        return recording != null;
    }

    /** Graphs recorded so far (recorded graphs and single operations). */
    int recordedGraphCount() {
        return recordings.size() + singleOps.size();
    }

    /** Times every graph run from now on into {@code profile} (null: stops timing). */
    void profileGraphs(GraphProfile profile) {
        this.profile = profile;
    }

    /** Task-graph executions so far. */
    int graphRuns() {
        return graphRuns;
    }

    RecordedGraph record(String label, Runnable body) {
        if (closed) throw closedError(label);
        return new Recording(label, body);
    }

    private IllegalStateException closedError(String label) {
        return new IllegalStateException("graph '" + label + "' cannot run: its TornadoVM backend (" + backend.name()
                                         + ") is closed");
    }

    /** A graph of this backend: the body runs at the first run, recording; later runs replay what it recorded. */
    private final class Recording implements RecordedGraph {
        final String label;
        final Runnable body;
        boolean recorded;
        /** The compiled graph; null until recorded, or for a body without operations. */
        CompiledGraph compiled;

        Recording(String label, Runnable body) {
            this.label = label;
            this.body = body;
        }

        @Override
        public void run() {
            if (closed) throw closedError(label);
            if (recording != null) {
                body.run(); // a graph inside a graph is part of the outer one
                return;
            }
            if (!recorded) {
                List<Task> tasks = new ArrayList<>();
                recording = tasks;
                try {
                    body.run();
                } finally {
                    recording = null;
                }
                compiled = tasks.isEmpty() ? null : compile(label, tasks);
                recorded = true;
                recordings.add(this);
            }
            if (compiled != null) execute(compiled);
        }
    }

    void submit(Task... tasks) {
        if (recording != null) {
            recording.addAll(Arrays.asList(tasks));
            return;
        }
        StringBuilder key = new StringBuilder();
        for (Task task : tasks) key.append(task.key()).append(';');
        CompiledGraph g = singleOps.get(key.toString());
        if (g == null) {
            g = compile(tasks[0].key(), Arrays.asList(tasks));
            singleOps.put(key.toString(), g);
        }
        execute(g);
    }

    private CompiledGraph compile(String label, List<Task> tasks) {
        Set<DeviceTensor> all = new LinkedHashSet<>();
        for (Task task : tasks) all.addAll(task.tensors());
        memory.makeResident(all);
        List<Part> parts = new ArrayList<>();
        int start = 0;
        while (start < tasks.size()) {
            int end = start, nodes = 0;
            Set<DeviceTensor> partTensors = new LinkedHashSet<>();
            while (end < tasks.size()) {
                Task task = tasks.get(end);
                int added = 0;
                for (DeviceTensor t : task.tensors()) if (!partTensors.contains(t)) added++;
                // a task node, its arguments (a read or write node each, scalars as constants), and per new array
                // its on-device and persist nodes
                int cost = 2 + 2 * task.tensors().size() + task.scalars() + 3 * added;
                if (end > start && nodes + cost > PART_NODES) break;
                nodes += cost;
                partTensors.addAll(task.tensors());
                end++;
            }
            parts.add(compilePart(tasks.subList(start, end), partTensors));
            start = end;
        }
        return new CompiledGraph(label, parts, tasks);
    }

    private Part compilePart(List<Task> tasks, Set<DeviceTensor> tensors) {
        String name = DeviceMemory.uniqueName("g");
        TaskGraph tg = new TaskGraph(name);
        Map<DeviceMemory.OwnerGroup, List<DeviceTensor>> owners = DeviceMemory.byOwner(tensors);
        owners.forEach((owner, members) -> tg.consumeFromDevice(owner.name, members.stream().map(DeviceTensor::buffer).toArray()));
        GridScheduler scheduler = new GridScheduler();
        boolean anyGrid = false;
        for (int i = 0; i < tasks.size(); i++) {
            String id = "t" + i;
            // TornadoVM names tasks by graph and id in its own diagnostics (-Dtornado.threadInfo, driver errors)
            if (PRINT_TASKS) System.err.println("TornadoViT task " + name + "." + id + " = " + tasks.get(i).key());
            tasks.get(i).adder().add(tg, id);
            if (tasks.get(i).grid() != null) {
                scheduler.addWorkerGrid(name + "." + id, tasks.get(i).grid());
                anyGrid = true;
            }
        }
        // No persistOnDevice here: TornadoVM implements it as an on-demand output, and every plan frees its outputs
        // when closed, so only the owner group (which declares them) may; consumed buffers stay put without it.
        ImmutableTaskGraph graph = tg.snapshot();
        // NCCL's collectives stay out of captured graphs: capture is untested with several GPU ranks, where every
        // rank's graph would have to replay its collectives in the same order.
        boolean capture = cudaGraphs && tasks.stream().noneMatch(t -> t.key().startsWith(NcclCollectives.ALL_REDUCE_TASK));
        TornadoExecutionPlan plan = memory.plans().compiled(graph, anyGrid ? scheduler : null, capture);
        return new Part(graph, plan, List.copyOf(owners.keySet()), tasks.size(), capture);
    }

    /** Tasks of {@code kernel} in all recorded graphs: a step's launches of it. */
    int kernelTasks(String kernel) {
        return recordings.stream().filter(r -> r.compiled != null)
                .mapToInt(r -> r.compiled.kernels.getOrDefault(kernel, 0)).sum();
    }

    /** Tasks in the recorded graphs labelled {@code label}, or -1 when none is recorded. */
    int taskCount(String label) {
        return recordings.stream().filter(r -> r.label.equals(label) && r.compiled != null)
                .mapToInt(r -> r.compiled.taskCount).reduce(Integer::sum).orElse(-1);
    }

    /** Tasks in a recorded graph of this backend, or -1 when it has none or is not recorded yet. */
    int taskCount(RecordedGraph graph) {
        return graph instanceof Recording r && r.compiled != null ? r.compiled.taskCount : -1;
    }

    private void execute(CompiledGraph g) {
        memory.flush();
        long start = profile == null ? 0 : System.nanoTime();
        for (Part part : g.parts) {
            if (!part.linked) {
                for (DeviceMemory.OwnerGroup owner : part.owners) GraphLinks.adopt(part.graph, owner.graph);
                part.linked = true;
            }
            try {
                if (part.cudaGraph != 0) {
                    memory.plans().replay(part.cudaGraph);
                    directReplays++;
                } else {
                    memory.plans().run(part.plan);
                    // the first run captured the graph: its buffers are other graphs' and never move, so replaying
                    // it is all a later run does
                    if (directReplay && part.captured) part.cudaGraph = GraphLinks.capturedCudaGraph(part.graph);
                }
            } catch (VirtualMachineError e) {
                throw e;
            } catch (RuntimeException | Error e) { // TornadoVM's compiler reports some failures as Errors (GraalError)
                throw new IllegalStateException("TornadoVM could not run '" + g.label + "' (" + g.taskCount
                                                + " tasks) on " + backend.name() + ": " + e.getMessage(), e);
            }
        }
        graphRuns++;
        if (profile != null) {
            memory.plans().awaitDevice(); // queued graphs would otherwise be timed by whichever graph waits next
            profile.add(g.label, g.taskCount, System.nanoTime() - start);
        }
    }

    /**
     * Closes every compiled graph's plans; graphs run after this are refused. Returns the first failure, for the
     * backend to throw once its memory is freed too.
     */
    RuntimeException close() {
        closed = true;
        RuntimeException first = null;
        List<CompiledGraph> all = new ArrayList<>(singleOps.values());
        for (Recording r : recordings) if (r.compiled != null) all.add(r.compiled);
        for (CompiledGraph g : all) for (Part p : g.parts) first = DeviceMemory.closeQuietly(p.plan, first);
        recordings.clear();
        singleOps.clear();
        return first;
    }
}
