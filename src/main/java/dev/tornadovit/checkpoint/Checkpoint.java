package dev.tornadovit.checkpoint;

import dev.tornadovit.io.Safetensors;
import dev.tornadovit.io.SafetensorsException;
import dev.tornadovit.model.NamedTensor;
import dev.tornadovit.model.Parameter;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.train.AdamW;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Model checkpoints: one safetensors file with the weights (timm names), Re-attention's running statistics, the
 * model config as JSON in the metadata, and optionally the optimiser's moments and a training-state JSON so a
 * killed run can resume. Written atomically; read fully and checked against the model before anything is loaded.
 */
public final class Checkpoint {
    public static final String FORMAT = "tornadovit-1";
    static final String OPT_M = "optimizer.m.", OPT_V = "optimizer.v.";

    private Checkpoint() {
    }

    /**
     * Saves weights, with the optimiser's state when {@code optimizer} is non-null, and {@code trainingState} (where
     * the run stood when the file was written) when non-null.
     */
    public static void save(Path file, VisionTransformer model, AdamW optimizer, String trainingState) {
        save(file, model, optimizer, trainingState, Map.of());
    }

    /** As {@link #save(Path, VisionTransformer, AdamW, String)}, with extra metadata entries (preprocessing). */
    public static void save(Path file, VisionTransformer model, AdamW optimizer, String trainingState,
                            Map<String, String> extraMetadata) {
        Backend be = model.backend();
        String dtype = be.isDoublePrecision() ? "F64" : "F32";
        List<Safetensors.Output> out = new ArrayList<>();
        for (Parameter p : model.parameters()) out.add(output(be, p.name(), p.shape(), p.value(), dtype));
        for (NamedTensor b : model.buffers()) out.add(output(be, b.name(), b.shape(), b.value(), dtype));
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", FORMAT);
        meta.put("config", model.config().toJson());
        meta.putAll(extraMetadata);
        if (optimizer != null) {
            // one moment tensor at a time, so that only one is held whole beside its per-parameter copies
            outputs(out, OPT_M, be.downloadDouble(optimizer.firstMoments()), optimizer, dtype);
            outputs(out, OPT_V, be.downloadDouble(optimizer.secondMoments()), optimizer, dtype);
            meta.put("optimizer_step", Long.toString(optimizer.step()));
        }
        if (trainingState != null) meta.put("training_state", trainingState);
        Safetensors.write(file, out, meta);
    }

    /** Each trained parameter's part of {@code moments} (the optimiser's layout), named {@code prefix} + its name. */
    private static void outputs(List<Safetensors.Output> out, String prefix, double[] moments, AdamW optimizer,
                                String dtype) {
        List<Parameter> ps = optimizer.parameters();
        for (int i = 0; i < ps.size(); i++) {
            Parameter p = ps.get(i);
            int from = optimizer.momentOffset(i);
            out.add(new Safetensors.Output(prefix + p.name(), dtype, Arrays.stream(p.shape()).asLongStream().toArray(),
                    Arrays.copyOfRange(moments, from, from + p.size())));
        }
    }

    private static Safetensors.Output output(Backend be, String name, int[] shape, Tensor t, String dtype) {
        long[] s = Arrays.stream(shape).asLongStream().toArray();
        return new Safetensors.Output(name, dtype, s, be.downloadDouble(t));
    }

    /** The config stored in a checkpoint. */
    public static ViTConfig readConfig(Safetensors.Contents contents, Path file) {
        String json = contents.metadata().get("config");
        if (json == null) {
            throw new SafetensorsException(file + ": metadata has no 'config' entry; expected the model config JSON "
                    + "that TornadoViT writes (is this a TornadoViT checkpoint?)");
        }
        return ViTConfig.fromJson(json, file + " (metadata 'config')");
    }

    /** Builds the model stored in {@code file} on {@code backend} and loads its weights. */
    public static VisionTransformer loadModel(Path file, Backend backend) {
        Safetensors.Contents contents = Safetensors.read(file);
        VisionTransformer model = new VisionTransformer(readConfig(contents, file), backend, 0);
        loadWeights(model, contents, file);
        return model;
    }

    /** Loads weights into an existing model: every tensor is checked first, then all are assigned. */
    public static void loadWeights(VisionTransformer model, Safetensors.Contents contents, Path file) {
        loadWeights(model, contents.tensors(), file);
    }

    /** As {@link #loadWeights(VisionTransformer, Safetensors.Contents, Path)}, from tensors under the model's names. */
    public static void loadWeights(VisionTransformer model, Map<String, Safetensors.Entry> tensors, Path file) {
        Safetensors.Contents contents = new Safetensors.Contents(tensors, Map.of());
        List<Runnable> assignments = new ArrayList<>();
        Backend be = model.backend();
        for (Parameter p : model.parameters()) assignments.add(checked(be, contents, file, p.name(), p.shape(), p.value()));
        for (NamedTensor b : model.buffers()) assignments.add(checked(be, contents, file, b.name(), b.shape(), b.value()));
        assignments.forEach(Runnable::run);
    }

    /** Checks one tensor's shape and values against a target, and returns the upload to run once all are checked. */
    static Runnable checked(Backend be, Safetensors.Entry e, Path file, String name, int[] shape, Tensor target) {
        return checked(be, new Safetensors.Contents(Map.of(name, e), Map.of()), file, name, shape, target);
    }

    /** Loads optimiser moments and step; returns the stored training-state JSON (or null). */
    public static String loadOptimizer(AdamW optimizer, Safetensors.Contents contents, Path file) {
        List<Parameter> ps = optimizer.parameters();
        double[] m = new double[optimizer.firstMoments().size()], v = new double[m.length];
        for (int i = 0; i < ps.size(); i++) {
            Parameter p = ps.get(i);
            int offset = optimizer.momentOffset(i);
            System.arraycopy(checkedEntry(contents, file, OPT_M + p.name(), p.shape()).values(), 0, m, offset, p.size());
            System.arraycopy(checkedEntry(contents, file, OPT_V + p.name(), p.shape()).values(), 0, v, offset, p.size());
        }
        String step = contents.metadata().get("optimizer_step");
        if (step == null) throw new SafetensorsException(file + ": metadata has no 'optimizer_step'; it holds weights only, not a resumable state");
        long parsed;
        try {
            parsed = Long.parseLong(step);
        } catch (NumberFormatException e) {
            throw new SafetensorsException(file + ": metadata 'optimizer_step' is '" + step + "', expected a whole number");
        }
        if (!ps.isEmpty()) {
            Backend be = ps.get(0).value().backend();
            be.upload(optimizer.firstMoments(), m);
            be.upload(optimizer.secondMoments(), v);
        }
        optimizer.setStep(parsed);
        return contents.metadata().get("training_state");
    }

    private static Runnable checked(Backend be, Safetensors.Contents contents, Path file, String name, int[] shape, Tensor target) {
        Safetensors.Entry e = checkedEntry(contents, file, name, shape);
        return be.isDoublePrecision() ? () -> be.upload(target, e.values()) : () -> be.upload(target, e.toFloats());
    }

    /** One tensor of the file, after checking its shape and that every value is finite. */
    private static Safetensors.Entry checkedEntry(Safetensors.Contents contents, Path file, String name, int[] shape) {
        Safetensors.Entry e = contents.require(name, file);
        long[] expected = Arrays.stream(shape).asLongStream().toArray();
        if (!Arrays.equals(e.shape(), expected)) {
            throw new SafetensorsException(file + ": tensor '" + name + "' has shape " + Arrays.toString(e.shape())
                    + ", expected " + Arrays.toString(expected));
        }
        double[] values = e.values();
        for (int i = 0; i < values.length; i++) {
            if (!Double.isFinite(values[i])) {
                throw new SafetensorsException(file + ": tensor '" + name + "' holds a non-finite value (" + values[i] + ") at index " + i);
            }
        }
        return e;
    }
}
