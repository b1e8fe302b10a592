package dev.tornadovit.cli;

import dev.tornadovit.data.DataFormatException;
import dev.tornadovit.io.SafetensorsException;
import dev.tornadovit.train.NonFiniteException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.UncheckedIOException;

/** The {@code tornadovit} command line. */
@Command(name = "tornadovit", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Train and run Vision Transformers on the CPU or any TornadoVM device.",
        subcommands = {TrainCommand.class, EvalCommand.class, PredictCommand.class, DevicesCommand.class,
                DemoCommand.class, BenchCommand.class, SweepCommand.class, AnalyzeCommand.class, ProbeCommand.class,
                CommandLine.HelpCommand.class})
public final class Main implements Runnable {

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
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            // Errors about the user's input get one clear line; anything else is a bug and keeps its stack trace.
            if (e instanceof DataFormatException || e instanceof SafetensorsException || e instanceof NonFiniteException
                    || e instanceof IllegalArgumentException || e instanceof UncheckedIOException) {
                commandLine.getErr().println("error: " + e.getMessage());
                return 2;
            }
            throw e;
        });
        return cli.execute(args);
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
