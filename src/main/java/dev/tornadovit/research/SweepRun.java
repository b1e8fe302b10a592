package dev.tornadovit.research;

import dev.tornadovit.model.AttentionConfig;
import dev.tornadovit.model.ReattentionBlocks;
import dev.tornadovit.model.ReattentionNorm;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.train.TrainingOptions;

import java.util.Locale;

/**
 * One training run of a sweep: its model and training options, and the grid values that produced it (kept apart
 * from the config so that tables and plots can group by them).
 *
 * @param id a folder name made from the grid values, stable across invocations so that a sweep can find its
 *           finished runs again
 */
public record SweepRun(String id, ViTConfig config, TrainingOptions options, Axes axes) {

    /**
     * The grid values of one run.
     *
     * @param attention   "softmax" or the pointwise activation h
     * @param alpha       α of L^-α (NaN for softmax, which has none)
     * @param reattention "none", "batchnorm" or "layernorm"
     */
    public record Axes(String attention, double alpha, boolean qkNorm, boolean gate, String reattention, int width,
                       int depth, long seed) {

        /** The attention column's value for softmax runs. */
        public static final String SOFTMAX = "softmax";

        public boolean softmax() {
            return SOFTMAX.equals(attention);
        }

        public boolean hasReattention() {
            return !ReattentionNorm.NONE.configName().equals(reattention);
        }

        /** The same run for another seed: runs that differ only by seed are averaged together. */
        public Axes withoutSeed() {
            return new Axes(attention, alpha, qkNorm, gate, reattention, width, depth, 0);
        }

        public static Axes of(ViTConfig config, long seed) {
            AttentionConfig a = config.attention();
            boolean softmax = a.isSoftmax();
            return new Axes(softmax ? SOFTMAX : a.activation().configName(), softmax ? Double.NaN : a.alpha(),
                    a.qkNorm(), a.gate(), a.reattention().configName(), config.width(), config.depth(), seed);
        }
    }

    public static SweepRun of(ViTConfig config, TrainingOptions options) {
        Axes axes = Axes.of(config, options.seed());
        return new SweepRun(idOf(config, options.seed()), config, options, axes);
    }

    /** E.g. "relu-a0.5-qknorm-gate-reattn-batchnorm-w64-d4-h4-s0"; softmax runs have no α part. */
    static String idOf(ViTConfig config, long seed) {
        AttentionConfig a = config.attention();
        StringBuilder sb = new StringBuilder();
        if (a.isSoftmax()) {
            sb.append("softmax");
        } else {
            sb.append(a.activation().configName()).append("-a").append(formatNumber(a.alpha()));
        }
        if (a.qkNorm()) sb.append("-qknorm");
        if (a.gate()) sb.append("-gate");
        if (a.hasReattention()) {
            sb.append("-reattn-").append(a.reattention().configName());
            if (a.reattentionBlocks() instanceof ReattentionBlocks.Last last) sb.append("-last_").append(last.count());
        }
        sb.append("-w").append(config.width()).append("-d").append(config.depth()).append("-h").append(config.heads())
                .append("-s").append(seed);
        return sb.toString();
    }

    /** Shortest plain decimal: 1 → "1", 0.25 → "0.25". */
    public static String formatNumber(double v) {
        if (Double.isNaN(v)) return "";
        if (v == Math.rint(v) && Math.abs(v) < 1e15) return Long.toString((long) v);
        return new java.math.BigDecimal(Double.toString(v)).stripTrailingZeros().toPlainString().toLowerCase(Locale.ROOT);
    }
}
