package dev.tornadovit.tornado;

import dev.tornadovit.tensor.PixelTable;
import dev.tornadovit.tornado.kernels.ElementwiseKernels;
import uk.ac.manchester.tornado.api.ImmutableTaskGraph;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.types.arrays.ByteArray;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * {@link TornadoBackend#uploadPixels}: 8-bit pixels go to the device as bytes, a quarter of the floats they become,
 * and one kernel ({@link ElementwiseKernels#pixelsToFloats}) converts them into the image tensor's device buffer
 * through the {@link PixelTable}. Each image tensor gets a staging graph, compiled once and reused every batch: a
 * byte buffer as large as the tensor, the table, and the count of values to convert, all three sent at each run (the
 * table is a few kilobytes). The host copies the batch's bytes into the buffer; nothing is allocated per batch.
 */
final class PixelUploads implements AutoCloseable {
    private final DeviceMemory memory;
    private final Map<Key, Staging> stagings = new HashMap<>();

    /** One staging graph serves one tensor with one image layout. */
    private record Key(DeviceTensor target, int planeSize, int channels) {
    }

    private static final class Staging {
        final ByteArray pixels;
        final FloatArray table;
        final IntArray count;
        final TornadoExecutionPlan plan;
        /** The table whose entries {@link #table} holds. */
        PixelTable loaded;
        /** {@link Plans#waits()} when the buffers were last sent; -1 before. */
        long sentAt = -1;

        Staging(ByteArray pixels, FloatArray table, IntArray count, TornadoExecutionPlan plan) {
            this.pixels = pixels;
            this.table = table;
            this.count = count;
            this.plan = plan;
        }
    }

    PixelUploads(DeviceMemory memory) {
        this.memory = memory;
    }

    /** images[0, count) = pixels[0, count) through {@code table}, on the device; see {@link PixelUploads}. */
    void upload(DeviceTensor images, byte[] pixels, int count, int planeSize, PixelTable table) {
        if (!images.resident()) memory.makeResident(List.of(images));
        // An earlier upload to the tensor that still waits on the host must land before this one, not after it.
        memory.flush();
        Staging s = stagings.computeIfAbsent(new Key(images, planeSize, table.channels()), this::create);
        memory.plans().beforeHostWrite(s.sentAt);
        MemorySegment.copy(pixels, 0, s.pixels.getSegment(), ValueLayout.JAVA_BYTE, 0, count);
        if (s.loaded != table) {
            for (int c = 0; c < table.channels(); c++) {
                for (int v = 0; v < PixelTable.LEVELS; v++) s.table.set(c * PixelTable.LEVELS + v, table.value(c, v));
            }
            s.loaded = table;
        }
        s.count.set(0, count);
        s.sentAt = memory.plans().waits();
        memory.plans().run(s.plan);
    }

    private Staging create(Key key) {
        DeviceTensor t = key.target();
        int capacity = Math.max(1, t.size);
        int entries = key.channels() * PixelTable.LEVELS;
        memory.reserve(capacity + 4L * entries + 4);
        ByteArray pixels = new ByteArray(capacity);
        FloatArray table = new FloatArray(entries);
        IntArray count = new IntArray(1);
        TaskGraph tg = new TaskGraph(DeviceMemory.uniqueName("pixels"))
                .transferToDevice(DataTransferMode.EVERY_EXECUTION, pixels, table, count)
                .consumeFromDevice(t.group.name, t.array)
                .task("pixelsToFloats", ElementwiseKernels::pixelsToFloats, pixels, table, count, t.array,
                        key.planeSize(), key.channels(), capacity);
        ImmutableTaskGraph graph = tg.snapshot();
        // on the device first, then linked: TornadoVM refuses buffers from a graph bound to another device
        TornadoExecutionPlan plan = memory.plans().compiled(graph, null);
        GraphLinks.adopt(graph, t.group.graph);
        return new Staging(pixels, table, count, plan);
    }

    @Override
    public void close() {
        RuntimeException first = null;
        for (Staging s : stagings.values()) first = DeviceMemory.closeQuietly(s.plan, first);
        stagings.clear();
        if (first != null) throw first;
    }
}
