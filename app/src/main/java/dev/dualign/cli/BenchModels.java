package dev.dualign.cli;

import dev.dualign.model.Devices;
import dev.dualign.model.lm.PolicyLm;
import dev.dualign.model.lm.Sampling;
import dev.dualign.model.registry.ModelNames;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.model.scorer.Scorer;
import dev.dualign.model.scorer.TrainedScorer;
import dev.dualign.model.text.WordTokenizer;
import dev.dualign.world.Oracle;
import dev.dualign.world.World;
import dev.dualign.world.bootstrap.Bootstrap;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Generation and scoring throughput of the bootstrapped models, batched and one at a time, and a memory soak. */
@Command(name = "models", mixinStandardHelpOptions = true,
        description = "Throughput of generation (≤ 24 new tokens) and of each scorer, batched and one at a time; optional memory soak.")
final class BenchModels implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--registry", paramLabel = "DIR", description = "Registry with a bootstrap (default: .dualign/registry).")
    Path registry;

    @Option(names = "--batch", defaultValue = "64", description = "Batch size (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--device", defaultValue = "auto")
    String device;

    @Option(names = "--soak-seconds", defaultValue = "0", description = "Also run generate+score for this long and report resident memory over time.")
    int soakSeconds;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        ModelRegistry reg = new ModelRegistry(registry != null ? registry : BootstrapCommand.defaultRegistry());
        if (!Bootstrap.isBootstrapped(reg)) {
            spec.commandLine().getErr().println("dualign bench models: no bootstrap in " + reg.root() + "; run dualign bootstrap first");
            return Dualign.EXIT_BAD_INPUT;
        }
        var dev = Devices.resolve(device);
        Path tokFile = reg.open(ModelNames.TOKENIZER, 0).resolve("tokenizer.json");
        try (WordTokenizer tok = WordTokenizer.load(tokFile); PolicyLm lm = PolicyLm.load(reg.open(ModelNames.POLICY, 0), dev)) {
            out.printf("models from %s (size %s) on %s, %d cores%n", reg.root(), reg.manifest(ModelNames.POLICY, 0).info().get("size"),
                    dev, Runtime.getRuntime().availableProcessors());
            SplittableRandom rnd = new SplittableRandom(1);
            List<String> prompts = new ArrayList<>();
            for (int i = 0; i < 4096; i++) {
                prompts.add(World.prompt(rnd).text());
            }
            // generation
            Sampling s = new Sampling(1.0, 0.95, 24, 7);
            double batched = generate(lm, tok, prompts, batch, s, 512);
            double single = generate(lm, tok, prompts, 1, s, 24);
            out.printf("generation (≤ 24 new tokens, top-p 0.95): batched(%d) %,.0f responses/s, one at a time %,.1f/s, ratio %.1fx%n",
                    batch, batched, single, batched / single);
            List<Scorer.PromptResponse> pairs = new ArrayList<>();
            for (int i = 0; i < 4096; i++) {
                World.Prompt p = World.prompt(rnd);
                pairs.add(new Scorer.PromptResponse(p.text(), World.referenceResponse(p.intent(), rnd)));
            }
            for (String name : Bootstrap.SCORERS) {
                try (Scorer sc = TrainedScorer.load(reg.open(name, 0), tok, dev)) {
                    double b = score(sc, pairs, 512, 4096);
                    double one = score(sc, pairs, 1, 300);
                    out.printf("scorer %-8s: batched(512) %,.0f responses/s, one at a time %,.0f/s, ratio %.1fx%n", name, b, one, b / one);
                }
            }
            out.printf("  | %s | %d cores | generation %,.0f/s (x%.1f) |%n", LocalDate.now(),
                    Runtime.getRuntime().availableProcessors(), batched, batched / single);
            out.flush();
            if (soakSeconds > 0) {
                soak(out, lm, tok, reg, dev, prompts);
            }
        }
        return 0;
    }

    static double generate(PolicyLm lm, WordTokenizer tok, List<String> prompts, int batch, Sampling s, int total) {
        warm(lm, tok, prompts, batch, s);
        long t0 = System.nanoTime();
        int done = 0;
        for (int from = 0; done < total; from = (from + batch) % (prompts.size() - batch)) {
            List<int[]> ids = prompts.subList(from, from + batch).stream().map(tok::encode).toList();
            lm.generate(ids, s, lm);
            done += batch;
        }
        return done / ((System.nanoTime() - t0) / 1e9);
    }

    private static void warm(PolicyLm lm, WordTokenizer tok, List<String> prompts, int batch, Sampling s) {
        lm.generate(prompts.subList(0, batch).stream().map(tok::encode).toList(), s, lm);
    }

    private static double score(Scorer sc, List<Scorer.PromptResponse> pairs, int batch, int total) {
        sc.score(pairs.subList(0, batch));
        long t0 = System.nanoTime();
        int done = 0;
        for (int from = 0; done < total; from = (from + batch) % (pairs.size() - batch)) {
            sc.score(pairs.subList(from, from + batch));
            done += batch;
        }
        return done / ((System.nanoTime() - t0) / 1e9);
    }

    private void soak(PrintWriter out, PolicyLm lm, WordTokenizer tok, ModelRegistry reg, ai.djl.Device dev, List<String> prompts)
            throws IOException {
        try (Scorer sc = TrainedScorer.load(reg.open(Oracle.HARMLESS, 0), tok, dev)) {
            long end = System.nanoTime() + soakSeconds * 1_000_000_000L;
            long nextReport = System.nanoTime();
            int rounds = 0;
            int from = 0;
            out.println("soak: generate " + batch + " + score them, repeatedly; resident memory (VmRSS):");
            while (System.nanoTime() < end) {
                List<String> ps = prompts.subList(from, from + batch);
                var gens = lm.generate(ps.stream().map(tok::encode).toList(), new Sampling(1.0, 0.95, 24, rounds), lm);
                List<Scorer.PromptResponse> pairs = new ArrayList<>();
                for (int i = 0; i < ps.size(); i++) {
                    pairs.add(new Scorer.PromptResponse(ps.get(i), tok.decode(gens.get(i).tokens())));
                }
                sc.score(pairs);
                rounds++;
                from = (from + batch) % (prompts.size() - batch);
                if (System.nanoTime() >= nextReport) {
                    out.printf("  t=%4ds rounds=%6d rss=%,d MiB managed-arrays=%d%n", soakSeconds - (end - System.nanoTime()) / 1_000_000_000L,
                            rounds, rssKb() / 1024, ((ai.djl.ndarray.BaseNDManager) lm.model().getNDManager()).getManagedArrays().size());
                    out.flush();
                    nextReport = System.nanoTime() + 60_000_000_000L;
                }
            }
            out.printf("  end   rounds=%6d rss=%,d MiB%n", rounds, rssKb() / 1024);
        }
    }

    private static long rssKb() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("\\D", ""));
            }
        }
        return 0;
    }
}
