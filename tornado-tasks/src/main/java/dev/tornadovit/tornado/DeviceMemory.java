package dev.tornadovit.tornado;

import dev.tornadovit.tornado.kernels.ElementwiseKernels;
import uk.ac.manchester.tornado.api.ImmutableTaskGraph;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.TornadoExecutionResult;
import uk.ac.manchester.tornado.api.common.TornadoDevice;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.exceptions.TornadoInternalError;
import uk.ac.manchester.tornado.api.exceptions.TornadoOutOfMemoryException;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.ShortArray;

import java.lang.foreign.ValueLayout;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Where every tensor's device buffer comes from, and how data crosses between host and device.
 *
 * <ul>
 *   <li>A tensor gets its device buffer from an <em>owner group</em>: a small task graph (its own execution plan)
 *   that uploads a set of tensors and keeps them on the device. The tensors a recorded graph uses for the first time
 *   form one group. Every other graph adopts the buffers ({@link GraphLinks}), so parameters, optimizer state and
 *   activations stay on the device across all graphs.</li>
 *   <li>Upload: while a tensor is host-only, only its host copy is written. Once it is on the device, a tensor
 *   uploaded on its own (a training batch, the optimizer's per-step values) gets a <em>staging graph</em> that sends
 *   a copy and copies it into place; many tensors of one group uploaded together (a checkpoint's weights) re-send the
 *   group, the other members' current values fetched first.</li>
 *   <li>Download: the owner group's plan transfers the one tensor on demand.</li>
 * </ul>
 * Pending uploads are flushed before any graph runs and before any download.
 */
final class DeviceMemory implements AutoCloseable {
    private static final AtomicLong NAMES = new AtomicLong();
    /** Tensors per touch task: the arity of {@link ElementwiseKernels#touch}. */
    private static final int TOUCH_ARITY = 12;

    private final TornadoDevice device;
    private final Plans plans;
    private final String deviceLabel;
    private final long budgetBytes, maxAllocBytes;
    private long allocatedBytes;
    private final List<OwnerGroup> groups = new ArrayList<>();
    private final List<Staging> stagings = new ArrayList<>();
    private final Set<DeviceTensor> dirty = new LinkedHashSet<>();

    /** A task graph that allocated and uploaded a set of tensors; ordered by creation. */
    static final class OwnerGroup {
        final String name;
        final long order;
        final List<DeviceTensor> members;
        final ImmutableTaskGraph graph;
        final TornadoExecutionPlan plan;
        TornadoExecutionResult lastResult;
        /** {@link Plans#waits()} when the group last sent its host arrays; -1 before. */
        long sentAt = -1;

        OwnerGroup(String name, long order, List<DeviceTensor> members, ImmutableTaskGraph graph, TornadoExecutionPlan plan) {
            this.name = name;
            this.order = order;
            this.members = members;
            this.graph = graph;
            this.plan = plan;
        }
    }

    /** Uploads one tensor through a second array: sent whole, then copied into the tensor's buffer on the device. */
    static final class Staging {
        final DeviceTensor target;
        final FloatArray buffer;
        final TornadoExecutionPlan plan;
        boolean pending;
        /** {@link Plans#waits()} when {@link #buffer} was last sent; -1 before. */
        long sentAt = -1;

        Staging(DeviceTensor target, FloatArray buffer, TornadoExecutionPlan plan) {
            this.target = target;
            this.buffer = buffer;
            this.plan = plan;
        }
    }

    DeviceMemory(TornadoDevice device, String deviceLabel, long limitBytes) {
        this.device = device;
        this.plans = new Plans(device);
        this.deviceLabel = deviceLabel;
        // Leave a tenth for the driver, TornadoVM's own buffers and kernels' scratch.
        long usable = (long) (device.getMaxGlobalMemory() * 0.9);
        if (TornadoDevices.USER_MEMORY_CAP > 0) usable = Math.min(usable, TornadoDevices.USER_MEMORY_CAP);
        this.budgetBytes = limitBytes > 0 ? Math.min(limitBytes, usable) : usable;
        long maxAlloc = device.getMaxAllocMemory();
        this.maxAllocBytes = maxAlloc > 0 ? maxAlloc : Long.MAX_VALUE;
    }

    /** The backend's execution plans: every plan is made and run through them. */
    Plans plans() {
        return plans;
    }

    static String uniqueName(String prefix) {
        return prefix + NAMES.incrementAndGet();
    }

    long allocatedBytes() {
        return allocatedBytes;
    }

    long budgetBytes() {
        return budgetBytes;
    }

    /**
     * Accounts for a new tensor, refusing one that cannot fit: every tensor a model allocates ends up on the device,
     * so running out is predictable here, before TornadoVM or the driver fails in the middle of a step.
     */
    void reserve(long bytes) {
        if (bytes > maxAllocBytes) {
            throw new DeviceMemoryException(String.format(Locale.ROOT,
                    "one tensor needs %s but the TornadoVM device %s allocates at most %s in one buffer. Lower "
                            + "--batch-size (activations and attention maps grow with it) or use a smaller model.",
                    gb(bytes), deviceLabel, gb(maxAllocBytes)));
        }
        if (allocatedBytes + bytes > budgetBytes) {
            throw new DeviceMemoryException(String.format(Locale.ROOT,
                    "the TornadoVM device %s has %s of memory (%s usable here); this model needs at least %s (%s allocated "
                            + "so far, %s more requested). Lower --batch-size (activations and attention maps grow with "
                            + "it) or use a smaller model (--width, --depth, a larger --patch)%s.",
                    deviceLabel, gb(device.getMaxGlobalMemory()), gb(budgetBytes), gb(allocatedBytes + bytes),
                    gb(allocatedBytes), gb(bytes), TornadoDevices.USER_MEMORY_CAP > 0
                            ? ", or raise -Dtornado.device.memory=" + System.getProperty("tornado.device.memory")
                            + " (TORNADOVIT_JAVA_OPTS)" : ""));
        }
        allocatedBytes += bytes;
    }

    /**
     * The one-line error for a driver's out-of-memory failure inside {@code e} (TornadoVM's
     * TornadoOutOfMemoryException, possibly wrapped), or null when {@code e} is something else. {@link #reserve}
     * refuses what cannot fit the budget, so this happens when other processes hold part of the device.
     */
    static DeviceMemoryException outOfMemory(Throwable e, String deviceLabel, long allocatedBytes, long deviceBytes) {
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof TornadoOutOfMemoryException) {
                return new DeviceMemoryException(String.format(Locale.ROOT,
                        "the TornadoVM device %s ran out of memory placing this run's tensors (%s in all) on it: it "
                                + "has %s, so other processes likely hold part of it. Free the device, or lower --batch-size "
                                + "(%s)", deviceLabel, gb(allocatedBytes), gb(deviceBytes),
                        firstLine(c.getMessage())), e);
            }
        }
        return null;
    }

    private static String firstLine(String message) {
        if (message == null) return "no detail";
        String line = message.strip().lines().findFirst().orElse("");
        return line.replace("[ERROR] ", "");
    }

    private static String gb(long bytes) {
        return bytes >= 1e9 ? String.format(Locale.ROOT, "%.2f GB", bytes / 1e9) : String.format(Locale.ROOT, "%.1f MB", bytes / 1e6);
    }

    // ---------------------------------------------------------------- residency

    /**
     * Gives every host-only tensor of {@code tensors} a device buffer: new owner groups of up to {@link #GROUP_SIZE}
     * tensors (a TornadoVM graph holds at most 1024 nodes, about five per tensor here), each run once now.
     */
    void makeResident(Collection<DeviceTensor> tensors) {
        List<DeviceTensor> fresh = new ArrayList<>(new LinkedHashSet<>(tensors));
        fresh.removeIf(DeviceTensor::resident);
        for (int start = 0; start < fresh.size(); start += GROUP_SIZE) {
            createGroup(fresh.subList(start, Math.min(fresh.size(), start + GROUP_SIZE)));
        }
    }

    private static final int GROUP_SIZE = 96;

    private void createGroup(List<DeviceTensor> fresh) {
        String name = uniqueName("own");
        // The last touch task of each kind is filled up with one-element arrays of its own: passing one array twice to
        // a task makes TornadoVM's scheduler wait on the task itself, forever.
        List<FloatArray> floats = new ArrayList<>();
        List<ShortArray> halves = new ArrayList<>();
        for (DeviceTensor t : fresh) {
            if (t.bf16()) halves.add(t.halves);
            else floats.add(t.array);
        }
        while (floats.size() % TOUCH_ARITY != 0) floats.add(new FloatArray(1));
        while (halves.size() % TOUCH_ARITY != 0) halves.add(new ShortArray(1));
        // Every array a task uses is declared, fillers too: TornadoVM frees (and, on PTX, unpins) only declared arrays
        // when the plan closes. An undeclared filler stayed pinned after the garbage collector freed its memory, and
        // copies from arrays later allocated over that page failed (CUDA "invalid value").
        List<Object> all = new ArrayList<>(floats);
        all.addAll(halves);
        Object[] declared = all.toArray();
        TaskGraph tg = new TaskGraph(name).transferToDevice(DataTransferMode.EVERY_EXECUTION, declared);
        for (int start = 0; start < floats.size(); start += TOUCH_ARITY) {
            List<FloatArray> a = floats.subList(start, start + TOUCH_ARITY);
            tg.task("touch" + start / TOUCH_ARITY, ElementwiseKernels::touch, a.get(0), a.get(1), a.get(2), a.get(3),
                    a.get(4), a.get(5), a.get(6), a.get(7), a.get(8), a.get(9), a.get(10), a.get(11));
        }
        for (int start = 0; start < halves.size(); start += TOUCH_ARITY) {
            List<ShortArray> a = halves.subList(start, start + TOUCH_ARITY);
            tg.task("touchHalves" + start / TOUCH_ARITY, ElementwiseKernels::touchHalves, a.get(0), a.get(1), a.get(2),
                    a.get(3), a.get(4), a.get(5), a.get(6), a.get(7), a.get(8), a.get(9), a.get(10), a.get(11));
        }
        tg.persistOnDevice(declared).transferToHost(DataTransferMode.UNDER_DEMAND, declared);
        ImmutableTaskGraph graph = tg.snapshot();
        TornadoExecutionPlan plan = plans.compiled(graph, null);
        OwnerGroup group = new OwnerGroup(name, groups.size(), List.copyOf(fresh), graph, plan);
        groups.add(group);
        group.sentAt = plans.waits();
        try {
            group.lastResult = plans.run(plan);
        } catch (RuntimeException e) {
            DeviceMemoryException full = outOfMemory(e, deviceLabel, allocatedBytes, device.getMaxGlobalMemory());
            throw full != null ? full : e;
        }
        for (DeviceTensor t : fresh) {
            t.group = group;
            t.hostDirty = false;
            dirty.remove(t);
        }
    }

    /** The owner groups of {@code tensors}, oldest first, each with the tensors it owns among them. */
    static Map<OwnerGroup, List<DeviceTensor>> byOwner(Collection<DeviceTensor> tensors) {
        List<DeviceTensor> sorted = new ArrayList<>(new LinkedHashSet<>(tensors));
        sorted.sort((x, y) -> Long.compare(x.group.order, y.group.order));
        Map<OwnerGroup, List<DeviceTensor>> map = new LinkedHashMap<>();
        for (DeviceTensor t : sorted) map.computeIfAbsent(t.group, g -> new ArrayList<>()).add(t);
        return map;
    }

    // ---------------------------------------------------------------- host ↔ device

    void upload(DeviceTensor t, float[] values) {
        requireFloats(t);
        if (!t.resident()) {
            MemorySegment.copy(values, 0, t.array.getSegment(), ValueLayout.JAVA_FLOAT, 0, values.length);
            return;
        }
        FloatArray dst = hostSideFor(t);
        MemorySegment.copy(values, 0, dst.getSegment(), ValueLayout.JAVA_FLOAT, 0, values.length);
    }

    void upload(DeviceTensor t, double[] values) {
        requireFloats(t);
        FloatArray dst = t.resident() ? hostSideFor(t) : t.array;
        for (int i = 0; i < values.length; i++) dst.set(i, (float) values[i]);
    }

    /** The backend's bf16 buffers live on the device only: their values are made and read there. */
    private static void requireFloats(DeviceTensor t) {
        if (t.bf16()) throw new IllegalStateException(t + " lives on the device only; it is not uploaded or downloaded");
    }

    /**
     * Where an upload to a resident tensor writes: the staging buffer of a tensor that has one; otherwise its host
     * copy, sent at the next flush.
     */
    private FloatArray hostSideFor(DeviceTensor t) {
        if (t.staging != null) {
            plans.beforeHostWrite(t.staging.sentAt);
            t.staging.pending = true;
            return t.staging.buffer;
        }
        plans.beforeHostWrite(t.group.sentAt);
        t.hostDirty = true;
        dirty.add(t);
        return t.array;
    }

    private Staging createStaging(DeviceTensor t) {
        reserve(t.bytes());
        FloatArray buffer = new FloatArray(Math.max(1, t.size));
        String name = uniqueName("stage");
        TaskGraph tg = new TaskGraph(name).transferToDevice(DataTransferMode.EVERY_EXECUTION, buffer)
                .consumeFromDevice(t.group.name, t.array)
                .task("copy", ElementwiseKernels::copy, buffer, t.array, Math.max(1, t.size));
        ImmutableTaskGraph graph = tg.snapshot();
        // on the device first, then linked: TornadoVM refuses buffers from a graph bound to another device
        TornadoExecutionPlan plan = plans.compiled(graph, null);
        GraphLinks.adopt(graph, t.group.graph);
        Staging s = new Staging(t, buffer, plan);
        stagings.add(s);
        return s;
    }

    /** A group with at least this many uploaded tensors is sent whole rather than tensor by tensor. */
    private static final int GROUP_UPLOAD_MIN = 4;

    /**
     * Sends pending uploads. A group many of whose tensors were uploaded (a checkpoint's weights) is sent whole, after
     * fetching its other members' current values so that only the uploaded tensors change; a tensor uploaded on its
     * own (a training batch, the optimizer's per-step values) gets a staging graph, compiled once and reused.
     */
    void flush() {
        if (!dirty.isEmpty()) {
            Map<OwnerGroup, List<DeviceTensor>> byGroup = new LinkedHashMap<>();
            for (DeviceTensor t : dirty) byGroup.computeIfAbsent(t.group, g -> new ArrayList<>()).add(t);
            dirty.clear();
            for (Map.Entry<OwnerGroup, List<DeviceTensor>> e : byGroup.entrySet()) {
                OwnerGroup g = e.getKey();
                if (e.getValue().size() >= GROUP_UPLOAD_MIN) {
                    List<Object> clean = new ArrayList<>();
                    for (DeviceTensor m : g.members) if (!m.hostDirty) clean.add(m.buffer());
                    if (!clean.isEmpty()) {
                        g.lastResult.transferToHost(clean.toArray());
                        plans.waited();
                    }
                    g.sentAt = plans.waits();
                    g.lastResult = plans.run(g.plan);
                } else {
                    for (DeviceTensor t : e.getValue()) {
                        if (t.staging == null) t.staging = createStaging(t);
                        plans.beforeHostWrite(t.staging.sentAt);
                        MemorySegment.copy(t.array.getSegment(), 0, t.staging.buffer.getSegment(), 0, t.bytes());
                        t.staging.pending = true;
                    }
                }
                for (DeviceTensor t : e.getValue()) t.hostDirty = false;
            }
        }
        for (Staging s : stagings) {
            if (s.pending) {
                s.sentAt = plans.waits();
                plans.run(s.plan);
                s.pending = false;
            }
        }
    }

    /** Where the tensor's newest value is, fetched from the device only if nothing newer waits on the host. */
    FloatArray latest(DeviceTensor t) {
        requireFloats(t);
        if (t.staging != null && t.staging.pending) return t.staging.buffer;
        if (!t.resident() || t.hostDirty) return t.array;
        t.group.lastResult.transferToHost(t.array);
        plans.waited();
        return t.array;
    }

    /** The tensor's current value: from the device if it lives there. */
    FloatArray download(DeviceTensor t) {
        requireFloats(t);
        if (t.resident()) {
            flush();
            t.group.lastResult.transferToHost(t.array);
            plans.waited();
        }
        return t.array;
    }

    /** A bf16 tensor's current bit patterns, from the device. */
    short[] downloadBf16(DeviceTensor t) {
        if (!t.bf16()) throw new IllegalArgumentException(t + " is not a bf16 tensor");
        if (t.resident()) {
            flush();
            t.group.lastResult.transferToHost(t.halves);
            plans.waited();
        }
        return t.halves.toHeapArray();
    }

    @Override
    public void close() {
        RuntimeException first = null;
        for (Staging s : stagings) first = closeQuietly(s.plan, first);
        for (OwnerGroup g : groups.reversed()) first = closeQuietly(g.plan, first);
        stagings.clear();
        groups.clear();
        if (first != null) throw first;
    }

    static RuntimeException closeQuietly(TornadoExecutionPlan plan, RuntimeException first) {
        try {
            plan.close();
        } catch (Exception | TornadoInternalError e) {
            if (first == null) first = new IllegalStateException("closing a TornadoVM execution plan failed", e);
        }
        return first;
    }
}
