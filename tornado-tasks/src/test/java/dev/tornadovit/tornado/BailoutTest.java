package dev.tornadovit.tornado;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.annotations.Parallel;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * A kernel TornadoVM cannot compile must fail, not run quietly as sequential Java (TornadoVM's default "bailout").
 * The tests run with {@code -Dtornado.recover.bailout=false}; this proves the setting takes effect, so every other
 * test's pass means its kernels ran on the device.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class BailoutTest {
    private static final Object LOCK = new Object();

    /** Not compilable for any TornadoVM backend: a monitor inside the kernel. */
    public static void doubleUnderLock(FloatArray in, FloatArray out) {
        for (@Parallel int i = 0; i < in.getSize(); i++) {
            synchronized (LOCK) {
                out.set(i, in.get(i) * 2);
            }
        }
    }

    public static void doubleIt(FloatArray in, FloatArray out) {
        for (@Parallel int i = 0; i < in.getSize(); i++) out.set(i, in.get(i) * 2);
    }

    private static TaskGraph graph(String name, boolean compilable, FloatArray in, FloatArray out) {
        TaskGraph g = new TaskGraph(name).transferToDevice(DataTransferMode.EVERY_EXECUTION, in);
        if (compilable) g.task("t", BailoutTest::doubleIt, in, out);
        else g.task("t", BailoutTest::doubleUnderLock, in, out);
        return g.transferToHost(DataTransferMode.EVERY_EXECUTION, out);
    }

    @Test
    void kernelThatFallsBackToJavaFails() {
        assertEquals("false", System.getProperty("tornado.recover.bailout"), "tests must run with bailout disabled");
        var device = TornadoDevices.resolve(TestDevice.spec()).device();
        FloatArray in = new FloatArray(64), out = new FloatArray(64);
        in.init(1.5f);
        // The same kernel without the monitor runs on the device...
        new TornadoExecutionPlan(graph("bailoutControl", true, in, out).snapshot()).withDevice(device).execute();
        assertEquals(3f, out.get(63));
        // ...with it, execution fails instead of running the Java loop (which would compute the same numbers).
        out.init(0f);
        TornadoExecutionPlan plan = new TornadoExecutionPlan(graph("bailoutProbe", false, in, out).snapshot());
        // TornadoVM reports it as TornadoBailoutRuntimeException or, from its Graal phases, as a GraalError.
        assertThrows(Throwable.class, () -> plan.withDevice(device).execute());
        assertEquals(0f, out.get(63), "the Java fallback must not have run");
    }
}
