package dev.tornadovit.tornado;

import dev.tornadovit.tensor.PixelTable;
import dev.tornadovit.tensor.Tensor;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.Map;

/**
 * {@link TornadoBackend}'s uploads and downloads, outside graph bodies only, with the labels of a cross-entropy
 * checked on the host as they are uploaded; 8-bit pixels go through {@link PixelUploads}.
 */
final class HostTransfers extends DeviceOperations implements AutoCloseable {
    /** Tensors used as cross-entropy labels, with their class count: uploads to them are checked on the host. */
    private final Map<DeviceTensor, Integer> labelClasses = new HashMap<>();
    private final DeviceMemory memory;
    private final PixelUploads pixels;

    HostTransfers(TornadoBackend backend, DeviceMemory memory) {
        super(backend);
        this.memory = memory;
        this.pixels = new PixelUploads(memory);
    }

    private void checkNotRecording(String what) {
        if (recording()) {
            throw new IllegalStateException(what + " inside a graph body: a recorded graph replays only device "
                    + "operations, so values must be uploaded before and downloaded after RecordedGraph.run");
        }
    }

    void upload(Tensor dst, float[] src) {
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

    void upload(Tensor dst, double[] src) {
        checkNotRecording("upload");
        DeviceTensor d = t(dst);
        checkLength(d, src.length);
        Integer classes = labelClasses.get(d);
        if (classes != null) checkLabels(src, src.length, classes);
        memory.upload(d, src);
    }

    void uploadPixels(Tensor images, byte[] values, int batch, int planeSize, PixelTable table) {
        checkNotRecording("upload");
        DeviceTensor d = t(images);
        int count = table.count(images, values, batch, planeSize);
        if (labelClasses.containsKey(d)) {
            throw new IllegalArgumentException("pixels cannot be uploaded into " + d + ", which holds cross-entropy labels");
        }
        if (count > 0) pixels.upload(d, values, count, planeSize, table);
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

    /**
     * Marks {@code labels} as cross-entropy labels of {@code classes} classes: on first use, checks the {@code batch}
     * labels it holds now; later uploads to it are checked as they come.
     */
    void useAsLabels(DeviceTensor labels, int batch, int classes) {
        if (labelClasses.put(labels, classes) == null) {
            // first use as labels: check what it holds now; later uploads are checked as they come
            FloatArray current = memory.latest(labels);
            double[] values = new double[batch];
            for (int b = 0; b < batch; b++) values[b] = current.get(b);
            checkLabels(values, batch, classes);
        }
    }

    float[] downloadFloat(Tensor src) {
        checkNotRecording("download");
        DeviceTensor d = t(src);
        FloatArray a = memory.download(d);
        float[] out = new float[d.size];
        MemorySegment.copy(a.getSegment(), ValueLayout.JAVA_FLOAT, 0, out, 0, d.size);
        return out;
    }

    double[] downloadDouble(Tensor src) {
        float[] f = downloadFloat(src);
        double[] out = new double[f.length];
        for (int i = 0; i < f.length; i++) out[i] = f[i];
        return out;
    }

    @Override
    public void close() {
        pixels.close();
    }
}
