package dev.tornadovit.model;

import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Creates and initialises a model's parameters in a fixed order from one seed, and keeps the list the optimiser,
 * checkpoints and gradient checks walk over.
 */
public final class ParameterStore {
    private final Backend backend;
    private final SplittableRandom random;
    private final List<Parameter> parameters = new ArrayList<>();
    /** A read-only view made once: zeroing the gradients every step walks it, and a new view per call is garbage. */
    private final List<Parameter> parameterView = Collections.unmodifiableList(parameters);
    private final List<NamedTensor> buffers = new ArrayList<>();

    public ParameterStore(Backend backend, long seed) {
        this.backend = backend;
        this.random = new SplittableRandom(seed);
    }

    public Backend backend() {
        return backend;
    }

    public List<Parameter> parameters() {
        return parameterView;
    }

    public List<NamedTensor> buffers() {
        return Collections.unmodifiableList(buffers);
    }

    private Parameter add(String name, int[] shape, double[] init, boolean decay) {
        Tensor value = backend.allocate(init.length);
        backend.upload(value, init);
        Parameter p = new Parameter(name, shape, value, backend.allocate(init.length), decay);
        parameters.add(p);
        return p;
    }

    private static int count(int[] shape) {
        return Arrays.stream(shape).reduce(1, (a, b) -> a * b);
    }

    /** Truncated normal (±2σ) as timm's trunc_normal_ for Linear weights. */
    public Parameter truncNormal(String name, double std, boolean decay, int... shape) {
        double[] v = new double[count(shape)];
        for (int i = 0; i < v.length; i++) {
            double x;
            do {
                x = gaussian();
            } while (Math.abs(x) > 2);
            v[i] = x * std;
        }
        return add(name, shape, v, decay);
    }

    /** Uniform in [-bound, bound]: PyTorch's default initialisation of a 1×1 convolution (DeepViT's Θ). */
    public Parameter uniform(String name, double bound, boolean decay, int... shape) {
        double[] v = new double[count(shape)];
        for (int i = 0; i < v.length; i++) v[i] = (2 * random.nextDouble() - 1) * bound;
        return add(name, shape, v, decay);
    }

    public Parameter constant(String name, double value, boolean decay, int... shape) {
        double[] v = new double[count(shape)];
        Arrays.fill(v, value);
        return add(name, shape, v, decay);
    }

    public NamedTensor buffer(String name, double value, int... shape) {
        double[] v = new double[count(shape)];
        Arrays.fill(v, value);
        Tensor t = backend.allocate(v.length);
        backend.upload(t, v);
        NamedTensor b = new NamedTensor(name, shape, t);
        buffers.add(b);
        return b;
    }

    private double gaussian() {
        // Box–Muller on the seeded generator, so initialisation is reproducible across JDKs.
        double u1 = random.nextDouble(), u2 = random.nextDouble();
        return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
    }
}
