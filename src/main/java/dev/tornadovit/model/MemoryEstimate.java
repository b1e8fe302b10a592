package dev.tornadovit.model;

import dev.tornadovit.backend.cpu.CpuBackend;
import dev.tornadovit.backend.reference.ReferenceBackend;
import dev.tornadovit.tensor.ActivationMemory;
import dev.tornadovit.tensor.AttentionCore;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.ComposedAttentionCore;
import dev.tornadovit.tensor.Tensor;

import java.util.HashSet;
import java.util.Locale;
import java.util.Set;
import java.util.function.IntFunction;

/**
 * What a model will allocate, counted before anything is allocated: every tensor {@link VisionTransformer},
 * {@link dev.tornadovit.train.AdamW} and the batch inputs ask the backend for, tensor by tensor as their
 * {@code allocate} methods do (a test holds the count equal to what a recording backend sees), in long arithmetic so
 * that sizes past an int are caught rather than wrapped. A run whose tensors cannot exist (one over an array's
 * limit) or do not fit the Java heap is refused with the estimate and the option that changes it.
 *
 * @param parameterValues  elements of the parameters, their gradients and the buffers (running statistics, fixed
 *                         position embeddings)
 * @param optimizerValues  elements of AdamW's moments and scalars (0 for inference)
 * @param activationValues elements of the workspace for batches of {@code workspaceBatch}
 * @param inputValues      elements of the batch inputs (images and labels)
 * @param tensors          how many tensors, for the per-array overhead
 * @param transientBytes   the largest short-lived heap buffer on top: writing a checkpoint copies every tensor to
 *                         float64, and initialisation the largest parameter
 * @param largestTensor    the largest single tensor's elements, and {@code largestName} what it is
 */
public record MemoryEstimate(long parameterValues, long optimizerValues, long activationValues, long inputValues,
                             long tensors, long transientBytes, long largestTensor, String largestName,
                             int workspaceBatch, int bytesPerValue) {

    /** The most elements one tensor may hold: Java arrays stop just below {@code Integer.MAX_VALUE}. */
    public static final long MAX_TENSOR_ELEMENTS = Integer.MAX_VALUE - 8;
    /** A Java array's header and object overhead, per tensor. */
    private static final int BYTES_PER_TENSOR = 64;

    /**
     * Training: parameters with gradients, AdamW's moments, the workspace for the larger of the training and
     * evaluation batches (the trainer shares one), both batch inputs, and a checkpoint write.
     */
    public static MemoryEstimate training(ViTConfig config, int trainBatch, int evalBatch, Backend backend) {
        Counter c = count(config, Math.max(trainBatch, evalBatch), backend);
        long parameters = c.parameterElements;
        c.optimizer += 2 * parameters + 4 + 1;
        c.tensors += 4; // the two moment tensors, the per-step values and the gradient norm
        c.inputs(config, trainBatch);
        c.inputs(config, evalBatch);
        // Checkpoint.save downloads weights, buffers and both moments to double[] and holds them all while writing,
        // with one moment tensor whole beside its per-parameter copies.
        long checkpointDoubles = 8 * (4 * parameters + c.bufferElements);
        return c.estimate(Math.max(checkpointDoubles, 8 * c.largestParameter), bytesPerValue(backend));
    }

    /**
     * Evaluation or prediction: the model (its gradients are allocated too), the workspace for {@code batch}, and the
     * checkpoint's values as float64 while they are loaded.
     */
    public static MemoryEstimate inference(ViTConfig config, int batch, Backend backend) {
        Counter c = count(config, batch, backend);
        c.inputs(config, batch);
        return c.estimate(8 * (c.parameterElements + c.bufferElements), bytesPerValue(backend));
    }

    /** The memory of {@code runs} such runs at once. */
    public MemoryEstimate scaled(int runs) {
        return new MemoryEstimate(runs * parameterValues, runs * optimizerValues, runs * activationValues,
                runs * inputValues, runs * tensors, runs * transientBytes, largestTensor, largestName, workspaceBatch,
                bytesPerValue);
    }

    /** Bytes the run holds at its peak. */
    public long bytes() {
        return (parameterValues + optimizerValues + activationValues + inputValues) * bytesPerValue
                + tensors * BYTES_PER_TENSOR + transientBytes;
    }

    /** Bytes of the tensors alone, as they stay allocated while the run lasts. */
    public long residentBytes() {
        return (parameterValues + optimizerValues + activationValues + inputValues) * bytesPerValue
                + tensors * BYTES_PER_TENSOR;
    }

    /** Elements of every backend tensor. */
    public long tensorValues() {
        return parameterValues + optimizerValues + activationValues + inputValues;
    }

    /** Whether the backend keeps its tensors on the Java heap, so that the heap's limit applies to them. */
    public static boolean onJavaHeap(Backend backend) {
        return backend instanceof CpuBackend || backend instanceof ReferenceBackend;
    }

    /**
     * Refuses a run that cannot be allocated: a tensor past an array's limit, or (for a backend that keeps its
     * tensors on the heap) more than the heap's limit with {@code heldBytes} already held (the images).
     *
     * @param batchOption the option that sets the batch size, named in the message
     * @param atBatch     the estimate of the same run at another batch size, to say which batch sizes fit
     */
    public void requireFits(String batchOption, Backend backend, long heldBytes, IntFunction<MemoryEstimate> atBatch) {
        requireTensorsFit(batchOption);
        if (!onJavaHeap(backend)) return;
        long limit = Runtime.getRuntime().maxMemory();
        if (bytes() + heldBytes > limit) {
            throw new IllegalArgumentException(message(limit, heldBytes, batchOption,
                    largestFitting(limit - heldBytes, atBatch)));
        }
    }

    /** Refuses a batch size at which one of the run's tensors would not fit a Java array (its int size would wrap). */
    public void requireTensorsFit(String batchOption) {
        if (largestTensor > MAX_TENSOR_ELEMENTS) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "%s %d: %s would hold %,d values, more "
                            + "than one tensor holds (%,d); lower %s", batchOption, workspaceBatch, largestName,
                    largestTensor, MAX_TENSOR_ELEMENTS, batchOption));
        }
    }

    /**
     * Training {@code config} at {@code batch} on a backend not known yet: counted as for a float32 one that fuses
     * nothing, which allocates every tensor any backend does. Good for the tensor-size check, not for the heap.
     */
    public static MemoryEstimate trainingOnAnyBackend(ViTConfig config, int batch) {
        return training(config, batch, batch, null);
    }

    /** The largest batch size whose estimate fits {@code available} bytes, or 0 when not even one image does. */
    private int largestFitting(long available, IntFunction<MemoryEstimate> atBatch) {
        int low = 0, high = workspaceBatch;
        while (low < high) {
            int mid = (int) ((low + (long) high + 1) / 2);
            if (atBatch.apply(mid).bytes() <= available) low = mid;
            else high = mid - 1;
        }
        return low;
    }

    String message(long limit, long heldBytes, String batchOption, int fittingBatch) {
        long activationBytes = activationValues * bytesPerValue;
        long other = bytes() - (parameterValues + optimizerValues + activationValues) * bytesPerValue;
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT,
                "this run needs about %s of memory (parameters and gradients %s", size(bytes() + heldBytes),
                size(parameterValues * bytesPerValue)));
        if (optimizerValues > 0) sb.append(", AdamW state ").append(size(optimizerValues * bytesPerValue));
        sb.append(String.format(Locale.ROOT, ", activations for batches of %d %s", workspaceBatch, size(activationBytes)));
        if (heldBytes > 0) sb.append(", images ").append(size(heldBytes));
        sb.append(", other ").append(size(other)).append("), more than the Java heap's limit of ").append(size(limit))
                .append("; ");
        if (fittingBatch > 0) sb.append("lower ").append(batchOption).append(" (").append(fittingBatch).append(" fits), or ");
        long wanted = (long) Math.ceil((bytes() + heldBytes) * 1.25 / (1L << 30));
        sb.append("raise the limit with -Xmx (through the tornadovit script: TORNADOVIT_JAVA_OPTS=-Xmx")
                .append(wanted).append("g)");
        return sb.toString();
    }

    static String size(long bytes) {
        if (bytes >= 1L << 30) return String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30));
        if (bytes >= 1L << 20) return String.format(Locale.ROOT, "%.0f MiB", bytes / (double) (1L << 20));
        return String.format(Locale.ROOT, "%.0f KiB", bytes / 1024.0);
    }

    private static int bytesPerValue(Backend backend) {
        return backend != null && backend.isDoublePrecision() ? 8 : 4;
    }

    /**
     * The model's tensors and its workspace for {@code batch}, in the order the model allocates them; a null
     * {@code backend} stands for one whose attention core is composed, which allocates every tensor any does.
     */
    private static Counter count(ViTConfig config, int batch, Backend backend) {
        ViTConfig c = config.validated();
        Counter n = new Counter();
        long b = batch, t = c.tokens(), d = c.width(), p = c.patchCount(), hidden = c.mlpDim(), heads = c.heads();
        long patchLength = (long) c.channels() * c.patchSize() * c.patchSize();
        // Parameters (value and gradient each), in VisionTransformer's constructor's order.
        n.parameter("the patch embedding's weight", d * patchLength);
        n.parameter("", d);
        if (c.hasClsToken()) n.parameter("", d);
        if (c.posEmbed() == PositionEmbedding.LEARNED) n.parameter("the position embedding", t * d);
        else n.buffer(p * d);
        AttentionConfig a = c.attention();
        for (int i = 0; i < c.depth(); i++) {
            boolean re = a.reattentionIn(i, c.depth());
            n.parameter("", d);
            n.parameter("", d);
            n.parameter("the attention's qkv weight", 3 * d * d);
            n.parameter("", 3 * d);
            if (a.qkNorm()) for (int k = 0; k < 4; k++) n.parameter("", c.headDim());
            if (re) {
                n.parameter("", heads * heads);
                for (int k = 0; k < 3; k++) n.parameter("", heads);
                if (a.reattention() == ReattentionNorm.BATCHNORM) {
                    n.buffer(heads);
                    n.buffer(heads);
                }
            }
            if (a.gate()) {
                n.parameter("the gate's weight", d * d);
                n.parameter("", d);
            }
            n.parameter("the output projection's weight", d * d);
            n.parameter("", d);
            n.parameter("", d);
            n.parameter("", d);
            n.parameter("the MLP's weight", hidden * d);
            n.parameter("", hidden);
            n.parameter("the MLP's weight", d * hidden);
            n.parameter("", d);
        }
        n.parameter("", d);
        n.parameter("", d);
        n.parameter("the head's weight", (long) c.numClasses() * d);
        n.parameter("", c.numClasses());

        // The workspace, as VisionTransformer.ensureCapacity and the modules' allocate methods ask for it.
        long btd = b * t * d, rows = b * t, maps = b * heads * t * t;
        n.activation("the patches (B×P×C·p·p)", b * p * patchLength);
        n.activation("", b * p * d);
        n.activation("the tokens (B×T×D)", btd);
        boolean scoresForBackward = a.weighting().backwardNeedsScores();
        for (int i = 0; i < c.depth(); i++) {
            boolean re = a.reattentionIn(i, c.depth());
            // Block.allocate: ln1, its mean and rstd, mid, ln2, its mean and rstd, out; dLn1, dLn2 shared by the blocks.
            for (long size : new long[]{btd, rows, rows, btd, btd, rows, rows, btd}) n.activation("", size);
            n.scratch("block.dLn1", btd, "");
            n.scratch("block.dLn2", btd, "");
            // Attention.allocate, with its core's tensors as the backend's core takes them
            n.activation("the attention's qkv (B×T×3D)", 3 * btd);
            AttentionCore.Spec spec = new AttentionCore.Spec(c.heads(), c.headDim(), 1, a.weighting(),
                    a.qkNorm() ? StepStandIn.INSTANCE : null, re ? StepStandIn.INSTANCE : null);
            AttentionCore core = backend == null ? new ComposedAttentionCore(null, spec) : backend.attentionCore(spec);
            core.allocate(n.named(maps, "the attention maps (B×H×T×T)"), batch, c.tokens());
            n.activation("", btd);
            n.activation("", btd);
            n.scratch("attention.dQkv", 3 * btd, "");
            if (a.gate()) n.activation("", btd);
            else n.scratch("attention.dMerged", btd, "");
            if (a.qkNorm()) {
                n.activation("", btd);
                n.activation("", btd);
                for (int k = 0; k < 4; k++) n.activation("", b * heads * t);
                n.activation("", btd);
                n.activation("", btd);
            }
            if (re) {
                n.activation("the attention maps (B×H×T×T)", maps);
                n.activation("the attention maps (B×H×T×T)", maps);
                long stats = a.reattention() == ReattentionNorm.BATCHNORM ? heads : b * t * t;
                n.activation("", stats);
                n.activation("", stats);
                n.activation("the attention maps (B×H×T×T)", maps);
                n.activation("the attention maps (B×H×T×T)", maps);
            }
            if (a.gate()) for (int k = 0; k < 4; k++) n.activation("", btd);
            // Mlp.allocate
            n.activation("the MLP's hidden activations (B×T×mlp_dim)", b * t * hidden);
            n.activation("the MLP's hidden activations (B×T×mlp_dim)", b * t * hidden);
            n.activation("", btd);
            n.scratch("mlp.dHidden", b * t * hidden, "the MLP's hidden activations (B×T×mlp_dim)");
            if (backend == null || backend.linearGeluBackwardUsesScratch()) {
                n.scratch("mlp.dGelu", b * t * hidden, "the MLP's hidden activations (B×T×mlp_dim)");
            }
        }
        // The final norm: on every token, or (fc_norm) on the pooled vector.
        boolean fcNorm = c.hasFcNorm();
        if (!fcNorm) n.activation("", btd);
        n.activation("", fcNorm ? b : rows);
        n.activation("", fcNorm ? b : rows);
        if (fcNorm) {
            n.activation("", b * d);
            n.activation("", b * d);
        }
        n.activation("", b * d);
        n.activation("the logits", b * c.numClasses());
        n.activation("", 1);
        n.activation("the logits", b * c.numClasses());
        n.activation("", b * d);
        if (!fcNorm) n.activation("", btd);
        n.activation("", b * p * d);
        n.activation("", btd);
        n.workspaceBatch = batch;
        return n;
    }

    /**
     * Stands for qk-norm and Re-attention in an attention core's spec: whether a step is there decides what the core
     * allocates; a counted core never runs.
     */
    private static final class StepStandIn implements AttentionCore.QueryKeyStep, AttentionCore.MapStep {
        static final StepStandIn INSTANCE = new StepStandIn();

        private static UnsupportedOperationException counted() {
            return new UnsupportedOperationException("a stand-in for counting memory only");
        }

        @Override
        public void forward(Tensor q, Tensor k, int batch) {
            throw counted();
        }

        @Override
        public Tensor queries() {
            throw counted();
        }

        @Override
        public Tensor keys() {
            throw counted();
        }

        @Override
        public Tensor queriesGradient() {
            throw counted();
        }

        @Override
        public Tensor keysGradient() {
            throw counted();
        }

        @Override
        public void backward(Tensor q, Tensor k, Tensor dq, Tensor dk, int batch) {
            throw counted();
        }

        @Override
        public Tensor forward(Tensor weights, int batch) {
            throw counted();
        }

        @Override
        public Tensor mapGradient() {
            throw counted();
        }

        @Override
        public void backward(Tensor weights, Tensor dWeights, int batch) {
            throw counted();
        }
    }

    /** Running totals; names only the tensors that can be the largest. */
    private static final class Counter {
        long parameterElements, parameterCount, largestParameter, bufferElements, optimizer, activations, inputs,
                tensors, largest;
        String largestName = "a tensor";
        int workspaceBatch;
        final Set<String> scratchSeen = new HashSet<>();

        /** Counts a part's activations (each kind alike), naming those of {@code namedSize} elements {@code name}. */
        ActivationMemory named(long namedSize, String name) {
            return new ActivationMemory() {
                @Override
                public Tensor activation(long size) {
                    Counter.this.activation(size == namedSize ? name : "", size);
                    return null;
                }

                @Override
                public Tensor gradient(long size) {
                    return activation(size);
                }

                @Override
                public Tensor overwrittenGradient(long size) {
                    return activation(size);
                }

                @Override
                public Tensor backwardScratch(String role, long size) {
                    return scratch(role, size, size == namedSize ? name : "");
                }
            };
        }

        /** A {@link ActivationMemory#backwardScratch} tensor: counted once per role and size, as Workspace shares it. */
        Tensor scratch(String role, long size, String name) {
            if (scratchSeen.add(role + " " + size)) activation(name, size);
            return null;
        }

        void parameter(String name, long elements) {
            parameterElements += elements;
            parameterCount++;
            tensors += 2;
            largestParameter = Math.max(largestParameter, elements);
            largest(name, elements);
        }

        void buffer(long elements) {
            bufferElements += elements;
            tensors++;
            largest("", elements);
        }

        void activation(String name, long elements) {
            activations += elements;
            tensors++;
            largest(name, elements);
        }

        void inputs(ViTConfig c, int batch) {
            long images = (long) batch * c.channels() * c.imageHeight() * c.imageWidth();
            inputs += images + batch;
            tensors += 2;
            largest("a batch of images (B×C×H×W)", images);
        }

        private void largest(String name, long elements) {
            if (elements > largest) {
                largest = elements;
                largestName = name.isEmpty() ? "a tensor" : name;
            }
        }

        MemoryEstimate estimate(long transientBytes, int bytesPerValue) {
            return new MemoryEstimate(2 * parameterElements + bufferElements, optimizer, activations, inputs, tensors,
                    transientBytes, largest, largestName, workspaceBatch, bytesPerValue);
        }
    }
}
