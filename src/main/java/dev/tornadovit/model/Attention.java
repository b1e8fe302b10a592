package dev.tornadovit.model;

import dev.tornadovit.tensor.AttentionCore;
import dev.tornadovit.tensor.AttentionWeighting;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.CrossProcessSum;
import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tensor.Write;

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

    /** From qkv to the output projection's input, made by the backend, with qk-norm and Re-attention inside. */
    private final AttentionCore core;
    // activations for a batch capacity
    private int tokens;
    private Tensor qkv, qn, kn, qMean, qRstd, kMean, kRstd, mixed, normed, reMean, reRstd;
    private Tensor merged, gatePre, gated, out;
    // activation gradients
    private Tensor dQkv, dqn, dkn, dMixed, dNormed, dMerged, dGatePre, dGated;
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
        core = be.attentionCore(new AttentionCore.Spec(heads, headDim, scale, weighting,
                qkNorm ? new QkNorm() : null, hasReattention() ? new Reattention() : null));
    }

    boolean hasReattention() {
        return reattention != ReattentionNorm.NONE;
    }

    void allocate(Workspace ws, int batch, int tokens) {
        this.tokens = tokens;
        int btd = batch * tokens * dim, maps = batch * heads * tokens * tokens;
        qkv = ws.activation(3 * btd);
        core.allocate(ws, batch, tokens);
        merged = ws.activation(btd);
        out = ws.activation(btd);
        // dQkv and the output projection's input gradient each have one writer in backward, which overwrites it, and
        // are read within this block's backward: shared by the blocks. With the gate, dMerged is written by the gate's
        // backward, which accumulates.
        dQkv = ws.backwardScratch("attention.dQkv", 3L * btd);
        dMerged = gate ? ws.gradient(btd) : ws.backwardScratch("attention.dMerged", btd);
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
        return hasReattention() ? normed : core.weights();
    }

    Tensor output() {
        return out;
    }

    Tensor forward(Tensor x, int batch) {
        int rows = batch * tokens;
        be.linear(x, qkvW.value(), qkvB.value(), qkv, rows, dim, 3 * dim);
        core.forward(qkv, merged, batch, training);
        Tensor projIn = merged;
        if (gate) {
            be.linear(x, gateW.value(), gateB.value(), gatePre, rows, dim, dim);
            be.sigmoidGate(gatePre, merged, gated, rows * dim);
            projIn = gated;
        }
        be.linear(projIn, projW.value(), projB.value(), out, rows, dim, dim);
        return out;
    }

    /**
     * Writes ∂loss/∂x into dx (overwrites) given ∂loss/∂out; parameter gradients accumulate. Needs a training-mode
     * forward.
     */
    void backward(Tensor x, Tensor dOut, Tensor dx, int batch) {
        int rows = batch * tokens;
        Tensor projIn = gate ? gated : merged;
        Tensor dProjIn = gate ? dGated : dMerged;
        be.linearBackward(dOut, projIn, projW.value(), dProjIn, projW.grad(), projB.grad(), rows, dim, dim,
                Write.OVERWRITE);
        if (gate) {
            be.sigmoidGateBackward(gatePre, merged, dGated, dGatePre, dMerged, rows * dim);
            be.linearBackward(dGatePre, x, gateW.value(), dx, gateW.grad(), gateB.grad(), rows, dim, dim,
                    Write.OVERWRITE);
        }
        core.backward(qkv, dMerged, dQkv, batch);
        be.linearBackward(dQkv, x, qkvW.value(), dx, qkvW.grad(), qkvB.grad(), rows, dim, 3 * dim,
                gate ? Write.ACCUMULATE : Write.OVERWRITE);
    }

    /** qk-norm: LayerNorm over each head's query and key vectors, inside the attention core before the scores. */
    private final class QkNorm implements AttentionCore.QueryKeyStep {
        @Override
        public void forward(Tensor q, Tensor k, int batch) {
            int rows = batch * heads * tokens;
            be.layerNorm(q, qNormW.value(), qNormB.value(), qn, qMean, qRstd, rows, headDim, ViTConfig.LAYER_NORM_EPS);
            be.layerNorm(k, kNormW.value(), kNormB.value(), kn, kMean, kRstd, rows, headDim, ViTConfig.LAYER_NORM_EPS);
        }

        @Override
        public Tensor queries() {
            return qn;
        }

        @Override
        public Tensor keys() {
            return kn;
        }

        @Override
        public Tensor queriesGradient() {
            return dqn;
        }

        @Override
        public Tensor keysGradient() {
            return dkn;
        }

        @Override
        public void backward(Tensor q, Tensor k, Tensor dq, Tensor dk, int batch) {
            int rows = batch * heads * tokens;
            be.layerNormBackward(dqn, q, qNormW.value(), qMean, qRstd, dq, qNormW.grad(), qNormB.grad(), rows, headDim);
            be.layerNormBackward(dkn, k, kNormW.value(), kMean, kRstd, dk, kNormW.grad(), kNormB.grad(), rows, headDim);
        }
    }

    /**
     * Re-attention (DeepViT): Θ mixes the heads' maps, then BatchNorm or LayerNorm over the heads; inside the
     * attention core between φ and the product with V.
     */
    private final class Reattention implements AttentionCore.MapStep {
        @Override
        public Tensor forward(Tensor weights, int batch) {
            int mapSize = tokens * tokens;
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
            return normed;
        }

        @Override
        public Tensor mapGradient() {
            return dNormed;
        }

        @Override
        public void backward(Tensor weights, Tensor dWeights, int batch) {
            int mapSize = tokens * tokens;
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
        }
    }
}
