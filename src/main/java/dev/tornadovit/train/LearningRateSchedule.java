package dev.tornadovit.train;

/** Linear warm-up to the peak rate, then cosine decay to {@code minLr} at the last step (big_vision's default). */
public record LearningRateSchedule(double peakLr, long warmupSteps, long totalSteps, double minLr) {

    public LearningRateSchedule {
        if (peakLr <= 0) throw new IllegalArgumentException("learning rate must be > 0, got " + peakLr);
        if (totalSteps <= 0) throw new IllegalArgumentException("total steps must be > 0, got " + totalSteps);
        if (warmupSteps < 0) throw new IllegalArgumentException("warm-up steps must be >= 0, got " + warmupSteps);
    }

    public static LearningRateSchedule constant(double lr) {
        return new LearningRateSchedule(lr, 0, Long.MAX_VALUE, lr);
    }

    /** The rate for step {@code step} (0-based). */
    public double at(long step) {
        if (step < warmupSteps) return peakLr * (step + 1) / warmupSteps;
        if (totalSteps == Long.MAX_VALUE) return peakLr;
        long decaySteps = Math.max(1, totalSteps - warmupSteps);
        double progress = Math.min(1.0, (double) (step - warmupSteps) / decaySteps);
        return minLr + 0.5 * (peakLr - minLr) * (1 + Math.cos(Math.PI * progress));
    }
}
