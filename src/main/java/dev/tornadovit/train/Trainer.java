package dev.tornadovit.train;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tornadovit.data.Batch;
import dev.tornadovit.data.BatchLoader;
import dev.tornadovit.data.ImageDataset;
import dev.tornadovit.data.Normalization;
import dev.tornadovit.data.PrefetchIterator;
import dev.tornadovit.distributed.Distributed;
import dev.tornadovit.distributed.GradientAllReduce;
import dev.tornadovit.io.Safetensors;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.tensor.Backend;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The training loop: seeded batches, AdamW with warm-up + cosine schedule and clipping, evaluation each epoch,
 * best and last checkpoints written atomically into the run folder, and exact resumption from the last one: the
 * data order, augmentation, optimiser state and schedule all continue as if the run had never stopped.
 *
 * <p>Run folder: {@code last.safetensors}, {@code best.safetensors}, {@code metrics.csv}, {@code config.json}.
 */
public final class Trainer {
    private static final Logger log = LoggerFactory.getLogger(Trainer.class);
    public static final String LAST = "last.safetensors", BEST = "best.safetensors", METRICS = "metrics.csv";

    private final VisionTransformer model;
    private final ImageDataset train, eval;
    private final Normalization normalization;
    private final TrainingOptions options;
    private final Path runDir;
    private final TrainingListener listener;
    private final AdamW optimizer;
    private final Distributed distributed;
    private final DataParallelRun parallel;
    private final GradientAllReduce gradients;
    private TrainingState state = TrainingState.start();

    /**
     * @param eval the held-out set evaluated after each epoch (validation or test)
     */
    public Trainer(VisionTransformer model, ImageDataset train, ImageDataset eval, Normalization normalization,
                   TrainingOptions options, Path runDir, TrainingListener listener) {
        this(model, train, eval, normalization, options, runDir, listener, Distributed.single());
    }

    /**
     * A trainer that is one rank of a data-parallel run: it trains on its shard of every global batch of
     * {@code options.batchSize()} images, averages the gradients with the other ranks and takes the same optimiser
     * step. Rank 0 alone writes the run folder and reports to {@code listener}; the others need no copy of it.
     */
    public Trainer(VisionTransformer model, ImageDataset train, ImageDataset eval, Normalization normalization,
                   TrainingOptions options, Path runDir, TrainingListener listener, Distributed distributed) {
        this.model = model;
        this.train = train;
        this.eval = eval;
        this.normalization = normalization;
        this.options = options;
        this.runDir = runDir;
        this.listener = listener == null || !distributed.isRoot() ? TrainingListener.NONE : listener;
        this.optimizer = new AdamW(model.backend(), model.parameters(), options.optimizer());
        this.distributed = distributed;
        this.parallel = new DataParallelRun(distributed, model, optimizer);
        this.gradients = new GradientAllReduce(distributed, model.backend(), model.parameters());
        if (train.numClasses() > model.config().numClasses()) {
            throw new IllegalArgumentException("the training data has " + train.numClasses()
                    + " classes but the model's num_classes is " + model.config().numClasses());
        }
    }

    public AdamW optimizer() {
        return optimizer;
    }

    public TrainingState state() {
        return state;
    }

    /**
     * Continues from {@code runDir/last.safetensors}; returns false when there is nothing to resume. Of several
     * ranks, rank 0 reads the checkpoint and {@link #run} hands its state to the others.
     */
    public boolean resume() {
        Path last = runDir.resolve(LAST);
        if (!parallel.rootSays(distributed.isRoot() && Files.exists(last))) return false;
        if (!distributed.isRoot()) return true;
        Safetensors.Contents contents = Safetensors.read(last);
        var stored = Checkpoint.readConfig(contents, last);
        if (!stored.equals(model.config())) {
            throw new IllegalArgumentException(last + ": the checkpoint's model config differs from the requested one; "
                    + "resume with the same model options (stored: " + stored.toJson().replaceAll("\\s+", " ") + ")");
        }
        Checkpoint.loadWeights(model, contents, last);
        String json = Checkpoint.loadOptimizer(optimizer, contents, last);
        if (json == null) throw new IllegalArgumentException(last + ": metadata has no 'training_state' to resume from");
        state = TrainingState.fromJson(json, last.toString());
        parallel.noteRanksOf(contents, last);
        log.info("Resuming {} at epoch {} batch {} (step {})", runDir, state.epoch() + 1, state.nextBatch(), state.globalStep());
        return true;
    }

    private long totalSteps(int batchesPerEpoch) {
        long all = (long) batchesPerEpoch * options.epochs();
        return options.maxSteps() > 0 ? Math.min(all, options.maxSteps()) : all;
    }

    /** Trains to the end; returns the metrics history (one record per epoch). */
    public List<EpochRecord> run() {
        Backend be = model.backend();
        int shard = parallel.shardSize(options.batchSize());
        if (distributed.isRoot()) createRunDir();
        state = parallel.shareRootState(state);
        try (BatchLoader loader = BatchLoader.builder(train).batchSize(options.batchSize()).seed(options.seed())
                .shard(distributed.rank(), distributed.size()).shuffle(true).dropLast(true)
                .normalization(normalization).augmentation(options.augmentation()).build()) {
            int perEpoch = loader.batchesPerEpoch();
            if (perEpoch == 0) {
                throw new IllegalArgumentException("the training set has " + train.size() + " images, fewer than one batch of "
                        + options.batchSize() + "; lower --batch-size");
            }
            long total = totalSteps(perEpoch);
            LearningRateSchedule schedule = new LearningRateSchedule(options.lr(),
                    Math.round(options.warmupFraction() * total), total, options.minLr());
            BatchInput input = new BatchInput(be, model.config(), shard);
            BatchInput evalInput = new BatchInput(be, model.config(), options.evalBatchSize());
            // One workspace for training and evaluation batches, allocated once.
            model.reserve(Math.max(shard, options.evalBatchSize()));
            int classes = model.config().numClasses();
            long startNanos = System.nanoTime();
            double elapsedBefore = state.elapsedSeconds();

            while (state.epoch() < options.epochs() && state.globalStep() < total) {
                int epoch = state.epoch();
                listener.epochStarted(epoch, options.epochs(), state.nextBatch(), perEpoch);
                double lossSum = state.epochLossSum();
                long correct = state.epochCorrect(), seen = state.epochSeen();
                long epochStart = System.nanoTime();
                int trainedThisSession = 0;
                model.setTraining(true);
                try (PrefetchIterator<Batch> it = loader.iterator(epoch, state.nextBatch())) {
                    while (it.hasNext() && state.globalStep() < total) {
                        Batch b = it.next();
                        input.upload(b);
                        model.zeroGradients();
                        model.forward(input.images(), b.size());
                        double shardLoss = be.readDouble(model.lossAndGradient(input.labels(), b.size()), 0);
                        long shardCorrect = BatchInput.countCorrect(be.downloadFloat(model.logits()), b.labels(), b.size(), classes);
                        model.backward(b.size());
                        // Every rank gets the same mean gradient and totals, so all stop together on a bad loss.
                        GradientAllReduce.StepTotals step = gradients.average(shardLoss, shardCorrect, b.size());
                        double loss = step.meanLoss();
                        if (!Double.isFinite(loss)) {
                            throw new NonFiniteException("the training loss became " + loss + " at epoch " + (epoch + 1)
                                    + ", batch " + b.index() + " (step " + (state.globalStep() + 1) + "); stopped. The last good "
                                    + "checkpoint is kept in " + runDir.resolve(LAST) + ". Try a lower --lr or stronger clipping.");
                        }
                        correct += step.correct();
                        double lr = schedule.at(state.globalStep());
                        try {
                            optimizer.step(lr);
                        } catch (NonFiniteException e) {
                            throw new NonFiniteException("the " + e.getMessage() + " (epoch " + (epoch + 1) + ", batch "
                                    + b.index() + "); stopped. The last good checkpoint is kept in " + runDir.resolve(LAST)
                                    + ". Try a lower --lr or stronger clipping.");
                        }
                        lossSum += loss * step.samples();
                        seen += step.samples();
                        trainedThisSession += step.samples();
                        double seconds = (System.nanoTime() - epochStart) / 1e9;
                        state = new TrainingState(epoch, b.index() + 1, state.globalStep() + 1, state.bestAccuracy(),
                                state.bestEpoch(), elapsedBefore + (System.nanoTime() - startNanos) / 1e9, lossSum, correct,
                                seen, state.history());
                        listener.stepDone(epoch, b.index(), state.globalStep(), loss, lr, trainedThisSession / Math.max(seconds, 1e-9));
                        if (options.checkpointEvery() > 0 && state.globalStep() % options.checkpointEvery() == 0
                                && state.nextBatch() < perEpoch && distributed.isRoot()) {
                            Checkpoint.save(runDir.resolve(LAST), model, optimizer, state.toJson(), metadata());
                        }
                    }
                }
                double epochSeconds = (System.nanoTime() - epochStart) / 1e9;
                parallel.keepRanksEqual();
                Evaluation ev = parallel.evaluate(eval, normalization, evalInput);
                boolean best = ev.accuracy() > state.bestAccuracy();
                EpochRecord record = new EpochRecord(epoch + 1, state.globalStep(), lossSum / Math.max(1, seen),
                        (double) correct / Math.max(1, seen), ev.loss(), ev.accuracy(), schedule.at(Math.max(0, state.globalStep() - 1)),
                        trainedThisSession / Math.max(epochSeconds, 1e-9), elapsedBefore + (System.nanoTime() - startNanos) / 1e9);
                List<EpochRecord> history = new ArrayList<>(state.history());
                history.add(record);
                state = new TrainingState(epoch + 1, 0, state.globalStep(), best ? ev.accuracy() : state.bestAccuracy(),
                        best ? epoch + 1 : state.bestEpoch(), record.elapsedSeconds(), 0, 0, 0, history);
                if (distributed.isRoot()) {
                    if (best) Checkpoint.save(runDir.resolve(BEST), model, null, null, metadata());
                    Checkpoint.save(runDir.resolve(LAST), model, optimizer, state.toJson(), metadata());
                    writeMetrics(history);
                }
                listener.epochDone(record, best);
            }
        }
        return state.history();
    }

    /** What predict needs besides the weights: the normalisation and the class names. */
    private Map<String, String> metadata() {
        Map<String, Object> pre = new LinkedHashMap<>();
        if (normalization != null) {
            pre.put("mean", normalization.means());
            pre.put("std", normalization.stds());
        }
        pre.put("class_names", train.classNames());
        Map<String, String> meta = new LinkedHashMap<>();
        try {
            meta.put("preprocessing", new ObjectMapper().writeValueAsString(pre));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        return parallel.metadata(meta);
    }

    private void createRunDir() {
        try {
            Files.createDirectories(runDir);
            Path config = runDir.resolve("config.json");
            Path tmp = Files.createTempFile(runDir, ".config", ".tmp");
            Files.writeString(tmp, model.config().toJson());
            Files.move(tmp, config, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the run folder " + runDir + ": " + e.getMessage(), e);
        }
    }

    /** The CSV is rewritten from the history kept in the checkpoint, so it always matches what can be resumed. */
    private void writeMetrics(List<EpochRecord> history) {
        StringBuilder sb = new StringBuilder(EpochRecord.CSV_HEADER).append('\n');
        for (EpochRecord r : history) sb.append(r.csv()).append('\n');
        try {
            Path tmp = Files.createTempFile(runDir, ".metrics", ".tmp");
            Files.writeString(tmp, sb);
            Files.move(tmp, runDir.resolve(METRICS), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + runDir.resolve(METRICS) + ": " + e.getMessage(), e);
        }
    }
}
