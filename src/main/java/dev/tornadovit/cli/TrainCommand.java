package dev.tornadovit.cli;

import dev.tornadovit.data.Normalization;
import dev.tornadovit.distributed.Distributed;
import dev.tornadovit.distributed.RootBroadcast;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.report.TrainingCurves;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.train.EpochRecord;
import dev.tornadovit.train.RunFolder;
import dev.tornadovit.train.Trainer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;

@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Train a ViT. Writes best/last checkpoints, metrics.csv and curves.png into the run folder.")
final class TrainCommand implements Callable<Integer> {
    private static final Logger log = LoggerFactory.getLogger(TrainCommand.class);

    @Mixin
    ModelOptions model;
    @Mixin
    TrainingSettings training;
    @Mixin
    DataOptions data;
    @Mixin
    DeviceOptions device;
    @Mixin
    PrecisionOption precision;
    @Mixin
    FineTuneOptions fineTune;

    @Option(names = "--run-dir", paramLabel = "DIR", description = "Run folder (default runs/<timestamp>).")
    Path runDir;

    @Option(names = "--resume", description = "Continue the run in --run-dir from its last checkpoint, exactly, with "
            + "the options it was started with (kept in its options.json).")
    boolean resume;

    @Option(names = "--overwrite", description = "Replace the run that --run-dir already holds (its checkpoints, metrics, "
            + "curves, config and options).")
    boolean overwrite;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        Distributed distributed = Distributed.fromEnvironment();
        RankLogging.apply(distributed);
        if (resume && runDir == null) throw new IllegalArgumentException("--resume needs --run-dir of the run to continue");
        if (resume && overwrite) throw new IllegalArgumentException("--resume continues the run in --run-dir and "
                + "--overwrite replaces it: pass one of them");
        // The run folder is rank 0's: its name comes from there (ranks may start in different seconds).
        Path dir = runDir != null ? runDir : Path.of(RootBroadcast.string(distributed,
                distributed.isRoot() ? RunFolder.unusedName(Path.of("runs"), "").toString() : ""));
        Path last = dir.resolve(Trainer.LAST);
        return RankGuard.run(distributed, () -> !distributed.isRoot() ? ""
                        : Files.exists(last) ? "The last checkpoint, " + last + ", is intact: continue with the same "
                        + "command, --run-dir " + dir + " and --resume." : "No checkpoint was written yet.",
                () -> start(distributed, dir));
    }

    private int start(Distributed distributed, Path dir) {
        boolean root = distributed.isRoot();
        // What --resume finds is rank 0's (other hosts need no copy of the run folder).
        if (resume && !Boolean.parseBoolean(RootBroadcast.string(distributed,
                Boolean.toString(root && Files.exists(dir.resolve(Trainer.LAST)))))) {
            throw new IllegalArgumentException(dir.resolve(Trainer.LAST) + " does not exist: nothing to resume; "
                    + "start the run again without --resume");
        }
        RunOptions stored = resume ? RunOptions.restore(spec, dir, Set.copyOf(spec.mixins().get("model").options()),
                RootBroadcast.string(distributed, root ? RunOptions.read(dir) : "")) : null;
        OptionChecks.check(training);
        DataOptions.Splits splits = data.load(training.seed);
        ViTConfig config = fineTune.config(model, splits.train());
        if (stored != null) stored.checkModel(config);
        Normalization norm = fineTune.normalization(splits.train());
        // The device and the memory are checked before the run folder is touched: a refused run writes nothing.
        try (Backend be = device.create(precision.value())) {
            OptionChecks.checkMemory(config, training.options(), splits, be);
            try (RunFolder folder = root ? RunFolder.open(dir) : null) {
                if (root && !resume) {
                    folder.requireFresh(overwrite, "pass --resume to continue it, --overwrite to replace it, or choose another --run-dir");
                    RunOptions.save(spec, dir);
                } else if (root && stored != null) {
                    stored.saveChanges(spec);
                }
                train(distributed, be, dir, config, splits, norm);
            }
        }
        return 0;
    }

    /** Trains in {@code dir}, which rank 0 holds. */
    private void train(Distributed distributed, Backend be, Path dir, ViTConfig config, DataOptions.Splits splits,
                       Normalization norm) {
        VisionTransformer vit = new VisionTransformer(config, be, training.seed);
        if (distributed.size() > 1) log.info("Data-parallel on {} ranks: {} images per rank and step", distributed.size(),
                training.batchSize / distributed.size());
        log.info("{} | {} params | {} | device {}", config.attention().label(), String.format(Locale.ROOT, "%,d", vit.parameterCount()),
                splits.description(), be.name());
        if (!resume) fineTune.initialise(vit);
        Trainer trainer = new Trainer(vit, splits.train(), splits.eval(), norm, training.options(), dir,
                new ProgressListener(training.batchSize, ""), fineTune.parameterGroups(), distributed);
        if (resume && !trainer.resume()) {
            throw new IllegalArgumentException(dir.resolve(Trainer.LAST) + " does not exist: nothing to resume; "
                    + "start the run again without --resume");
        }
        List<EpochRecord> history = trainer.run();
        if (!distributed.isRoot()) return;
        TrainingCurves.drawOrWarn(history, config.attention().label(), dir.resolve("curves.png"));
        EpochRecord last = history.getLast();
        System.out.printf(Locale.ROOT, "final eval accuracy %.2f%% (best %.2f%% at epoch %d); run folder %s%n",
                100 * last.evalAccuracy(), 100 * trainer.state().bestAccuracy(), trainer.state().bestEpoch(), dir);
    }
}
