package dev.tornadovit.tensor;

/**
 * One parameter tensor's part of an AdamW step ({@link Backend#adamW(java.util.List, double, double, double)}): the
 * parameter, its gradient and moments (all of the parameter's size), the per-step values it reads ({@code hyper}, as
 * {@link Backend#adamW(Tensor, Tensor, Tensor, Tensor, int, Tensor, double, double, double, double)}) and its weight
 * decay (0 for parameters not decayed).
 */
public record AdamWUpdate(Tensor param, Tensor grad, Tensor m, Tensor v, Tensor hyper, double weightDecay) {
    public AdamWUpdate {
        int n = param.size();
        if (grad.size() < n || m.size() < n || v.size() < n) {
            throw new IllegalArgumentException("AdamW update of a " + n + "-element parameter with a gradient of "
                    + grad.size() + ", moments of " + m.size() + " and " + v.size() + " elements");
        }
    }
}
