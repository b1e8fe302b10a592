package dev.tornadovit.checkpoint;

import dev.tornadovit.io.Safetensors;
import dev.tornadovit.io.SafetensorsException;
import dev.tornadovit.model.NamedTensor;
import dev.tornadovit.model.Parameter;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.tensor.Backend;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Starts a model from a pretrained checkpoint whose task differs: the backbone's weights are copied; the position
 * embeddings are resampled when the patch grid differs (as timm does); an RGB patch embedding is summed over its
 * channels for grey images (timm's adapt_input_conv); the head is kept only when the class count is the same.
 * Parameters the checkpoint lacks (a new head, a gate or Re-attention added for fine-tuning) keep their fresh
 * initialisation; a checkpoint tensor the model has no place for is refused.
 */
public final class FineTuning {

    /** What was done: the parameters left freshly initialised, and whether the position embeddings were resampled. */
    public record Report(List<String> freshlyInitialised, boolean positionsResampled) {
    }

    private FineTuning() {
    }

    /**
     * The model to fine-tune: the checkpoint's architecture at the data's image size, channels and class count, with
     * the attention given (its weighting may differ from the pretrained one; its qk-norm is the checkpoint's).
     */
    public static ViTConfig config(PretrainedModel source, int height, int width, int channels, int numClasses) {
        ViTConfig c = source.config();
        if (channels != c.channels() && !(c.channels() == 3 && channels == 1)) {
            throw new SafetensorsException(source.source() + ": the checkpoint takes " + c.channels() + "-channel images, "
                    + "the data has " + channels + "; only RGB to grey is adapted (pass --channels " + c.channels() + ")");
        }
        if (height % c.patchSize() != 0 || width % c.patchSize() != 0) {
            throw new SafetensorsException(source.source() + ": the checkpoint's patch size " + c.patchSize()
                    + " does not divide the image size " + height + "x" + width + " (choose --image-size as a multiple)");
        }
        return c.withImageSize(height, width, channels).withNumClasses(numClasses);
    }

    /** Loads what {@code source} has into {@code model}; checks everything before anything is assigned. */
    public static Report initialise(VisionTransformer model, PretrainedModel source) {
        ViTConfig to = model.config(), from = source.config();
        Map<String, Safetensors.Entry> tensors = new LinkedHashMap<>(source.tensors());
        Set<String> unused = new HashSet<>(tensors.keySet());
        boolean keepHead = source.hasHead() && from.numClasses() == to.numClasses();
        if (!keepHead) {
            unused.remove("head.weight");
            unused.remove("head.bias");
        }
        boolean resampled = false;
        Safetensors.Entry pos = tensors.get("pos_embed");
        if (pos != null && (from.gridHeight() != to.gridHeight() || from.gridWidth() != to.gridWidth())) {
            int prefix = from.hasClsToken() ? 1 : 0;
            double[] values = PositionEmbeddingResampler.resample(pos.values(), prefix, from.gridHeight(),
                    from.gridWidth(), to.gridHeight(), to.gridWidth(), from.width());
            tensors.put("pos_embed", Safetensors.Entry.of("pos_embed", new long[]{1, to.tokens(), to.width()}, values));
            resampled = true;
        }
        Safetensors.Entry patch = tensors.get("patch_embed.proj.weight");
        if (patch != null && from.channels() == 3 && to.channels() == 1) {
            double[] w = patch.values(), grey = new double[w.length / 3];
            int area = from.patchSize() * from.patchSize();
            for (int o = 0; o < from.width(); o++) {
                for (int c = 0; c < 3; c++) {
                    for (int k = 0; k < area; k++) grey[o * area + k] += w[(o * 3 + c) * area + k];
                }
            }
            tensors.put("patch_embed.proj.weight", Safetensors.Entry.of("patch_embed.proj.weight",
                    new long[]{from.width(), 1, from.patchSize(), from.patchSize()}, grey));
        }
        Backend be = model.backend();
        List<Runnable> assignments = new ArrayList<>();
        List<String> fresh = new ArrayList<>();
        for (Parameter p : model.parameters()) {
            boolean isHead = p.name().startsWith("head.");
            Safetensors.Entry e = isHead && !keepHead ? null : tensors.get(p.name());
            if (e == null) {
                fresh.add(p.name());
                continue;
            }
            unused.remove(p.name());
            assignments.add(Checkpoint.checked(be, e, source.source(), p.name(), p.shape(), p.value()));
        }
        for (NamedTensor b : model.buffers()) {
            Safetensors.Entry e = tensors.get(b.name());
            if (e == null) continue;
            unused.remove(b.name());
            assignments.add(Checkpoint.checked(be, e, source.source(), b.name(), b.shape(), b.value()));
        }
        if (!unused.isEmpty()) {
            String first = unused.stream().sorted().findFirst().orElseThrow();
            throw new SafetensorsException(source.source() + ": tensor '" + first + "' has no place in the model to "
                    + "fine-tune (" + unused.size() + " such tensors); keep the checkpoint's architecture options");
        }
        assignments.forEach(Runnable::run);
        return new Report(List.copyOf(fresh), resampled);
    }
}
