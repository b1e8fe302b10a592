package dev.tornadovit.data;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(10)
class PrefetchIteratorTest {

    @Test
    void yieldsItemsInOrderThenEnds() {
        List<Integer> seen = new ArrayList<>();
        try (PrefetchIterator<Integer> it = new PrefetchIterator<>("test", 3, 8, 2, k -> k * 10)) {
            it.forEachRemaining(seen::add);
            assertFalse(it.hasNext());
        }
        assertEquals(List.of(30, 40, 50, 60, 70), seen);
    }

    @Test
    void producerExceptionReachesConsumerWithItsTypeAndMessage() throws InterruptedException {
        PrefetchIterator<Integer> it = new PrefetchIterator<>("test", 0, 10, 2, k -> {
            if (k == 3) {
                throw new DataFormatException("file.bin: broken at byte offset 3");
            }
            return k;
        });
        assertEquals(0, it.next());
        assertEquals(1, it.next());
        assertEquals(2, it.next());
        var e = assertThrows(DataFormatException.class, it::next);
        assertEquals("file.bin: broken at byte offset 3", e.getMessage());
        assertThrows(DataFormatException.class, it::hasNext, "stays failed");
        it.close();
        assertFalse(it.producerAlive());
    }

    @Test
    void closeStopsABlockedProducer() throws InterruptedException {
        AtomicInteger produced = new AtomicInteger();
        PrefetchIterator<Integer> it = new PrefetchIterator<>("test", 0, 1_000_000, 2, k -> {
            produced.incrementAndGet();
            return k;
        });
        assertEquals(0, it.next());
        while (produced.get() < 3) {
            Thread.sleep(1); // let the producer fill the queue and block
        }
        Thread.sleep(20);
        assertTrue(produced.get() <= 4, "bounded prefetch: produced " + produced.get());
        it.close();
        assertFalse(it.producerAlive());
        assertFalse(it.hasNext());
        it.close(); // idempotent
    }

    @Test
    void closeWhileProducingDoesNotLeakTheThread() {
        CountDownLatch started = new CountDownLatch(1);
        PrefetchIterator<Integer> it = new PrefetchIterator<>("test", 0, 5, 2, k -> {
            started.countDown();
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                throw new IllegalStateException("interrupted", e);
            }
            return k;
        });
        assertDoesNotThrow(() -> started.await());
        it.close();
        assertFalse(it.producerAlive());
        assertFalse(it.hasNext());
    }
}
