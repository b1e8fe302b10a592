package dev.tornadovit.tornado.bench;

import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.PointwiseActivation;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tensor.Write;
import dev.tornadovit.tornado.TornadoBackend;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * {@code bench --parts memory}: the kernels of a ViT block whose time is memory traffic (GELU, residual adds,
 * LayerNorm, softmax and φ on the attention maps, their backward passes), one by one at a model's shapes, as effective
 * bandwidth: the bytes each must read and write once (fp32) over its time. A device-to-device copy of the largest
 * tensor is the yardstick. Printed in the format of {@code tornado-tasks/scripts/pytorch_memory_bench.py}, which
 * times PyTorch's kernels for the same operations at the same shapes, so the two tables compare row by row.
 */
final class MemoryBoundBench {
    /** One operation: what it runs and how many fp32 values it reads and writes per element. */
    private record Op(String name, long elements, int valuesPerElement, Runnable body) {
    }

    private final TornadoBackend be;
    private final Consumer<String> row;
    private final SplittableRandom random = new SplittableRandom(4);

    MemoryBoundBench(TornadoBackend be, Consumer<String> row) {
        this.be = be;
        this.row = row;
    }

    /**
     * The block's memory-bound operations for {@code tokens} = batch·T rows of {@code width} features, an MLP of
     * {@code hidden} features and {@code heads} attention maps with rows of {@code keys} keys, each timed over
     * {@code reps} queued runs of its recorded graph.
     */
    void run(int tokens, int width, int hidden, int heads, int keys, int reps) {
        int n = Math.multiplyExact(tokens, width), h = Math.multiplyExact(tokens, hidden);
        int mapRows = Math.multiplyExact(tokens, heads), maps = Math.multiplyExact(mapRows, keys);
        Tensor a = rnd(n), b = rnd(n), sum = be.allocate(n), y = be.allocate(n), dy = rnd(n);
        Tensor dx = be.allocate(n), gamma = rnd(width), beta = rnd(width), mean = be.allocate(tokens);
        Tensor rstd = be.allocate(tokens), dGamma = be.allocate(width), dBeta = be.allocate(width);
        Tensor hIn = rnd(h), hOut = be.allocate(h), dh = rnd(h), dhIn = be.allocate(h);
        Tensor scores = rnd(maps), weights = be.allocate(maps), dWeights = rnd(maps), dScores = be.allocate(maps);
        AttentionWeighting softmax = AttentionWeighting.softmaxWeights();
        AttentionWeighting relu = AttentionWeighting.pointwise(PointwiseActivation.RELU, 1);
        be.layerNorm(a, gamma, beta, y, mean, rstd, tokens, width, 1e-6); // the statistics the backward reads
        be.attentionWeights(scores, weights, mapRows, keys, softmax);
        be.synchronize();
        List<Op> ops = new ArrayList<>();
        ops.add(new Op("copy (the yardstick)", h, 2, () -> be.copy(hIn, hOut, h)));
        ops.add(new Op("GELU forward", h, 2, () -> be.gelu(hIn, hOut, h)));
        ops.add(new Op("GELU backward", h, 3, () -> be.geluBackward(hIn, dh, dhIn, h, Write.OVERWRITE)));
        ops.add(new Op("residual add", n, 3, () -> be.add(a, b, sum, n)));
        ops.add(new Op("LayerNorm forward", n, 2,
                () -> be.layerNorm(a, gamma, beta, y, mean, rstd, tokens, width, 1e-6)));
        ops.add(new Op("residual add + LayerNorm", n, 4,
                () -> be.addLayerNorm(a, b, sum, gamma, beta, y, mean, rstd, tokens, width, 1e-6)));
        ops.add(new Op("LayerNorm backward", n, 3,
                () -> be.layerNormBackward(dy, a, gamma, mean, rstd, dx, dGamma, dBeta, tokens, width)));
        ops.add(new Op("softmax forward, maps", maps, 2,
                () -> be.attentionWeights(scores, weights, mapRows, keys, softmax)));
        ops.add(new Op("softmax backward, maps", maps, 3,
                () -> be.attentionWeightsBackward(scores, weights, dWeights, dScores, mapRows, keys, softmax)));
        ops.add(new Op("ReLU/L φ forward, maps", maps, 2,
                () -> be.attentionWeights(scores, weights, mapRows, keys, relu)));
        ops.add(new Op("ReLU/L φ backward, maps", maps, 3,
                () -> be.attentionWeightsBackward(scores, weights, dWeights, dScores, mapRows, keys, relu)));
        row.accept("| memory-bound kernel, fp32 | elements | MB moved | ms | GB/s |");
        row.accept("| --- | --- | --- | --- | --- |");
        for (Op op : ops) {
            double ms = TornadoBench.time(be, "memory " + op.name(), op.body(), reps);
            double megabytes = op.elements() * op.valuesPerElement() * (double) Float.BYTES / 1e6;
            row.accept(String.format(Locale.ROOT, "| %s | %d | %.3f | %.4f | %.1f |", op.name(), op.elements(),
                    megabytes, ms, megabytes / ms));
        }
    }

    private Tensor rnd(int n) {
        return TornadoBench.random(be, n, random);
    }
}
