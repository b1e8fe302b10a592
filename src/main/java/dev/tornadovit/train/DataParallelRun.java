package dev.tornadovit.train;

import dev.tornadovit.data.ImageDataset;
import dev.tornadovit.data.Normalization;
import dev.tornadovit.distributed.Distributed;
import dev.tornadovit.distributed.RootBroadcast;
import dev.tornadovit.io.Safetensors;
import dev.tornadovit.model.NamedTensor;
import dev.tornadovit.model.Parameter;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.tensor.Tensor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * What the {@link Trainer} does differently on several ranks: equal shards of each global batch, rank 0's state
 * (weights, running statistics, optimiser moments and step, training state) handed to every rank at the start, and
 * evaluation split over the ranks and totalled. On one rank every method is the identity.
 */
final class DataParallelRun {
    private static final Logger log = LoggerFactory.getLogger(DataParallelRun.class);
    /** Checkpoint metadata: the number of ranks that trained the run (absent: one). */
    static final String RANKS = "data_parallel_ranks";

    private final Distributed distributed;
    private final VisionTransformer model;
    private final AdamW optimizer;
    private ImageDataset evalShard;

    DataParallelRun(Distributed distributed, VisionTransformer model, AdamW optimizer) {
        this.distributed = distributed;
        this.model = model;
        this.optimizer = optimizer;
        if (distributed.size() > 1) model.synchronizeBatchStatistics(distributed.statisticsSum());
    }

    boolean parallel() {
        return distributed.size() > 1;
    }

    /** Each rank's share of a global batch; the batch must split evenly, so that every shard weighs the same. */
    int shardSize(int batchSize) {
        int n = distributed.size();
        if (batchSize % n != 0) {
            throw new IllegalArgumentException("--batch-size " + batchSize + " does not split evenly over " + n
                    + " ranks; the global batch is shared out in equal parts: choose a multiple of " + n);
        }
        return batchSize / n;
    }

    /** Whether rank 0 found something (a checkpoint to resume): its answer on every rank. */
    boolean rootSays(boolean rootAnswer) {
        return Boolean.parseBoolean(RootBroadcast.string(distributed, Boolean.toString(rootAnswer)));
    }

    /** On rank 0, after it read a checkpoint: says how a run from another number of ranks continues. */
    void noteRanksOf(Safetensors.Contents contents, Path file) {
        String stored = contents.metadata().getOrDefault(RANKS, "1");
        int before;
        try {
            before = Integer.parseInt(stored.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(file + ": metadata '" + RANKS + "' is '" + stored + "', expected a whole number");
        }
        if (before != distributed.size()) {
            log.warn("{} was trained on {} rank(s) and continues on {}: the same global batches in the same order, "
                            + "re-sharded; it follows the {}-rank run within float32 summation-order differences, not bit for bit",
                    file, before, distributed.size(), before);
        }
    }

    Map<String, String> metadata(Map<String, String> meta) {
        if (parallel()) meta.put(RANKS, Integer.toString(distributed.size()));
        return meta;
    }

    /** Every rank takes rank 0's weights, running statistics, optimiser moments and step, and training state. */
    TrainingState shareRootState(TrainingState state) {
        if (!parallel()) return state;
        RootBroadcast.tensors(distributed, model.backend(), stateTensors());
        String shared = RootBroadcast.string(distributed, optimizer.step() + "\n" + state.toJson());
        int split = shared.indexOf('\n');
        optimizer.setStep(Long.parseLong(shared.substring(0, split)));
        return TrainingState.fromJson(shared.substring(split + 1), "rank 0's training state");
    }

    /**
     * Checks that every rank still holds rank 0's weights, and hands them over again where one does not. The ranks
     * apply one averaged gradient, so they stay equal as long as the all-reduce gives every rank the same bits, which
     * MPI advises but does not promise; the trainer calls this at the end of each epoch, before the checkpoint.
     */
    void keepRanksEqual() {
        if (!parallel()) return;
        long hash = 1;
        for (Tensor t : stateTensors()) {
            float[] values = model.backend().downloadFloat(t);
            for (float v : values) hash = 31 * hash + Float.floatToRawIntBits(v);
        }
        long[] extremes = {hash, -hash};
        distributed.max(extremes, 2);
        if (extremes[0] != -extremes[1]) {
            log.warn("the ranks' weights drifted apart (the all-reduce gave them different roundings); rank 0's are "
                    + "handed to every rank");
            RootBroadcast.tensors(distributed, model.backend(), stateTensors());
        }
    }

    private List<Tensor> stateTensors() {
        List<Tensor> tensors = new ArrayList<>();
        for (Parameter p : model.parameters()) tensors.add(p.value());
        for (NamedTensor b : model.buffers()) tensors.add(b.value());
        tensors.add(optimizer.firstMoments());
        tensors.add(optimizer.secondMoments());
        return tensors;
    }

    /** The held-out set's evaluation: each rank a contiguous part, the loss and correct counts totalled. */
    Evaluation evaluate(ImageDataset eval, Normalization normalization, BatchInput input) {
        if (!parallel()) return Evaluation.run(model, eval, normalization, input);
        if (evalShard == null) {
            int n = eval.size(), rank = distributed.rank(), size = distributed.size();
            int from = (int) ((long) n * rank / size), to = (int) ((long) n * (rank + 1) / size);
            int[] indices = new int[to - from];
            for (int i = 0; i < indices.length; i++) indices[i] = from + i;
            evalShard = eval.subset(indices);
        }
        double[] totals = new double[3];
        if (evalShard.size() > 0) {
            Evaluation part = Evaluation.run(model, evalShard, normalization, input);
            totals[0] = part.loss() * part.samples();
            totals[1] = Math.round(part.accuracy() * part.samples());
            totals[2] = part.samples();
        }
        distributed.sum(totals, 3);
        int samples = (int) Math.round(totals[2]);
        return new Evaluation(totals[0] / Math.max(1, samples), totals[1] / Math.max(1, samples), samples);
    }
}
