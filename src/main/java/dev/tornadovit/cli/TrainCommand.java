package dev.tornadovit.cli;

import dev.tornadovit.data.Normalization;
import dev.tornadovit.distributed.Distributed;
import dev.tornadovit.distributed.RankLogging;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.report.TrainingCurves;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.train.EpochRecord;
import dev.tornadovit.train.Trainer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Locale;
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

    @Option(names = "--run-dir", paramLabel = "DIR", description = "Run folder (default runs/<timestamp>).")
    Path runDir;

    @Option(names = "--resume", description = "Continue the run in --run-dir from its last checkpoint, exactly.")
    boolean resume;

    @Override
    public Integer call() throws Exception {
        Distributed distributed = Distributed.fromEnvironment();
        RankLogging.apply(distributed);
        if (resume && runDir == null) throw new IllegalArgumentException("--resume needs --run-dir of the run to continue");
        Path dir = runDir != null ? runDir
                : Path.of("runs", LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        Path last = dir.resolve(Trainer.LAST);
        return RankGuard.run(distributed, () -> !distributed.isRoot() ? ""
                        : Files.exists(last) ? "The last checkpoint, " + last + ", is intact: continue with the same "
                        + "command, --run-dir " + dir + " and --resume." : "No checkpoint was written yet.",
                () -> train(distributed, dir));
    }

    private int train(Distributed distributed, Path dir) {
        DataOptions.Splits splits = data.load(training.seed);
        ViTConfig config = model.build(splits.train());
        Normalization norm = Normalization.compute(splits.train());
        try (Backend be = device.create()) {
            VisionTransformer vit = new VisionTransformer(config, be, training.seed);
            if (distributed.size() > 1) log.info("Data-parallel on {} ranks: {} images per rank and step", distributed.size(),
                    training.batchSize / distributed.size());
            log.info("{} | {} params | {} | device {}", config.attention().label(), String.format(Locale.ROOT, "%,d", vit.parameterCount()),
                    splits.description(), be.name());
            Trainer trainer = new Trainer(vit, splits.train(), splits.eval(), norm, training.options(), dir,
                    new ProgressListener(training.batchSize, ""), distributed);
            if (resume) {
                if (!trainer.resume()) throw new IllegalArgumentException(dir.resolve(Trainer.LAST) + " does not exist: nothing to resume");
            } else if (distributed.isRoot() && Files.exists(dir.resolve(Trainer.LAST))) {
                throw new IllegalArgumentException(dir + " already holds a run; pass --resume to continue it or choose another --run-dir");
            }
            List<EpochRecord> history = trainer.run();
            if (!distributed.isRoot()) return 0;
            TrainingCurves.drawOrWarn(history, config.attention().label(), dir.resolve("curves.png"));
            EpochRecord last = history.getLast();
            System.out.printf(Locale.ROOT, "final eval accuracy %.2f%% (best %.2f%% at epoch %d); run folder %s%n",
                    100 * last.evalAccuracy(), 100 * trainer.state().bestAccuracy(), trainer.state().bestEpoch(), dir);
        }
        return 0;
    }
}
