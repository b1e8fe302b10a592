package dev.tornadovit.data;

import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;

/**
 * Produces items {@code first..end-1} on a daemon thread, a bounded number ahead of the consumer, so that data
 * preparation overlaps with model computation. A failure on the producer thread is rethrown to the consumer by
 * {@link #next()}/{@link #hasNext()}; {@link #close()} stops the producer and waits for it to exit.
 */
public final class PrefetchIterator<T> implements Iterator<T>, AutoCloseable {

    /** Queue entry: an item, the end marker, or a producer failure. */
    private record Slot<T>(T item, Throwable failure, boolean end) {
    }

    private final BlockingQueue<Slot<T>> queue;
    private final Thread producer;
    private volatile boolean closed;
    private Slot<T> pending;
    private Throwable failure;
    private boolean finished;

    /**
     * @param capacity how many produced items may wait for the consumer (2–3 is enough to hide the latency
     *                 without holding much memory)
     */
    public PrefetchIterator(String threadName, int first, int end, int capacity, IntFunction<T> produce) {
        if (capacity < 1) {
            throw new IllegalArgumentException("capacity must be >= 1, was " + capacity);
        }
        this.queue = new ArrayBlockingQueue<>(capacity);
        this.producer = Thread.ofPlatform().name(threadName).daemon(true).unstarted(() -> run(first, end, produce));
        producer.start();
    }

    private void run(int first, int end, IntFunction<T> produce) {
        try {
            for (int k = first; k < end && !closed; k++) {
                queue.put(new Slot<>(produce.apply(k), null, false));
            }
            queue.put(new Slot<>(null, null, true));
        } catch (InterruptedException e) {
            // close() interrupts a producer blocked on a full queue: just exit.
        } catch (Throwable t) {
            try {
                queue.put(new Slot<>(null, t, true));
            } catch (InterruptedException e) {
                // Closed while waiting to report: nobody is left to tell.
            }
        }
    }

    @Override
    public boolean hasNext() {
        if (pending != null) {
            return true;
        }
        if (failure != null) {
            throw rethrow(failure);
        }
        if (finished || closed) {
            return false;
        }
        Slot<T> slot;
        try {
            slot = queue.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for the next batch", e);
        }
        if (slot.failure != null) {
            failure = slot.failure;
            failure.addSuppressed(new Exception(
                    "rethrown to the consumer in thread " + Thread.currentThread().getName()));
            finished = true;
            throw rethrow(failure);
        }
        if (slot.end) {
            finished = true;
            return false;
        }
        pending = slot;
        return true;
    }

    @Override
    public T next() {
        if (!hasNext()) {
            throw new NoSuchElementException();
        }
        T item = pending.item;
        pending = null;
        return item;
    }

    /**
     * Throws the producer's exception itself, so callers can catch its type (e.g. {@link DataFormatException});
     * a suppressed note records where the consumer received it.
     */
    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException e) {
            throw e;
        }
        if (t instanceof Error e) {
            throw e;
        }
        throw new IllegalStateException("prefetch thread failed: " + t, t);
    }

    /** Whether the producer thread is still running (for tests and diagnostics). */
    public boolean producerAlive() {
        return producer.isAlive();
    }

    /** Stops the producer and waits (briefly) for it to exit. Idempotent. */
    @Override
    public void close() {
        closed = true;
        producer.interrupt();
        queue.clear();
        try {
            producer.join(TimeUnit.SECONDS.toMillis(10));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        pending = null;
    }
}
