package dev.tornadovit.checkpoint;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.backend.reference.ReferenceBackend;
import dev.tornadovit.io.Safetensors;
import dev.tornadovit.io.SafetensorsException;
import dev.tornadovit.model.Pooling;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Supplier;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Checkpoints written by timm and transformers themselves (scripts/make_pretrained_fixtures.py), read by us. */
class PretrainedFormatsTest {
    static final Path DIR = Path.of("src/test/resources/pretrained");
    static final Path EXPECTED = DIR.resolve("expected.safetensors");

    static Stream<Arguments> cases() {
        Supplier<Backend> cpu = CpuBackend::new, reference = ReferenceBackend::new;
        return Stream.of("timm_cls", "timm_gap_fc_norm", "timm_gap_no_qkv_bias", "timm_no_embed_class", "timm_qk_norm",
                        "hf_vit")
                .flatMap(c -> Stream.of(Arguments.of(c, "cpu", cpu), Arguments.of(c, "reference", reference)));
    }

    static Path path(String fixture) {
        return PretrainedFixtures.path(DIR, fixture);
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("cases")
    void logitsMatchTheLibraryThatWroteTheCheckpoint(String fixture, String backendName, Supplier<Backend> backend) {
        try (Backend be = backend.get()) {
            PretrainedFixtures.assertLogitsMatchTheLibrary(DIR, fixture, be);
        }
    }

    @Test
    void timmFolderGivesArchitecturePreprocessingAndClassNames() {
        PretrainedModel gap = CheckpointFormats.read(DIR.resolve("timm_gap_fc_norm"));
        assertEquals("timm", gap.format());
        assertEquals(Pooling.GAP_FC_NORM, gap.config().pool());
        assertEquals(16, gap.config().width());
        assertEquals(2, gap.config().depth());
        assertEquals(2, gap.config().heads());
        assertEquals(8, gap.config().patchSize());
        assertEquals(32, gap.config().imageHeight());
        assertEquals(List.of("ant", "bee", "cat", "dog", "eel"), gap.preprocessing().classNames());
        assertEquals(0.875, gap.preprocessing().cropFraction(), 1e-12);
        assertArrayEquals(new float[]{0.5f, 0.4f, 0.3f}, gap.preprocessing().normalization().means());
        assertEquals(Pooling.CLS, CheckpointFormats.read(DIR.resolve("timm_cls")).config().pool());
        assertEquals(Pooling.GAP, CheckpointFormats.read(DIR.resolve("timm_gap_no_qkv_bias")).config().pool());
        assertTrue(CheckpointFormats.read(path("timm_qk_norm")).config().attention().qkNorm());
    }

    @Test
    void transformersFolderGivesHeadsLabelsAndProcessorNormalisation() {
        PretrainedModel vit = CheckpointFormats.read(DIR.resolve("hf_vit"));
        assertEquals("transformers", vit.format());
        assertEquals(4, vit.config().heads());
        assertEquals(24, vit.config().imageHeight());
        assertEquals(6, vit.config().patchSize());
        assertEquals(4, vit.config().numClasses());
        assertEquals(List.of("ant", "bee", "cat", "dog"), vit.preprocessing().classNames());
        assertArrayEquals(new float[]{0.3f, 0.2f, 0.1f}, vit.preprocessing().normalization().stds());
        assertEquals(0, vit.preprocessing().cropFraction());
    }

    @Test
    void whatCannotBeRepresentedIsRefusedNamingTheTensor() {
        assertRefused(path("timm_reg_tokens"), "tensor 'reg_token': register tokens");
        assertRefused(path("timm_layer_scale"), "tensor 'blocks.0.ls1.gamma': layer scale");
        assertRefused(DIR.resolve("hf_deit_distilled"), "tensor 'deit.embeddings.distillation_token'");
    }

    @Test
    void unknownTensorsMissingHeadsAndForeignFilesAreRefused(@TempDir Path dir) throws IOException {
        Safetensors.Contents qk = Safetensors.read(path("timm_qk_norm"));
        List<Safetensors.Output> withExtra = new java.util.ArrayList<>();
        List<Safetensors.Output> withoutNorm = new java.util.ArrayList<>();
        for (Safetensors.Entry e : qk.tensors().values()) {
            Safetensors.Output o = new Safetensors.Output(e.name(), "F64", e.shape(), e.values());
            withExtra.add(o);
            if (!e.name().contains("q_norm") && !e.name().contains("k_norm")) withoutNorm.add(o);
        }
        withExtra.add(new Safetensors.Output("blocks.0.attn.rope", "F64", new long[]{2}, new double[]{1, 2}));
        Path extra = dir.resolve("extra.safetensors"), noHeads = dir.resolve("noheads.safetensors");
        Safetensors.write(extra, withExtra, null);
        Safetensors.write(noHeads, withoutNorm, null);
        assertRefused(extra, "tensor 'blocks.0.attn.rope' has no counterpart in TornadoViT's ViT");
        assertRefused(noHeads, "cannot tell the number of attention heads of width 16");
        Path other = dir.resolve("other.safetensors");
        Safetensors.write(other, List.of(new Safetensors.Output("w", "F32", new long[]{1}, new double[]{1})), null);
        assertRefused(other, "not a ViT checkpoint TornadoViT can read");
        assertRefused(dir, "the folder has no model.safetensors");
    }

    @Test
    void aBackboneWithoutHeadLoadsForFineTuningButDoesNotClassify(@TempDir Path dir) {
        Safetensors.Contents qk = Safetensors.read(path("timm_qk_norm"));
        List<Safetensors.Output> noHead = new java.util.ArrayList<>();
        for (Safetensors.Entry e : qk.tensors().values()) {
            if (!e.name().startsWith("head.")) noHead.add(new Safetensors.Output(e.name(), "F64", e.shape(), e.values()));
        }
        Path file = dir.resolve("backbone.safetensors");
        Safetensors.write(file, noHead, null);
        PretrainedModel backbone = CheckpointFormats.read(file);
        assertFalse(backbone.hasHead());
        try (Backend be = new CpuBackend()) {
            SafetensorsException e = assertThrows(SafetensorsException.class, () -> backbone.build(be));
            assertTrue(e.getMessage().contains("has no classifier head"), e.getMessage());
        }
    }

    @Test
    void positionEmbeddingsResampleAsTimm() {
        Safetensors.Contents expected = Safetensors.read(EXPECTED);
        double[] pos = expected.require("resample.input", EXPECTED).values();
        for (int[] g : new int[][]{{6, 6}, {3, 3}, {2, 5}, {4, 4}}) {
            double[] want = expected.require("resample." + g[0] + "x" + g[1], EXPECTED).values();
            assertClose(want, PositionEmbeddingResampler.resample(pos, 1, 4, 4, g[0], g[1], 8), g[0] + "x" + g[1]);
        }
        double[] patches = java.util.Arrays.copyOfRange(pos, 8, pos.length);
        assertClose(expected.require("resample.noprefix.7x3", EXPECTED).values(),
                PositionEmbeddingResampler.resample(patches, 0, 4, 4, 7, 3, 8), "7x3 without prefix");
    }

    static void assertClose(double[] want, double[] got, String what) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++) assertEquals(want[i], got[i], 1e-5, what + " at " + i);
    }

    static void assertRefused(Path path, String part) {
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> CheckpointFormats.read(path));
        assertTrue(e.getMessage().startsWith(path.toString()) || e.getMessage().contains(path.toString()), e.getMessage());
        assertTrue(e.getMessage().contains(part), e.getMessage());
    }
}
