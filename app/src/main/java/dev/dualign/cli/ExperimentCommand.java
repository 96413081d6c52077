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

    @Option(names = "--seeds", defaultValue = "3", description = "Independent repetitions, seeds 1..N (default: ${DEFAULT-VALUE}).")
    int seeds;

    @Option(names = "--out", paramLabel = "DIR", description = "Output folder (default: docs/experiments).")
    Path out;

    @Option(names = "--quick", description = "A scaled-down run (same code, fewer runs): a first look, or a test.")
    boolean quick;

    @Option(names = "--registry", paramLabel = "DIR", description = "Model registry for the experiments on the world's models "
            + "(default: .dualign/registry; bootstrapped when empty).")
    Path registry;

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
        if (seeds < 1) {
            err.println("dualign experiment: --seeds must be ≥ 1, got " + seeds);
            return Dualign.EXIT_BAD_INPUT;
        }
        Path dir = out != null ? out : Path.of(System.getProperty("dualign.home", "."), "docs", "experiments");
        String command = "bin/dualign experiment " + name + " --seeds " + seeds + (quick ? " --quick" : "");
        ConsoleProgress progress = new ConsoleProgress(System.err, System.console() != null);
        Path file = Experiments.runAndWrite(e, new Experiment.Context(seeds, quick, dir, progress,
                registry != null ? registry : BootstrapCommand.defaultRegistry()), command);
        progress.finish(name + " done");
        o.println(file);
        o.flush();
        return 0;
    }
}
