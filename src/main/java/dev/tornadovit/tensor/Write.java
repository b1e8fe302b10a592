package dev.tornadovit.tensor;

/**
 * How a backward operation puts the gradient it produces into its output tensor. {@link #ACCUMULATE} is the rule
 * (gradients that meet add up, see {@link Backend}); {@link #OVERWRITE} is for a gradient with one writer, which then
 * needs no zeroing before the backward pass.
 */
public enum Write {
    /** out += gradient. */
    ACCUMULATE,
    /** out = gradient: whatever the output held before is not read. */
    OVERWRITE;

    /** Whether the operation adds into its output. */
    public boolean accumulates() {
        return this == ACCUMULATE;
    }
}
