package dev.tornadovit.model;

import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.CrossProcessSum;
import dev.tornadovit.tensor.RecordedGraph;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tensor.Write;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * A Vision Transformer written once against {@link Backend}: patch embedding → tokens (cls, position) → blocks →
 * final LayerNorm → pooling → head → softmax cross-entropy, and the same backward.
 *
 * <p>Each block's attention half and MLP half, forward and backward, run as one {@link RecordedGraph}, kept per batch
 * size and mode, so a TornadoVM backend records one task graph per attention block and per MLP block and replays it
 * every step.
 *
 * <p>Use: {@link #forward} a batch of images (already on the backend) to get logits; for training, then
 * {@link #lossAndGradient} with labels and {@link #backward}; an optimiser then updates {@link #parameters()}.
 */
public final class VisionTransformer {
    private final ViTConfig config;
    private final Backend be;
    private final ParameterStore store;
    private final PatchEmbed patchEmbed;
    private final Parameter clsToken, posEmbed, normW, normB, headW, headB;
    private final Tensor fixedPos;
    private final List<Block> blocks = new ArrayList<>();
    /** The parameters whose gradients a backward pass finishes together, in the order it finishes them. */
    private final List<List<Parameter>> gradientGroups;
    private boolean training = true;

    private int capacity;
    /** The recorded graphs of each batch size and mode seen since the workspace was last allocated. */
    private final List<StepGraphs> stepGraphs = new ArrayList<>();
    private final RecordedGraph zeroGradients;
    private Workspace ws;
    private Tensor tokens, finalNorm, normMean, normRstd, pooled, logits, loss, dLogits, dPooled, dFinalNorm, dPatches;
    /** With fc_norm: the average of the tokens before its LayerNorm, and that average's gradient. */
    private Tensor averaged, dAveraged;
    /**
     * The residual stream's gradient: the final LayerNorm's backward adds into it (zeroed first), then every block
     * updates it in place, from ∂loss/∂(its output) to ∂loss/∂(its input).
     */
    private Tensor dStream;

    /** Every parameter's gradient, in the store's order: what {@link #zeroGradients} clears. */
    private final List<Tensor> parameterGradients;

    public VisionTransformer(ViTConfig config, Backend backend, long seed) {
        this.config = config.validated();
        this.be = backend;
        this.store = new ParameterStore(backend, seed);
        int d = config.width();
        patchEmbed = new PatchEmbed(store, config);
        clsToken = config.hasClsToken() ? store.truncNormal("cls_token", 0.02, false, 1, 1, d) : null;
        if (config.posEmbed() == PositionEmbedding.LEARNED) {
            posEmbed = store.truncNormal("pos_embed", 0.02, false, 1, config.tokens(), d);
            fixedPos = null;
        } else {
            posEmbed = null;
            fixedPos = backend.allocate(config.patchCount() * d);
            backend.upload(fixedPos, PositionEmbeddings.sinCos2d(config.gridHeight(), config.gridWidth(), d));
        }
        // The store lists parameters in creation order: embedding, each block's own, then norm and head.
        int[] blockStarts = new int[config.depth() + 1];
        for (int i = 0; i < config.depth(); i++) {
            blockStarts[i] = store.parameters().size();
            blocks.add(new Block(store, i, config));
        }
        blockStarts[config.depth()] = store.parameters().size();
        String norm = config.hasFcNorm() ? "fc_norm" : "norm";
        normW = store.constant(norm + ".weight", 1, false, d);
        normB = store.constant(norm + ".bias", 0, false, d);
        headW = store.truncNormal("head.weight", 0.02, true, config.numClasses(), d);
        headB = store.constant("head.bias", 0, false, config.numClasses());
        parameterGradients = store.parameters().stream().map(Parameter::grad).toList();
        List<Parameter> all = store.parameters();
        List<List<Parameter>> groups = new ArrayList<>();
        groups.add(List.copyOf(all.subList(blockStarts[config.depth()], all.size())));
        for (int i = config.depth() - 1; i >= 0; i--) groups.add(List.copyOf(all.subList(blockStarts[i], blockStarts[i + 1])));
        groups.add(List.copyOf(all.subList(0, blockStarts[0])));
        gradientGroups = List.copyOf(groups);
        zeroGradients = backend.record("zero-gradients", this::zeroEveryGradient);
    }

    public ViTConfig config() {
        return config;
    }

    public Backend backend() {
        return be;
    }

    /** Every learnable tensor, in a fixed order. */
    public List<Parameter> parameters() {
        return store.parameters();
    }

    /** Non-learnable state saved with the weights (Re-attention BatchNorm running statistics). */
    public List<NamedTensor> buffers() {
        return store.buffers();
    }

    /**
     * Every parameter once, grouped as a backward pass finishes their gradients and in that order: final norm and
     * head, block depth−1 … block 0, embedding (patch projection, class token, position embedding).
     */
    public List<List<Parameter>> gradientGroups() {
        return gradientGroups;
    }

    public long parameterCount() {
        return parameters().stream().mapToLong(Parameter::size).sum();
    }

    /** Training mode uses batch statistics in Re-attention's BatchNorm and updates its running statistics. */
    public void setTraining(boolean training) {
        this.training = training;
        for (int i = 0; i < blocks.size(); i++) blocks.get(i).attn.setTraining(training);
    }

    /**
     * Makes Re-attention's BatchNorm take its training statistics over the global batch of a data-parallel run, its
     * partial sums passing through {@code across} ({@code null} or {@link CrossProcessSum#LOCAL}: this process's
     * batch alone). Then N processes with shards of a batch compute what one process computes with the whole batch.
     */
    public void synchronizeBatchStatistics(CrossProcessSum across) {
        CrossProcessSum sum = across == CrossProcessSum.LOCAL ? null : across;
        for (int i = 0; i < blocks.size(); i++) blocks.get(i).attn.synchronizeBatchStatistics(sum);
    }

    public boolean isTraining() {
        return training;
    }

    /**
     * Allocates the activations for batches of up to {@code batch} images now. Training and evaluation at different
     * batch sizes then share one workspace instead of reallocating it (and re-recording every graph) at the first
     * larger batch.
     */
    public void reserve(int batch) {
        ensureCapacity(batch);
    }

    private void ensureCapacity(int batch) {
        if (batch <= capacity) return;
        int t = config.tokens(), d = config.width();
        stepGraphs.clear(); // recorded over the old tensors
        ws = new Workspace(be);
        patchEmbed.allocate(ws, batch);
        tokens = ws.activation(batch * t * d);
        for (Block b : blocks) b.allocate(ws, batch, t);
        boolean fcNorm = config.hasFcNorm();
        finalNorm = fcNorm ? null : ws.activation(batch * t * d);
        normMean = ws.activation(fcNorm ? batch : batch * t);
        normRstd = ws.activation(fcNorm ? batch : batch * t);
        averaged = fcNorm ? ws.activation(batch * d) : null;
        dAveraged = fcNorm ? ws.gradient(batch * d) : null;
        pooled = ws.activation(batch * d);
        logits = ws.activation(batch * config.numClasses());
        loss = ws.activation(1);
        dLogits = ws.activation(batch * config.numClasses());
        dPooled = ws.gradient(batch * d);
        dFinalNorm = fcNorm ? null : ws.gradient(batch * t * d);
        dPatches = ws.gradient(batch * config.patchCount() * d);
        dStream = ws.gradient(batch * t * d);
        capacity = batch;
    }

    /**
     * The graphs of this batch size in the current mode, made when that shape first appears. Their handles are only
     * valid over one workspace: {@link #ensureCapacity} drops them when it reallocates.
     */
    private StepGraphs graphs(int batch) {
        for (int i = 0; i < stepGraphs.size(); i++) {
            StepGraphs g = stepGraphs.get(i);
            if (g.batch == batch && g.training == training) return g;
        }
        StepGraphs g = new StepGraphs(batch);
        stepGraphs.add(g);
        return g;
    }

    /** One batch size's recorded graphs, for one mode (training or evaluation) and workspace. */
    private final class StepGraphs {
        final int batch;
        final boolean training = VisionTransformer.this.training;
        /** One graph a block and direction: attention and MLP together, so a step runs two graphs a block, not four. */
        final RecordedGraph[] blockForward, blockBackward;
        final RecordedGraph headForward, headBackward, embedBackward;
        /** Graphs that capture a caller's tensor, one per tensor passed: images → embedding, labels → loss. */
        final Map<Tensor, RecordedGraph> embedForward = new IdentityHashMap<>(), loss = new IdentityHashMap<>();

        StepGraphs(int batch) {
            this.batch = batch;
            int depth = blocks.size();
            blockForward = new RecordedGraph[depth];
            blockBackward = new RecordedGraph[depth];
            for (int i = 0; i < depth; i++) {
                Block b = blocks.get(i);
                Tensor in = i == 0 ? tokens : blocks.get(i - 1).output();
                String block = "block" + i; // a label for profiles and error messages
                blockForward[i] = be.record(block + ".forward", () -> b.forward(in, batch));
                blockBackward[i] = be.record(block + ".backward", () -> {
                    b.backwardMlp(dStream, batch);
                    b.backwardAttention(dStream, batch);
                });
            }
            headForward = be.record("head.forward", () -> forwardHead(batch));
            headBackward = be.record("head.backward", () -> backwardHead(batch));
            embedBackward = be.record("embed.backward", () -> backwardEmbedding(batch));
        }

        RecordedGraph embedForward(Tensor images) {
            RecordedGraph g = embedForward.get(images);
            if (g == null) {
                embedForward.put(images, g = be.record("embed.forward", () -> forwardEmbedding(images, batch)));
            }
            return g;
        }

        RecordedGraph loss(Tensor labels) {
            RecordedGraph g = loss.get(labels);
            if (g == null) loss.put(labels, g = be.record("loss", () -> crossEntropy(labels, batch)));
            return g;
        }
    }

    private void forwardEmbedding(Tensor images, int batch) {
        Tensor patches = patchEmbed.forward(images, batch);
        Tensor cls = clsToken == null ? null : clsToken.value(), pos = posEmbed == null ? null : posEmbed.value();
        be.assembleTokens(patches, cls, pos, fixedPos, tokens, batch, config.patchCount(), config.width());
    }

    /** The tokens after the last block. */
    private Tensor lastTokens() {
        return blocks.isEmpty() ? tokens : blocks.getLast().output();
    }

    private void forwardHead(int batch) {
        int t = config.tokens(), d = config.width();
        if (config.hasFcNorm()) {
            be.pool(lastTokens(), averaged, batch, t, d, config.pool().mode());
            be.layerNorm(averaged, normW.value(), normB.value(), pooled, normMean, normRstd, batch, d,
                    ViTConfig.LAYER_NORM_EPS);
        } else {
            be.layerNorm(lastTokens(), normW.value(), normB.value(), finalNorm, normMean, normRstd, batch * t, d,
                    ViTConfig.LAYER_NORM_EPS);
            be.pool(finalNorm, pooled, batch, t, d, config.pool().mode());
        }
        be.linear(pooled, headW.value(), headB.value(), logits, batch, d, config.numClasses());
    }

    private void crossEntropy(Tensor labels, int batch) {
        be.crossEntropy(logits, labels, loss, dLogits, batch, config.numClasses(), config.labelSmoothing());
    }

    private void backwardHead(int batch) {
        int t = config.tokens(), d = config.width();
        ws.zeroGradients();
        be.linearBackward(dLogits, pooled, headW.value(), dPooled, headW.grad(), headB.grad(), batch, d,
                config.numClasses(), Write.ACCUMULATE);
        if (config.hasFcNorm()) {
            be.layerNormBackward(dPooled, averaged, normW.value(), normMean, normRstd, dAveraged, normW.grad(),
                    normB.grad(), batch, d);
            be.poolBackward(dAveraged, dStream, batch, t, d, config.pool().mode());
        } else {
            be.poolBackward(dPooled, dFinalNorm, batch, t, d, config.pool().mode());
            be.layerNormBackward(dFinalNorm, lastTokens(), normW.value(), normMean, normRstd, dStream, normW.grad(),
                    normB.grad(), batch * t, d);
        }
    }

    private void backwardEmbedding(int batch) {
        be.assembleTokensBackward(dStream, dPatches, clsToken == null ? null : clsToken.grad(),
                posEmbed == null ? null : posEmbed.grad(), batch, config.patchCount(), config.width(),
                config.hasClsToken());
        patchEmbed.backward(dPatches, batch);
    }

    /** Forward pass of {@code batch} images [B,C,H,W] already on this backend; returns logits [B,K]. */
    public Tensor forward(Tensor images, int batch) {
        ensureCapacity(batch);
        StepGraphs g = graphs(batch);
        g.embedForward(images).run();
        for (int i = 0; i < blocks.size(); i++) g.blockForward[i].run();
        g.headForward.run();
        return logits;
    }

    /**
     * Mean cross-entropy of the last forward against labels [B] (class indices as numbers) and its gradient with
     * respect to the logits. Returns the loss tensor [1].
     */
    public Tensor lossAndGradient(Tensor labels, int batch) {
        graphs(batch).loss(labels).run();
        return loss;
    }

    /** Zeroes every parameter gradient (call before a backward pass unless accumulating over micro-batches). */
    public void zeroGradients() {
        zeroGradients.run();
    }

    private void zeroEveryGradient() {
        be.zero(parameterGradients);
    }

    /** Backward pass after {@link #forward} and {@link #lossAndGradient}: parameter gradients accumulate. */
    public void backward(int batch) {
        backward(batch, GradientReadyListener.NONE);
    }

    /**
     * {@link #backward(int)}, telling {@code ready} of each of {@link #gradientGroups()} as soon as its gradients are
     * final: after the head's backward, after each block's, and after the embedding's.
     */
    public void backward(int batch, GradientReadyListener ready) {
        StepGraphs g = graphs(batch);
        int group = 0;
        g.headBackward.run();
        ready.gradientsReady(gradientGroups.get(group++));
        for (int i = blocks.size() - 1; i >= 0; i--) {
            g.blockBackward[i].run();
            ready.gradientsReady(gradientGroups.get(group++));
        }
        g.embedBackward.run();
        ready.gradientsReady(gradientGroups.get(group));
    }

    public Tensor logits() {
        return logits;
    }

    /** Pre-logits features [B,D] of the last forward: the pooled, normalised representation (for linear probes). */
    public Tensor features() {
        return pooled;
    }

    public int depth() {
        return blocks.size();
    }

    /** Block i's attention map of the last forward, [B,H,T,T] (after Re-attention where the block has it). */
    public Tensor attentionMap(int block) {
        return blocks.get(block).attn.attentionMap();
    }

    /** Block i's output tokens of the last forward, [B,T,D]. */
    public Tensor blockOutput(int block) {
        return blocks.get(block).output();
    }

    public List<Block> blocks() {
        return Collections.unmodifiableList(blocks);
    }
}
