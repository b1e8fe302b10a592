package dev.tornadovit.tornado.bench;

import dev.tornadovit.model.AttentionConfig;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code bench --attention}: each entry names the attention it runs, and anything else is refused, not guessed. */
class TornadoBenchOptionsTest {
    @Test
    void attentionEntriesNameWeightingsAndOptions() {
        assertEquals(AttentionConfig.softmax(), TornadoBench.attentionConfig("softmax"));
        assertEquals(AttentionConfig.reluOverL(), TornadoBench.attentionConfig("relu/L"));
        AttentionConfig both = TornadoBench.attentionConfig("relu/L+qk-norm+gate");
        assertTrue(both.qkNorm() && both.gate() && !both.isSoftmax());
        AttentionConfig gate = TornadoBench.attentionConfig("softmax+gate");
        assertTrue(gate.gate() && !gate.qkNorm() && gate.isSoftmax());
    }

    @Test
    void anUnknownAttentionIsRefusedInOneLine() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TornadoBench.attentionConfig("relu"));
        assertEquals("--attention takes softmax or relu/L, each optionally with +qk-norm and +gate"
                     + " (e.g. relu/L+qk-norm+gate), not relu", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> TornadoBench.attentionConfig("relu/L+gated"));
        assertFalse(e.getMessage().contains("\n"));
        assertTrue(e.getMessage().contains("+gated"), e.getMessage());
    }
}
