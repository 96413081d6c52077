package dev.dualign.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine;

/**
 * The one entry point of {@code bin/dualign}. Each capability is a subcommand, so a user finds
 * everything with {@code dualign --help}.
 */
@Command(name = "dualign",
        mixinStandardHelpOptions = true,
        versionProvider = Dualign.Version.class,
        description = "Keeps a live chatbot's policy as helpful as possible while safety utilities stay above their margins.",
        subcommands = {DualCommand.class, BootstrapCommand.class, JobCommand.class, KafkaCommand.class, BenchCommand.class, RegistryCommand.class,
            DemoCommand.class, ServeCommand.class, ExperimentCommand.class, KeysCommand.class,
            CommandLine.HelpCommand.class},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:success", "1:internal error", "2:bad input, usage or configuration",
            "3:infeasible constraint", "4:a Kafka topic does not match the configuration", "5:Kafka unreachable"})
public final class Dualign implements Runnable {
    /** Bad input: a malformed file, a missing field, an invalid option. */
    public static final int EXIT_BAD_INPUT = 2;
    /** A margin no reweighting of the samples can meet. */
    public static final int EXIT_INFEASIBLE = 3;
    /** A Kafka topic exists with fewer partitions or replicas than configured. */
    public static final int EXIT_MISMATCH = 4;
    /** The configured Kafka cluster did not answer. */
    public static final int EXIT_UNREACHABLE = 5;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command line and returns its exit code (tests call this, not {@link #main}). */
    public static int run(String... args) {
        // before any command starts a MiniCluster: its Prometheus reporter needs the JDK's HTTP server
        dev.dualign.core.config.JdkHttpServerProvider.pin();
        return commandLine().execute(args);
    }

    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Dualign());
        ExperimentCommand.describeExperiments(cl.getSubcommands().get("experiment").getCommandSpec());
        return cl
                .setCaseInsensitiveEnumValuesAllowed(true)
                .setExecutionExceptionHandler((ex, cmd, parsed) -> {
                    // bad configuration is the user's to fix: name the key, no stack trace
                    if (ex instanceof dev.dualign.connectors.KafkaUnreachableException) {
                        cmd.getErr().println("dualign " + cmd.getCommandName() + ": " + ex.getMessage());
                        cmd.getErr().flush();
                        return EXIT_UNREACHABLE;
                    }
                    if (ex instanceof dev.dualign.core.config.ConfigException) {
                        cmd.getErr().println("dualign " + cmd.getCommandName() + ": " + ex.getMessage());
                        cmd.getErr().flush();
                        return EXIT_BAD_INPUT;
                    }
                    cmd.getErr().println("dualign " + cmd.getCommandName() + ": internal error: " + ex);
                    ex.printStackTrace(cmd.getErr());
                    cmd.getErr().flush();
                    return 1;
                });
    }

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Dualign.class.getPackage().getImplementationVersion();
            return new String[] {"dualign " + (v == null ? "development build" : v)};
        }
    }
}
