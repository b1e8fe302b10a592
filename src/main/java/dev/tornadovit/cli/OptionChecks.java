package dev.tornadovit.cli;

import dev.tornadovit.backend.Backends;
import dev.tornadovit.model.MemoryEstimate;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.train.TrainingOptions;

import java.util.List;

/**
 * Range checks of the numeric options, made before anything is loaded or allocated. Each refusal is one line that
 * names the option, the allowed range and the value given; NaN and the infinities are refused wherever a number is
 * expected, since no option means anything at them.
 */
final class OptionChecks {
    static final int MAX_CROP_PADDING = 4096;

    private OptionChecks() {
    }

    static int atLeast(String option, int value, int min) {
        if (value < min) throw refused(option, ">= " + min, Integer.toString(value));
        return value;
    }

    static long atLeast(String option, long value, long min) {
        if (value < min) throw refused(option, ">= " + min, Long.toString(value));
        return value;
    }

    /** A finite number of at least {@code min}. */
    static double atLeast(String option, double value, double min) {
        if (!(value >= min) || !Double.isFinite(value)) throw refused(option, value, ">= " + (min == Math.rint(min) ? Long.toString((long) min) : Double.toString(min)));
        return value;
    }

    /** A finite number above zero. */
    static double positive(String option, double value) {
        if (!(value > 0) || !Double.isFinite(value)) throw refused(option, value, "> 0");
        return value;
    }

    /** A number in [0, 1). */
    static double fraction(String option, double value) {
        if (!(value >= 0 && value < 1)) throw refused(option, value, "in [0, 1)");
        return value;
    }

    /** {@code value} may not exceed {@code bound}, the value of {@code boundOption}. */
    static double notAbove(String option, double value, String boundOption, double bound) {
        if (value > bound) {
            throw new IllegalArgumentException(option + " must not be above " + boundOption + ", got " + option + " "
                    + value + " and " + boundOption + " " + bound);
        }
        return value;
    }

    private static IllegalArgumentException refused(String option, String expected, String given) {
        return new IllegalArgumentException(option + " must be " + expected + ", got " + given);
    }

    private static IllegalArgumentException refused(String option, double value, String expected) {
        return refused(option, Double.isFinite(value) ? expected : "a finite number " + expected, Double.toString(value));
    }

    /** The optimisation options of train, sweep and demo. */
    static void check(TrainingSettings t) {
        atLeast("--epochs", t.epochs, 1);
        atLeast("--steps", t.steps, 0);
        atLeast("--batch-size", t.batchSize, 1);
        positive("--lr", t.lr);
        atLeast("--min-lr", t.minLr, 0);
        notAbove("--min-lr", t.minLr, "--lr", t.lr);
        fraction("--warmup", t.warmup);
        atLeast("--weight-decay", t.weightDecay, 0);
        atLeast("--clip", t.clip, 0);
        atLeast("--crop-padding", t.cropPadding, 0);
        // Padding beyond any image's size only blanks it; a bound also keeps 2·padding+1 from overflowing.
        if (t.cropPadding > MAX_CROP_PADDING) {
            throw new IllegalArgumentException("--crop-padding must be at most " + MAX_CROP_PADDING + ", got " + t.cropPadding);
        }
        atLeast("--checkpoint-every", t.checkpointEvery, 0);
    }

    /** Model options that would be ignored: given with --config, or without the setting they belong to. */
    static void check(ModelOptions m) {
        if (m.configFile != null) {
            List<String> given = new java.util.ArrayList<>();
            if (m.variant != null) given.add("--model");
            if (m.width != null) given.add("--width");
            if (m.depth != null) given.add("--depth");
            if (m.heads != null) given.add("--heads");
            if (m.mlpDim != null) given.add("--mlp-dim");
            if (m.patchSize != null) given.add("--patch-size");
            if (m.pool != null) given.add("--pool");
            if (m.posEmbed != null) given.add("--pos-embed");
            if (!"softmax".equals(m.attention)) given.add("--attention");
            if (m.alpha != 1.0) given.add("--alpha");
            if (m.qkNorm) given.add("--qk-norm");
            if (m.gate) given.add("--gate");
            if (!"none".equals(m.reattention)) given.add("--reattention");
            if (!"all".equals(m.reattentionBlocks)) given.add("--reattention-blocks");
            if (m.labelSmoothing != 0.0) given.add("--label-smoothing");
            if (!given.isEmpty()) {
                throw new IllegalArgumentException("--config " + m.configFile + " sets the whole model; "
                        + String.join(", ", given) + " would be ignored: change the file instead, or leave out --config");
            }
            return;
        }
        if ("softmax".equals(m.attention) && m.alpha != 1.0) {
            throw new IllegalArgumentException("--alpha applies to pointwise attention (--attention relu, gelu, ...), "
                    + "not softmax");
        }
    }

    /** Where the images come from and how many of them. */
    static void check(DataOptions d) {
        atLeast("--train-limit", d.trainLimit, 0);
        atLeast("--eval-limit", d.evalLimit, 0);
        fraction("--validation-fraction", d.validationFraction);
        if (d.channels() != 1 && d.channels() != 3) {
            throw new IllegalArgumentException("--channels must be 1 (grey) or 3 (RGB), got " + d.channels());
        }
        DataOptions.parseSize(d.imageSize());
    }

    /**
     * Before a sweep starts: {@code parallel} runs train at once, so the largest run's memory times {@code parallel}
     * must fit the heap beside the images (checked for the backends that keep tensors on the heap).
     */
    static void checkSweepMemory(List<ViTConfig> configs, TrainingOptions options, int parallel,
                                 DataOptions.Splits splits, String device) {
        if (!"cpu".equalsIgnoreCase(device.strip()) && !"reference".equalsIgnoreCase(device.strip())) return;
        long images = (long) splits.train().size() * splits.train().imageSize()
                + (long) splits.eval().size() * splits.eval().imageSize();
        try (Backend backend = Backends.create(device, 0)) {
            MemoryEstimate largest = null;
            ViTConfig largestConfig = null;
            for (ViTConfig c : configs) {
                MemoryEstimate e = MemoryEstimate.training(c, options.batchSize(), options.evalBatchSize(), backend);
                if (largest == null || e.bytes() > largest.bytes()) {
                    largest = e;
                    largestConfig = c;
                }
            }
            if (largest == null) return;
            int runsAtOnce = Math.min(parallel, configs.size());
            ViTConfig config = largestConfig;
            // The runs trained at the same time hold as much each.
            try {
                largest.scaled(runsAtOnce).requireFits("--batch-size", backend, images, b -> MemoryEstimate.training(config,
                        b, Math.min(b, options.evalBatchSize()), backend).scaled(runsAtOnce));
            } catch (IllegalArgumentException e) {
                if (runsAtOnce == 1) throw e;
                throw new IllegalArgumentException("with --parallel " + parallel + ", " + runsAtOnce + " runs train at "
                        + "once, the largest " + config.attention().label() + " at width " + config.width() + ": "
                        + e.getMessage().replace("this run needs", "they need") + ", or lower --parallel");
            }
        }
    }

    /** The data options of eval, which evaluates a checkpoint on the test split or on train's held-out images. */
    static void checkForEvaluation(DataOptions d) {
        check(d);
        if (d.trainLimit != 0) {
            throw new IllegalArgumentException("--train-limit does not apply to eval; --eval-limit limits the images "
                    + "evaluated");
        }
    }

    /**
     * Before a model is built for training: its tensors must be allocatable and fit the heap beside the images
     * already loaded.
     */
    static void checkMemory(ViTConfig config, TrainingOptions options, DataOptions.Splits splits, Backend backend) {
        long images = (long) splits.train().size() * splits.train().imageSize()
                + (long) splits.eval().size() * splits.eval().imageSize();
        MemoryEstimate.training(config, options.batchSize(), options.evalBatchSize(), backend).requireFits("--batch-size",
                backend, images, b -> MemoryEstimate.training(config, b, Math.min(b, options.evalBatchSize()), backend));
    }
}
