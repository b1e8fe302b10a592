package dev.tornadovit.bench;

import dev.tornadovit.model.ReattentionBlocks;
import dev.tornadovit.model.ReattentionNorm;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.tornadovit.model.AttentionConfig;
import org.junit.jupiter.api.Test;

/** The operation counts against hand counts and the published figure for ViT-S/16. */
class ModelFlopsTest {

    @Test
    void smallVitForwardIsTheSumOfItsProducts() {
        // 65 tokens (64 patches + cls), width 192, 3 heads of 64, MLP 768, 6 blocks, 10 classes, 4×4×3 patches.
        long perBlock = 65L * 192 * 576 + 2L * 3 * 65 * 65 * 64 + 65L * 192 * 192 + 2L * 65 * 192 * 768;
        long multiplyAdds = 6 * perBlock + 64L * 48 * 192 + 192L * 10;
        assertEquals(182_849_664L, multiplyAdds);
        assertEquals(2.0 * multiplyAdds, ModelFlops.forwardPerImage(ModelBench.smallVit(AttentionConfig.softmax())));
        // Training: three times the forward, less the patch embedding's input gradient, which is not computed.
        assertEquals(3 * 2.0 * multiplyAdds - 2.0 * 64 * 48 * 192,
                ModelFlops.trainingPerImage(ModelBench.smallVit(AttentionConfig.reluOverL())));
    }

    @Test
    void vitS16IsTheFamiliarFourPointSixGigaMultiplyAdds() {
        // timm and the DeiT paper list ViT-S/16 (DeiT-S) at 224 px as 4.6 G multiply-adds ("4.6 GFLOPs").
        double multiplyAdds = ModelFlops.forwardPerImage(ModelBench.s16(AttentionConfig.softmax())) / 2;
        assertEquals(4_598_882_304.0, multiplyAdds);
    }

    @Test
    void gateAndReattentionAddTheirProducts() {
        AttentionConfig base = AttentionConfig.reluOverL();
        double plain = ModelFlops.forwardPerImage(ModelBench.smallVit(base));
        // The gate: one 192×192 projection of the 65 tokens in each of the 6 blocks.
        assertEquals(plain + 2.0 * 6 * 65 * 192 * 192,
                ModelFlops.forwardPerImage(ModelBench.smallVit(base.withGate(true))));
        // Re-attention in the last 2 blocks: Θ (3×3) mixes the 3 maps of 65×65 scores.
        assertEquals(plain + 2.0 * 2 * 3 * 3 * 65 * 65,
                ModelFlops.forwardPerImage(ModelBench.smallVit(base.withReattention(ReattentionNorm.BATCHNORM, new ReattentionBlocks.Last(2)))));
    }
}
