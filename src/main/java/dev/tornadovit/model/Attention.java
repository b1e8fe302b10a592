package dev.tornadovit.model;

import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.CrossProcessSum;
import dev.tornadovit.tensor.Tensor;

import java.util.function.IntFunction;

/**
 * Multi-head self-attention with the swappable parts of {@link AttentionConfig}:
 * qkv → (qk-norm) → scores → φ (softmax or L^-α·h) → (Re-attention: Θ head mixing + norm) → ·V → merge heads →
 * (gate) → output projection. Forward and backward side by side.
 */
public final class Attention {
    private final Backend be;
    private final int dim, heads, headDim;
    private final AttentionWeighting weighting;
    private final boolean qkNorm, gate;
    private final ReattentionNorm reattention;
    private final double scale;

    final Parameter qkvW, qkvB, projW, projB;
    final Parameter qNormW, qNormB, kNormW, kNormB;
    final Parameter gateW, gateB;
    final Parameter theta, thetaBias, reNormW, reNormB;
    final NamedTensor runningMean, runningVar;

    // activations for a batch capacity
    private int tokens;
    private Tensor qkv, q, k, v, qn, kn, qMean, qRstd, kMean, kRstd, scores, weights, mixed, normed, reMean, reRstd;
    private Tensor o, merged, gatePre, gated, out;
    // activation gradients
    private Tensor dQkv, dq, dk, dv, dqn, dkn, dScores, dWeights, dMixed, dNormed, dO, dMerged, dGatePre, dGated;
    private boolean training = true;
    /** Where Re-attention's BatchNorm sums its statistics over the processes of a data-parallel run; null: none. */
    private CrossProcessSum statisticsAcross;

    Attention(ParameterStore store, String prefix, int dim, int heads, AttentionConfig config, boolean withReattention) {
        this.be = store.backend();
        this.dim = dim;
        this.heads = heads;
        this.headDim = dim / heads;
        this.weighting = config.weighting();
        this.qkNorm = config.qkNorm();
        this.gate = config.gate();
        this.reattention = withReattention ? config.reattention() : ReattentionNorm.NONE;
        this.scale = 1 / Math.sqrt(headDim);

        qkvW = store.truncNormal(prefix + "qkv.weight", 0.02, true, 3 * dim, dim);
        qkvB = store.constant(prefix + "qkv.bias", 0, false, 3 * dim);
        if (qkNorm) {
            qNormW = store.constant(prefix + "q_norm.weight", 1, false, headDim);
            qNormB = store.constant(prefix + "q_norm.bias", 0, false, headDim);
            kNormW = store.constant(prefix + "k_norm.weight", 1, false, headDim);
            kNormB = store.constant(prefix + "k_norm.bias", 0, false, headDim);
        } else {
            qNormW = qNormB = kNormW = kNormB = null;
        }
        if (reattention != ReattentionNorm.NONE) {
            // DeepViT's Θ is a 1×1 convolution over heads with PyTorch's default init: U(±1/√H) for weight and bias.
            double bound = 1 / Math.sqrt(heads);
            theta = store.uniform(prefix + "reattn.weight", bound, true, heads, heads);
            thetaBias = store.uniform(prefix + "reattn.bias", bound, false, heads);
            reNormW = store.constant(prefix + "reattn_norm.weight", 1, false, heads);
            reNormB = store.constant(prefix + "reattn_norm.bias", 0, false, heads);
            if (reattention == ReattentionNorm.BATCHNORM) {
                runningMean = store.buffer(prefix + "reattn_norm.running_mean", 0, heads);
                runningVar = store.buffer(prefix + "reattn_norm.running_var", 1, heads);
            } else {
                runningMean = runningVar = null;
            }
        } else {
            theta = thetaBias = reNormW = reNormB = null;
            runningMean = runningVar = null;
        }
        if (gate) {
            gateW = store.truncNormal(prefix + "gate.weight", 0.02, true, dim, dim);
            gateB = store.constant(prefix + "gate.bias", 0, false, dim);
        } else {
            gateW = gateB = null;
        }
        projW = store.truncNormal(prefix + "proj.weight", 0.02, true, dim, dim);
        projB = store.constant(prefix + "proj.bias", 0, false, dim);
    }

    boolean hasReattention() {
        return reattention != ReattentionNorm.NONE;
    }

    /**
     * Without qk-norm and Re-attention nothing happens between splitting the heads and merging them but the fused
     * core, so the backend takes it whole from qkv to merged (and may skip the split and merge copies).
     */
    private boolean coreFromQkv() {
        return !qkNorm && !hasReattention();
    }

    void allocate(Workspace ws, int batch, int tokens) {
        this.tokens = tokens;
        int btd = batch * tokens * dim, maps = batch * heads * tokens * tokens;
        qkv = ws.activation(3 * btd);
        // Per-head [B,H,T,hd] copies of q, k, v, o and their gradients, unless the backend attends in place.
        boolean headTensors = !coreFromQkv() || !be.attendsInProjectionLayout();
        if (headTensors) {
            q = ws.activation(btd);
            k = ws.activation(btd);
            v = ws.activation(btd);
            o = ws.activation(btd);
            dO = ws.overwrittenGradient(btd);
            // attentionBackwardToQkv zeroes its own dq, dk, dv; the separate steps add into gradients.
            IntFunction<Tensor> headGradient = coreFromQkv() ? ws::overwrittenGradient : ws::gradient;
            dq = headGradient.apply(btd);
            dk = headGradient.apply(btd);
            dv = headGradient.apply(btd);
        }
        // Blocks without Re-attention run the fused attention core: a fusing backend needs no [B,H,T,T] buffers but
        // the weights, and the scores only where φ's backward needs them; the default composition needs them all.
        boolean mapBuffers = hasReattention() || !be.fusesAttention();
        scores = mapBuffers || weighting.backwardNeedsScores() ? ws.activation(maps) : null;
        weights = ws.activation(maps);
        merged = ws.activation(btd);
        out = ws.activation(btd);
        // dQkv, dO and the output projection's input gradient each have one writer in backward, which overwrites it.
        dQkv = ws.overwrittenGradient(3 * btd);
        if (hasReattention()) {
            dScores = ws.gradient(maps);
            dWeights = ws.gradient(maps);
        } else if (mapBuffers) {
            // Scratch of the default attentionBackward, which zeroes them itself.
            dScores = ws.activation(maps);
            dWeights = ws.activation(maps);
        }
        // With the gate, dMerged is written by the gate's backward, which accumulates.
        dMerged = gate ? ws.gradient(btd) : ws.overwrittenGradient(btd);
        if (qkNorm) {
            int rows = batch * heads * tokens;
            qn = ws.activation(btd);
            kn = ws.activation(btd);
            qMean = ws.activation(rows);
            qRstd = ws.activation(rows);
            kMean = ws.activation(rows);
            kRstd = ws.activation(rows);
            dqn = ws.gradient(btd);
            dkn = ws.gradient(btd);
        }
        if (hasReattention()) {
            mixed = ws.activation(maps);
            normed = ws.activation(maps);
            int stats = reattention == ReattentionNorm.BATCHNORM ? heads : batch * tokens * tokens;
            reMean = ws.activation(stats);
            reRstd = ws.activation(stats);
            dMixed = ws.gradient(maps);
            dNormed = ws.gradient(maps);
        }
        if (gate) {
            gatePre = ws.activation(btd);
            gated = ws.activation(btd);
            dGatePre = ws.gradient(btd);
            dGated = ws.overwrittenGradient(btd);
        }
    }

    void setTraining(boolean training) {
        this.training = training;
    }

    void synchronizeBatchStatistics(CrossProcessSum across) {
        this.statisticsAcross = across;
    }

    /** The map that weights V: φ(scores), or its Re-attention successor. [B,H,T,T]. */
    Tensor attentionMap() {
        return hasReattention() ? normed : weights;
    }

    Tensor output() {
        return out;
    }

    Tensor forward(Tensor x, int batch) {
        int rows = batch * tokens;
        be.linear(x, qkvW.value(), qkvB.value(), qkv, rows, dim, 3 * dim);
        if (coreFromQkv()) {
            be.attentionForwardFromQkv(qkv, q, k, v, scores, weights, o, merged, batch, tokens, heads, headDim, scale,
                    weighting, training && weighting.backwardNeedsScores());
        } else {
            forwardByHeads(batch);
        }
        Tensor projIn = merged;
        if (gate) {
            be.linear(x, gateW.value(), gateB.value(), gatePre, rows, dim, dim);
            be.sigmoidGate(gatePre, merged, gated, rows * dim);
            projIn = gated;
        }
        be.linear(projIn, projW.value(), projB.value(), out, rows, dim, dim);
        return out;
    }

    /** The attention core with qk-norm or Re-attention: split heads, the steps between, merge heads. */
    private void forwardByHeads(int batch) {
        int bh = batch * heads, mapSize = tokens * tokens;
        be.splitHeads(qkv, q, k, v, batch, tokens, heads, headDim);
        Tensor qUse = q, kUse = k;
        if (qkNorm) {
            be.layerNorm(q, qNormW.value(), qNormB.value(), qn, qMean, qRstd, bh * tokens, headDim, ViTConfig.LAYER_NORM_EPS);
            be.layerNorm(k, kNormW.value(), kNormB.value(), kn, kMean, kRstd, bh * tokens, headDim, ViTConfig.LAYER_NORM_EPS);
            qUse = qn;
            kUse = kn;
        }
        if (!hasReattention()) {
            be.attentionForward(qUse, kUse, v, scores, weights, o, bh, tokens, headDim, scale, weighting,
                    training && weighting.backwardNeedsScores());
        } else {
            // Re-attention mixes the heads' maps, so the steps stay separate here.
            be.attentionScores(qUse, kUse, scores, bh, tokens, headDim, scale);
            be.attentionWeights(scores, weights, bh * tokens, tokens, weighting);
            be.headMix(weights, theta.value(), thetaBias.value(), mixed, batch, heads, mapSize);
            if (reattention == ReattentionNorm.BATCHNORM && training && statisticsAcross != null) {
                be.headBatchNormAcross(mixed, reNormW.value(), reNormB.value(), normed, reMean, reRstd,
                        runningMean.value(), runningVar.value(), batch, heads, mapSize, ViTConfig.REATTENTION_NORM_EPS,
                        ViTConfig.BATCH_NORM_MOMENTUM, statisticsAcross);
            } else if (reattention == ReattentionNorm.BATCHNORM) {
                be.headBatchNorm(mixed, reNormW.value(), reNormB.value(), normed, reMean, reRstd, runningMean.value(),
                        runningVar.value(), batch, heads, mapSize, ViTConfig.REATTENTION_NORM_EPS,
                        ViTConfig.BATCH_NORM_MOMENTUM, training);
            } else {
                be.headLayerNorm(mixed, reNormW.value(), reNormB.value(), normed, reMean, reRstd, batch, heads, mapSize,
                        ViTConfig.REATTENTION_NORM_EPS);
            }
            be.attentionApply(normed, v, o, bh, tokens, headDim);
        }
        be.mergeHeads(o, merged, batch, tokens, heads, headDim);
    }

    /**
     * Writes ∂loss/∂x into dx (overwrites) given ∂loss/∂out; parameter gradients accumulate. Needs a training-mode
     * forward.
     */
    void backward(Tensor x, Tensor dOut, Tensor dx, int batch) {
        int rows = batch * tokens;
        Tensor projIn = gate ? gated : merged;
        Tensor dProjIn = gate ? dGated : dMerged;
        be.linearBackwardOverwritingInput(dOut, projIn, projW.value(), dProjIn, projW.grad(), projB.grad(), rows, dim,
                dim);
        if (gate) {
            be.sigmoidGateBackward(gatePre, merged, dGated, dGatePre, dMerged, rows * dim);
            be.linearBackwardOverwritingInput(dGatePre, x, gateW.value(), dx, gateW.grad(), gateB.grad(), rows, dim,
                    dim);
        }
        if (coreFromQkv()) {
            be.attentionBackwardToQkv(dMerged, qkv, q, k, v, scores, weights, dWeights, dScores, dO, dq, dk, dv, dQkv,
                    batch, tokens, heads, headDim, scale, weighting);
        } else {
            backwardByHeads(batch);
        }
        if (gate) {
            be.linearBackward(dQkv, x, qkvW.value(), dx, qkvW.grad(), qkvB.grad(), rows, dim, 3 * dim);
        } else {
            be.linearBackwardOverwritingInput(dQkv, x, qkvW.value(), dx, qkvW.grad(), qkvB.grad(), rows, dim, 3 * dim);
        }
    }

    /** Backward of {@link #forwardByHeads}: overwrites dQkv given dMerged. */
    private void backwardByHeads(int batch) {
        int bh = batch * heads, mapSize = tokens * tokens;
        be.mergeHeadsBackwardOverwriting(dMerged, dO, batch, tokens, heads, headDim);
        Tensor qUse = qkNorm ? qn : q, kUse = qkNorm ? kn : k;
        Tensor dqUse = qkNorm ? dqn : dq, dkUse = qkNorm ? dkn : dk;
        if (!hasReattention()) {
            be.attentionBackward(dO, qUse, kUse, v, scores, weights, dWeights, dScores, dqUse, dkUse, dv, bh, tokens,
                    headDim, scale, weighting);
        } else {
            be.attentionApplyBackward(dO, normed, v, dNormed, dv, bh, tokens, headDim);
            if (reattention == ReattentionNorm.BATCHNORM && statisticsAcross != null) {
                be.headBatchNormBackwardAcross(dNormed, mixed, reNormW.value(), reMean, reRstd, dMixed, reNormW.grad(),
                        reNormB.grad(), batch, heads, mapSize, statisticsAcross);
            } else if (reattention == ReattentionNorm.BATCHNORM) {
                be.headBatchNormBackward(dNormed, mixed, reNormW.value(), reMean, reRstd, dMixed, reNormW.grad(),
                        reNormB.grad(), batch, heads, mapSize);
            } else {
                be.headLayerNormBackward(dNormed, mixed, reNormW.value(), reMean, reRstd, dMixed, reNormW.grad(),
                        reNormB.grad(), batch, heads, mapSize);
            }
            be.headMixBackward(dMixed, weights, theta.value(), dWeights, theta.grad(), thetaBias.grad(), batch, heads,
                    mapSize);
            be.attentionWeightsBackward(scores, weights, dWeights, dScores, bh * tokens, tokens, weighting);
            be.attentionScoresBackward(dScores, qUse, kUse, dqUse, dkUse, bh, tokens, headDim, scale);
        }
        if (qkNorm) {
            be.layerNormBackward(dqn, q, qNormW.value(), qMean, qRstd, dq, qNormW.grad(), qNormB.grad(), bh * tokens, headDim);
            be.layerNormBackward(dkn, k, kNormW.value(), kMean, kRstd, dk, kNormW.grad(), kNormB.grad(), bh * tokens, headDim);
        }
        be.splitHeadsBackwardOverwriting(dq, dk, dv, dQkv, batch, tokens, heads, headDim);
    }
}
