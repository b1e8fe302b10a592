package dev.tornadovit.tensor;

/**
 * One parameter tensor's part of an AdamW step ({@link Backend#adamW(java.util.List, double, double, double)}): the
 * parameter, its gradient (both of the parameter's size), its moments at {@code momentOffset} in {@code m} and
 * {@code v}, the per-step values it reads ({@code hyper}: [0] lr, [1] 1-β1^t, [2] 1-β2^t, [3] the gradient scale
 * applied first) and its weight decay (0 for parameters not decayed). The moments of every parameter live end to end
 * in one tensor each, so a device backend binds two buffers for them instead of two per parameter.
 */
public record AdamWUpdate(Tensor param, Tensor grad, Tensor m, Tensor v, int momentOffset, Tensor hyper,
                          double weightDecay) {
    public AdamWUpdate {
        int n = param.size();
        if (grad.size() < n || momentOffset < 0 || (long) momentOffset + n > m.size()
            || (long) momentOffset + n > v.size()) {
            throw new IllegalArgumentException("AdamW update of a " + n + "-element parameter with a gradient of "
                    + grad.size() + " and moments at offset " + momentOffset + " of " + m.size() + " and " + v.size()
                    + " elements");
        }
    }
}
