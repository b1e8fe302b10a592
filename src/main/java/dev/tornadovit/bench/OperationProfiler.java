package dev.tornadovit.bench;

import dev.tornadovit.tensor.ActivationMemory;
import dev.tornadovit.tensor.AttentionCore;
import dev.tornadovit.tensor.Backend;
import dev.tornadovit.tensor.RecordedGraph;
import dev.tornadovit.tensor.Tensor;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Wraps a backend so that every operation is timed: where a training step's time goes, per operation. A dynamic
 * proxy, so it stays in step with {@link Backend} without a line per operation. Only meaningful for backends that
 * run operations at once (the CPU ones); a recorded graph runs its body through the proxy, so its operations are
 * timed one by one. An attention core's forward and backward are timed as operations of their own
 * ({@code attentionCore.forward}, {@code attentionCore.backward}); the model's steps inside a core (qk-norm,
 * Re-attention) still call the proxy, and each operation counts only its own time, not that of the timed operations
 * it runs inside.
 */
public final class OperationProfiler implements InvocationHandler {

    public record Row(String operation, long calls, double millis, double share) {
    }

    private final Backend target;
    private final Map<String, long[]> totals = new LinkedHashMap<>();
    private boolean enabled = true;
    /** Time of the timed operations inside the one being timed, which it does not count as its own. */
    private long innerNanos;

    private OperationProfiler(Backend target) {
        this.target = target;
    }

    /** A profiling view of {@code target}; read the figures with {@link #of(Backend)}. */
    public static Backend wrap(Backend target) {
        return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[]{Backend.class},
                new OperationProfiler(target));
    }

    public static OperationProfiler of(Backend profiled) {
        return (OperationProfiler) Proxy.getInvocationHandler(profiled);
    }

    public void reset() {
        totals.clear();
    }

    public void setEnabled(boolean on) {
        enabled = on;
    }

    @Override
    public Object invoke(Object proxy, Method method, Object[] args) throws Throwable {
        String name = method.getName();
        if (name.equals("record")) {
            // The body calls operations on the proxy itself, so they are timed one by one at every run.
            Runnable body = (Runnable) args[1];
            return (RecordedGraph) body::run;
        }
        if (name.equals("attentionCore")) return new TimedCore((AttentionCore) method.invoke(target, args));
        // an operation the backend leaves to the interface's composition: its parts are timed, each under its name
        if (method.isDefault() && !overridden(method)) return InvocationHandler.invokeDefault(proxy, method, args);
        long outerInner = innerNanos, start = System.nanoTime();
        innerNanos = 0;
        try {
            return method.invoke(target, args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        } finally {
            done(name, outerInner, start);
        }
    }

    /** Whether the target's class implements {@code method} itself rather than taking the interface's default. */
    private boolean overridden(Method method) {
        try {
            return !target.getClass().getMethod(method.getName(), method.getParameterTypes()).getDeclaringClass()
                    .isInterface();
        } catch (NoSuchMethodException e) {
            return false;
        }
    }

    /** Counts the operation that started at {@code start}: its time less that of the timed operations inside it. */
    private void done(String name, long outerInner, long start) {
        target.synchronize(); // a backend that queues work returns before the device has done it
        long elapsed = System.nanoTime() - start;
        if (enabled) {
            long[] t = totals.computeIfAbsent(name, k -> new long[2]);
            t[0]++;
            t[1] += elapsed - innerNanos;
        }
        innerNanos = outerInner + elapsed;
    }

    private void time(String name, Runnable operation) {
        long outerInner = innerNanos, start = System.nanoTime();
        innerNanos = 0;
        try {
            operation.run();
        } finally {
            done(name, outerInner, start);
        }
    }

    /** A backend's attention core whose forward and backward are timed. */
    private final class TimedCore implements AttentionCore {
        private final AttentionCore core;

        TimedCore(AttentionCore core) {
            this.core = core;
        }

        @Override
        public void allocate(ActivationMemory memory, int batch, int tokens) {
            core.allocate(memory, batch, tokens);
        }

        @Override
        public Tensor weights() {
            return core.weights();
        }

        @Override
        public void forward(Tensor qkv, Tensor merged, int batch, boolean backwardFollows) {
            time("attentionCore.forward", () -> core.forward(qkv, merged, batch, backwardFollows));
        }

        @Override
        public void backward(Tensor qkv, Tensor dMerged, Tensor dQkv, int batch) {
            time("attentionCore.backward", () -> core.backward(qkv, dMerged, dQkv, batch));
        }
    }

    /** Operations by total time, largest first. */
    public List<Row> rows() {
        long all = totals.values().stream().mapToLong(t -> t[1]).sum();
        List<Row> rows = new ArrayList<>();
        totals.forEach((k, t) -> rows.add(new Row(k, t[0], t[1] / 1e6, all == 0 ? 0 : (double) t[1] / all)));
        rows.sort(Comparator.comparingDouble(Row::millis).reversed());
        return rows;
    }
}
