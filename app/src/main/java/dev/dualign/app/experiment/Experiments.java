package dev.dualign.app.experiment;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dualign.core.event.EventJson;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The experiments of {@code bin/dualign experiment}, by name, and the common frame of a result:
 * what ran (commit, models, every parameter, seeds: {@link Provenance}), on what machine, when, how
 * long, so that every number in docs/experiments.md can be traced to the code and command that produced it.
 */
public final class Experiments {
    private Experiments() {}

    public static Map<String, Experiment> all() {
        Map<String, Experiment> m = new LinkedHashMap<>();
        for (Experiment e : List.of(new CanaryExperiment(), new LambdaCiExperiment(), new OneShotBiasExperiment(),
                new TradeoffExperiment(), new MarginsExperiment(), new MultiExperiment(),
                new NuExperiment(), new PolicyStepExperiment())) {
            m.put(e.name(), e);
        }
        return m;
    }

    /**
     * The seeds of {@code --seeds}: a comma-separated list of distinct integers ≥ 1, run in that
     * order ({@code 11} is seed 11 alone; {@code 1,2,3} what a count of 3 meant before).
     *
     * @throws IllegalArgumentException saying what is wrong with {@code text}
     */
    public static List<Integer> parseSeeds(String text) {
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException("expected a comma-separated list of seeds such as 1,2,3, got nothing");
        }
        List<Integer> seeds = new ArrayList<>();
        for (String part : text.split(",", -1)) {
            String t = part.strip();
            int s;
            try {
                s = Integer.parseInt(t);
            } catch (NumberFormatException ex) {
                throw new IllegalArgumentException("'" + t + "' in '" + text + "' is not an integer seed (expected a list such as 1,2,3)");
            }
            if (s < 1) {
                throw new IllegalArgumentException("seed " + s + " in '" + text + "' must be ≥ 1");
            }
            if (seeds.contains(s)) {
                throw new IllegalArgumentException("seed " + s + " appears twice in '" + text + "'");
            }
            seeds.add(s);
        }
        return List.copyOf(seeds);
    }

    /** The seeds as {@code --seeds} takes them: {@code 1,2,3}. */
    public static String formatSeeds(List<Integer> seeds) {
        return String.join(",", seeds.stream().map(String::valueOf).toList());
    }

    /** The project's root: {@code dualign.home} (the launcher sets it), else the working directory. */
    public static Path projectRoot() {
        return Path.of(System.getProperty("dualign.home", "."));
    }

    /**
     * Runs {@code e} and writes {@code out/NAME.json} (and its plot); returns the JSON file. The JSON
     * carries {@code provenance} (see {@link Provenance}): the commit of {@link #projectRoot()}, the
     * models read, every parameter and the seeds.
     */
    public static Path runAndWrite(Experiment e, Experiment.Context ctx, String commandLine) throws Exception {
        return runAndWrite(e, ctx, commandLine, Provenance.git(projectRoot()));
    }

    /** As {@link #runAndWrite(Experiment, Experiment.Context, String)} with the code's version given. */
    static Path runAndWrite(Experiment e, Experiment.Context ctx, String commandLine, Provenance.Git git) throws Exception {
        Files.createDirectories(ctx.out());
        long t0 = System.nanoTime();
        ObjectNode result = e.run(ctx);
        double wall = (System.nanoTime() - t0) / 1e9;
        ObjectNode doc = EventJson.mapper().createObjectNode();
        doc.put("experiment", e.name()).put("description", e.description()).put("command", commandLine);
        ArrayNode seeds = doc.putArray("seeds");
        ctx.seeds().forEach(seeds::add);
        doc.put("quick", ctx.quick()).put("finishedAt", Instant.now().toString())
                .put("wallSeconds", Math.round(wall * 10) / 10.0);
        ObjectNode common = EventJson.mapper().createObjectNode().put("experiment", e.name()).put("quick", ctx.quick());
        common.set("seeds", seeds.deepCopy());
        doc.set("provenance", ctx.provenance().json(git, common, ctx.seeds()));
        doc.set("machine", machine());
        doc.set("result", result);
        Path file = ctx.out().resolve(e.name() + ".json");
        Files.writeString(file, EventJson.mapper().writerWithDefaultPrettyPrinter().writeValueAsString(doc) + "\n");
        return file;
    }

    static ObjectNode machine() {
        ObjectNode m = EventJson.mapper().createObjectNode();
        m.put("os", System.getProperty("os.name") + " " + System.getProperty("os.version"))
                .put("arch", System.getProperty("os.arch")).put("cores", Runtime.getRuntime().availableProcessors())
                .put("java", System.getProperty("java.version"))
                .put("maxHeapMiB", Runtime.getRuntime().maxMemory() >> 20);
        try {
            long mem = ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                    .getTotalMemorySize();
            m.put("memoryGiB", Math.round(mem / (1024.0 * 1024 * 1024)));
        } catch (ClassCastException | LinkageError ignored) {
            // not a HotSpot-style JVM: leave it out
        }
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) {
                    m.put("cpu", line.substring(line.indexOf(':') + 1).trim());
                    break;
                }
            }
        } catch (IOException ignored) {
            // not Linux: no CPU model
        }
        return m;
    }
}
