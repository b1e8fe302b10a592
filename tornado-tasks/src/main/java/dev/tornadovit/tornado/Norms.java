package dev.tornadovit.tornado;

import dev.tornadovit.tensor.Tensor;
import dev.tornadovit.tornado.kernels.ElementwiseKernels;
import dev.tornadovit.tornado.kernels.ReductionKernels;
import dev.tornadovit.tornado.kernels.RowKernels;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.WorkerGrid;

import java.util.ArrayList;
import java.util.List;

import static dev.tornadovit.tornado.Launches.REDUCE_LOCAL;
import static dev.tornadovit.tornado.Launches.ceilDiv;
import static dev.tornadovit.tornado.Launches.chunks;
import static dev.tornadovit.tornado.Launches.distinctOutputs;
import static dev.tornadovit.tornado.Launches.grid1;
import static dev.tornadovit.tornado.Launches.grid2;
import static dev.tornadovit.tornado.Launches.parallelGrid;
import static dev.tornadovit.tornado.Launches.rowsGrid;
import static dev.tornadovit.tornado.Launches.task;

/**
 * {@link TornadoBackend}'s normalisations: layer norm over a token's features, and batch or layer norm per attention
 * head over the attention maps, forward and backward.
 */
final class Norms extends DeviceOperations {
    Norms(TornadoBackend backend) {
        super(backend);
    }

    void layerNorm(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd, int m, int d,
                   double eps) {
        DeviceTensor in = t(x), g = t(gamma), b = t(beta), out = t(y), mu = t(mean), rs = t(rstd);
        distinctOutputs("layerNorm", out, mu, rs);
        float e = (float) eps;
        submit(task("layerNorm", rowsGrid(m), (tg, id) -> tg.task(id, RowKernels::layerNorm,
               new KernelContext(), in.array, g.array, b.array, out.array, mu.array, rs.array, m, d, e),
               in, g, b, out, mu, rs, m, d, e));
    }

    void addLayerNorm(Tensor a, Tensor b, Tensor sum, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd,
                      int m, int d, double eps) {
        DeviceTensor x = t(a), r = t(b), s = t(sum), g = t(gamma), bt = t(beta), out = t(y), mu = t(mean), rs = t(rstd);
        distinctOutputs("addLayerNorm", s, out, mu, rs);
        float e = (float) eps;
        submit(task("addLayerNorm", rowsGrid(m), (tg, id) -> tg.task(id, RowKernels::addLayerNorm,
               new KernelContext(), x.array, r.array, s.array, g.array, bt.array, out.array, mu.array, rs.array, m, d, e),
               x, r, s, g, bt, out, mu, rs, m, d, e));
    }

    void layerNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx,
                           Tensor dGamma, Tensor dBeta, int m, int d) {
        DeviceTensor gy = t(dy), in = t(x), g = t(gamma), mu = t(mean), rs = t(rstd), gx = t(dx), gg = t(dGamma), gb = t(dBeta);
        distinctOutputs("layerNormBackward", gx, gg, gb);
        int chunks = Math.max(1, Math.min(64, ceilDiv(m, 64)));
        DeviceTensor partial = scratch("lnParams", chunks * 2 * d, gy, in, mu, rs, m, d);
        WorkerGrid partialGrid = grid2(ceilDiv(d, ReductionKernels.COLUMN_TILE) * ReductionKernels.COLUMN_TILE,
                chunks * ReductionKernels.COLUMN_LANES, ReductionKernels.COLUMN_TILE, ReductionKernels.COLUMN_LANES);
        submit(task("layerNormBackward", rowsGrid(m), (tg, id) -> tg.task(id, RowKernels::layerNormBackward,
               new KernelContext(), gy.array, in.array, g.array, mu.array, rs.array, gx.array, m, d),
               gy, in, g, mu, rs, gx, m, d),
               task("layerNormParamsPartial", partialGrid, (tg, id) -> tg.task(id, ReductionKernels::layerNormParamsPartial,
               new KernelContext(), gy.array, in.array, mu.array, rs.array, partial.array, m, d, chunks),
               gy, in, mu, rs, partial, m, d, chunks),
               task("pairedColumnSumsFinish", parallelGrid(d), (tg, id) -> tg.task(id, ReductionKernels::pairedColumnSumsFinish,
               new KernelContext(), partial.array, gg.array, gb.array, d, chunks), partial, gg, gb, d, chunks));
    }

    void headBatchNorm(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd,
                       Tensor runningMean, Tensor runningVar, int batch, int heads, int mapSize, double eps,
                       double momentum, boolean training) {
        DeviceTensor in = t(x), g = t(gamma), b = t(beta), out = t(y), mu = t(mean), rs = t(rstd);
        DeviceTensor rm = t(runningMean), rv = t(runningVar);
        distinctOutputs("headBatchNorm", out, mu, rs, rm, rv);
        float e = (float) eps, mom = (float) momentum;
        int train = training ? 1 : 0;
        List<Task> tasks = new ArrayList<>();
        if (training) {
            int count = batch * mapSize;
            int chunks = chunks(count, 256);
            DeviceTensor partial = scratch("bnStats", heads * chunks, in, batch, heads, mapSize);
            WorkerGrid partialGrid = grid2(chunks * REDUCE_LOCAL, heads, REDUCE_LOCAL, 1);
            WorkerGrid finishGrid = grid1(heads * REDUCE_LOCAL, REDUCE_LOCAL);
            tasks.add(task("headSumsPartial", partialGrid, (tg, id) -> tg.task(id, ReductionKernels::headSumsPartial,
                    new KernelContext(), in.array, mu.array, partial.array, batch, heads, mapSize, chunks, 0),
                                      in, mu, partial, batch, heads, mapSize, chunks, 0));
            tasks.add(task("headMeanFinish", finishGrid, (tg, id) -> tg.task(id, ReductionKernels::headMeanFinish,
                    new KernelContext(), partial.array, mu.array, chunks, count), partial, mu, chunks, count));
            tasks.add(task("headSumsPartial", partialGrid, (tg, id) -> tg.task(id, ReductionKernels::headSumsPartial,
                    new KernelContext(), in.array, mu.array, partial.array, batch, heads, mapSize, chunks, 1),
                                      in, mu, partial, batch, heads, mapSize, chunks, 1));
            tasks.add(task("headVarianceFinish", finishGrid, (tg, id) -> tg.task(id, ReductionKernels::headVarianceFinish,
                    new KernelContext(), partial.array, mu.array, rs.array, rm.array, rv.array, chunks, count, e, mom),
                                      partial, mu, rs, rm, rv, chunks, count, e, mom));
        }
        tasks.add(task("headBatchNormApply", null, (tg, id) -> tg.task(id, ElementwiseKernels::headBatchNormApply,
                in.array, g.array, b.array, out.array, mu.array, rs.array, rm.array, rv.array, batch, heads, mapSize, e,
                train), in, g, b, out, mu, rs, rm, rv, batch, heads, mapSize, e, train));
        submit(tasks.toArray(Task[]::new));
    }

    void headBatchNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx,
                               Tensor dGamma, Tensor dBeta, int batch, int heads, int mapSize) {
        DeviceTensor gy = t(dy), in = t(x), g = t(gamma), mu = t(mean), rs = t(rstd), gx = t(dx), gg = t(dGamma), gb = t(dBeta);
        distinctOutputs("headBatchNormBackward", gx, gg, gb);
        int chunks = chunks((long) batch * mapSize, 256);
        DeviceTensor partial = scratch("bnGrad", heads * chunks * 2, gy, in, batch, heads, mapSize);
        DeviceTensor sums = scratch("bnGradSums", 2 * heads, gy, in, batch, heads, mapSize);
        submit(normGradSums(gy, in, mu, rs, partial, gg, gb, sums, batch, heads, mapSize, chunks, 0),
               normGradSumsFinish(partial, gg, gb, sums, heads, chunks),
               task("headBatchNormBackwardInput", null, (tg, id) -> tg.task(id,
               ElementwiseKernels::headBatchNormBackwardInput, gy.array, in.array, g.array, mu.array, rs.array,
               sums.array, gx.array, batch, heads, mapSize), gy, in, g, mu, rs, sums, gx, batch, heads, mapSize));
    }

    private Task normGradSums(DeviceTensor gy, DeviceTensor in, DeviceTensor mu, DeviceTensor rs, DeviceTensor partial,
                              DeviceTensor gg, DeviceTensor gb, DeviceTensor sums, int batch, int heads, int mapSize,
                              int chunks, int perPosition) {
        return task("normGradSumsPartial", grid2(chunks * REDUCE_LOCAL, heads, REDUCE_LOCAL, 1), (tg, id) -> tg.task(id,
                    ReductionKernels::normGradSumsPartial, new KernelContext(), gy.array, in.array, mu.array,
                    rs.array, partial.array, batch, heads, mapSize, chunks, perPosition),
                    gy, in, mu, rs, partial, batch, heads, mapSize, chunks, perPosition);
    }

    private Task normGradSumsFinish(DeviceTensor partial, DeviceTensor gg, DeviceTensor gb, DeviceTensor sums, int heads,
                                    int chunks) {
        return task("normGradSumsFinish", grid1(heads * REDUCE_LOCAL, REDUCE_LOCAL), (tg, id) -> tg.task(id,
                    ReductionKernels::normGradSumsFinish, new KernelContext(), partial.array, gg.array, gb.array,
                    sums.array, chunks), partial, gg, gb, sums, chunks);
    }

    void headLayerNorm(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd, int batch,
                       int heads, int mapSize, double eps) {
        DeviceTensor in = t(x), g = t(gamma), b = t(beta), out = t(y), mu = t(mean), rs = t(rstd);
        distinctOutputs("headLayerNorm", out, mu, rs);
        float e = (float) eps;
        submit(task("headLayerNorm", null, (tg, id) -> tg.task(id, ElementwiseKernels::headLayerNorm, in.array, g.array,
               b.array, out.array, mu.array, rs.array, batch, heads, mapSize, e), in, g, b, out, mu, rs, batch, heads,
               mapSize, e));
    }

    void headLayerNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx,
                               Tensor dGamma, Tensor dBeta, int batch, int heads, int mapSize) {
        DeviceTensor gy = t(dy), in = t(x), g = t(gamma), mu = t(mean), rs = t(rstd), gx = t(dx), gg = t(dGamma), gb = t(dBeta);
        distinctOutputs("headLayerNormBackward", gx, gg, gb);
        int chunks = chunks((long) batch * mapSize, 256);
        DeviceTensor partial = scratch("hlnGrad", heads * chunks * 2, gy, in, batch, heads, mapSize);
        DeviceTensor sums = scratch("hlnGradSums", 2 * heads, gy, in, batch, heads, mapSize);
        submit(task("headLayerNormBackwardInput", null, (tg, id) -> tg.task(id,
               ElementwiseKernels::headLayerNormBackwardInput, gy.array, in.array, g.array, mu.array, rs.array,
               gx.array, batch, heads, mapSize), gy, in, g, mu, rs, gx, batch, heads, mapSize),
               normGradSums(gy, in, mu, rs, partial, gg, gb, sums, batch, heads, mapSize, chunks, 1),
               normGradSumsFinish(partial, gg, gb, sums, heads, chunks));
    }
}
