package dev.tornadovit.distributed;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Tensor;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Makes every rank hold one rank's values: tensors (weights, optimiser moments, running statistics) packed into one
 * message, and strings (a training state). Used where only rank 0 read a checkpoint, so that the other ranks need no
 * copy of it, and at the start of a run, so that the ranks begin from one set of weights.
 */
public final class RootBroadcast {
    private RootBroadcast() {
    }

    /** Every rank's tensors become rank 0's. */
    public static void tensors(Distributed distributed, Backend be, List<Tensor> tensors) {
        if (distributed.size() == 1) return;
        long total = tensors.stream().mapToLong(Tensor::size).sum();
        if (total > Integer.MAX_VALUE - 8) throw new IllegalArgumentException(total + " values exceed one broadcast");
        float[] flat = new float[(int) total];
        boolean root = distributed.isRoot();
        int offset = 0;
        if (root) {
            for (Tensor t : tensors) {
                float[] v = be instanceof CpuBackend ? CpuBackend.data(t) : be.downloadFloat(t);
                System.arraycopy(v, 0, flat, offset, t.size());
                offset += t.size();
            }
        }
        distributed.broadcast(flat, flat.length, 0);
        if (root) return;
        offset = 0;
        for (Tensor t : tensors) {
            float[] v = new float[t.size()];
            System.arraycopy(flat, offset, v, 0, v.length);
            be.upload(t, v);
            offset += v.length;
        }
    }

    /** Rank 0's {@code value} on every rank (the argument of the other ranks is ignored; may be null there). */
    public static String string(Distributed distributed, String value) {
        return string(distributed, value, 0);
    }

    /** Rank {@code from}'s {@code value} on every rank (the other ranks' argument is ignored; may be null there). */
    public static String string(Distributed distributed, String value, int from) {
        if (distributed.size() == 1) return value;
        byte[] length = new byte[4];
        byte[] bytes = distributed.rank() == from ? value.getBytes(StandardCharsets.UTF_8) : null;
        if (bytes != null) ByteBuffer.wrap(length).putInt(bytes.length);
        distributed.broadcast(length, 4, from);
        int n = ByteBuffer.wrap(length).getInt();
        if (bytes == null) bytes = new byte[n];
        distributed.broadcast(bytes, n, from);
        return new String(bytes, StandardCharsets.UTF_8);
    }
}
