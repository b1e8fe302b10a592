package dev.tornadovit.tornado;

import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;
import org.junit.platform.engine.TestExecutionResult;

import java.io.PrintWriter;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectPackage;

/**
 * Runs this module's tests without Maven, on a machine that has only a JDK and a TornadoVM SDK (the GPU machine):
 * {@code java <TornadoVM flags> -Dtornadovit.test.device=... -cp <jars> dev.tornadovit.tornado.DeviceTestRunner}.
 * The optional argument is a regular expression over test class names, simple or fully qualified
 * ({@code GemmStrategyTest|MmaGemmTest}, {@code .*Equivalence.*}); default every {@code *Test}.
 * Prints one line per test and a summary; exits 1 if any failed or none matched.
 */
public final class DeviceTestRunner {
    private DeviceTestRunner() {
    }

    public static void main(String[] args) {
        String classes = args.length > 0 ? args[0] : ".*Test";
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request()
                .selectors(selectPackage("dev.tornadovit.tornado"), selectPackage("dev.tornadovit.model"))
                .filters(org.junit.platform.engine.discovery.ClassNameFilter.includeClassNamePatterns(
                        classPattern(classes)))
                .build();
        Launcher launcher = LauncherFactory.create();
        SummaryGeneratingListener summary = new SummaryGeneratingListener();
        TestExecutionListener progress = new TestExecutionListener() {
            @Override
            public void executionFinished(TestIdentifier id, TestExecutionResult result) {
                if (!id.isTest()) return;
                String line = result.getStatus() + " " + id.getUniqueId().replaceAll("\\[engine:junit-jupiter\\]/", "");
                System.out.println(line + result.getThrowable().map(t -> "\n    " + t).orElse(""));
            }
        };
        launcher.execute(request, summary, progress);
        TestExecutionSummary s = summary.getSummary();
        s.printTo(new PrintWriter(System.out));
        s.printFailuresTo(new PrintWriter(System.out), 30);
        if (s.getTestsFoundCount() == 0) {
            System.out.println("DeviceTestRunner: no test class matches '" + classes
                               + "' (a regular expression over class names, simple or fully qualified)");
        }
        System.exit(s.getTotalFailureCount() == 0 && s.getTestsFoundCount() > 0 ? 0 : 1);
    }

    /** JUnit matches the pattern against fully qualified names: let it match after any package prefix too. */
    static String classPattern(String classes) {
        return "(?:.*\\.)?(?:" + classes + ")";
    }
}
