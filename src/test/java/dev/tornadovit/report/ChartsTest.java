package dev.tornadovit.report;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A chart that cannot be drawn (a JDK without AWT, no fonts) warns instead of failing what came before it. */
class ChartsTest {

    @Test
    void aDrawnChartReportsSuccess() {
        AtomicBoolean ran = new AtomicBoolean();
        assertTrue(Charts.drawOrWarn("x.png", "x.csv", () -> ran.set(true)));
        assertTrue(ran.get());
    }

    @Test
    void missingAwtOrFontsOnlyWarn() {
        assertFalse(Charts.drawOrWarn("x.png", "x.csv", () -> {
            throw new NoClassDefFoundError("java/awt/Color");
        }));
        assertFalse(Charts.drawOrWarn("x.png", "x.csv", () -> {
            throw new InternalError("Fontconfig head is null");
        }));
        assertFalse(Charts.drawOrWarn("x.png", "x.csv", () -> {
            throw new IllegalStateException("headless");
        }));
    }
}
