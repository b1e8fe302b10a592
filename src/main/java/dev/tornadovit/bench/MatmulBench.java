package dev.tornadovit.bench;

import dev.tornadovit.backend.cpu.CpuParallel;
import dev.tornadovit.backend.cpu.Matmul;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.Function;

/**
 * Times {@link Matmul} on the shapes the small ViT trains with (plus 1024³) and prints a table of
 * shape, form, ms and GFLOP/s. {@code scripts/bench_matmul_torch.py} prints the same rows for
 * PyTorch, and {@code scripts/compare-matmul.sh} puts the two side by side.
 *
 * <p>Each row reports the median time of one call, after a warm-up, so a brief load spike from
 * another process moves it less than it would move a mean.
 */
public final class MatmulBench {

    /** One measured row. {@code gflops} counts 2·M·N·K per product (bias and dbias not counted). */
    public record Row(String shape, String form, double millis, double gflops) {}

    /**
     * One row timed against OpenBLAS in the same process: our and OpenBLAS's GFLOP/s (of each side's median call), and
     * the median, 10th and 90th percentile of the ratio ours/OpenBLAS over pairs of neighbouring calls.
     * {@code peerGflops} is NaN for the attention rows, which have no single OpenBLAS call.
     */
    public record PeerRow(String shape, String form, double gflops, double peerGflops, double ratio,
                          double lowRatio, double highRatio) {}

    /** Fewest pairs of calls per compared row, however short --seconds. */
    static final int MIN_PAIRS = 11;

    /** The ViT's token count per batch: 64 images × 65 tokens (64 patches + class token). */
    static final int VIT_ROWS = 64 * 65;
    static final int VIT_WIDTH = 192;
    static final int BATCH = 64, TOKENS = 65, HEADS = 3, HEAD_DIM = 64;

    /** Least warm-up per case: enough for C2 to compile the kernels even with --seconds small. */
    static final double WARMUP_SECONDS = 0.3;

    private MatmulBench() {}

    /** Runs every row on the current {@link CpuParallel} pool, spending about {@code secondsPerRow} on each. */
    public static List<Row> run(double secondsPerRow) {
        List<Case> cases = cases();
        // Warm every case up first, so that each is measured with the JIT having seen all shapes,
        // as it has in training, rather than with code compiled for the first shape alone.
        for (Case c : cases) {
            runFor(c.op(), Math.max(WARMUP_SECONDS, 0.2 * secondsPerRow));
        }
        List<Row> rows = new ArrayList<>();
        for (Case c : cases) {
            rows.add(measure(c, secondsPerRow));
        }
        return rows;
    }

    /** Formats rows as the aligned text table that both benchmark scripts print. */
    public static String format(List<Row> rows) {
        StringBuilder out = new StringBuilder();
        out.append(String.format(Locale.ROOT, "%-22s %-18s %10s %10s%n", "shape", "form", "ms", "GFLOP/s"));
        for (Row r : rows) {
            out.append(String.format(Locale.ROOT, "%-22s %-18s %10.3f %10.1f%n", r.shape(), r.form(), r.millis(), r.gflops()));
        }
        return out.toString();
    }

    /**
     * Times every row against OpenBLAS in this process, the two alternating call by call (ours, theirs, theirs, ours,
     * ...) for about {@code secondsPerRow}: each pair of neighbouring calls sees the same machine, which on a shared one
     * changes speed by tens of percent within seconds (blocks of calls a quarter second apart measured that as much as
     * the code). Both sides compute the same product, C = op(A)·op(B) (+ C for the weight gradient): ours without the
     * bias and bias-gradient work the model's calls fuse in. Both use {@code threads} threads.
     */
    public static List<PeerRow> compare(double secondsPerRow, OpenBlas peer, int threads) {
        peer.setThreads(threads);
        List<Case> cases = cases();
        for (Case c : cases) {
            runFor(c.product(), Math.max(WARMUP_SECONDS, 0.2 * secondsPerRow));
            if (c.peerOp(peer) != null) runFor(c.peerOp(peer), Math.max(WARMUP_SECONDS, 0.2 * secondsPerRow));
        }
        List<PeerRow> rows = new ArrayList<>();
        for (Case c : cases) {
            Runnable ours = c.product(), theirs = c.peerOp(peer);
            if (theirs == null) {
                double seconds = medianSeconds(ours, secondsPerRow);
                rows.add(new PeerRow(c.shape(), c.form(), c.flops() / seconds * 1e-9, Double.NaN, Double.NaN,
                        Double.NaN, Double.NaN));
                continue;
            }
            double[] oursNanos = new double[64], theirsNanos = new double[64], ratios = new double[64];
            int pairs = 0;
            long end = System.nanoTime() + (long) (secondsPerRow * 1e9);
            while (pairs < MIN_PAIRS || System.nanoTime() < end) {
                if (pairs == ratios.length) {
                    oursNanos = Arrays.copyOf(oursNanos, 2 * pairs);
                    theirsNanos = Arrays.copyOf(theirsNanos, 2 * pairs);
                    ratios = Arrays.copyOf(ratios, 2 * pairs);
                }
                // Which side goes first alternates, so that neither always runs on the other's cache leftovers.
                boolean oursFirst = pairs % 2 == 0;
                long t0 = System.nanoTime();
                (oursFirst ? ours : theirs).run();
                long t1 = System.nanoTime();
                (oursFirst ? theirs : ours).run();
                long t2 = System.nanoTime();
                oursNanos[pairs] = oursFirst ? t1 - t0 : t2 - t1;
                theirsNanos[pairs] = oursFirst ? t2 - t1 : t1 - t0;
                ratios[pairs] = theirsNanos[pairs] / oursNanos[pairs];
                pairs++;
            }
            double[] sortedRatios = Arrays.copyOf(ratios, pairs);
            Arrays.sort(sortedRatios);
            rows.add(new PeerRow(c.shape(), c.form(),
                    c.flops() / ModelBench.median(Arrays.copyOf(oursNanos, pairs)),
                    c.flops() / ModelBench.median(Arrays.copyOf(theirsNanos, pairs)),
                    ModelBench.median(sortedRatios), sortedRatios[pairs / 10], sortedRatios[pairs * 9 / 10]));
        }
        return rows;
    }

    /** Formats {@link #compare} rows: GFLOP/s of both, and the ratio with its 10th-90th percentile range. */
    public static String formatComparison(List<PeerRow> rows) {
        StringBuilder out = new StringBuilder();
        out.append(String.format(Locale.ROOT, "%-22s %-18s %8s %9s %7s %13s%n", "shape", "form", "ours", "OpenBLAS",
                "ratio", "p10-p90"));
        for (PeerRow r : rows) {
            if (Double.isNaN(r.peerGflops())) {
                out.append(String.format(Locale.ROOT, "%-22s %-18s %8.1f %9s %7s %13s%n", r.shape(), r.form(),
                        r.gflops(), "-", "-", ""));
            } else {
                out.append(String.format(Locale.ROOT, "%-22s %-18s %8.1f %9.1f %7.2f %6.2f-%-6.2f%n", r.shape(),
                        r.form(), r.gflops(), r.peerGflops(), r.ratio(), r.lowRatio(), r.highRatio()));
            }
        }
        return out.toString();
    }

    /**
     * Usage: {@code MatmulBench [--threads N] [--seconds S] [--openblas [PATH]]}. With
     * {@code --openblas}, every linear row is also timed against OpenBLAS in this process (see {@link #compare}).
     */
    public static void main(String[] args) {
        double seconds = 1.0;
        boolean withPeer = false;
        String peerPath = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--threads" -> CpuParallel.setThreads(Integer.parseInt(args[++i]));
                case "--seconds" -> seconds = Double.parseDouble(args[++i]);
                case "--openblas" -> {
                    withPeer = true;
                    if (i + 1 < args.length && !args[i + 1].startsWith("--")) peerPath = args[++i];
                }
                default -> {
                    System.err.println("usage: MatmulBench [--threads N] [--seconds S] [--openblas [PATH]]");
                    System.exit(2);
                }
            }
        }
        System.out.printf(Locale.ROOT, "# TornadoViT Matmul, %d threads, %s%n", CpuParallel.threads(),
                jdk.incubator.vector.FloatVector.SPECIES_PREFERRED);
        if (!withPeer) {
            System.out.print(format(run(seconds)));
            return;
        }
        OpenBlas peer = OpenBlas.load(peerPath).orElseThrow(() -> new IllegalStateException(
                "no OpenBLAS found in " + OpenBlas.DEFAULT_PATHS + ": " + OpenBlas.INSTALL_HINT));
        System.out.printf(Locale.ROOT, "# peer: %s (%s, %s), calls alternating, GFLOP/s%n", peer.path(), peer.config(),
                peer.threadTimeout());
        System.out.print(formatComparison(compare(seconds, peer, CpuParallel.threads())));
    }

    /**
     * One benchmark row: what to run (as the model calls it), how many floating-point operations one run does, the
     * bare product C = op(A)·op(B) (+ C) that OpenBLAS is compared on (the model's call less its fused bias or
     * bias-gradient work), and that product as one OpenBLAS call ({@code peer} null where there is none).
     */
    record Case(String shape, String form, double flops, Runnable op, Runnable product, Function<OpenBlas, Runnable> peer) {
        Case(String shape, String form, double flops, Runnable op) {
            this(shape, form, flops, op, op, null);
        }

        /** A name without spaces, for JMH's {@code @Param}. */
        String id() {
            return (shape + "/" + form).replaceAll("[^A-Za-z0-9x/.-]+", "_");
        }

        Runnable peerOp(OpenBlas blas) {
            return peer == null ? null : peer.apply(blas);
        }
    }

    static List<Case> cases() {
        List<Case> cases = new ArrayList<>();
        addLinear(cases, "1024x1024x1024", 1024, 1024, 1024);
        addLinear(cases, "4160x192x576 qkv", VIT_ROWS, VIT_WIDTH, 3 * VIT_WIDTH);
        addLinear(cases, "4160x192x192 proj", VIT_ROWS, VIT_WIDTH, VIT_WIDTH);
        addLinear(cases, "4160x192x768 fc1", VIT_ROWS, VIT_WIDTH, 4 * VIT_WIDTH);
        addLinear(cases, "4160x768x192 fc2", VIT_ROWS, 4 * VIT_WIDTH, VIT_WIDTH);
        addAttention(cases);
        return cases;
    }

    /** Shape label is M×K×N: x[M,K], w[N,K], y[M,N]. */
    private static void addLinear(List<Case> cases, String shape, int m, int k, int n) {
        float[] x = random(m * k, 1), w = random(n * k, 2), bias = random(n, 3);
        float[] y = new float[m * n], dy = random(m * n, 4), dx = new float[m * k];
        float[] dw = new float[n * k], dbias = new float[n];
        double flops = 2.0 * m * n * k;
        // OpenBLAS writes its own outputs, so that the two never share a cache line being written.
        float[] peerY = new float[m * n], peerDx = new float[m * k], peerDw = new float[n * k];
        Runnable backwardInput = () -> Matmul.linearBackwardInput(dy, 0, w, 0, dx, 0, m, k, n, false);
        cases.add(new Case(shape, "forward", flops, () -> Matmul.linearForward(x, 0, w, 0, bias, 0, y, 0, m, k, n),
                () -> Matmul.linearForward(x, 0, w, 0, null, 0, y, 0, m, k, n),
                blas -> () -> blas.linearForward(x, w, peerY, m, k, n)));
        cases.add(new Case(shape, "backward-input", flops, backwardInput, backwardInput,
                blas -> () -> blas.linearBackwardInput(dy, w, peerDx, m, k, n)));
        cases.add(new Case(shape, "backward-weight", flops,
                () -> Matmul.linearBackwardWeight(dy, 0, x, 0, dw, 0, dbias, 0, m, k, n),
                () -> Matmul.linearBackwardWeight(dy, 0, x, 0, dw, 0, null, 0, m, k, n),
                blas -> () -> blas.linearBackwardWeight(dy, x, peerDw, m, k, n)));
    }

    /**
     * The attention products of one ViT block, with q, k, v read in place from the [B,T,3,H,hd]
     * qkv buffer and the head outputs written in place into [B,T,H,hd], as the model does.
     */
    private static void addAttention(List<Case> cases) {
        int width = HEADS * HEAD_DIM;
        int qkvRow = 3 * width;
        int qkvBatch = TOKENS * qkvRow;
        int attHead = TOKENS * TOKENS;
        int attBatch = HEADS * attHead;
        int outBatch = TOKENS * width;
        float[] qkv = random(BATCH * qkvBatch, 5);
        float[] att = random(BATCH * attBatch, 6);
        float[] out = random(BATCH * outBatch, 7);
        float[] dv = new float[BATCH * outBatch];
        float scale = (float) (1.0 / Math.sqrt(HEAD_DIM));
        int count = BATCH * HEADS;
        double qkFlops = 2.0 * count * TOKENS * TOKENS * HEAD_DIM;
        String label = count + "x(65x64x65)";
        // scores[T,T] = scale · q[T,hd] · k[T,hd]ᵀ
        cases.add(new Case(label, "attn q.kT (NT)", qkFlops, () -> Matmul.batchedNT(BATCH, HEADS,
                qkv, 0, qkvBatch, HEAD_DIM, qkvRow,
                qkv, width, qkvBatch, HEAD_DIM, qkvRow,
                att, 0, attBatch, attHead, TOKENS,
                TOKENS, TOKENS, HEAD_DIM, scale, false)));
        // out[T,hd] = p[T,T] · v[T,hd]
        cases.add(new Case(count + "x(65x65x64)", "attn p.v (NN)", qkFlops, () -> Matmul.batchedNN(BATCH, HEADS,
                att, 0, attBatch, attHead, TOKENS,
                qkv, 2 * width, qkvBatch, HEAD_DIM, qkvRow,
                out, 0, outBatch, HEAD_DIM, width,
                TOKENS, HEAD_DIM, TOKENS, 1f, false)));
        // dv[T,hd] = p[T,T]ᵀ · dout[T,hd]
        cases.add(new Case(count + "x(65x65x64)", "attn pT.dout (TN)", qkFlops, () -> Matmul.batchedTN(BATCH, HEADS,
                att, 0, attBatch, attHead, TOKENS,
                out, 0, outBatch, HEAD_DIM, width,
                dv, 0, outBatch, HEAD_DIM, width,
                TOKENS, HEAD_DIM, TOKENS, 1f, false)));
    }

    private static Row measure(Case c, double secondsPerRow) {
        runFor(c.op(), 0.2 * secondsPerRow);
        double seconds = medianSeconds(c.op(), secondsPerRow);
        return new Row(c.shape(), c.form(), seconds * 1e3, c.flops() / seconds * 1e-9);
    }

    /** Calls {@code op} for about {@code seconds} (at least 5 times) and returns the median call's seconds. */
    private static double medianSeconds(Runnable op, double seconds) {
        long[] samples = new long[64];
        int count = 0;
        long measureEnd = System.nanoTime() + (long) (seconds * 1e9);
        while (count < 5 || System.nanoTime() < measureEnd) {
            long t0 = System.nanoTime();
            op.run();
            long dt = System.nanoTime() - t0;
            if (count == samples.length) {
                samples = Arrays.copyOf(samples, 2 * count);
            }
            samples[count++] = dt;
        }
        Arrays.sort(samples, 0, count);
        return samples[count / 2] * 1e-9;
    }

    /** Runs {@code op} repeatedly for about {@code seconds}, and at least twice. */
    private static void runFor(Runnable op, double seconds) {
        long end = System.nanoTime() + (long) (seconds * 1e9);
        for (int calls = 0; calls < 2 || System.nanoTime() < end; calls++) {
            op.run();
        }
    }

    private static float[] random(int size, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        float[] a = new float[size];
        for (int i = 0; i < size; i++) {
            a[i] = (float) (rng.nextDouble() * 2 - 1);
        }
        return a;
    }
}
