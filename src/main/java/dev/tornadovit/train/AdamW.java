package dev.tornadovit.train;

import dev.tornadovit.model.Parameter;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * AdamW (Loshchilov & Hutter) with decoupled weight decay — only on parameters marked for decay — and global-norm
 * gradient clipping, matching torch.optim.AdamW with torch.nn.utils.clip_grad_norm_. Its moments live on the
 * model's backend, so on a device they never leave it.
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
    private final List<Tensor> m = new ArrayList<>(), v = new ArrayList<>();
    private final Tensor hyper, sumSquares;
    /** lr, the two bias corrections and the clipping scale of the step being taken; uploaded to {@link #hyper}. */
    private final double[] hyperValues = new double[4];
    /** The graphs' bodies, made once: a capturing lambda is a new object per call, and a step should allocate nothing. */
    private final Runnable sumOfSquaresBody = this::sumOfSquares, updateBody = this::update;
    private long step;
    private double lastGradNorm;

    public AdamW(Backend backend, List<Parameter> parameters, Settings settings) {
        this.be = backend;
        this.params = List.copyOf(parameters);
        this.settings = settings;
        for (Parameter p : params) {
            m.add(backend.allocate(p.size()));
            v.add(backend.allocate(p.size()));
        }
        hyper = backend.allocate(4);
        sumSquares = backend.allocate(1);
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
        be.graph("optimizer.gradnorm", sumOfSquaresBody);
        return Math.sqrt(be.readDouble(sumSquares, 0));
    }

    private void sumOfSquares() {
        be.zero(sumSquares);
        for (int i = 0; i < params.size(); i++) be.sumOfSquares(params.get(i).grad(), params.get(i).size(), sumSquares, 0);
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
        hyperValues[0] = lr;
        hyperValues[1] = 1 - Math.pow(settings.beta1(), step);
        hyperValues[2] = 1 - Math.pow(settings.beta2(), step);
        hyperValues[3] = scale;
        be.upload(hyper, hyperValues);
        be.graph("optimizer.adamw", updateBody);
        lastGradNorm = norm;
        return norm;
    }

    private void update() {
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            be.adamW(p.value(), p.grad(), m.get(i), v.get(i), p.size(), hyper,
                    p.weightDecay() ? settings.weightDecay() : 0, settings.beta1(), settings.beta2(), settings.eps());
        }
    }

    /** First and second moments of parameter i, for checkpoints. */
    public Tensor firstMoment(int i) {
        return m.get(i);
    }

    public Tensor secondMoment(int i) {
        return v.get(i);
    }

    public List<Parameter> parameters() {
        return params;
    }

    /** Restores the step count after loading moments from a checkpoint. */
    public void setStep(long step) {
        this.step = step;
    }
}
