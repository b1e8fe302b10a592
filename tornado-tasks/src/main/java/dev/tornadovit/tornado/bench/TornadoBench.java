package dev.tornadovit.tornado.bench;

import dev.tornadovit.data.Normalization;
import dev.tornadovit.distributed.Distributed;
import dev.tornadovit.model.AttentionConfig;
import dev.tornadovit.model.Parameter;
import dev.tornadovit.model.Pooling;
import dev.tornadovit.model.PositionEmbedding;
import dev.tornadovit.model.ViTConfig;
import dev.tornadovit.model.VisionTransformer;
import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.PixelTable;
import dev.tornadovit.tensor.PointwiseActivation;
import dev.tornadovit.tensor.PoolMode;
import dev.tornadovit.tensor.Precision;
import dev.tornadovit.tensor.RecordedGraph;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tornado.cuda.CudaLibraryProvider;
import dev.tornadovit.tornado.FusedAttention;
import dev.tornadovit.tornado.GemmStrategy;
import dev.tornadovit.tornado.GraphProfile;
import dev.tornadovit.tornado.TornadoBackend;
import dev.tornadovit.tornado.TornadoDevices;
import dev.tornadovit.train.AdamW;
import dev.tornadovit.tensor.Write;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Throughput of the TornadoVM backend on synthetic data: a whole ViT (training steps and inference, images/s),
 * attention alone, forward and backward (our fused ReLU/L and softmax kernels against the unfused paths) and the
 * matrix products of each linear layer (GFLOP/s of the forward product and of the two backward ones; {@code --gemm
 * cublas,mma} gives one row per layer and GEMM strategy, side by side) and, with {@code --parts memory}, a block's
 * memory-bound kernels as effective bandwidth ({@link MemoryBoundBench}). Prints a Markdown table and appends it to
 * {@code --out} if given.
 *
 * <pre>
 * java &lt;TornadoVM flags&gt; -cp tornadovit.jar:tornadovit-tornado.jar dev.tornadovit.tornado.bench.TornadoBench \
 *     [--device tornado] [--model s16|tiny] [--batch 128] [--steps 10] [--warmup 2] [--parts model,attention,gemm,memory]
 *     [--attention softmax,relu/L[+qk-norm][+gate],...] [--attention-batch-heads 768] [--modes train,infer] [--profile]
 *     [--precision fp32|tf32|bf16] [--gemm auto|kernel|cublas|mma,...] [--nccl] [--out results.md]
 * </pre>
 *
 * Timings are wall-clock around blocking graph executions, so they include TornadoVM's per-graph dispatch; warm-up
 * steps (graph recording and kernel compilation) are reported separately and not counted. The GEMM strategy is the
 * device's best unless {@code -Dtornadovit.gemm} names one. {@code --profile} adds, per model, where a step's time goes:
 * each kind of graph's wall-clock time per step ({@link GraphProfile}), over as many more steps: the training step with
 * its batch already on the device, with the batch uploaded as 8-bit pixels (as the trainer uploads it) and with it
 * uploaded as float32 images.
 */
public final class TornadoBench {
    private final String device;
    private final List<String> rows = new ArrayList<>();
    /** {@code --modes}: train, infer or both (one alone when profiling). */
    private boolean train = true, infer = true;
    private boolean profile;
    /**
     * {@code --nccl}: each training step also averages its gradients with NCCL on the device, as a GPU rank of a
     * data-parallel run does, over a one-rank communicator: the all-reduce path's cost per step.
     */
    private boolean nccl;
    /** {@code --precision}: the operand format of the matrix products. */
    private Precision precision = Precision.FP32;

    private TornadoBench(String device) {
        this.device = device;
    }

    private TornadoBackend backend() {
        return new TornadoBackend(device, precision);
    }

    public static void main(String[] args) {
        try {
            run(args);
        } catch (IllegalArgumentException e) {
            // a bad option, or a refusal such as a model that does not fit the device: one line, not a stack trace
            System.err.println("bench: " + e.getMessage());
            System.exit(2);
        }
    }

    private static void run(String[] args) {
        String modes = "train,infer";
        String device = "tornado", model = "s16", parts = "model,attention", out = null, attentions = "softmax,relu/L";
        int batch = 128, steps = 10, warmup = 2, attentionBatchHeads = 768;
        boolean profileSteps = false, nccl = false;
        String precision = "fp32", gemms = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            String value = i + 1 < args.length ? args[i + 1] : null;
            switch (a) {
                case "--device" -> device = value;
                case "--model" -> model = value;
                case "--batch" -> batch = Integer.parseInt(value);
                case "--steps" -> steps = Integer.parseInt(value);
                case "--warmup" -> warmup = Integer.parseInt(value);
                case "--parts" -> parts = value;
                case "--attention-batch-heads" -> attentionBatchHeads = Integer.parseInt(value);
                case "--out" -> out = value;
                case "--attention" -> attentions = value;
                case "--modes" -> modes = value;
                case "--precision" -> precision = value;
                case "--gemm" -> gemms = value;
                case "--profile" -> {
                    profileSteps = true;
                    i--; // a flag: no value
                }
                case "--nccl" -> {
                    nccl = true;
                    i--;
                }
                default -> throw new IllegalArgumentException("unknown option " + a);
            }
            i++;
        }
        for (String mode : modes.split(",")) {
            if (!mode.equals("train") && !mode.equals("infer")) {
                throw new IllegalArgumentException("--modes takes train, infer or train,infer, not " + modes);
            }
        }
        for (String attention : attentions.split(",")) attentionConfig(attention); // a typo fails before anything runs
        TornadoBench bench = new TornadoBench(device);
        bench.train = modes.contains("train");
        bench.infer = modes.contains("infer");
        bench.profile = profileSteps;
        bench.nccl = nccl;
        bench.precision = Precision.parse(precision);
        TornadoDevices.Found found = TornadoDevices.resolve(device);
        bench.row("device: " + found.id() + " (" + found.backend() + ": " + found.name() + "), GEMM: "
                + (gemms == null ? GemmStrategy.forDevice(found, bench.precision).label() : gemms)
                + ", matrix products in " + precision
                + (nccl ? ", gradients averaged by NCCL (one rank)" : "") + ", Java " + Runtime.version());
        if (parts.contains("attention")) {
            bench.row("");
            bench.row("| attention alone, fp32, " + attentionBatchHeads + " batch·heads, d=" + ("tiny".equals(model) ? 8 : 64)
                    + " | L | ms | GFLOP/s |");
            bench.row("| --- | --- | --- | --- |");
            for (int tokens : "tiny".equals(model) ? new int[]{17, 65} : new int[]{197, 785}) {
                bench.attention(attentionBatchHeads, tokens, "tiny".equals(model) ? 8 : 64, Math.max(steps, 5));
            }
        }
        if (parts.contains("gemm")) {
            bench.row("");
            bench.row("| linear layer, " + precision + " | M×K → N | forward GFLOP/s | dx GFLOP/s | dW GFLOP/s |");
            bench.row("| --- | --- | --- | --- | --- |");
            int tokens = batch * ("tiny".equals(model) ? 65 : 197);
            int width = "tiny".equals(model) ? 64 : 384;
            int reps = Math.max(steps, 5);
            // One backend per GEMM strategy for all rows: its compiled kernels serve every layer.
            for (GemmStrategy gemm : gemmStrategies(gemms, found, bench.precision)) {
                String label = gemms == null ? "" : " (" + gemm.label() + ")";
                try (TornadoBackend be = new TornadoBackend(found, 0, gemm, bench.precision)) {
                    bench.gemm(be, "qkv" + label, tokens, width, 3 * width, reps);
                    bench.gemm(be, "attention projection" + label, tokens, width, width, reps);
                    bench.gemm(be, "MLP fc1" + label, tokens, width, 4 * width, reps);
                    bench.gemm(be, "MLP fc2" + label, tokens, 4 * width, width, reps);
                    bench.gemm(be, "square" + label, 1024, 1024, 1024, reps);
                }
            }
        }
        if (parts.contains("memory")) {
            bench.row("");
            boolean tiny = "tiny".equals(model);
            try (TornadoBackend be = bench.backend()) {
                // ViT-S/16's block at this batch (197 tokens, width 384, MLP 1536, 6 heads), or the tiny model's
                new MemoryBoundBench(be, bench::row).run(batch * (tiny ? 65 : 197), tiny ? 64 : 384, tiny ? 128 : 1536,
                        tiny ? 2 : 6, tiny ? 65 : 197, Math.max(steps, 5));
            }
        }
        if (parts.contains("model")) {
            bench.row("");
            bench.row("| model | attention | batch | train img/s | infer img/s | first train step s | first infer s |");
            bench.row("| --- | --- | --- | --- | --- | --- | --- |");
            for (String attention : attentions.split(",")) {
                AttentionConfig a = attentionConfig(attention);
                ViTConfig config = "tiny".equals(model)
                        ? new ViTConfig(32, 32, 3, 4, 10, 64, 2, 4, 128, Pooling.CLS, PositionEmbedding.LEARNED, a, 0)
                        : new ViTConfig(224, 224, 3, 16, 1000, 384, 12, 6, 1536, Pooling.CLS, PositionEmbedding.LEARNED, a, 0);
                bench.model("tiny".equals(model) ? "tiny 32px/4" : "ViT-S/16 224px", attention, config, batch, steps, warmup);
            }
        }
        for (List<String> p : bench.profiles) p.forEach(bench::row);
        List<String> tuning = CudaLibraryProvider.tuningReport();
        if (!tuning.isEmpty()) {
            bench.row("");
            bench.row("cuBLASLt algorithms chosen by timing (heuristic's first choice against the kept one), per shape:");
            tuning.forEach(line -> bench.row("- " + line));
        }
        if (out != null) {
            try {
                Files.writeString(Path.of(out), String.join("\n", bench.rows) + "\n", StandardOpenOption.CREATE,
                        StandardOpenOption.APPEND);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /**
     * The strategies {@code --gemm} lists (comma-separated labels, {@code auto} the device's best for the precision),
     * or, without it, the one {@code -Dtornadovit.gemm} picks; a strategy the device cannot run is an error naming why.
     */
    private static List<GemmStrategy> gemmStrategies(String gemms, TornadoDevices.Found found, Precision precision) {
        if (gemms == null) return List.of(GemmStrategy.forDevice(found, precision));
        List<GemmStrategy> strategies = new ArrayList<>();
        for (String name : gemms.split(",")) {
            String label = name.strip().toLowerCase(Locale.ROOT);
            GemmStrategy strategy = label.equals("auto") ? GemmStrategy.best(found, precision)
                    : java.util.Arrays.stream(GemmStrategy.values()).filter(g -> g.label().equals(label)).findFirst()
                    .orElseThrow(() -> new IllegalArgumentException("--gemm " + gemms + ": '" + name
                            + "' is not a GEMM strategy: use auto, kernel, cublas or mma"));
            String reason = GemmStrategy.unavailableReason(strategy, found);
            if (reason != null) throw new IllegalArgumentException("--gemm " + gemms + ": " + reason);
            strategies.add(strategy);
        }
        return strategies;
    }

    private void row(String line) {
        rows.add(line);
        System.out.println(line);
        System.out.flush();
    }

    static Tensor random(TornadoBackend be, int n, SplittableRandom random) {
        float[] values = new float[n];
        for (int i = 0; i < n; i++) values[i] = (float) random.nextGaussian();
        Tensor t = be.allocate(n);
        be.upload(t, values);
        return t;
    }

    /** Mean milliseconds of one run of {@code body} as a graph, after it was recorded and warmed up. */
    static double time(TornadoBackend be, String label, Runnable body, int reps) {
        RecordedGraph graph = be.record(label, body);
        for (int i = 0; i < 3; i++) graph.run();
        be.synchronize();
        long start = System.nanoTime();
        for (int i = 0; i < reps; i++) graph.run();
        be.synchronize(); // graphs run queued: the clock stops when the device is done
        return (System.nanoTime() - start) / 1e6 / reps;
    }

    /** One {@code --attention} entry: softmax or relu/L, each optionally with +qk-norm and +gate (the paper's options). */
    static AttentionConfig attentionConfig(String name) {
        String[] parts = name.split("\\+");
        AttentionConfig config = switch (parts[0]) {
            case "softmax" -> AttentionConfig.softmax();
            case "relu/L" -> AttentionConfig.reluOverL();
            default -> throw new IllegalArgumentException("--attention takes softmax or relu/L, each optionally with"
                    + " +qk-norm and +gate (e.g. relu/L+qk-norm+gate), not " + name);
        };
        for (int i = 1; i < parts.length; i++) {
            config = switch (parts[i]) {
                case "qk-norm" -> config.withQkNorm(true);
                case "gate" -> config.withGate(true);
                default -> throw new IllegalArgumentException("--attention " + name + ": an option is +qk-norm or +gate, not +"
                        + parts[i]);
            };
        }
        return config;
    }

    private void attention(int batchHeads, int tokens, int headDim, int reps) {
        try (TornadoBackend be = backend()) {
            SplittableRandom random = new SplittableRandom(1);
            int th = batchHeads * tokens * headDim;
            long tt = (long) batchHeads * tokens * tokens;
            Tensor q = random(be, th, random), k = random(be, th, random), v = random(be, th, random);
            Tensor scores = be.allocate(Math.toIntExact(tt)), weights = be.allocate(Math.toIntExact(tt)), o = be.allocate(th);
            double scale = 1 / Math.sqrt(headDim);
            double flops = 4.0 * batchHeads * tokens * (double) tokens * headDim;
            AttentionWeighting softmax = AttentionWeighting.softmaxWeights();
            AttentionWeighting reluL = AttentionWeighting.pointwise(dev.tornadovit.tensor.PointwiseActivation.RELU, 1);
            Runnable threeSteps = () -> {
                be.attentionScores(q, k, scores, batchHeads, tokens, headDim, scale);
                be.attentionWeights(scores, weights, batchHeads * tokens, tokens, reluL);
                be.attentionApply(weights, v, o, batchHeads, tokens, headDim);
            };
            Runnable softmaxSteps = () -> {
                be.attentionScores(q, k, scores, batchHeads, tokens, headDim, scale);
                be.attentionWeights(scores, weights, batchHeads * tokens, tokens, softmax);
                be.attentionApply(weights, v, o, batchHeads, tokens, headDim);
            };
            report("softmax (scores, softmax, ·V: 3 kernels)", tokens, flops, time(be, "softmax", softmaxSteps, reps));
            report("softmax fused, writing weights (training)", tokens, flops, time(be, "softmax-fused",
                    () -> new FusedAttention(be).softmaxWithWeights(q, k, v, weights, o, batchHeads, tokens, headDim, scale), reps));
            report("softmax fused, output only (inference)", tokens, flops, time(be, "softmax-fused-no-maps",
                    () -> new FusedAttention(be).softmaxWithoutMaps(q, k, v, o, batchHeads, tokens, headDim, scale), reps));
            report("ReLU/L unfused (3 kernels)", tokens, flops, time(be, "relu-unfused", threeSteps, reps));
            report("ReLU/L fused, writing scores and weights (training)", tokens, flops, time(be, "relu-fused",
                    () -> new FusedAttention(be).pointwiseWithMaps(q, k, v, scores, weights, o, batchHeads, tokens, headDim, scale,
                            reluL), reps));
            report("ReLU/L fused, output only (inference)", tokens, flops, time(be, "relu-fused-no-maps",
                    () -> new FusedAttention(be).pointwiseWithoutMaps(q, k, v, o, batchHeads, tokens, headDim, scale, reluL), reps));
            // Backward (training): the model's four products, 8·BH·T²·hd, whatever a path recomputes; the maps are
            // those a forward kept (the ReLU/L runs above wrote scores and weights; softmax's weights are made below).
            double backwardFlops = 2 * flops;
            Tensor dO = random(be, th, random), dq = be.allocate(th), dk = be.allocate(th), dv = be.allocate(th);
            Tensor dWeights = be.allocate(Math.toIntExact(tt)), dScores = be.allocate(Math.toIntExact(tt));
            FusedAttention kernels = new FusedAttention(be);
            report("ReLU/L backward unfused (dO·vᵀ, Wᵀ·dO, φ', dS·k, dSᵀ·q: 5 kernels)", tokens, backwardFlops,
                    time(be, "relu-backward-unfused", () -> kernels.unfusedBackward(dO, q, k, v, scores, weights, dWeights,
                            dScores, dq, dk, dv, batchHeads, tokens, headDim, scale, reluL, false), reps));
            report("ReLU/L backward fused (2 kernels)", tokens, backwardFlops, time(be, "relu-backward-fused",
                    () -> kernels.pointwiseBackward(dO, q, k, v, scores, dq, dk, dv, batchHeads, tokens, headDim, scale,
                            reluL, false), reps));
            be.attentionWeights(scores, weights, batchHeads * tokens, tokens, softmax);
            report("softmax backward (dO·vᵀ, Wᵀ·dO, softmax', dS·k, dSᵀ·q: 5 kernels)", tokens, backwardFlops,
                    time(be, "softmax-backward", () -> kernels.unfusedBackward(dO, q, k, v, scores, weights, dWeights,
                            dScores, dq, dk, dv, batchHeads, tokens, headDim, scale, softmax, false), reps));
            for (AttentionWeighting w : new AttentionWeighting[]{softmax, reluL}) {
                modelCore(be, w, batchHeads, tokens, headDim, flops, reps, random);
            }
        }
    }

    /**
     * The model's attention core from qkv to the merged heads (6 heads an image, as ViT-S/16; on CUDA the heads read in
     * place, and φ as the model runs it: in the scores' product by default, {@code -Dtornadovit.reluEpilogue=off|both}):
     * the forward pass alone (inference) and forward with backward (training).
     */
    private void modelCore(TornadoBackend be, AttentionWeighting w, int batchHeads, int tokens, int headDim,
                           double flops, int reps, SplittableRandom random) {
        int heads = batchHeads % 6 == 0 ? 6 : 1, images = batchHeads / heads, th = batchHeads * tokens * headDim;
        Tensor qkv = random(be, 3 * th, random), merged = be.allocate(th), dMerged = random(be, th, random);
        Tensor dQkv = be.allocate(3 * th);
        var core = be.attentionCore(new dev.tornadovit.tensor.AttentionCore.Spec(heads, headDim, 1 / Math.sqrt(headDim),
                w, null, null));
        core.allocate(new dev.tornadovit.model.Workspace(be), images, tokens);
        String name = (w.softmax() ? "softmax" : "ReLU/L") + ", the model's core (" + core.getClass().getSimpleName()
                      + ")";
        report(name + ", forward (inference)", tokens, flops, time(be, "core-forward-" + w,
                () -> core.forward(qkv, merged, images, false), reps));
        report(name + ", forward and backward (training)", tokens, 3 * flops, time(be, "core-train-" + w, () -> {
            core.forward(qkv, merged, images, true);
            core.backward(qkv, dMerged, dQkv, images);
        }, reps));
    }

    /**
     * One linear layer's three products: y = x·Wᵀ + b, then dW alone and dx with dW (dx's time is the difference). dW
     * includes its token split and the sum of the parts where the backend splits it.
     */
    private void gemm(TornadoBackend be, String layer, int m, int k, int n, int reps) {
        SplittableRandom random = new SplittableRandom(3);
        Tensor x = random(be, m * k, random), w = random(be, n * k, random), bias = random(be, n, random);
        Tensor y = be.allocate(m * n), dy = random(be, m * n, random), dx = be.allocate(m * k);
        Tensor dw = be.allocate(n * k);
        double flops = 2.0 * m * n * k;
        double forward = time(be, layer + " forward", () -> be.linear(x, w, bias, y, m, k, n), reps);
        double weights = time(be, layer + " dW", () -> be.linearBackward(dy, x, w, null, dw, null, m, k, n, Write.ACCUMULATE), reps);
        double both = time(be, layer + " dx+dW", () -> be.linearBackward(dy, x, w, dx, dw, null, m, k, n, Write.ACCUMULATE), reps);
        row(String.format(Locale.ROOT, "| %s | %d×%d → %d | %.0f | %.0f | %.0f |", layer, m, k, n,
                flops / (forward * 1e6), flops / ((both - weights) * 1e6), flops / (weights * 1e6)));
    }

    private void report(String what, int tokens, double flops, double ms) {
        row(String.format(Locale.ROOT, "| %s | %d | %.3f | %.0f |", what, tokens, ms, flops / (ms * 1e6)));
    }

    private void model(String modelName, String attention, ViTConfig config, int batch, int steps, int warmup) {
        try (TornadoBackend be = backend()) {
            SplittableRandom random = new SplittableRandom(2);
            VisionTransformer model = new VisionTransformer(config, be, 0);
            AdamW opt = new AdamW(be, model.parameters(), AdamW.Settings.defaults());
            int pixels = batch * config.channels() * config.imageHeight() * config.imageWidth();
            float[] images = new float[pixels];
            for (int i = 0; i < pixels; i++) images[i] = (float) random.nextGaussian();
            float[] labels = new float[batch];
            for (int i = 0; i < batch; i++) labels[i] = random.nextInt(config.numClasses());
            Tensor x = be.allocate(pixels), y = be.allocate(batch);
            List<Tensor> gradients = model.parameters().stream().map(Parameter::grad).toList();
            if (nccl && !be.averagesOnDevice(Distributed.single())) {
                throw new IllegalArgumentException("--nccl: " + device + " cannot average on the device (the CUDA "
                        + "backend with cuBLAS and libnccl.so.2 loadable are needed)");
            }

            // The synthetic batch stays on the device, as PyTorch's side of the comparison keeps its batch on the GPU;
            // what an upload from the host costs is timed on its own below.
            be.upload(x, images);
            be.upload(y, labels);
            Runnable trainStep = () -> {
                model.zeroGradients();
                model.forward(x, batch);
                double loss = be.downloadDouble(model.lossAndGradient(y, batch))[0];
                if (!Double.isFinite(loss)) throw new IllegalStateException("loss became " + loss);
                model.backward(batch);
                if (nccl) be.averageOnDevice(Distributed.single(), gradients);
                opt.step(1e-4);
            };
            model.setTraining(true);
            double[] trainTimes = train ? timeSteps(be, trainStep, warmup, steps) : NOT_RUN;

            Runnable inferStep = () -> {
                model.forward(x, batch);
                be.downloadFloat(model.logits());
            };
            model.setTraining(false);
            double[] inferTimes = infer ? timeSteps(be, inferStep, warmup, steps) : NOT_RUN;
            row(String.format(Locale.ROOT, "| %s | %s | %d | %s | %s | %s | %s |", modelName, attention, batch,
                    oneDecimal(steps * batch / trainTimes[1]), oneDecimal(steps * batch / inferTimes[1]),
                    oneDecimal(trainTimes[0]), oneDecimal(inferTimes[0])));
            if (profile) {
                // the model is left in inference mode by the timing above: each profile sets its own
                if (train) {
                    model.setTraining(true);
                    profiles.add(profileOf(be, modelName + ", " + attention + ", training step", trainStep, steps));
                    // As the trainer's data loader hands them over: 8-bit pixels, scaled and normalised on the device.
                    byte[] pixelBytes = new byte[pixels];
                    for (int i = 0; i < pixels; i++) pixelBytes[i] = (byte) random.nextInt(256);
                    float[] mean = new float[config.channels()], std = new float[config.channels()];
                    Arrays.fill(mean, 0.45f);
                    Arrays.fill(std, 0.225f);
                    PixelTable table = Normalization.pixelTable(Normalization.of(mean, std), config.channels());
                    int planeSize = config.imageHeight() * config.imageWidth();
                    // An upload's staging graph is compiled at its first use once the tensor is on the device, once a
                    // run: that happens here, not in the profiles (a download sends the uploads waiting on the host).
                    be.uploadPixels(x, pixelBytes, batch, planeSize, table);
                    be.upload(x, images);
                    be.upload(y, labels);
                    be.downloadFloat(y);
                    Runnable uploadPixelsAndStep = () -> {
                        be.uploadPixels(x, pixelBytes, batch, planeSize, table);
                        be.upload(y, labels);
                        trainStep.run();
                    };
                    profiles.add(profileOf(be, modelName + ", " + attention + ", training step with the batch ("
                            + megabytes(pixels) + " of 8-bit pixels) uploaded from the host and normalised on the device",
                            uploadPixelsAndStep, steps));
                    Runnable uploadFloatsAndStep = () -> {
                        be.upload(x, images);
                        be.upload(y, labels);
                        trainStep.run();
                    };
                    profiles.add(profileOf(be, modelName + ", " + attention + ", training step with the batch ("
                            + megabytes(4L * pixels) + " of float32 images) uploaded from the host",
                            uploadFloatsAndStep, steps));
                }
                if (infer) {
                    model.setTraining(false);
                    profiles.add(profileOf(be, modelName + ", " + attention + ", inference pass", inferStep, steps));
                }
            }
        }
    }

    private static String megabytes(long bytes) {
        return bytes >= 1e6 ? String.format(Locale.ROOT, "%.1f MB", bytes / 1e6)
                : String.format(Locale.ROOT, "%.0f kB", bytes / 1e3);
    }

    /** Profiles printed after the model table, so that its rows stay together. */
    private final List<List<String>> profiles = new ArrayList<>();

    /** Where one step's wall-clock time goes, graph kind by kind, as Markdown rows. */
    private static List<String> profileOf(TornadoBackend be, String what, Runnable step, int steps) {
        GraphProfile profile = new GraphProfile();
        be.profileGraphs(profile);
        be.synchronize();
        long t0 = System.nanoTime();
        for (int i = 0; i < steps; i++) step.run();
        be.synchronize();
        double stepMs = (System.nanoTime() - t0) / 1e6 / steps;
        be.profileGraphs(null);
        List<String> rows = new ArrayList<>();
        rows.add("");
        rows.add(String.format(Locale.ROOT, "| %s: %.2f ms a step | graphs | tasks | ms | share |", what, stepMs));
        rows.add("| --- | --- | --- | --- | --- |");
        double inGraphs = 0;
        for (GraphProfile.Entry e : profile.entries()) {
            double ms = e.nanos() / 1e6 / steps;
            inGraphs += ms;
            rows.add(String.format(Locale.ROOT, "| %s | %.1f | %.0f | %.2f | %.1f %% |", e.kind(), e.runs() / (double) steps,
                    e.tasks() / (double) steps, ms, 100 * ms / stepMs));
        }
        rows.add(String.format(Locale.ROOT, "| outside graphs (uploads, downloads, host code) | | | %.2f | %.1f %% |",
                stepMs - inGraphs, 100 * (stepMs - inGraphs) / stepMs));
        return rows;
    }

    private static final double[] NOT_RUN = {Double.NaN, Double.NaN};

    /**
     * Seconds of the first run of {@code step} (recording and compilation), then of {@code steps} runs after
     * {@code warmup} runs in all.
     */
    private static double[] timeSteps(TornadoBackend be, Runnable step, int warmup, int steps) {
        long t0 = System.nanoTime();
        step.run();
        be.synchronize(); // graphs run queued: each clock stops when the device is done
        double first = (System.nanoTime() - t0) / 1e9;
        for (int i = 1; i < warmup; i++) step.run();
        be.synchronize();
        t0 = System.nanoTime();
        for (int i = 0; i < steps; i++) step.run();
        be.synchronize();
        return new double[]{first, (System.nanoTime() - t0) / 1e9};
    }

    /** A figure with one decimal, or "–" for a mode that was not run. */
    private static String oneDecimal(double value) {
        return Double.isNaN(value) ? "–" : String.format(Locale.ROOT, "%.1f", value);
    }
}
