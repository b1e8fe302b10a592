package dev.tornadovit.train;

import dev.tornadovit.model.Parameter;
import dev.tornadovit.tensor.AdamWUpdate;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.RecordedGraph;
import dev.tornadovit.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * AdamW (Loshchilov & Hutter) with decoupled weight decay — only on parameters marked for decay — and global-norm
 * gradient clipping, matching torch.optim.AdamW with torch.nn.utils.clip_grad_norm_. Its moments live on the
 * model's backend, so on a device they never leave it: one tensor for every parameter's first moments and one for
 * the second, parameter i's at {@link #momentOffset(int)} (a device binds two buffers for them, not two per
 * parameter, and TornadoVM's host work per run grows with the buffers a graph writes).
 */
public final class AdamW {

    /** @param clipNorm maximum global gradient norm; 0 or less turns clipping off */
    public record Settings(double beta1, double beta2, double eps, double weightDecay, double clipNorm) {
        public static Settings defaults() {
            return new Settings(0.9, 0.999, 1e-8, 0.05, 1.0);
        }
    }

    private final Backend be;
    private final List<Parameter> params;
    private final Settings settings;
    private final Tensor m, v;
    private final int[] momentOffsets;
    /** The trained parameters' gradients and updates, as the multi-tensor backend operations take them. */
    private final List<Tensor> grads;
    private final List<AdamWUpdate> updates;
    private final Tensor sumSquares;
    /**
     * One per distinct learning-rate scale (layer-wise decay gives each depth its own): lr · scale, the two bias
     * corrections and the clipping scale of the step being taken.
     */
    private final Tensor[] hyper;
    private final double[] groupScales;
    /** Which {@link #hyper} each parameter reads. */
    private final int[] groupOf;
    private final double[] hyperValues = new double[4];
    /** The sum of every gradient's squares, and the parameter update: one recorded graph each. */
    private final RecordedGraph gradNormGraph, updateGraph;
    private long step;
    private double lastGradNorm;

    public AdamW(Backend backend, List<Parameter> parameters, Settings settings) {
        this(backend, parameters, settings, p -> 1);
    }

    /**
     * @param lrScale each parameter's learning-rate multiplier (layer-wise decay); a parameter with 0 is frozen: it is
     *                left out of the optimiser, its gradient norm and its checkpointed state
     */
    public AdamW(Backend backend, List<Parameter> parameters, Settings settings,
                 java.util.function.ToDoubleFunction<Parameter> lrScale) {
        this.be = backend;
        this.settings = settings;
        List<Parameter> trained = new ArrayList<>();
        List<Double> scales = new ArrayList<>(), distinct = new ArrayList<>();
        for (Parameter p : parameters) {
            double s = lrScale.applyAsDouble(p);
            if (!(s >= 0) || !Double.isFinite(s)) throw new IllegalArgumentException("learning-rate scale of " + p.name() + " is " + s);
            if (s == 0) continue;
            trained.add(p);
            scales.add(s);
            if (!distinct.contains(s)) distinct.add(s);
        }
        this.params = List.copyOf(trained);
        groupOf = new int[params.size()];
        for (int i = 0; i < groupOf.length; i++) groupOf[i] = distinct.indexOf(scales.get(i));
        groupScales = distinct.stream().mapToDouble(Double::doubleValue).toArray();
        momentOffsets = new int[params.size()];
        long total = 0;
        for (int i = 0; i < params.size(); i++) {
            momentOffsets[i] = (int) total;
            total += params.get(i).size();
        }
        if (total > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("AdamW keeps its moments in one tensor each, of at most "
                    + Integer.MAX_VALUE + " elements; the trained parameters have " + total);
        }
        m = backend.allocate((int) Math.max(1, total)); // a backend's tensor has at least one element
        v = backend.allocate((int) Math.max(1, total));
        hyper = new Tensor[groupScales.length];
        for (int g = 0; g < hyper.length; g++) hyper[g] = backend.allocate(4);
        List<Tensor> gradList = new ArrayList<>();
        List<AdamWUpdate> updateList = new ArrayList<>();
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            gradList.add(p.grad());
            updateList.add(new AdamWUpdate(p.value(), p.grad(), m, v, momentOffsets[i], hyper[groupOf[i]],
                    p.weightDecay() ? settings.weightDecay() : 0));
        }
        grads = List.copyOf(gradList);
        updates = List.copyOf(updateList);
        sumSquares = backend.allocate(1);
        gradNormGraph = backend.record("optimizer.gradnorm", this::sumOfSquares);
        updateGraph = backend.record("optimizer.adamw", this::update);
    }

    public Settings settings() {
        return settings;
    }

    /** Steps taken so far (the t of the bias correction). */
    public long step() {
        return step;
    }

    /** The global gradient norm before clipping, of the last step. */
    public double lastGradNorm() {
        return lastGradNorm;
    }

    /** Global L2 norm of all gradients. */
    public double gradNorm() {
        gradNormGraph.run();
        return Math.sqrt(be.readDouble(sumSquares, 0));
    }

    private void sumOfSquares() {
        be.sumOfSquares(grads, sumSquares);
    }

    /** One update with learning rate {@code lr}; returns the gradient norm before clipping. */
    public double step(double lr) {
        double norm = gradNorm();
        if (!Double.isFinite(norm)) {
            throw new NonFiniteException("gradient norm is " + norm + " at optimizer step " + (step + 1));
        }
        double scale = 1;
        if (settings.clipNorm() > 0) {
            // torch.nn.utils.clip_grad_norm_: coefficient max_norm / (norm + 1e-6), only when below 1
            double coefficient = settings.clipNorm() / (norm + 1e-6);
            if (coefficient < 1) scale = coefficient;
        }
        step++;
        hyperValues[1] = 1 - Math.pow(settings.beta1(), step);
        hyperValues[2] = 1 - Math.pow(settings.beta2(), step);
        hyperValues[3] = scale;
        for (int g = 0; g < hyper.length; g++) {
            hyperValues[0] = lr * groupScales[g];
            be.upload(hyper[g], hyperValues);
        }
        updateGraph.run();
        lastGradNorm = norm;
        return norm;
    }

    private void update() {
        be.adamW(updates, settings.beta1(), settings.beta2(), settings.eps());
    }

    /** Every trained parameter's first moments, end to end in {@link #parameters()}' order (for checkpoints). */
    public Tensor firstMoments() {
        return m;
    }

    /** Every trained parameter's second moments, laid out as {@link #firstMoments()}. */
    public Tensor secondMoments() {
        return v;
    }

    /** Where parameter i's moments start in {@link #firstMoments()} and {@link #secondMoments()}. */
    public int momentOffset(int i) {
        return momentOffsets[i];
    }

    public List<Parameter> parameters() {
        return params;
    }

    /** Restores the step count after loading moments from a checkpoint. */
    public void setStep(long step) {
        this.step = step;
    }
}
