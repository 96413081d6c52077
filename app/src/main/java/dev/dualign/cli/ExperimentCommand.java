package dev.dualign.cli;

import dev.dualign.app.experiment.Experiment;
import dev.dualign.app.experiment.Experiments;
import dev.dualign.world.bootstrap.ConsoleProgress;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** Reproduces one of the papers' claims (or one of our statistical guarantees) offline, deterministic per seed. */
@Command(name = "experiment", mixinStandardHelpOptions = true,
        description = "Run one experiment and write NAME.json and NAME.png under --out (docs/experiments.md shows them).")
final class ExperimentCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "NAME", description = "Which experiment.")
    String name;

    @Option(names = "--seeds", paramLabel = "S[,S...]", defaultValue = "1,2,3", converter = SeedsConverter.class,
            description = "The seeds to run, each an independent repetition: 11 is seed 11 alone, 1,2,3 three seeds "
                    + "(default: ${DEFAULT-VALUE}).")
    Seeds seeds;

    @Option(names = "--out", paramLabel = "DIR", description = "Output folder (default: docs/experiments).")
    Path out;

    @Option(names = "--quick", description = "A scaled-down run (same code, fewer runs): a first look, or a test.")
    boolean quick;

    @Option(names = "--registry", paramLabel = "DIR", description = "Model registry for the experiments on the world's models "
            + "(default: .dualign/registry; bootstrapped when empty).")
    Path registry;

    /** {@code --seeds}: a list, never a count; what is wrong with it comes back as picocli's error naming the option. */
    record Seeds(List<Integer> values) {}

    static final class SeedsConverter implements ITypeConverter<Seeds> {
        @Override
        public Seeds convert(String value) {
            try {
                return new Seeds(Experiments.parseSeeds(value));
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }

    /** Lists every registered experiment with its one line, so the help cannot fall behind {@link Experiments#all()}. */
    static void describeExperiments(CommandSpec spec) {
        List<String> lines = new ArrayList<>(List.of(spec.usageMessage().description()));
        lines.add("Experiments:");
        Experiments.all().forEach((n, e) -> lines.add(String.format("  %-13s %s", n, e.description())));
        spec.usageMessage().description(lines.toArray(String[]::new));
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter o = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        Map<String, Experiment> all = Experiments.all();
        Experiment e = all.get(name);
        if (e == null) {
            err.println("dualign experiment: unknown experiment '" + name + "'; known: " + String.join(", ", all.keySet()));
            return Dualign.EXIT_BAD_INPUT;
        }
        Path dir = out != null ? out : Path.of(System.getProperty("dualign.home", "."), "docs", "experiments");
        String command = "bin/dualign experiment " + name + " --seeds " + Experiments.formatSeeds(seeds.values())
                + (quick ? " --quick" : "");
        ConsoleProgress progress = new ConsoleProgress(System.err, System.console() != null);
        Path file = Experiments.runAndWrite(e, new Experiment.Context(seeds.values(), quick, dir, progress,
                registry != null ? registry : BootstrapCommand.defaultRegistry()), command);
        progress.finish(name + " done");
        o.println(file);
        o.flush();
        return 0;
    }
}
