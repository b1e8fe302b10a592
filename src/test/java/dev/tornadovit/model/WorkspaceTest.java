package dev.tornadovit.model;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;

/**
 * A block's backward scratch, and the forward scratch of softmax's scores, is one tensor per role and size for the
 * whole model (the blocks run their passes one after another); that training is unchanged by the sharing is checked by
 * the gradient checks and the PyTorch fixtures, which run multi-block models.
 */
class WorkspaceTest {

    @Test
    void blocksShareEachBackwardScratch() {
        try (CpuBackend be = new CpuBackend()) {
            Workspace ws = new Workspace(be);
            Tensor first = ws.backwardScratch("block.dLn1", 12);
            assertSame(first, ws.backwardScratch("block.dLn1", 12));
            assertNotSame(first, ws.backwardScratch("block.dLn2", 12), "another role");
            assertNotSame(first, ws.backwardScratch("block.dLn1", 24), "another size");
            assertEquals(12, first.size());
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"softmax", "relu/L"})
    void aDeeperModelAddsNoScratch(String weighting) {
        AttentionConfig attention = weighting.equals("softmax") ? AttentionConfig.softmax() : AttentionConfig.reluOverL();
        ViTConfig shallow = new ViTConfig(16, 16, 1, 4, 3, 16, 1, 2, 24, Pooling.CLS, PositionEmbedding.LEARNED,
                attention, 0);
        ViTConfig deep = new ViTConfig(16, 16, 1, 4, 3, 16, 3, 2, 24, Pooling.CLS, PositionEmbedding.LEARNED,
                attention, 0);
        long perBlock = MemoryEstimate.training(deep, 4, 4, null).activationValues()
                        - MemoryEstimate.training(shallow, 4, 4, null).activationValues();
        // each further block holds its forward activations only: two blocks' worth of difference, none of the scratch;
        // softmax's scores are forward scratch too (its backward reads the weights), relu's are kept for φ's backward
        int t = 17, d = 16, h = 2, hidden = 24, b = 4;
        long btd = (long) b * t * d, rows = (long) b * t, maps = (long) b * h * t * t;
        long keptMaps = weighting.equals("softmax") ? 1 : 2;
        long forward = 4 * btd + 4 * rows                  // ln1, mid, ln2, out and LayerNorms' statistics
                       + 3 * btd + 2 * btd                 // qkv, merged, projection output
                       + 4 * btd + keptMaps * maps         // the composed core's q, k, v, o; the weights (and scores)
                       + 2L * b * t * hidden + btd;        // the MLP's h, GELU(h) and output
        assertEquals(2 * forward, perBlock);
    }
}
