package dev.tornadovit.train;

import dev.tornadovit.io.Safetensors;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The checkpoints a run folder actually holds, in words: when each was written (step, epoch) and how good it is
 * (its evaluation, or that it was written mid-epoch and not evaluated). A diverging run says this rather than
 * promising a "last good checkpoint" that may not exist or may itself be useless.
 */
final class SavedCheckpoints {
    private SavedCheckpoints() {
    }

    /** One sentence on {@code runDir}'s last and best checkpoints; {@code numClasses} gives the loss of guessing. */
    static String describe(Path runDir, int numClasses) {
        List<String> found = new ArrayList<>();
        for (String name : List.of(Trainer.LAST, Trainer.BEST)) {
            Path file = runDir.resolve(name);
            if (Files.exists(file)) found.add(describeOne(file, Math.log(Math.max(2, numClasses))));
        }
        if (found.isEmpty()) return "No checkpoint was written: " + runDir + " holds neither " + Trainer.LAST + " nor " + Trainer.BEST;
        return "Checkpoints in " + runDir + ": " + String.join("; ", found);
    }

    private static String describeOne(Path file, double guessingLoss) {
        String name = file.getFileName().toString();
        TrainingState s;
        try {
            String json = Safetensors.read(file).metadata().get("training_state");
            if (json == null) return name + " (it does not record when it was written)";
            s = TrainingState.fromJson(json, file.toString());
        } catch (RuntimeException e) {
            return name + " (unreadable: " + e.getMessage() + ")";
        }
        if (s.nextBatch() == 0 && !s.history().isEmpty()) {
            EpochRecord r = s.history().getLast();
            boolean useless = !(r.evalLoss() < guessingLoss);
            return String.format(Locale.ROOT, "%s, written at step %d (end of epoch %d), eval loss %.4g, accuracy %.2f%%%s",
                    name, s.globalStep(), r.epoch(), r.evalLoss(), 100 * r.evalAccuracy(),
                    useless ? String.format(Locale.ROOT, ", no better than guessing (%.2f)", guessingLoss) : "");
        }
        String trainLoss = s.epochSeen() > 0
                ? String.format(Locale.ROOT, ", mean training loss of that epoch so far %.4g", s.epochLossSum() / s.epochSeen()) : "";
        return String.format(Locale.ROOT, "%s, written at step %d (epoch %d, after %d of its batches), not evaluated%s", name,
                s.globalStep(), s.epoch() + 1, s.nextBatch(), trainLoss);
    }
}
