package dev.tornadovit.checkpoint;

import dev.tornadovit.io.Safetensors;
import dev.tornadovit.io.SafetensorsException;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.tensor.Backend;

import java.nio.file.Path;
import java.util.Map;

/**
 * A checkpoint read from any supported format, in TornadoViT's terms: the model config inferred from it, its tensors
 * under TornadoViT's (timm's) parameter names, and its preprocessing.
 *
 * @param hasHead whether it has a classifier head; without one (a backbone) {@code config.numClasses()} is only a
 *                placeholder, and the model can be fine-tuned but not used to classify
 * @param format  "tornadovit", "timm" or "transformers"
 */
public record PretrainedModel(Path source, String format, ViTConfig config, boolean hasHead,
                              Map<String, Safetensors.Entry> tensors, Preprocessing preprocessing) {

    /** The model on {@code backend} with every weight loaded, in evaluation mode, ready to classify. */
    public VisionTransformer build(Backend backend) {
        if (!hasHead) {
            throw new SafetensorsException(source + ": has no classifier head (no 'head.weight' or 'classifier.weight'); "
                    + "it is a backbone: fine-tune it with train --init-from " + source + " --num-classes N");
        }
        VisionTransformer model = new VisionTransformer(config, backend, 0);
        Checkpoint.loadWeights(model, tensors, source);
        model.setTraining(false);
        return model;
    }
}
