package dev.tornadovit.train;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tornadovit.checkpoint.Checkpoint;
import dev.tornadovit.data.Batch;
import dev.tornadovit.data.BatchLoader;
import dev.tornadovit.data.ImageDataset;
import dev.tornadovit.data.Normalization;
import dev.tornadovit.data.PrefetchIterator;
import dev.tornadovit.distributed.Distributed;
import dev.tornadovit.distributed.GradientAllReduce;
import dev.tornadovit.io.IoErrors;
import dev.tornadovit.io.Safetensors;
import dev.tornadovit.io.TempFiles;
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
import java.util.Locale;
import java.util.Map;

/**
 * The training loop: seeded batches, AdamW with warm-up + cosine schedule and clipping, evaluation each epoch,
 * best and last checkpoints written atomically into the run folder, and exact resumption from the last one: the
 * data order, augmentation, optimiser state and schedule all continue as if the run had never stopped.
 *
 * <p>Run folder: {@code last.safetensors}, {@code best.safetensors}, {@code metrics.csv}, {@code config.json};
 * {@link #run()} holds it locked ({@link RunFolder}). A non-finite loss or gradient stops the run before anything
 * is written, with a message that says which checkpoints exist and how good each is.
 */
public final class Trainer {
    private static final Logger log = LoggerFactory.getLogger(Trainer.class);
    public static final String LAST = "last.safetensors", BEST = "best.safetensors", METRICS = "metrics.csv";
    /**
     * A training loss this many times that of guessing (ln of the class count) means the run has diverged: no run
     * that learns comes near it (logits a thousand nats apart), and one that got there does not come back.
     */
    public static final int EXPLODED_LOSS_FACTOR = 1000;

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
        this(model, train, eval, normalization, options, runDir, listener, ParameterGroups.ALL, Distributed.single());
    }

    /** @param groups which parameters train, at which share of the learning rate (fine-tuning) */
    public Trainer(VisionTransformer model, ImageDataset train, ImageDataset eval, Normalization normalization,
                   TrainingOptions options, Path runDir, TrainingListener listener, ParameterGroups groups) {
        this(model, train, eval, normalization, options, runDir, listener, groups, Distributed.single());
    }

    /**
     * A trainer that is one rank of a data-parallel run: it trains on its shard of every global batch of
     * {@code options.batchSize()} images, averages the gradients with the other ranks and takes the same optimiser
     * step. Rank 0 alone writes the run folder and reports to {@code listener}; the others need no copy of it.
     *
     * @param groups which parameters train, at which share of the learning rate (fine-tuning)
     */
    public Trainer(VisionTransformer model, ImageDataset train, ImageDataset eval, Normalization normalization,
                   TrainingOptions options, Path runDir, TrainingListener listener, ParameterGroups groups,
                   Distributed distributed) {
        this.model = model;
        this.train = train;
        this.eval = eval;
        this.normalization = normalization;
        this.options = options;
        this.runDir = runDir;
        this.listener = listener == null || !distributed.isRoot() ? TrainingListener.NONE : listener;
        this.optimizer = new AdamW(model.backend(), model.parameters(), options.optimizer(),
                p -> groups.lrScale(p, model.depth()));
        this.distributed = distributed;
        this.parallel = new DataParallelRun(distributed, model, optimizer);
        this.gradients = options.overlapAllReduce()
                ? GradientAllReduce.overlapping(distributed, model.backend(), model.gradientGroups())
                : new GradientAllReduce(distributed, model.backend(), model.parameters());
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
        // Rank 0 alone holds and writes the run folder (other ranks may share its file system).
        try (RunFolder held = distributed.isRoot() ? RunFolder.open(runDir) : null;
             BatchLoader loader = BatchLoader.builder(train).batchSize(options.batchSize()).seed(options.seed())
                     .shard(distributed.rank(), distributed.size()).shuffle(true).dropLast(true)
                     .normalization(normalization).augmentation(options.augmentation()).bytePixels(true).build()) {
            if (distributed.isRoot()) createRunDir();
            state = parallel.shareRootState(state);
            if (parallel.parallel()) log.info("Gradients {}", gradients.describe());
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
            double guessingLoss = Math.log(Math.max(2, classes)), explodedLoss = EXPLODED_LOSS_FACTOR * guessingLoss;
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
                        model.backward(b.size(), gradients.listener());
                        // Every rank gets the same mean gradient and totals, so all stop together on a bad loss.
                        GradientAllReduce.StepTotals step = gradients.average(shardLoss, shardCorrect, b.size());
                        double loss = step.meanLoss();
                        if (!Double.isFinite(loss) || loss > explodedLoss) {
                            throw diverged(String.format(Locale.ROOT, "the training loss became %.4g at epoch %d, batch %d (step %d)",
                                    loss, epoch + 1, b.index(), state.globalStep() + 1) + (Double.isFinite(loss)
                                    ? String.format(Locale.ROOT, ", over %d times that of guessing (%.2f): the run diverged",
                                    EXPLODED_LOSS_FACTOR, guessingLoss) : ""));
                        }
                        correct += step.correct();
                        double lr = schedule.at(state.globalStep());
                        try {
                            optimizer.step(lr);
                        } catch (NonFiniteException e) {
                            throw diverged("the " + e.getMessage() + " (epoch " + (epoch + 1) + ", batch " + b.index() + ")");
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
                    if (best) Checkpoint.save(runDir.resolve(BEST), model, null, state.toJson(), metadata());
                    Checkpoint.save(runDir.resolve(LAST), model, optimizer, state.toJson(), metadata());
                    writeMetrics(history);
                }
                listener.epochDone(record, best);
            }
        }
        return state.history();
    }

    /** Stops a diverging run, saying what its folder holds: nothing is written after the loss became non-finite. */
    private NonFiniteException diverged(String what) {
        return new NonFiniteException(what + "; stopped. " + SavedCheckpoints.describe(runDir, model.config().numClasses())
                + ". Try a lower --lr" + (options.optimizer().clipNorm() > 0 ? "." : ", or gradient clipping (--clip 1)."));
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
            Path tmp = TempFiles.create(runDir, ".config", ".tmp");
            Files.writeString(tmp, model.config().toJson());
            Files.move(tmp, config, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the run folder " + runDir + ": " + IoErrors.reason(e), e);
        }
    }

    /** The CSV is rewritten from the history kept in the checkpoint, so it always matches what can be resumed. */
    private void writeMetrics(List<EpochRecord> history) {
        StringBuilder sb = new StringBuilder(EpochRecord.CSV_HEADER).append('\n');
        for (EpochRecord r : history) sb.append(r.csv()).append('\n');
        try {
            Path tmp = TempFiles.create(runDir, ".metrics", ".tmp");
            Files.writeString(tmp, sb);
            Files.move(tmp, runDir.resolve(METRICS), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + runDir.resolve(METRICS) + ": " + IoErrors.reason(e), e);
        }
    }
}
