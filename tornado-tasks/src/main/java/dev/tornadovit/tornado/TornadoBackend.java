package dev.tornadovit.tornado;

import dev.tornadovit.distributed.DeviceCollectives;
import dev.tornadovit.distributed.Distributed;
import dev.tornadovit.distributed.NcclLibrary;
import dev.tornadovit.tensor.AdamWUpdate;
import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.PoolMode;
import dev.tornadovit.tensor.Precision;
import dev.tornadovit.tensor.RecordedGraph;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tornado.cuda.CudaLibraryProvider;
import dev.tornadovit.tornado.cuda.GemmCompute;
import dev.tornadovit.tornado.cuda.NcclGroups;
import dev.tornadovit.tornado.kernels.AttentionKernels;
import dev.tornadovit.tornado.kernels.DeviceMath;
import dev.tornadovit.tornado.kernels.ElementwiseKernels;
import dev.tornadovit.tornado.kernels.MatmulKernels;
import dev.tornadovit.tornado.kernels.OptimizerKernels;
import dev.tornadovit.tornado.kernels.ReductionKernels;
import dev.tornadovit.tornado.kernels.RowKernels;
import uk.ac.manchester.tornado.api.GridScheduler;
import uk.ac.manchester.tornado.api.ImmutableTaskGraph;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.WorkerGrid;
import uk.ac.manchester.tornado.api.WorkerGrid1D;
import uk.ac.manchester.tornado.api.WorkerGrid2D;
import uk.ac.manchester.tornado.api.WorkerGrid3D;
import uk.ac.manchester.tornado.api.common.TornadoDevice;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;

/**
 * The model's operations as TornadoVM kernels on one device.
 *
 * <p>{@link #record} makes a {@link RecordedGraph} whose first run runs the body with every operation appending a task,
 * builds one TaskGraph (one per attention block and per MLP block, forward and backward, plus embedding, head, loss
 * and optimizer), compiles it and runs it; later runs replay the recorded graph without the body. An operation
 * called outside any graph runs at once as a graph of its own, cached by the operation and its arguments.
 *
 * <p>Tensors stay on the device ({@link DeviceMemory}): parameters and optimizer moments are sent once and updated
 * there, activations pass from graph to graph without leaving it; per step only uploaded inputs go in and only
 * downloaded values (loss, logits, the gradient norm) come out.
 */
public final class TornadoBackend implements Backend, DeviceCollectives {
    private static final AtomicLong TENSOR_IDS = new AtomicLong();
    private static final int REDUCE_LOCAL = 256;

    private final TornadoDevices.Found found;
    private final TornadoDevice device;
    private final DeviceMemory memory;
    /**
     * Placeholders for absent optional tensors (kernels take no nulls). Two, because TornadoVM's scheduler waits
     * forever on a task that gets one array for two written parameters.
     */
    private final DeviceTensor unused, unused2;
    /** The graphs recorded so far (a body without operations too), closed with the backend. */
    private final List<Recording> recordings = new ArrayList<>();
    private final Map<String, CompiledGraph> singleOps = new HashMap<>();
    private final Map<String, DeviceTensor> scratch = new HashMap<>();
    /** Tensors used as cross-entropy labels, with their class count: uploads to them are checked on the host. */
    private final Map<DeviceTensor, Integer> labelClasses = new HashMap<>();
    private List<Task> recording;
    private int graphRuns;
    private GraphProfile profile;
    private boolean fuseAttention = true;
    private boolean closed;

    /** Adds one task to a TaskGraph under a given task id. */
    @FunctionalInterface
    interface TaskAdder {
        void add(TaskGraph graph, String taskId);
    }

    /**
     * One recorded kernel launch: its identity (kernel and arguments), its tensors, for KernelContext its grid, and
     * for the attention steps that can be fused, what they compute ({@code op}, else null).
     */
    record Task(String key, List<DeviceTensor> tensors, int scalars, WorkerGrid grid, TaskAdder adder, Object op) {
        Task withOp(Object o) {
            return new Task(key, tensors, scalars, grid, adder, o);
        }
    }

    /** scores [BH,T,T] = scale·q·kᵀ. */
    record ScoresOp(DeviceTensor q, DeviceTensor k, DeviceTensor scores, int batchHeads, int tokens, int headDim,
                    float scale) {
    }

    /** weights = L^-α·h(scores), pointwise. */
    record PointwiseOp(DeviceTensor scores, DeviceTensor weights, int rows, int keys, int kind, float scale) {
    }

    /** o = weights·v. */
    record ApplyOp(DeviceTensor weights, DeviceTensor v, DeviceTensor o, int batchHeads, int tokens, int headDim) {
    }

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
        boolean linked;

        Part(ImmutableTaskGraph graph, TornadoExecutionPlan plan, List<DeviceMemory.OwnerGroup> owners, int taskCount) {
            this.graph = graph;
            this.plan = plan;
            this.owners = owners;
            this.taskCount = taskCount;
        }
    }

    /**
     * Whether recorded graphs replay as CUDA graphs (TornadoVM's {@code withCUDAGraph}: one launch a graph instead of
     * one driver call per task): on the CUDA backend with {@code -Dtornadovit.cudaGraphs=true}.
     */
    private final boolean cudaGraphs;

    /** -Dtornadovit.printTasks=true: prints what each TornadoVM task id of a compiled graph runs. */
    private static final boolean PRINT_TASKS = Boolean.getBoolean("tornadovit.printTasks");

    /** TornadoVM graph nodes one part may use, with room to spare below TornadoVM's fixed 1024. */
    static final int PART_NODES = 700;

    public TornadoBackend(String deviceSpec) {
        this(TornadoDevices.resolve(deviceSpec));
    }

    /** A backend on {@code deviceSpec} whose matrix products run in {@code precision}; see {@link #supports}. */
    public TornadoBackend(String deviceSpec, Precision precision) {
        TornadoDevices.Found found = TornadoDevices.resolve(deviceSpec);
        this(found, 0, GemmStrategy.forDevice(found), precision);
    }

    public TornadoBackend(TornadoDevices.Found found) {
        this(found, 0);
    }

    /** @param memoryLimitBytes at most this much device memory (0: 90% of what the device reports) */
    public TornadoBackend(TornadoDevices.Found found, long memoryLimitBytes) {
        this(found, memoryLimitBytes, GemmStrategy.forDevice(found));
    }

    /**
     * @param memoryLimitBytes at most this much device memory (0: 90% of what the device reports)
     * @param gemm             how the matrix products run; one the device cannot run is an error
     */
    public TornadoBackend(TornadoDevices.Found found, long memoryLimitBytes, GemmStrategy gemm) {
        this(found, memoryLimitBytes, gemm, Precision.FP32);
    }

    /**
     * @param memoryLimitBytes at most this much device memory (0: 90% of what the device reports)
     * @param gemm             how the matrix products run; one the device cannot run is an error
     * @param precision        the matrix products' operand format; one {@code gemm} cannot run ({@link #supports})
     *                         is refused in one line naming the device and the precisions it can run
     */
    public TornadoBackend(TornadoDevices.Found found, long memoryLimitBytes, GemmStrategy gemm, Precision precision) {
        String reason = GemmStrategy.unavailableReason(gemm, found);
        if (reason != null) throw new IllegalArgumentException("GEMM strategy " + gemm.label() + ": " + reason);
        this.gemmStrategy = gemm;
        if (!supports(gemm, precision)) {
            throw new IllegalArgumentException("device " + found.id() + " (" + found.name() + ", GEMM: "
                    + gemm.label() + ") cannot run precision " + precision + "; it runs " + supported(gemm)
                    + " (--device cpu emulates " + precision + ")");
        }
        this.precision = precision;
        this.gemmCompute = GemmCompute.of(precision);
        this.cudaGraphs = found.backend().equals("cuda") && Boolean.getBoolean("tornadovit.cudaGraphs");
        this.found = found;
        this.device = found.device();
        this.memory = new DeviceMemory(device, found.id() + " (" + found.name() + ")", memoryLimitBytes);
        this.unused = (DeviceTensor) allocate(1);
        this.unused2 = (DeviceTensor) allocate(1);
        this.gemmTargetGroups = 4 * Math.max(1, device.getPhysicalDevice().getDeviceMaxComputeUnits());
    }

    /**
     * Work-groups a weight-gradient product should have to keep every compute unit busy (four per unit); with fewer
     * output tiles, the tokens are split among several products whose partial sums are then added.
     */
    private int gemmTargetGroups;

    private final GemmStrategy gemmStrategy;
    private final Precision precision;
    private final GemmCompute gemmCompute;

    /** Whether this backend's matrix products can run in {@code p}. */
    public boolean supports(Precision p) {
        return supports(gemmStrategy, p);
    }

    /**
     * Whether matrix products computed by {@code gemm} can run in {@code p}: fp32 for every strategy; TF32 and bf16
     * on the tensor cores through cuBLAS's compute types ({@link GemmCompute}).
     */
    static boolean supports(GemmStrategy gemm, Precision p) {
        return p == Precision.FP32 || gemm == GemmStrategy.CUBLAS;
    }

    /** The precisions {@code gemm} runs, "fp32|…", for messages. */
    private static String supported(GemmStrategy gemm) {
        return Arrays.stream(Precision.values()).filter(p -> supports(gemm, p)).map(Precision::label)
                .collect(Collectors.joining("|"));
    }

    @Override
    public Precision precision() {
        return precision;
    }

    /** How this backend computes its matrix products. */
    public GemmStrategy gemmStrategy() {
        return gemmStrategy;
    }

    /** The arithmetic of the matrix products: cuBLAS's compute type for this backend's precision. */
    public GemmCompute gemmCompute() {
        return gemmCompute;
    }

    /** Changes {@link #gemmTargetGroups} and returns the old value (tests force the token split with it). */
    int setGemmTargetGroups(int groups) {
        int old = gemmTargetGroups;
        gemmTargetGroups = groups;
        return old;
    }

    public TornadoDevices.Found device() {
        return found;
    }

    @Override
    public String name() {
        return found.backend() + ": " + found.name() + " (GEMM: " + gemmStrategy.label()
                + (precision == Precision.FP32 ? "" : ", " + precision) + ")";
    }

    @Override
    public boolean isDoublePrecision() {
        return false;
    }

    /**
     * Whether graphs recorded from now on run pointwise attention (scores → φ → ·V) as one fused kernel
     * ({@link AttentionKernels}); on by default. The unfused path stays for comparison.
     */
    public void setFusedAttention(boolean on) {
        this.fuseAttention = on;
    }

    /** Graphs recorded so far (recorded graphs and single operations), for tests and reports. */
    public int recordedGraphCount() {
        return recordings.size() + singleOps.size();
    }

    /** Times every graph run from now on into {@code profile} (null: stops timing). */
    public void profileGraphs(GraphProfile profile) {
        this.profile = profile;
    }

    /** Task-graph executions so far. */
    public int graphRuns() {
        return graphRuns;
    }

    /** Bytes of tensors this backend holds (device and staging buffers). */
    public long allocatedBytes() {
        return memory.allocatedBytes();
    }

    // ---------------------------------------------------------------- memory

    private DeviceTensor t(Tensor tensor) {
        if (!(tensor instanceof DeviceTensor d) || d.owner != this) {
            throw new IllegalArgumentException("tensor does not belong to this TornadoVM backend: " + tensor);
        }
        return d;
    }

    /**
     * Refuses one tensor as two outputs of an operation: meaningless, and TornadoVM's scheduler would wait forever on
     * a task that writes one array through two parameters.
     */
    private static void distinctOutputs(String op, DeviceTensor... outputs) {
        for (int i = 0; i < outputs.length; i++) {
            for (int j = i + 1; j < outputs.length; j++) {
                if (outputs[i] == outputs[j]) {
                    throw new IllegalArgumentException(op + ": outputs " + (i + 1) + " and " + (j + 1) + " are the same tensor");
                }
            }
        }
    }

    /** An optional tensor, or the placeholder a kernel ignores (kernels take no nulls). */
    private DeviceTensor opt(Tensor tensor) {
        return tensor == null ? unused : t(tensor);
    }

    @Override
    public Tensor allocate(int size) {
        if (size < 0) throw new IllegalArgumentException("negative tensor size " + size);
        memory.reserve(4L * Math.max(1, size));
        return new DeviceTensor(this, TENSOR_IDS.incrementAndGet(), size);
    }

    private void checkNotRecording(String what) {
        if (recording != null) {
            throw new IllegalStateException(what + " inside a graph body: a recorded graph replays only device "
                    + "operations, so values must be uploaded before and downloaded after RecordedGraph.run");
        }
    }

    @Override
    public void upload(Tensor dst, float[] src) {
        checkNotRecording("upload");
        DeviceTensor d = t(dst);
        checkLength(d, src.length);
        Integer classes = labelClasses.get(d);
        if (classes != null) {
            double[] values = new double[src.length];
            for (int i = 0; i < src.length; i++) values[i] = src[i];
            checkLabels(values, values.length, classes);
        }
        memory.upload(d, src);
    }

    @Override
    public void upload(Tensor dst, double[] src) {
        checkNotRecording("upload");
        DeviceTensor d = t(dst);
        checkLength(d, src.length);
        Integer classes = labelClasses.get(d);
        if (classes != null) checkLabels(src, src.length, classes);
        memory.upload(d, src);
    }

    /** As the CPU backend: a label outside [0, classes) is an error (a kernel could only return a wrong loss). */
    private static void checkLabels(double[] labels, int count, int classes) {
        for (int b = 0; b < count; b++) {
            int label = (int) labels[b];
            if (label < 0 || label >= classes) {
                throw new IllegalArgumentException("label " + label + " of sample " + b + " is outside [0," + classes + ")");
            }
        }
    }

    private static void checkLength(DeviceTensor d, int length) {
        if (length > d.size) throw new IllegalArgumentException(length + " values do not fit " + d);
    }

    @Override
    public float[] downloadFloat(Tensor src) {
        checkNotRecording("download");
        DeviceTensor d = t(src);
        FloatArray a = memory.download(d);
        float[] out = new float[d.size];
        MemorySegment.copy(a.getSegment(), ValueLayout.JAVA_FLOAT, 0, out, 0, d.size);
        return out;
    }

    @Override
    public double[] downloadDouble(Tensor src) {
        float[] f = downloadFloat(src);
        double[] out = new double[f.length];
        for (int i = 0; i < f.length; i++) out[i] = f[i];
        return out;
    }

    @Override
    public void zero(Tensor tensor) {
        DeviceTensor x = t(tensor);
        if (recording == null && !x.resident()) {
            x.array.init(0f); // host-only: nothing on the device to clear yet
            return;
        }
        if (x.size == 0) return;
        submit(task("zero", null, (g, id) -> g.task(id, ElementwiseKernels::zero, x.array, x.size), x, x.size));
    }

    @Override
    public void copy(Tensor src, Tensor dst, int n) {
        DeviceTensor s = t(src), d = t(dst);
        if (n == 0) return;
        submit(task("copy", null, (g, id) -> g.task(id, ElementwiseKernels::copy, s.array, d.array, n), s, d, n));
    }

    // ---------------------------------------------------------------- graphs

    @Override
    public RecordedGraph record(String label, Runnable body) {
        if (closed) throw closedError(label);
        return new Recording(label, body);
    }

    private IllegalStateException closedError(String label) {
        return new IllegalStateException("graph '" + label + "' cannot run: its TornadoVM backend (" + name()
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

    private void submit(Task... tasks) {
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

    private CompiledGraph compile(String label, List<Task> recorded) {
        List<Task> tasks = fuseAttention ? fusePointwiseAttention(recorded) : recorded;
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
        owners.forEach((owner, members) -> tg.consumeFromDevice(owner.name, members.stream().map(m -> m.array).toArray()));
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
        TornadoExecutionPlan plan = Plans.compiled(graph, device, anyGrid ? scheduler : null, cudaGraphs);
        return new Part(graph, plan, List.copyOf(owners.keySet()), tasks.size());
    }

    /**
     * Replaces each recorded scores → pointwise weights → ·V sequence over the same tensors by one fused task that
     * also writes the scores and weights (the backward pass and attention-map readers use them).
     */
    private List<Task> fusePointwiseAttention(List<Task> tasks) {
        List<Task> out = new ArrayList<>();
        for (int i = 0; i < tasks.size(); i++) {
            if (i + 2 < tasks.size() && tasks.get(i).op() instanceof ScoresOp sc
                    && tasks.get(i + 1).op() instanceof PointwiseOp pw && tasks.get(i + 2).op() instanceof ApplyOp ap
                    && pw.scores() == sc.scores() && ap.weights() == pw.weights() && pw.keys() == sc.tokens()
                    && pw.rows() == sc.batchHeads() * sc.tokens() && ap.batchHeads() == sc.batchHeads()
                    && ap.tokens() == sc.tokens() && ap.headDim() == sc.headDim()
                    && sc.headDim() <= AttentionKernels.MAX_HEAD_DIM) {
                out.add(fusedAttention(sc.q(), sc.k(), ap.v(), sc.scores(), pw.weights(), ap.o(), sc.batchHeads(),
                        sc.tokens(), sc.headDim(), sc.scale(), pw.kind(), pw.scale(), true));
                i += 2;
            } else {
                out.add(tasks.get(i));
            }
        }
        return out;
    }

    /**
     * Pointwise attention for inference as one kernel: o [BH,T,hd] = φ(qkScale·q·kᵀ)·v without writing the
     * [BH,T,T] scores and weights anywhere (head dimension at most 64). Not part of {@link Backend}: the model keeps
     * the maps (backward pass, attention maps) and gets the fused kernel through graph recording; this is the
     * kernel alone, for benchmarks and inference code that needs no maps.
     */
    public void pointwiseAttentionWithoutMaps(Tensor q, Tensor k, Tensor v, Tensor o, int batchHeads, int tokens,
                                              int headDim, double qkScale, AttentionWeighting weighting) {
        if (weighting.softmax()) throw new IllegalArgumentException("softmax weights are not pointwise");
        if (headDim > AttentionKernels.MAX_HEAD_DIM) {
            throw new IllegalArgumentException("the fused kernel takes head dimensions up to "
                    + AttentionKernels.MAX_HEAD_DIM + ", not " + headDim);
        }
        submit(fusedAttention(t(q), t(k), t(v), unused, unused2, t(o), batchHeads, tokens, headDim, (float) qkScale,
                activationCode(weighting), (float) weighting.scale(tokens), false));
    }

    /** Tasks of {@code kernel} in all recorded graphs (after fusion): a step's launches of it. */
    int kernelTasks(String kernel) {
        return recordings.stream().filter(r -> r.compiled != null)
                .mapToInt(r -> r.compiled.kernels.getOrDefault(kernel, 0)).sum();
    }

    /** Tasks in the recorded graphs labelled {@code label} (after fusion), or -1 when none is recorded. */
    int taskCount(String label) {
        return recordings.stream().filter(r -> r.label.equals(label) && r.compiled != null)
                .mapToInt(r -> r.compiled.taskCount).reduce(Integer::sum).orElse(-1);
    }

    /** Tasks in a recorded graph of this backend (after fusion), or -1 when it has none or is not recorded yet. */
    int taskCount(RecordedGraph graph) {
        return graph instanceof Recording r && r.compiled != null ? r.compiled.taskCount : -1;
    }

    /** The fused pointwise-attention task; without {@code storeMaps} scores and weights are not written. */
    Task fusedAttention(DeviceTensor q, DeviceTensor k, DeviceTensor v, DeviceTensor scores, DeviceTensor weights,
                        DeviceTensor o, int batchHeads, int tokens, int headDim, float qkScale, int kind, float scale,
                        boolean storeMaps) {
        int store = storeMaps ? 1 : 0;
        WorkerGrid3D grid = new WorkerGrid3D(16, ceilDiv(tokens, AttentionKernels.QUERIES) * 16, batchHeads);
        grid.setLocalWork(16, 16, 1);
        return task("pointwiseAttention", grid, (g, id) -> g.task(id, AttentionKernels::pointwiseAttention,
                        new KernelContext(), q.array, k.array, v.array, scores.array, weights.array, o.array, tokens,
                        headDim, qkScale, kind, scale, store),
                q, k, v, scores, weights, o, tokens, headDim, qkScale, kind, scale, store);
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
                part.plan.execute();
            } catch (VirtualMachineError e) {
                throw e;
            } catch (RuntimeException | Error e) { // TornadoVM's compiler reports some failures as Errors (GraalError)
                throw new IllegalStateException("TornadoVM could not run '" + g.label + "' (" + g.taskCount
                        + " tasks) on " + name() + ": " + e.getMessage(), e);
            }
        }
        graphRuns++;
        if (profile != null) profile.add(g.label, g.taskCount, System.nanoTime() - start);
    }

    @Override
    public void close() {
        ncclGroups.values().forEach(NcclGroups::close);
        ncclGroups.clear();
        closed = true;
        RuntimeException first = null;
        List<CompiledGraph> all = new ArrayList<>(singleOps.values());
        for (Recording r : recordings) if (r.compiled != null) all.add(r.compiled);
        for (CompiledGraph g : all) for (Part p : g.parts) first = DeviceMemory.closeQuietly(p.plan, first);
        recordings.clear();
        singleOps.clear();
        try {
            memory.close();
        } catch (RuntimeException e) {
            if (first == null) first = e;
        }
        if (first != null) throw first;
    }

    // ---------------------------------------------------------------- task construction

    /** A task whose key lists the kernel and its arguments: tensors by id, everything else by value. */
    static Task task(String kernel, WorkerGrid grid, TaskAdder adder, Object... args) {
        StringBuilder key = new StringBuilder(kernel).append('(');
        List<DeviceTensor> tensors = new ArrayList<>();
        for (Object a : args) {
            if (a instanceof DeviceTensor d) {
                tensors.add(d);
                key.append('#').append(d.id);
            } else {
                key.append(a);
            }
            key.append(',');
        }
        int scalars = args.length - tensors.size() + (grid == null ? 0 : 1); // a KernelContext counts as one
        return new Task(key.append(')').toString(), tensors, scalars, grid, adder, null);
    }

    /** A backend-owned buffer for partial sums, one per operation instance and purpose, reused on every run. */
    private DeviceTensor scratch(String purpose, int size, Object... op) {
        String key = purpose + Arrays.deepToString(Arrays.stream(op).map(o -> o instanceof DeviceTensor d ? "#" + d.id : o).toArray());
        return scratch.computeIfAbsent(key, k -> (DeviceTensor) allocate(size));
    }

    private static WorkerGrid grid1(int global, int local) {
        WorkerGrid1D g = new WorkerGrid1D(global);
        g.setLocalWork(local, 1, 1);
        return g;
    }

    /** One thread per element of {@code n}, in work-groups of 256 (the kernel skips the threads past n). */
    private static WorkerGrid parallelGrid(int n) {
        return grid1(ceilDiv(n, REDUCE_LOCAL) * REDUCE_LOCAL, REDUCE_LOCAL);
    }

    private static WorkerGrid grid2(int x, int y, int localX, int localY) {
        WorkerGrid2D g = new WorkerGrid2D(x, y);
        g.setLocalWork(localX, localY, 1);
        return g;
    }

    /** A power-of-two work-group size for a row of {@code length}: 32 to 256 threads. */
    static int rowLocal(int length) {
        int l = 32;
        while (l < length && l < 256) l *= 2;
        return l;
    }

    /** Work-groups per output for a two-stage reduction over {@code count} values. */
    static int chunks(long count, int max) {
        long c = (count + REDUCE_LOCAL * 8L - 1) / (REDUCE_LOCAL * 8L);
        return (int) Math.max(1, Math.min(max, c));
    }

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    /**
     * C (+)= alpha·op(A)·op(B) (+bias) over {@code batches} matrices: see {@link MatmulKernels#gemm}. Through cuBLAS
     * when that is this backend's {@link GemmStrategy}, which takes no bias (see {@link #linear}).
     */
    private Task gemm(DeviceTensor a, DeviceTensor b, DeviceTensor c, DeviceTensor bias, int m, int n, int k,
                      int batches, int strideA, int strideB, int strideC, int transA, int transB, float alpha,
                      int accumulate) {
        if (gemmStrategy == GemmStrategy.CUBLAS) {
            if (bias != null) throw new IllegalStateException("cuBLAS adds no bias: broadcast it into C first");
            return CublasGemm.task(a, b, c, m, n, k, batches, strideA, strideB, strideC, transA, transB, alpha,
                    accumulate, gemmCompute);
        }
        int hasBias = bias == null ? 0 : 1;
        DeviceTensor biasArg = bias == null ? unused : bias;
        WorkerGrid3D grid = new WorkerGrid3D(ceilDiv(n, MatmulKernels.TILE) * MatmulKernels.THREADS,
                ceilDiv(m, MatmulKernels.TILE) * MatmulKernels.THREADS, batches);
        grid.setLocalWork(MatmulKernels.THREADS, MatmulKernels.THREADS, 1);
        return task("gemm", grid, (g, id) -> g.task(id, MatmulKernels::gemm, new KernelContext(), a.array, b.array,
                        c.array, biasArg.array, m, n, k, strideA, strideB, strideC, transA, transB, alpha, accumulate, hasBias),
                a, b, c, biasArg, m, n, k, batches, strideA, strideB, strideC, transA, transB, alpha, accumulate, hasBias);
    }

    /**
     * Fewest tokens one part of a split weight-gradient product sums over: each part writes and the sum reads its n·k
     * partial results, against n·k·512 multiply-adds. With 64-token parts the demo's small model trained at ~2300 img/s
     * on an H100, against ~3400 without splitting.
     */
    static final int MIN_SPLIT_TOKENS = 512;

    /**
     * The fixed cost of one work-group of a split product, in tokens' worth of its multiply-adds: its first tile loads,
     * and the 4096 partial results it writes and the sum reads back. A rough figure; it only breaks near-ties.
     */
    static final int SPLIT_OVERHEAD_TOKENS = 64;

    /**
     * How many parts the {@code tokens} of a weight-gradient product dW[n,k] are split into, when its output has
     * fewer 64×64 tiles than {@link #gemmTargetGroups} (the work-groups the device runs at once: one "wave"). Among the
     * divisors of {@code tokens} (the batched kernel needs equal parts) that leave each part at least
     * {@link #MIN_SPLIT_TOKENS} tokens, the one with the least estimated time: waves × (tokens per part + overhead).
     * Counting whole waves matters: on an H100 (528 groups a wave), ViT-S/16's MLP weight gradient at batch 128 split
     * 4 ways made 576 groups, a full wave and a nearly empty second one; split 32 ways it makes 8.7 waves of 9.
     * The partial results take splits·n·k floats, at most n·k·tokens/512: no more than the product's input dy when
     * k ≤ 512.
     */
    int tokenSplits(int tokens, int n, int k) {
        int tiles = ceilDiv(n, MatmulKernels.TILE) * ceilDiv(k, MatmulKernels.TILE);
        if (tiles >= gemmTargetGroups) return 1;
        int best = 1;
        long bestCost = splitCost(tokens, tiles, 1);
        for (int s = 2; s <= tokens / MIN_SPLIT_TOKENS; s++) {
            if (tokens % s != 0) continue;
            long cost = splitCost(tokens, tiles, s);
            if (cost < bestCost) {
                best = s;
                bestCost = cost;
            }
        }
        return best;
    }

    private long splitCost(int tokens, int tiles, int splits) {
        return (long) ceilDiv(tiles * splits, gemmTargetGroups) * (tokens / splits + SPLIT_OVERHEAD_TOKENS);
    }

    /** dst[j] += Σ_rows src[r, j] for src [rows, cols]. */
    private Task[] columnSums(DeviceTensor src, DeviceTensor dst, int rows, int cols) {
        int chunks = Math.max(1, Math.min(64, ceilDiv(rows, 64)));
        DeviceTensor partial = scratch("colsum", chunks * cols, src, dst, rows, cols);
        WorkerGrid grid = grid2(ceilDiv(cols, ReductionKernels.COLUMN_TILE) * ReductionKernels.COLUMN_TILE,
                chunks * ReductionKernels.COLUMN_LANES, ReductionKernels.COLUMN_TILE, ReductionKernels.COLUMN_LANES);
        return new Task[]{
                task("columnSumsPartial", grid, (g, id) -> g.task(id, ReductionKernels::columnSumsPartial, new KernelContext(),
                        src.array, partial.array, rows, cols, chunks), src, partial, rows, cols, chunks),
                task("columnSumsFinish", parallelGrid(cols), (g, id) -> g.task(id, ReductionKernels::columnSumsFinish,
                        new KernelContext(), partial.array, dst.array, cols, chunks), partial, dst, cols, chunks)};
    }

    // ---------------------------------------------------------------- elementwise

    @Override
    public void add(Tensor a, Tensor b, Tensor out, int n) {
        DeviceTensor x = t(a), y = t(b), o = t(out);
        submit(task("add", null, (g, id) -> g.task(id, ElementwiseKernels::add, x.array, y.array, o.array, n), x, y, o, n));
    }

    @Override
    public void accumulate(Tensor dst, Tensor src, int n) {
        DeviceTensor d = t(dst), s = t(src);
        submit(task("accumulate", null, (g, id) -> g.task(id, ElementwiseKernels::accumulate, d.array, s.array, n), d, s, n));
    }

    @Override
    public void gelu(Tensor x, Tensor y, int n) {
        DeviceTensor i = t(x), o = t(y);
        submit(task("gelu", null, (g, id) -> g.task(id, ElementwiseKernels::gelu, i.array, o.array, n), i, o, n));
    }

    @Override
    public void geluBackward(Tensor x, Tensor dy, Tensor dx, int n) {
        geluBackward(x, dy, dx, n, 1);
    }

    @Override
    public void geluBackwardOverwriting(Tensor x, Tensor dy, Tensor dx, int n) {
        geluBackward(x, dy, dx, n, 0);
    }

    private void geluBackward(Tensor x, Tensor dy, Tensor dx, int n, int accumulate) {
        DeviceTensor i = t(x), gy = t(dy), gx = t(dx);
        submit(task("geluBackward", null, (g, id) -> g.task(id, ElementwiseKernels::geluBackward, i.array, gy.array,
                gx.array, n, accumulate), i, gy, gx, n, accumulate));
    }

    @Override
    public void sigmoidGate(Tensor gatePre, Tensor o, Tensor out, int n) {
        DeviceTensor gp = t(gatePre), x = t(o), y = t(out);
        submit(task("sigmoidGate", null, (g, id) -> g.task(id, ElementwiseKernels::sigmoidGate, gp.array, x.array,
                y.array, n), gp, x, y, n));
    }

    @Override
    public void sigmoidGateBackward(Tensor gatePre, Tensor o, Tensor dOut, Tensor dGatePre, Tensor dO, int n) {
        DeviceTensor gp = t(gatePre), x = t(o), gy = t(dOut), dg = t(dGatePre), dx = t(dO);
        distinctOutputs("sigmoidGateBackward", dg, dx);
        submit(task("sigmoidGateBackward", null, (g, id) -> g.task(id, ElementwiseKernels::sigmoidGateBackward,
                gp.array, x.array, gy.array, dg.array, dx.array, n), gp, x, gy, dg, dx, n));
    }

    // ---------------------------------------------------------------- patches and tokens

    @Override
    public void im2col(Tensor images, Tensor patches, int batch, int channels, int height, int width, int patch) {
        DeviceTensor img = t(images), out = t(patches);
        submit(task("im2col", null, (g, id) -> g.task(id, ElementwiseKernels::im2col, img.array, out.array, batch,
                channels, height, width, patch), img, out, batch, channels, height, width, patch));
    }

    @Override
    public void assembleTokens(Tensor patchEmbeddings, Tensor cls, Tensor pos, Tensor fixedPos, Tensor tokens,
                               int batch, int patches, int dim) {
        DeviceTensor pe = t(patchEmbeddings), c = opt(cls), p = opt(pos), fp = opt(fixedPos), out = t(tokens);
        int hasCls = cls == null ? 0 : 1, hasPos = pos == null ? 0 : 1, hasFixed = fixedPos == null ? 0 : 1;
        submit(task("assembleTokens", null, (g, id) -> g.task(id, ElementwiseKernels::assembleTokens, pe.array,
                        c.array, p.array, fp.array, out.array, batch, patches, dim, hasCls, hasPos, hasFixed),
                pe, c, p, fp, out, batch, patches, dim, hasCls, hasPos, hasFixed));
    }

    @Override
    public void assembleTokensBackward(Tensor dTokens, Tensor dPatchEmbeddings, Tensor dCls, Tensor dPos, int batch,
                                       int patches, int dim, boolean hasCls) {
        DeviceTensor gt = t(dTokens), gpe = t(dPatchEmbeddings), gc = opt(dCls), gp = dPos == null ? unused2 : t(dPos);
        distinctOutputs("assembleTokensBackward", gpe, gc, gp);
        int cls = hasCls ? 1 : 0, wantCls = dCls == null || !hasCls ? 0 : 1, wantPos = dPos == null ? 0 : 1;
        List<Task> tasks = new ArrayList<>();
        tasks.add(task("assembleTokensBackwardPatches", null, (g, id) -> g.task(id,
                ElementwiseKernels::assembleTokensBackwardPatches, gt.array, gpe.array, batch, patches, dim, cls),
                gt, gpe, batch, patches, dim, cls));
        if (wantCls == 1 || wantPos == 1) {
            tasks.add(task("assembleTokensBackwardShared", null, (g, id) -> g.task(id,
                            ElementwiseKernels::assembleTokensBackwardShared, gt.array, gc.array, gp.array, batch, patches,
                            dim, cls, wantCls, wantPos),
                    gt, gc, gp, batch, patches, dim, cls, wantCls, wantPos));
        }
        submit(tasks.toArray(Task[]::new));
    }

    // ---------------------------------------------------------------- collectives

    /** The NCCL group of each run this backend averaged over (one communicator each). */
    private final Map<Distributed, Long> ncclGroups = new HashMap<>();

    /** On TornadoVM's CUDA backend where NCCL loads: gradients averaged by NCCL on the device, in our task graphs. */
    @Override
    public boolean averagesOnDevice(Distributed distributed) {
        if (!found.backend().equals("cuda") || CudaLibraryProvider.unavailableReason() != null) return false;
        try {
            NcclLibrary.load();
            return true;
        } catch (RuntimeException | LinkageError e) {
            return false;
        }
    }

    @Override
    public void averageOnDevice(Distributed distributed, List<Tensor> tensors) {
        long group = ncclGroups.computeIfAbsent(distributed, NcclGroups::register);
        Task[] tasks = new Task[tensors.size()];
        for (int i = 0; i < tasks.length; i++) {
            DeviceTensor d = t(tensors.get(i));
            int n = d.size;
            tasks[i] = task("ncclAllReduceMean", null, (g, id) -> g.libraryTask(id, CudaLibraryProvider::allReduceMean,
                    d.array, n, group), d, n, group);
        }
        submit(tasks);
    }

    // ---------------------------------------------------------------- linear

    @Override
    public void linear(Tensor x, Tensor w, Tensor bias, Tensor y, int m, int k, int n) {
        if (bias != null && gemmStrategy == GemmStrategy.CUBLAS) {
            submit(CublasGemm.linearForward(t(x), t(w), t(bias), t(y), m, k, n, gemmCompute)); // bias in the epilogue
            return;
        }
        submit(gemm(t(x), t(w), t(y), bias == null ? null : t(bias), m, n, k, 1, 0, 0, 0, 0, 1, 1f, 0));
    }

    @Override
    public void linearBackward(Tensor dy, Tensor x, Tensor w, Tensor dx, Tensor dw, Tensor dBias, int m, int k, int n) {
        linearBackward(dy, x, w, dx, dw, dBias, m, k, n, 1);
    }

    @Override
    public void linearBackwardOverwritingInput(Tensor dy, Tensor x, Tensor w, Tensor dx, Tensor dw, Tensor dBias,
                                               int m, int k, int n) {
        linearBackward(dy, x, w, t(dx), dw, dBias, m, k, n, 0);
    }

    /** dx is added into with {@code accumulateDx} 1, overwritten with 0 (the product's beta = 0). */
    private void linearBackward(Tensor dy, Tensor x, Tensor w, Tensor dx, Tensor dw, Tensor dBias, int m, int k, int n,
                                int accumulateDx) {
        DeviceTensor gy = t(dy), in = t(x), wt = t(w);
        List<Task> tasks = new ArrayList<>();
        // dx[M,K] (+)= dy[M,N]·w[N,K]
        if (dx != null) tasks.add(gemm(gy, wt, t(dx), null, m, k, n, 1, 0, 0, 0, 0, 0, 1f, accumulateDx));
        // dw[N,K] += dyᵀ·x: dy read transposed. Its N×K output has few tiles and its M (every token of the batch) is
        // long: one work-group per tile would leave most of a GPU idle, so the tokens are split among `splits`
        // products (one batch of the batched kernel each) and their partial results added after.
        DeviceTensor gw = t(dw);
        if (gemmStrategy == GemmStrategy.CUBLAS && dBias != null) {
            // the bias gradient from the weight-gradient product's epilogue, written to scratch, then added
            DeviceTensor biasPart = scratch("biasGradient", n, gy, in, gw, m, k, n), gb = t(dBias);
            tasks.add(CublasGemm.weightGradientWithBias(gy, in, gw, biasPart, m, k, n, gemmCompute));
            tasks.add(task("accumulate", null, (g, id) -> g.task(id, ElementwiseKernels::accumulate, gb.array,
                    biasPart.array, n), gb, biasPart, n));
            submit(tasks.toArray(Task[]::new));
            return;
        }
        int splits = gemmStrategy == GemmStrategy.CUBLAS ? 1 : tokenSplits(m, n, k); // cuBLAS splits K itself
        if (splits == 1) {
            tasks.add(gemm(gy, in, gw, null, n, k, m, 1, 0, 0, 0, 1, 0, 1f, 1));
        } else {
            int chunk = m / splits;
            DeviceTensor partial = scratch("dwSplit", splits * n * k, gy, in, gw, m, k, n);
            tasks.add(gemm(gy, in, partial, null, n, k, chunk, splits, chunk * n, chunk * k, n * k, 1, 0, 1f, 0));
            tasks.add(task("columnSumsFinish", parallelGrid(n * k), (g, id) -> g.task(id,
                    ReductionKernels::columnSumsFinish, new KernelContext(), partial.array, gw.array, n * k, splits),
                    partial, gw, n * k, splits));
        }
        if (dBias != null) tasks.addAll(Arrays.asList(columnSums(gy, t(dBias), m, n)));
        submit(tasks.toArray(Task[]::new));
    }

    // ---------------------------------------------------------------- normalisation

    @Override
    public void layerNorm(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd, int m, int d,
                          double eps) {
        DeviceTensor in = t(x), g = t(gamma), b = t(beta), out = t(y), mu = t(mean), rs = t(rstd);
        int local = rowLocal(d);
        distinctOutputs("layerNorm", out, mu, rs);
        float e = (float) eps;
        submit(task("layerNorm", grid1(m * local, local), (tg, id) -> tg.task(id, RowKernels::layerNorm,
                new KernelContext(), in.array, g.array, b.array, out.array, mu.array, rs.array, d, e),
                in, g, b, out, mu, rs, m, d, e));
    }

    @Override
    public void layerNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx,
                                  Tensor dGamma, Tensor dBeta, int m, int d) {
        DeviceTensor gy = t(dy), in = t(x), g = t(gamma), mu = t(mean), rs = t(rstd), gx = t(dx), gg = t(dGamma), gb = t(dBeta);
        int local = rowLocal(d);
        distinctOutputs("layerNormBackward", gx, gg, gb);
        int chunks = Math.max(1, Math.min(64, ceilDiv(m, 64)));
        DeviceTensor partial = scratch("lnParams", chunks * 2 * d, gy, in, mu, rs, m, d);
        WorkerGrid partialGrid = grid2(ceilDiv(d, ReductionKernels.COLUMN_TILE) * ReductionKernels.COLUMN_TILE,
                chunks * ReductionKernels.COLUMN_LANES, ReductionKernels.COLUMN_TILE, ReductionKernels.COLUMN_LANES);
        submit(task("layerNormBackward", grid1(m * local, local), (tg, id) -> tg.task(id, RowKernels::layerNormBackward,
                        new KernelContext(), gy.array, in.array, g.array, mu.array, rs.array, gx.array, d),
                        gy, in, g, mu, rs, gx, m, d),
                task("layerNormParamsPartial", partialGrid, (tg, id) -> tg.task(id, ReductionKernels::layerNormParamsPartial,
                        new KernelContext(), gy.array, in.array, mu.array, rs.array, partial.array, m, d, chunks),
                        gy, in, mu, rs, partial, m, d, chunks),
                task("pairedColumnSumsFinish", parallelGrid(d), (tg, id) -> tg.task(id, ReductionKernels::pairedColumnSumsFinish,
                        new KernelContext(), partial.array, gg.array, gb.array, d, chunks), partial, gg, gb, d, chunks));
    }

    // ---------------------------------------------------------------- attention

    @Override
    public void splitHeads(Tensor qkv, Tensor q, Tensor k, Tensor v, int batch, int tokens, int heads, int headDim) {
        DeviceTensor in = t(qkv), qq = t(q), kk = t(k), vv = t(v);
        distinctOutputs("splitHeads", qq, kk, vv);
        submit(task("splitHeads", null, (g, id) -> g.task(id, ElementwiseKernels::splitHeads, in.array, qq.array,
                kk.array, vv.array, batch, tokens, heads, headDim), in, qq, kk, vv, batch, tokens, heads, headDim));
    }

    @Override
    public void splitHeadsBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dQkv, int batch, int tokens, int heads,
                                   int headDim) {
        submit(splitHeadsBackward(t(dq), t(dk), t(dv), t(dQkv), batch, tokens, heads, headDim, 1));
    }

    @Override
    public void splitHeadsBackwardOverwriting(Tensor dq, Tensor dk, Tensor dv, Tensor dQkv, int batch, int tokens,
                                              int heads, int headDim) {
        submit(splitHeadsBackward(t(dq), t(dk), t(dv), t(dQkv), batch, tokens, heads, headDim, 0));
    }

    private static Task splitHeadsBackward(DeviceTensor gq, DeviceTensor gk, DeviceTensor gv, DeviceTensor out,
                                           int batch, int tokens, int heads, int headDim, int accumulate) {
        return task("splitHeadsBackward", null, (g, id) -> g.task(id, ElementwiseKernels::splitHeadsBackward, gq.array,
                gk.array, gv.array, out.array, batch, tokens, heads, headDim, accumulate),
                gq, gk, gv, out, batch, tokens, heads, headDim, accumulate);
    }

    @Override
    public void mergeHeads(Tensor o, Tensor out, int batch, int tokens, int heads, int headDim) {
        DeviceTensor in = t(o), y = t(out);
        submit(task("mergeHeads", null, (g, id) -> g.task(id, ElementwiseKernels::mergeHeads, in.array, y.array, batch,
                tokens, heads, headDim), in, y, batch, tokens, heads, headDim));
    }

    @Override
    public void mergeHeadsBackward(Tensor dOut, Tensor dO, int batch, int tokens, int heads, int headDim) {
        mergeHeadsBackward(dOut, dO, batch, tokens, heads, headDim, 1);
    }

    @Override
    public void mergeHeadsBackwardOverwriting(Tensor dOut, Tensor dO, int batch, int tokens, int heads, int headDim) {
        mergeHeadsBackward(dOut, dO, batch, tokens, heads, headDim, 0);
    }

    private void mergeHeadsBackward(Tensor dOut, Tensor dO, int batch, int tokens, int heads, int headDim,
                                    int accumulate) {
        DeviceTensor gy = t(dOut), gx = t(dO);
        submit(task("mergeHeadsBackward", null, (g, id) -> g.task(id, ElementwiseKernels::mergeHeadsBackward, gy.array,
                gx.array, batch, tokens, heads, headDim, accumulate), gy, gx, batch, tokens, heads, headDim, accumulate));
    }

    @Override
    public void attentionScores(Tensor q, Tensor k, Tensor scores, int batchHeads, int tokens, int headDim,
                                double scale) {
        int th = tokens * headDim;
        DeviceTensor qq = t(q), kk = t(k), ss = t(scores);
        submit(gemm(qq, kk, ss, null, tokens, tokens, headDim, batchHeads, th, th, tokens * tokens, 0, 1, (float) scale, 0)
                .withOp(new ScoresOp(qq, kk, ss, batchHeads, tokens, headDim, (float) scale)));
    }

    @Override
    public void attentionScoresBackward(Tensor dScores, Tensor q, Tensor k, Tensor dq, Tensor dk, int batchHeads,
                                        int tokens, int headDim, double scale) {
        attentionScoresBackward(dScores, q, k, dq, dk, batchHeads, tokens, headDim, scale, 1);
    }

    private void attentionScoresBackward(Tensor dScores, Tensor q, Tensor k, Tensor dq, Tensor dk, int batchHeads,
                                         int tokens, int headDim, double scale, int accumulate) {
        int th = tokens * headDim, tt = tokens * tokens;
        DeviceTensor ds = t(dScores);
        // dq (+)= scale·dS·k ; dk (+)= scale·dSᵀ·q
        submit(gemm(ds, t(k), t(dq), null, tokens, headDim, tokens, batchHeads, tt, th, th, 0, 0, (float) scale, accumulate),
                gemm(ds, t(q), t(dk), null, tokens, headDim, tokens, batchHeads, tt, th, th, 1, 0, (float) scale, accumulate));
    }

    static int activationCode(AttentionWeighting w) {
        return switch (w.activation()) {
            case RELU -> DeviceMath.RELU;
            case RELU2 -> DeviceMath.RELU2;
            case GELU -> DeviceMath.GELU;
            case SOFTPLUS -> DeviceMath.SOFTPLUS;
            case IDENTITY -> DeviceMath.IDENTITY;
            case RELU6 -> DeviceMath.RELU6;
            case SIGMOID -> DeviceMath.SIGMOID;
        };
    }

    @Override
    public void attentionWeights(Tensor scores, Tensor weights, int rows, int keys, AttentionWeighting weighting) {
        DeviceTensor s = t(scores), a = t(weights);
        if (weighting.softmax()) {
            int local = rowLocal(keys);
            submit(task("softmax", grid1(rows * local, local), (g, id) -> g.task(id, RowKernels::softmax,
                    new KernelContext(), s.array, a.array, keys), s, a, rows, keys));
        } else {
            int kind = activationCode(weighting), n = rows * keys;
            float scale = (float) weighting.scale(keys);
            submit(task("pointwiseWeights", null, (g, id) -> g.task(id, ElementwiseKernels::pointwiseWeights, s.array,
                    a.array, n, kind, scale), s, a, n, kind, scale).withOp(new PointwiseOp(s, a, rows, keys, kind, scale)));
        }
    }

    @Override
    public void attentionWeightsBackward(Tensor scores, Tensor weights, Tensor dWeights, Tensor dScores, int rows,
                                         int keys, AttentionWeighting weighting) {
        attentionWeightsBackward(scores, weights, dWeights, dScores, rows, keys, weighting, 1);
    }

    private void attentionWeightsBackward(Tensor scores, Tensor weights, Tensor dWeights, Tensor dScores, int rows,
                                          int keys, AttentionWeighting weighting, int accumulate) {
        DeviceTensor s = t(scores), a = t(weights), ga = t(dWeights), gs = t(dScores);
        if (weighting.softmax()) {
            int local = rowLocal(keys);
            submit(task("softmaxBackward", grid1(rows * local, local), (g, id) -> g.task(id, RowKernels::softmaxBackward,
                    new KernelContext(), a.array, ga.array, gs.array, keys, accumulate), a, ga, gs, rows, keys, accumulate));
        } else {
            int kind = activationCode(weighting), n = rows * keys;
            float scale = (float) weighting.scale(keys);
            submit(task("pointwiseWeightsBackward", null, (g, id) -> g.task(id,
                    ElementwiseKernels::pointwiseWeightsBackward, s.array, ga.array, gs.array, n, kind, scale, accumulate),
                    s, ga, gs, n, kind, scale, accumulate));
        }
    }

    @Override
    public void headMix(Tensor maps, Tensor theta, Tensor bias, Tensor out, int batch, int heads, int mapSize) {
        DeviceTensor a = t(maps), th = t(theta), b = t(bias), y = t(out);
        submit(task("headMix", null, (g, id) -> g.task(id, ElementwiseKernels::headMix, a.array, th.array, b.array,
                y.array, batch, heads, mapSize), a, th, b, y, batch, heads, mapSize));
    }

    @Override
    public void headMixBackward(Tensor dOut, Tensor maps, Tensor theta, Tensor dMaps, Tensor dTheta, Tensor dBias,
                                int batch, int heads, int mapSize) {
        DeviceTensor gy = t(dOut), a = t(maps), th = t(theta), ga = t(dMaps), gt = t(dTheta), gb = t(dBias);
        distinctOutputs("headMixBackward", ga, gt, gb);
        int outputs = heads * heads + heads;
        int chunks = chunks((long) batch * mapSize, 256);
        DeviceTensor partial = scratch("headMixGrad", outputs * chunks, gy, a, batch, heads, mapSize);
        submit(task("headMixBackwardMaps", null, (g, id) -> g.task(id, ElementwiseKernels::headMixBackwardMaps,
                        gy.array, th.array, ga.array, batch, heads, mapSize), gy, th, ga, batch, heads, mapSize),
                task("headMixGradPartial", grid2(chunks * REDUCE_LOCAL, outputs, REDUCE_LOCAL, 1), (g, id) -> g.task(id,
                        ReductionKernels::headMixGradPartial, new KernelContext(), gy.array, a.array, partial.array,
                        batch, heads, mapSize, chunks), gy, a, partial, batch, heads, mapSize, chunks),
                task("headMixGradFinish", grid1(outputs * REDUCE_LOCAL, REDUCE_LOCAL), (g, id) -> g.task(id,
                        ReductionKernels::headMixGradFinish, new KernelContext(), partial.array, gt.array, gb.array,
                        heads, chunks), partial, gt, gb, heads, chunks));
    }

    @Override
    public void headBatchNorm(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd,
                              Tensor runningMean, Tensor runningVar, int batch, int heads, int mapSize, double eps,
                              double momentum, boolean training) {
        DeviceTensor in = t(x), g = t(gamma), b = t(beta), out = t(y), mu = t(mean), rs = t(rstd);
        DeviceTensor rm = t(runningMean), rv = t(runningVar);
        distinctOutputs("headBatchNorm", out, mu, rs, rm, rv);
        float e = (float) eps, mom = (float) momentum;
        int train = training ? 1 : 0;
        List<Task> tasks = new ArrayList<>();
        if (training) {
            int count = batch * mapSize;
            int chunks = chunks(count, 256);
            DeviceTensor partial = scratch("bnStats", heads * chunks, in, batch, heads, mapSize);
            WorkerGrid partialGrid = grid2(chunks * REDUCE_LOCAL, heads, REDUCE_LOCAL, 1);
            WorkerGrid finishGrid = grid1(heads * REDUCE_LOCAL, REDUCE_LOCAL);
            tasks.add(task("headSumsPartial", partialGrid, (tg, id) -> tg.task(id, ReductionKernels::headSumsPartial,
                    new KernelContext(), in.array, mu.array, partial.array, batch, heads, mapSize, chunks, 0),
                    in, mu, partial, batch, heads, mapSize, chunks, 0));
            tasks.add(task("headMeanFinish", finishGrid, (tg, id) -> tg.task(id, ReductionKernels::headMeanFinish,
                    new KernelContext(), partial.array, mu.array, chunks, count), partial, mu, chunks, count));
            tasks.add(task("headSumsPartial", partialGrid, (tg, id) -> tg.task(id, ReductionKernels::headSumsPartial,
                    new KernelContext(), in.array, mu.array, partial.array, batch, heads, mapSize, chunks, 1),
                    in, mu, partial, batch, heads, mapSize, chunks, 1));
            tasks.add(task("headVarianceFinish", finishGrid, (tg, id) -> tg.task(id, ReductionKernels::headVarianceFinish,
                    new KernelContext(), partial.array, mu.array, rs.array, rm.array, rv.array, chunks, count, e, mom),
                    partial, mu, rs, rm, rv, chunks, count, e, mom));
        }
        tasks.add(task("headBatchNormApply", null, (tg, id) -> tg.task(id, ElementwiseKernels::headBatchNormApply,
                in.array, g.array, b.array, out.array, mu.array, rs.array, rm.array, rv.array, batch, heads, mapSize, e,
                train), in, g, b, out, mu, rs, rm, rv, batch, heads, mapSize, e, train));
        submit(tasks.toArray(Task[]::new));
    }

    @Override
    public void headBatchNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx,
                                      Tensor dGamma, Tensor dBeta, int batch, int heads, int mapSize) {
        DeviceTensor gy = t(dy), in = t(x), g = t(gamma), mu = t(mean), rs = t(rstd), gx = t(dx), gg = t(dGamma), gb = t(dBeta);
        distinctOutputs("headBatchNormBackward", gx, gg, gb);
        int chunks = chunks((long) batch * mapSize, 256);
        DeviceTensor partial = scratch("bnGrad", heads * chunks * 2, gy, in, batch, heads, mapSize);
        DeviceTensor sums = scratch("bnGradSums", 2 * heads, gy, in, batch, heads, mapSize);
        submit(normGradSums(gy, in, mu, rs, partial, gg, gb, sums, batch, heads, mapSize, chunks, 0),
                normGradSumsFinish(partial, gg, gb, sums, heads, chunks),
                task("headBatchNormBackwardInput", null, (tg, id) -> tg.task(id,
                        ElementwiseKernels::headBatchNormBackwardInput, gy.array, in.array, g.array, mu.array, rs.array,
                        sums.array, gx.array, batch, heads, mapSize), gy, in, g, mu, rs, sums, gx, batch, heads, mapSize));
    }

    private Task normGradSums(DeviceTensor gy, DeviceTensor in, DeviceTensor mu, DeviceTensor rs, DeviceTensor partial,
                              DeviceTensor gg, DeviceTensor gb, DeviceTensor sums, int batch, int heads, int mapSize,
                              int chunks, int perPosition) {
        return task("normGradSumsPartial", grid2(chunks * REDUCE_LOCAL, heads, REDUCE_LOCAL, 1), (tg, id) -> tg.task(id,
                        ReductionKernels::normGradSumsPartial, new KernelContext(), gy.array, in.array, mu.array,
                        rs.array, partial.array, batch, heads, mapSize, chunks, perPosition),
                gy, in, mu, rs, partial, batch, heads, mapSize, chunks, perPosition);
    }

    private Task normGradSumsFinish(DeviceTensor partial, DeviceTensor gg, DeviceTensor gb, DeviceTensor sums, int heads,
                                    int chunks) {
        return task("normGradSumsFinish", grid1(heads * REDUCE_LOCAL, REDUCE_LOCAL), (tg, id) -> tg.task(id,
                        ReductionKernels::normGradSumsFinish, new KernelContext(), partial.array, gg.array, gb.array,
                        sums.array, chunks), partial, gg, gb, sums, chunks);
    }

    @Override
    public void headLayerNorm(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd, int batch,
                              int heads, int mapSize, double eps) {
        DeviceTensor in = t(x), g = t(gamma), b = t(beta), out = t(y), mu = t(mean), rs = t(rstd);
        distinctOutputs("headLayerNorm", out, mu, rs);
        float e = (float) eps;
        submit(task("headLayerNorm", null, (tg, id) -> tg.task(id, ElementwiseKernels::headLayerNorm, in.array, g.array,
                b.array, out.array, mu.array, rs.array, batch, heads, mapSize, e), in, g, b, out, mu, rs, batch, heads,
                mapSize, e));
    }

    @Override
    public void headLayerNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx,
                                      Tensor dGamma, Tensor dBeta, int batch, int heads, int mapSize) {
        DeviceTensor gy = t(dy), in = t(x), g = t(gamma), mu = t(mean), rs = t(rstd), gx = t(dx), gg = t(dGamma), gb = t(dBeta);
        distinctOutputs("headLayerNormBackward", gx, gg, gb);
        int chunks = chunks((long) batch * mapSize, 256);
        DeviceTensor partial = scratch("hlnGrad", heads * chunks * 2, gy, in, batch, heads, mapSize);
        DeviceTensor sums = scratch("hlnGradSums", 2 * heads, gy, in, batch, heads, mapSize);
        submit(task("headLayerNormBackwardInput", null, (tg, id) -> tg.task(id,
                        ElementwiseKernels::headLayerNormBackwardInput, gy.array, in.array, g.array, mu.array, rs.array,
                        gx.array, batch, heads, mapSize), gy, in, g, mu, rs, gx, batch, heads, mapSize),
                normGradSums(gy, in, mu, rs, partial, gg, gb, sums, batch, heads, mapSize, chunks, 1),
                normGradSumsFinish(partial, gg, gb, sums, heads, chunks));
    }

    @Override
    public void attentionApply(Tensor weights, Tensor v, Tensor o, int batchHeads, int tokens, int headDim) {
        int th = tokens * headDim;
        DeviceTensor w = t(weights), vv = t(v), out = t(o);
        submit(gemm(w, vv, out, null, tokens, headDim, tokens, batchHeads, tokens * tokens, th, th, 0, 0, 1f, 0)
                .withOp(new ApplyOp(w, vv, out, batchHeads, tokens, headDim)));
    }

    @Override
    public void attentionApplyBackward(Tensor dO, Tensor weights, Tensor v, Tensor dWeights, Tensor dv,
                                       int batchHeads, int tokens, int headDim) {
        attentionApplyBackward(dO, weights, v, dWeights, dv, batchHeads, tokens, headDim, 1, 1);
    }

    private void attentionApplyBackward(Tensor dO, Tensor weights, Tensor v, Tensor dWeights, Tensor dv, int batchHeads,
                                        int tokens, int headDim, int accumulateWeights, int accumulateV) {
        int th = tokens * headDim, tt = tokens * tokens;
        DeviceTensor go = t(dO);
        // dA (+)= dO·vᵀ ; dv (+)= Aᵀ·dO
        submit(gemm(go, t(v), t(dWeights), null, tokens, tokens, headDim, batchHeads, th, th, tt, 0, 1, 1f,
                        accumulateWeights),
                gemm(t(weights), go, t(dv), null, tokens, headDim, tokens, batchHeads, tt, th, th, 1, 0, 1f, accumulateV));
    }

    /**
     * The attention core's backward writing its scratch dWeights and dScores instead of zeroing and adding into them;
     * dq, dk, dv are added into (as {@link Backend#attentionBackward}) or, with {@code accumulateInputs} 0, overwritten.
     */
    private void attentionBackward(Tensor dO, Tensor q, Tensor k, Tensor v, Tensor scores, Tensor weights,
                                   Tensor dWeights, Tensor dScores, Tensor dq, Tensor dk, Tensor dv, int batchHeads,
                                   int tokens, int headDim, double scale, AttentionWeighting weighting,
                                   int accumulateInputs) {
        attentionApplyBackward(dO, weights, v, dWeights, dv, batchHeads, tokens, headDim, 0, accumulateInputs);
        attentionWeightsBackward(scores, weights, dWeights, dScores, batchHeads * tokens, tokens, weighting, 0);
        attentionScoresBackward(dScores, q, k, dq, dk, batchHeads, tokens, headDim, scale, accumulateInputs);
    }

    @Override
    public void attentionBackward(Tensor dO, Tensor q, Tensor k, Tensor v, Tensor scores, Tensor weights,
                                  Tensor dWeights, Tensor dScores, Tensor dq, Tensor dk, Tensor dv, int batchHeads,
                                  int tokens, int headDim, double scale, AttentionWeighting weighting) {
        attentionBackward(dO, q, k, v, scores, weights, dWeights, dScores, dq, dk, dv, batchHeads, tokens, headDim,
                scale, weighting, 1);
    }

    /** As {@link Backend#attentionBackwardToQkv}, with every intermediate gradient written, none zeroed first. */
    @Override
    public void attentionBackwardToQkv(Tensor dMerged, Tensor qkv, Tensor q, Tensor k, Tensor v, Tensor scores,
                                       Tensor weights, Tensor dWeights, Tensor dScores, Tensor dO, Tensor dq,
                                       Tensor dk, Tensor dv, Tensor dQkv, int batch, int tokens, int heads,
                                       int headDim, double scale, AttentionWeighting weighting) {
        mergeHeadsBackwardOverwriting(dMerged, dO, batch, tokens, heads, headDim);
        attentionBackward(dO, q, k, v, scores, weights, dWeights, dScores, dq, dk, dv, batch * heads, tokens, headDim,
                scale, weighting, 0);
        splitHeadsBackwardOverwriting(dq, dk, dv, dQkv, batch, tokens, heads, headDim);
    }

    // ---------------------------------------------------------------- pooling, loss, optimiser

    @Override
    public void pool(Tensor tokens, Tensor pooled, int batch, int tokenCount, int dim, PoolMode mode) {
        DeviceTensor x = t(tokens), y = t(pooled);
        int mean = mode == PoolMode.MEAN ? 1 : 0;
        submit(task("pool", null, (g, id) -> g.task(id, ElementwiseKernels::pool, x.array, y.array, batch, tokenCount,
                dim, mean), x, y, batch, tokenCount, dim, mean));
    }

    @Override
    public void poolBackward(Tensor dPooled, Tensor dTokens, int batch, int tokenCount, int dim, PoolMode mode) {
        DeviceTensor gy = t(dPooled), gx = t(dTokens);
        int mean = mode == PoolMode.MEAN ? 1 : 0;
        submit(task("poolBackward", null, (g, id) -> g.task(id, ElementwiseKernels::poolBackward, gy.array, gx.array,
                batch, tokenCount, dim, mean), gy, gx, batch, tokenCount, dim, mean));
    }

    @Override
    public void crossEntropy(Tensor logits, Tensor labels, Tensor loss, Tensor dLogits, int batch, int classes,
                             double labelSmoothing) {
        DeviceTensor z = t(logits), y = t(labels), l = t(loss), gz = t(dLogits);
        distinctOutputs("crossEntropy", l, gz);
        float smoothing = (float) labelSmoothing;
        if (labelClasses.put(y, classes) == null) {
            // first use as labels: check what it holds now; later uploads are checked as they come
            FloatArray current = memory.latest(y);
            double[] values = new double[batch];
            for (int b = 0; b < batch; b++) values[b] = current.get(b);
            checkLabels(values, batch, classes);
        }
        submit(task("crossEntropy", grid1(REDUCE_LOCAL, REDUCE_LOCAL), (g, id) -> g.task(id, RowKernels::crossEntropy,
                new KernelContext(), z.array, y.array, l.array, gz.array, batch, classes, smoothing),
                z, y, l, gz, batch, classes, smoothing));
    }

    @Override
    public void sumOfSquares(Tensor x, int n, Tensor acc, int index) {
        DeviceTensor in = t(x), a = t(acc);
        int chunks = chunks(n, 512);
        DeviceTensor partial = scratch("squares", chunks, in, n);
        submit(task("squaresPartial", grid1(chunks * REDUCE_LOCAL, REDUCE_LOCAL), (g, id) -> g.task(id,
                        ReductionKernels::squaresPartial, new KernelContext(), in.array, partial.array, n, chunks),
                        in, partial, n, chunks),
                task("sumInto", grid1(REDUCE_LOCAL, REDUCE_LOCAL), (g, id) -> g.task(id, ReductionKernels::sumInto,
                        new KernelContext(), partial.array, a.array, chunks, index), partial, a, chunks, index));
    }

    @Override
    public void adamW(Tensor param, Tensor grad, Tensor m, Tensor v, int n, Tensor hyper, double weightDecay,
                      double beta1, double beta2, double eps) {
        DeviceTensor p = t(param), g = t(grad), mm = t(m), vv = t(v), h = t(hyper);
        distinctOutputs("adamW", p, mm, vv);
        float wd = (float) weightDecay, b1 = (float) beta1, b2 = (float) beta2, e = (float) eps;
        submit(task("adamW", null, (tg, id) -> tg.task(id, ElementwiseKernels::adamW, p.array, g.array, mm.array,
                vv.array, h.array, n, wd, b1, b2, e), p, g, mm, vv, h, n, wd, b1, b2, e));
    }

    // ---------------------------------------------------------------- multi-tensor optimiser steps

    /**
     * Size-1 tensors for the empty slots of a group kernel ({@link OptimizerKernels}), each slot its own: TornadoVM's
     * scheduler waits forever on a task that gets one array for two written parameters.
     */
    private final List<DeviceTensor> pads = new ArrayList<>();

    private DeviceTensor pad(int index) {
        while (pads.size() <= index) pads.add((DeviceTensor) allocate(1));
        return pads.get(index);
    }

    /**
     * Consecutive groups of at most {@link OptimizerKernels#GROUP} of {@code sizes}' indices, each with fewer than 2³¹
     * elements in all (the kernels index a group with ints).
     */
    static List<int[]> groups(int[] sizes) {
        List<int[]> out = new ArrayList<>();
        int from = 0;
        while (from < sizes.length) {
            int to = from;
            long total = 0;
            while (to < sizes.length && to - from < OptimizerKernels.GROUP && total + sizes[to] <= Integer.MAX_VALUE) {
                total += sizes[to++];
            }
            out.add(new int[]{from, to});
            from = to;
        }
        return out;
    }

    /** The cumulative ends of a group's tensors, slots past the last one holding the total. */
    private static int[] ends(List<DeviceTensor> group) {
        int[] e = new int[OptimizerKernels.GROUP];
        int total = 0;
        for (int k = 0; k < e.length; k++) e[k] = total += k < group.size() ? group.get(k).size : 0;
        return e;
    }

    /** A group's tensors in their slots, pads in the empty ones. */
    private DeviceTensor[] slots(List<DeviceTensor> group) {
        DeviceTensor[] x = new DeviceTensor[OptimizerKernels.GROUP];
        for (int k = 0; k < x.length; k++) x[k] = k < group.size() ? group.get(k) : pad(k - group.size());
        return x;
    }

    /** The non-empty tensors of {@code tensors}, split into groups. */
    private List<List<DeviceTensor>> grouped(List<DeviceTensor> tensors) {
        List<DeviceTensor> nonEmpty = tensors.stream().filter(x -> x.size > 0).toList();
        List<List<DeviceTensor>> out = new ArrayList<>();
        for (int[] g : groups(nonEmpty.stream().mapToInt(x -> x.size).toArray())) out.add(nonEmpty.subList(g[0], g[1]));
        return out;
    }

    private static Object[] args(DeviceTensor[] tensors, int[] ends, Object... more) {
        List<Object> a = new ArrayList<>(Arrays.asList(tensors));
        for (int e : ends) a.add(e);
        a.addAll(Arrays.asList(more));
        return a.toArray();
    }

    @Override
    public void zero(List<Tensor> tensors) {
        Set<DeviceTensor> seen = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
        List<DeviceTensor> onDevice = new ArrayList<>();
        for (Tensor tensor : tensors) {
            DeviceTensor x = t(tensor);
            if (!seen.add(x)) continue; // once is enough, and one array may not be two written parameters
            if (recording == null && !x.resident()) {
                x.array.init(0f); // host-only, as zero(Tensor)
            } else {
                onDevice.add(x);
            }
        }
        List<Task> tasks = new ArrayList<>();
        for (List<DeviceTensor> group : grouped(onDevice)) {
            DeviceTensor[] x = slots(group);
            int[] e = ends(group);
            tasks.add(task("zeroGroup", null, (g, id) -> g.task(id, OptimizerKernels::zeroGroup, x[0].array,
                    x[1].array, x[2].array, x[3].array, x[4].array, x[5].array, x[6].array, x[7].array, e[0], e[1],
                    e[2], e[3], e[4], e[5], e[6], e[7]), args(x, e)));
        }
        if (!tasks.isEmpty()) submit(tasks.toArray(Task[]::new));
    }

    @Override
    public void sumOfSquares(List<Tensor> tensors, Tensor out) {
        DeviceTensor o = t(out);
        if (o.size != 1) throw new IllegalArgumentException("sumOfSquares writes one value, not " + o.size);
        List<DeviceTensor> xs = new ArrayList<>();
        for (Tensor tensor : tensors) xs.add(t(tensor));
        List<List<DeviceTensor>> groups = grouped(xs);
        if (groups.isEmpty()) {
            zero(o);
            return;
        }
        int[] chunks = new int[groups.size()];
        int count = 0;
        for (int i = 0; i < chunks.length; i++) count += chunks[i] = chunks(ends(groups.get(i))[OptimizerKernels.GROUP - 1], 512);
        List<Object> key = new ArrayList<>(xs);
        key.add(o);
        DeviceTensor partial = scratch("squareGroups", count, key.toArray());
        List<Task> tasks = new ArrayList<>();
        int offset = 0;
        for (int i = 0; i < chunks.length; i++) {
            DeviceTensor[] x = slots(groups.get(i));
            int[] e = ends(groups.get(i));
            int off = offset, c = chunks[i];
            tasks.add(task("squaresGroupPartial", grid1(c * REDUCE_LOCAL, REDUCE_LOCAL), (g, id) -> g.task(id,
                    OptimizerKernels::squaresGroupPartial, new KernelContext(), x[0].array, x[1].array, x[2].array,
                    x[3].array, x[4].array, x[5].array, x[6].array, x[7].array, e[0], e[1], e[2], e[3], e[4], e[5], e[6],
                    e[7], partial.array, off, c), args(x, e, partial, off, c)));
            offset += c;
        }
        int total = count;
        tasks.add(task("sumTo", grid1(REDUCE_LOCAL, REDUCE_LOCAL), (g, id) -> g.task(id, OptimizerKernels::sumTo,
                new KernelContext(), partial.array, o.array, total), partial, o, total));
        submit(tasks.toArray(Task[]::new));
    }

    @Override
    public void adamW(List<AdamWUpdate> updates, double beta1, double beta2, double eps) {
        // Tensors that share per-step values (one learning-rate scale) are grouped together, in list order.
        Map<DeviceTensor, List<AdamWUpdate>> byHyper = new LinkedHashMap<>();
        Set<DeviceTensor> written = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
        for (AdamWUpdate u : updates) {
            for (Tensor w : List.of(u.param(), u.m(), u.v())) {
                if (!written.add(t(w))) throw new IllegalArgumentException("adamW: " + w + " is written by two updates");
            }
            t(u.grad());
            if (u.param().size() > 0) byHyper.computeIfAbsent(t(u.hyper()), h -> new ArrayList<>()).add(u);
        }
        float b1 = (float) beta1, b2 = (float) beta2, e = (float) eps;
        List<Task> tasks = new ArrayList<>();
        byHyper.forEach((h, list) -> {
            for (int[] range : groups(list.stream().mapToInt(u -> u.param().size()).toArray())) {
                List<AdamWUpdate> group = list.subList(range[0], range[1]);
                List<DeviceTensor> params = group.stream().map(u -> t(u.param())).toList();
                int[] ends = ends(params);
                DeviceTensor[] x = new DeviceTensor[4 * OptimizerKernels.GROUP];
                float[] wd = new float[OptimizerKernels.GROUP];
                for (int k = 0; k < OptimizerKernels.GROUP; k++) {
                    AdamWUpdate u = k < group.size() ? group.get(k) : null;
                    for (int j = 0; j < 4; j++) {
                        x[4 * k + j] = u == null ? pad(4 * (k - group.size()) + j)
                                : t(j == 0 ? u.param() : j == 1 ? u.grad() : j == 2 ? u.m() : u.v());
                    }
                    wd[k] = u == null ? 0f : (float) u.weightDecay();
                }
                List<Object> a = new ArrayList<>(Arrays.asList(args(x, ends, h)));
                for (float w : wd) a.add(w);
                a.addAll(List.of(b1, b2, e));
                tasks.add(task("adamWGroup", parallelGrid(ends[OptimizerKernels.GROUP - 1]),
                        (g, id) -> adamWGroupTask(g, id, x, h, ends, wd, b1, b2, e),
                        a.toArray()));
            }
        });
        if (!tasks.isEmpty()) submit(tasks.toArray(Task[]::new));
    }

    /** The {@link OptimizerKernels#adamWGroup} task of one group: its slots' tensors, ends and weight decays. */
    private static void adamWGroupTask(TaskGraph graph, String id, DeviceTensor[] x, DeviceTensor hyper, int[] e,
                                       float[] wd, float beta1, float beta2, float eps) {
        FloatArray[] a = Arrays.stream(x).map(d -> d.array).toArray(FloatArray[]::new);
        graph.task(id, OptimizerKernels.adamWGroup(new KernelContext(), a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7],
                a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20], a[21], a[22],
                a[23], a[24], a[25], a[26], a[27], a[28], a[29], a[30], a[31], hyper.array, e[0], e[1], e[2], e[3],
                e[4], e[5], e[6], e[7], wd[0], wd[1], wd[2], wd[3], wd[4], wd[5], wd[6], wd[7], beta1, beta2, eps));
    }
}
