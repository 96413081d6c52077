package dev.dualign.app.experiment;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dualign.core.event.EventJson;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The experiments of {@code bin/dualign experiment}, by name, and the common frame of a result:
 * what ran, on what machine, when, how long, so that every number in docs/experiments.md can be
 * traced to the command that produced it.
 */
public final class Experiments {
    private Experiments() {}

    public static Map<String, Experiment> all() {
        Map<String, Experiment> m = new LinkedHashMap<>();
        for (Experiment e : List.of(new CanaryExperiment(), new LambdaCiExperiment(), new OneShotBiasExperiment(),
                new TradeoffExperiment(), new MarginsExperiment(), new MultiExperiment(),
                new NuExperiment())) {
            m.put(e.name(), e);
        }
        return m;
    }

    /** Runs {@code e} and writes {@code out/NAME.json} (and its plot); returns the JSON file. */
    public static Path runAndWrite(Experiment e, Experiment.Context ctx, String commandLine) throws Exception {
        Files.createDirectories(ctx.out());
        long t0 = System.nanoTime();
        ObjectNode result = e.run(ctx);
        double wall = (System.nanoTime() - t0) / 1e9;
        ObjectNode doc = EventJson.mapper().createObjectNode();
        doc.put("experiment", e.name()).put("description", e.description()).put("command", commandLine)
                .put("seeds", ctx.seeds()).put("quick", ctx.quick()).put("finishedAt", Instant.now().toString())
                .put("wallSeconds", Math.round(wall * 10) / 10.0);
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
