package dev.tornadovit.cli;

import dev.tornadovit.data.DataFormatException;
import dev.tornadovit.io.SafetensorsException;
import dev.tornadovit.train.NonFiniteException;
import picocli.CommandLine.Command;
import picocli.CommandLine;

import java.io.UncheckedIOException;
import java.util.Locale;

/** The {@code tornadovit} command line. */
@Command(name = "tornadovit", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Train and run Vision Transformers on the CPU or any TornadoVM device.",
        subcommands = {TrainCommand.class, EvalCommand.class, PredictCommand.class, DevicesCommand.class,
                DemoCommand.class, BenchCommand.class, SweepCommand.class, AnalyzeCommand.class, ProbeCommand.class,
                CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    /** The command line's logging configuration, a resource beside this class: the library itself ships none. */
    static final String LOGBACK_CONFIG = "dev/tornadovit/cli/logback.xml";

    static {
        // Before any logger exists; a -Dlogback.configurationFile of the user's wins.
        if (System.getProperty("logback.configurationFile") == null) {
            System.setProperty("logback.configurationFile", LOGBACK_CONFIG);
        }
    }

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(execute(args));
    }

    /** Runs the command line and returns its exit code (tests call this instead of main). */
    public static int execute(String... args) {
        CommandLine cli = new CommandLine(new Main());
        CommandLine.IParameterExceptionHandler usage = cli.getParameterExceptionHandler();
        cli.setParameterExceptionHandler((e, given) -> {
            // A value that does not convert (--precision fp16) is one line saying what is expected; other parse
            // errors (an unknown option) keep picocli's suggestions and usage.
            if (!(e.getCause() instanceof CommandLine.TypeConversionException)) {
                return usage.handleParseException(e, given);
            }
            e.getCommandLine().getErr().println("error: " + e.getMessage());
            return e.getCommandLine().getCommandSpec().exitCodeOnInvalidInput();
        });
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            // Errors about the user's input get one clear line; anything else is a bug and keeps its stack trace.
            if (isUserError(e)) {
                commandLine.getErr().println("error: " + e.getMessage());
                return 2;
            }
            throw e;
        });
        try {
            return cli.execute(args);
        } catch (OutOfMemoryError e) {
            // The model and batch do not fit the JVM's limit: say which limit and how to raise it, not a stack trace.
            cli.getErr().println(outOfMemoryMessage(e, Runtime.getRuntime().maxMemory()));
            return 2;
        }
    }

    /** Errors about the user's input, data or files: reported in one line, without a stack trace. */
    static boolean isUserError(Exception e) {
        return e instanceof DataFormatException || e instanceof SafetensorsException || e instanceof NonFiniteException
                || e instanceof IllegalArgumentException || e instanceof UncheckedIOException;
    }

    /** The one line for an OutOfMemoryError: which limit was hit (the heap, or off-heap memory) and how to raise it. */
    static String outOfMemoryMessage(OutOfMemoryError e, long maxHeapBytes) {
        String what = e.getMessage() == null ? "Java heap space" : e.getMessage();
        String lower = what.toLowerCase(Locale.ROOT);
        if (lower.contains("heap")) {
            return String.format(Locale.ROOT, "error: out of memory (%s): the Java heap may hold %.1f GiB and this run "
                    + "needs more. Lower the batch size, or raise the limit with -Xmx<size> (through the tornadovit "
                    + "script: TORNADOVIT_JAVA_OPTS=-Xmx16g, say; the script already lets the heap take 75 %% of the "
                    + "machine's memory).", what, maxHeapBytes / (double) (1L << 30));
        }
        if (lower.contains("direct buffer memory")) {
            // TornadoVM keeps a host copy of every device tensor off the heap.
            return "error: out of memory (" + what + "): the device tensors' host copies exceed Java's off-heap limit. "
                    + "Lower the batch size, or raise the limit with -XX:MaxDirectMemorySize=<size> (through the "
                    + "tornadovit script: TORNADOVIT_JAVA_OPTS=-XX:MaxDirectMemorySize=<size>).";
        }
        return "error: out of memory (" + what + "). Lower the batch size, or free memory on this machine.";
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[]{"TornadoViT " + (v == null ? "(development build)" : v) + " on Java "
                    + Runtime.version()};
        }
    }
}
