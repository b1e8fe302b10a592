package dev.tornadovit.train;

/** A loss or gradient became NaN or infinite: training stops rather than writing garbage weights. */
public class NonFiniteException extends RuntimeException {
    public NonFiniteException(String message) {
        super(message);
    }
}
