package dev.tornadovit.model;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModelVariantsTest {
    @Test
    void bigVisionSizes() {
        ViTConfig s16 = ModelVariants.config("S/16", 224, 224, 3, 1000);
        assertEquals(384, s16.width());
        assertEquals(12, s16.depth());
        assertEquals(1536, s16.mlpDim());
        assertEquals(6, s16.heads());
        assertEquals(197, s16.tokens());
        ViTConfig b32 = ModelVariants.config("B/32", 224, 224, 3, 10);
        assertEquals(768, b32.width());
        assertEquals(50, b32.tokens());
        assertEquals(192, ModelVariants.config("Ti/16", 224, 224, 3, 10).width());
    }

    @Test
    void deepVitVariantsBringReattention() {
        ViTConfig d24 = ModelVariants.config("DeepViT-24/16", 224, 224, 3, 1000);
        assertEquals(24, d24.depth());
        assertEquals(12, d24.heads());
        assertEquals(1152, d24.mlpDim());
        assertTrue(d24.attention().reattentionIn(0, 24));
        ViTConfig s = ModelVariants.config("DeepViT-S/16", 224, 224, 3, 1000);
        assertEquals(396, s.width());
        assertTrue(!s.attention().reattentionIn(10, 16) && s.attention().reattentionIn(11, 16));
        assertTrue(!ModelVariants.config("ViT-24/16", 224, 224, 3, 1000).attention().hasReattention());
    }

    @Test
    void badNamesSayWhatIsExpected() {
        ConfigException e = assertThrows(ConfigException.class, () -> ModelVariants.config("X/16", 32, 32, 3, 10));
        assertTrue(e.getMessage().contains("'model'") && e.getMessage().contains("S, M, B"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> ModelVariants.config("S/5", 32, 32, 3, 10));
        assertTrue(e.getMessage().contains("patch_size") && e.getMessage().contains("32x32"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> ViTConfig.fromJson("{\"width\": 3}", "m.json"));
        assertTrue(e.getMessage().startsWith("m.json"), e.getMessage());
    }
}
