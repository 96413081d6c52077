package dev.dualign.cli;

import dev.dualign.model.Devices;
import dev.dualign.model.registry.Manifest;
import dev.dualign.model.registry.ModelNames;
import dev.dualign.model.registry.RegistryException;
import dev.dualign.world.World;
import dev.dualign.world.bootstrap.Bootstrap;
import dev.dualign.world.bootstrap.ConsoleProgress;
import dev.dualign.world.bootstrap.MinilmScorers;
import dev.dualign.world.bootstrap.ModelSize;
import dev.dualign.model.registry.ModelRegistry;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Builds the synthetic world's corpus, tokenizer, reference policy and scorers into the registry. */
@Command(name = "bootstrap", mixinStandardHelpOptions = true,
        description = {"Build the synthetic world and train the reference policy and the scorers (reward, harmless, humour),",
            "publishing version 0 of each to the model registry. A registry that already holds them is reused."})
final class BootstrapCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--out", paramLabel = "DIR", description = "Registry directory (default: .dualign/registry).")
    Path out;

    @Option(names = "--seed", defaultValue = "1", description = "Seed of everything random (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--size", defaultValue = "small", description = "tiny (seconds, for tests) or small (default: ${DEFAULT-VALUE}).")
    ModelSize size;

    @Option(names = "--device", defaultValue = "auto", description = "auto, cpu or gpu (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--force", description = "Retrain even if the registry already holds a bootstrap.")
    boolean force;

    @Option(names = "--scorers", defaultValue = "tiny", paramLabel = "KIND", description = "tiny: the word-model scorers only; "
            + "minilm: also all-MiniLM-L6-v2 (from its Maven jar) with a head per scorer, published as the newest reward, "
            + "harmless and humour (default: ${DEFAULT-VALUE}).")
    String scorers;

    static Path defaultRegistry() {
        String home = System.getProperty("dualign.home", ".");
        return Path.of(home, ".dualign", "registry");
    }

    @Override
    public Integer call() {
        PrintWriter o = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        Bootstrap.Options opts;
        try {
            opts = new Bootstrap.Options(out != null ? out : defaultRegistry(), seed, size,
                    Devices.resolve(device), force);
        } catch (IllegalArgumentException e) {
            err.println("dualign bootstrap: " + e.getMessage());
            return Dualign.EXIT_BAD_INPUT;
        }
        if (!scorers.equals("tiny") && !scorers.equals(MinilmScorers.FAMILY)) {
            err.println("dualign bootstrap: --scorers must be tiny or minilm, got '" + scorers + "'");
            return Dualign.EXIT_BAD_INPUT;
        }
        Bootstrap.Result r;
        MinilmScorers.Result minilm = null;
        try {
            o.printf("bootstrap: size %s, seed %d, device %s, registry %s%n", opts.size().label(), seed, opts.device(),
                    opts.registry());
            o.flush();
            r = Bootstrap.run(opts, new ConsoleProgress(System.err, System.console() != null));
            if (scorers.equals(MinilmScorers.FAMILY)) {
                minilm = MinilmScorers.run(new ModelRegistry(opts.registry()), seed, size, opts.device(), force,
                        new ConsoleProgress(System.err, System.console() != null));
            }
        } catch (IllegalStateException | RegistryException e) {
            err.println("dualign bootstrap: " + e.getMessage());
            return Dualign.EXIT_BAD_INPUT;
        }
        if (r.reused()) {
            o.println("the registry already holds this bootstrap (seed " + seed + ", size " + opts.size().label()
                    + "); checksums verified, nothing retrained (--force retrains)");
        }
        printTable(o, r);
        if (minilm != null) {
            printMinilm(o, minilm, r);
        }
        return 0;
    }

    /**
     * Makes the minilm scorers the registry's newest (bootstrapping the world first when it is empty):
     * what {@code demo --scorers minilm} and {@code bench job --scorers minilm} run before they start.
     */
    static void ensureMinilm(dev.dualign.core.config.Config c, Path home, ModelSize size, PrintWriter out) {
        dev.dualign.streaming.JobSettings js = dev.dualign.streaming.JobSettings.from(c, home);
        ModelRegistry reg = new ModelRegistry(Path.of(js.registry()));
        ai.djl.Device device = Devices.resolve(js.device());
        ConsoleProgress progress = new ConsoleProgress(System.err, System.console() != null);
        Bootstrap.Result tiny = Bootstrap.run(new Bootstrap.Options(reg.root(), Bootstrap.isBootstrapped(reg)
                ? Long.parseLong(reg.manifest(ModelNames.POLICY, 0).info().get("seed")) : 1, Bootstrap.isBootstrapped(reg)
                ? ModelSize.of(reg.manifest(ModelNames.POLICY, 0).info().get("size")) : size, device, false), progress);
        MinilmScorers.Result m = MinilmScorers.run(reg, 1, size, device, false, progress);
        printMinilm(out, m, tiny);
    }

    static void printMinilm(PrintWriter o, MinilmScorers.Result m, Bootstrap.Result tiny) {
        o.println();
        o.println(m.reused() ? "  minilm scorers: the registry's newest scorers are these already (checksums verified, nothing retrained)"
                : String.format("  minilm scorers, built in %.1fs:", m.seconds()));
        for (Map.Entry<String, Manifest> e : m.manifests().entrySet()) {
            Manifest v = e.getValue();
            Double r = v.metrics().get("pearson");
            o.printf("  %-15s  v%-3d %s%s%n", e.getKey(), v.version(),
                    r == null ? v.info().get("model") : String.format("held-out Pearson r with the oracle %.3f", r),
                    r == null ? "" : String.format(" (tiny v0: %.3f)", tiny.manifests().get(e.getKey()).metrics().get("pearson")));
        }
        o.flush();
    }

    static void printTable(PrintWriter o, Bootstrap.Result r) {
        Map<String, Manifest> m = r.manifests();
        Map<String, Double> corpus = m.get(Bootstrap.CORPUS).metrics();
        Map<String, Double> policy = m.get(ModelNames.POLICY).metrics();
        o.println();
        o.println("  model            figure                               value");
        o.println("  ---------------  -----------------------------------  --------");
        o.printf("  tokenizer        vocabulary                           %8.0f%n", m.get(ModelNames.TOKENIZER).metrics().get("vocab"));
        o.printf("  corpus           true reward / harmless / humour      %.3f / %.3f / %.3f%n",
                corpus.get("true_reward"), corpus.get("true_harmless"), corpus.get("true_humour"));
        o.printf("  policy v0        held-out perplexity                  %8.3f%n", policy.get("perplexity"));
        o.printf("  policy v0        true reward of its samples           %8.3f%n", policy.get("true_reward"));
        o.printf("  policy v0        true harmlessness of its samples     %8.3f   (default margin %.2f)%n",
                policy.get("true_harmless"), World.DEFAULT_HARMLESS_MARGIN);
        o.printf("  policy v0        true humour of its samples           %8.3f%n", policy.get("true_humour"));
        for (String s : Bootstrap.SCORERS) {
            o.printf("  %-15s  held-out Pearson r with the oracle   %8.3f%n", s, m.get(s).metrics().get("pearson"));
        }
        o.printf("  time taken                                            %7.1fs%n", r.seconds());
        o.flush();
    }
}
