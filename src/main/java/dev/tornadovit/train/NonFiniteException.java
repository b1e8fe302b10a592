package dev.tornadovit.train;

/**
 * A loss or gradient became NaN or infinite, or the loss exploded: training stops rather than writing garbage
 * weights, and says which checkpoints the run folder holds.
 */
public class NonFiniteException extends RuntimeException {
    public NonFiniteException(String message) {
        super(message);
    }
}
