package dev.dualign.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.dualign.app.Demo;
import dev.dualign.core.config.Config;
import dev.dualign.core.config.ConfigException;
import dev.dualign.core.dual.DualMode;
import dev.dualign.app.DualignOptions;
import dev.dualign.world.bootstrap.ModelSize;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The whole loop on one machine, in one process: embedded Kafka, the Flink job with its web UI, the
 * policy server with the dashboard, the fine-tuner and simulated users. Ends after
 * {@code --duration} or on Ctrl-C, and prints (and optionally writes) the JSON summary.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Run the whole loop on this machine: embedded Kafka, the Flink job, the policy server with its "
                + "dashboard, the fine-tuner and simulated users.", "Ctrl-C stops everything and prints the summary."})
final class DemoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ConfigFile config;

    @Option(names = "--duration", paramLabel = "TIME", defaultValue = "10m",
            description = "How long to run: 90s, 10m, 1h, or 0 for until Ctrl-C (default: ${DEFAULT-VALUE}).")
    String duration;

    @Option(names = "--mode", paramLabel = "MODE", description = "one-shot | iterative | primal-dual | enforce (default: dual.mode). enforce sets "
            + "dual.one-shot.samples-per-prompt to server.enforce.candidates.")
    String mode;

    @Option(names = "--rate", paramLabel = "N", defaultValue = "25", description = "Simulated prompts per second (default: ${DEFAULT-VALUE}).")
    double rate;

    @Option(names = "--margin", paramLabel = "NAME=VALUE", description = "A constraint's margin, e.g. harmless=0.55 (repeatable; replaces the configured constraints).")
    List<String> margins;

    @Option(names = "--seed", defaultValue = "1", description = "Seed of the simulated users and sampling (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--summary", paramLabel = "FILE", description = "Also write the JSON summary to FILE.")
    Path summary;

    @Option(names = "--size", defaultValue = "small", description = "Model size bootstrapped when there is no registry: tiny | small (default: ${DEFAULT-VALUE}).")
    ModelSize size;

    @Option(names = "--scorers", paramLabel = "KIND", defaultValue = "latest", description = "latest: the registry's newest scorers; "
            + "minilm: all-MiniLM-L6-v2 with trained heads, bootstrapped first when the registry's newest scorers are not these "
            + "(default: ${DEFAULT-VALUE}).")
    String scorers;

    @Option(names = "--status-every", paramLabel = "TIME", defaultValue = "5s", description = "Status line interval (default: ${DEFAULT-VALUE}).")
    String statusEvery;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        Path home = Path.of(System.getProperty("dualign.home", "."));
        // a bad option or key throws ConfigException: exit 2 naming it (see Dualign)
        Config c = config.load();
        if (margins != null && !margins.isEmpty()) {
            c = c.withoutPrefix("constraints.");
        }
        c = c.with(overrides(), DualignOptions.ALL, DualignOptions.PASS_THROUGH);
        if (DualMode.fromKey(c.get(dev.dualign.core.control.ControlOptions.MODE)).enforcesAtInference()) {
            // each prompt's K candidates are its reference samples: a set is complete at K
            c = c.with(Map.of(dev.dualign.core.control.ControlOptions.ONE_SHOT_SAMPLES.key(), c.get(dev.dualign.serving.ServingOptions.ENFORCE_CANDIDATES)),
                    DualignOptions.ALL, DualignOptions.PASS_THROUGH);
        }
        if (!(rate > 0)) {
            throw new ConfigException("--rate", "must be > 0 prompts per second, got " + rate);
        }
        Duration d = parseDuration("--duration", duration);
        Demo.Options o = new Demo.Options(d.isZero() ? null : d, rate, seed, size, parseDuration("--status-every", statusEvery));

        out.println(ConfigFile.describe(c));
        out.flush();
        if (scorers.equals(dev.dualign.world.bootstrap.MinilmScorers.FAMILY)) {
            BootstrapCommand.ensureMinilm(c, home, size, out);
        } else if (!scorers.equals("latest")) {
            throw new ConfigException("--scorers", "must be latest or minilm, got '" + scorers + "'");
        }
        Demo demo = Demo.start(c, home, o, out);
        CountDownLatch printed = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            out.println("\nstopping...");
            out.flush();
            demo.close();
            printSummary(demo, out, err);
            printed.countDown();
        }, "dualign-demo-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        demo.awaitEnd();
        boolean ownStop;
        try {
            // the duration ran out: stop here rather than in the hook
            ownStop = Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            ownStop = false; // Ctrl-C: the hook is stopping everything and prints the summary
        }
        if (ownStop) {
            demo.close();
            printSummary(demo, out, err);
        } else {
            printed.await(120, TimeUnit.SECONDS);
        }
        return 0;
    }

    private void printSummary(Demo demo, PrintWriter out, PrintWriter err) {
        try {
            ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
            String text = json.writeValueAsString(demo.summary());
            out.println("summary:");
            out.println(text);
            if (summary != null) {
                Path abs = summary.toAbsolutePath();
                if (abs.getParent() != null) {
                    Files.createDirectories(abs.getParent());
                }
                Files.writeString(abs, text);
                out.println("summary written to " + abs);
            }
        } catch (Exception e) {
            err.println("dualign demo: cannot write the summary: " + e.getMessage());
        }
        out.flush();
    }

    private Map<String, Object> overrides() {
        Map<String, Object> m = new LinkedHashMap<>();
        if (mode != null) {
            DualMode parsed;
            try {
                parsed = DualMode.fromKey(mode);
            } catch (IllegalArgumentException e) {
                throw new ConfigException("--mode", e.getMessage());
            }
            if (!parsed.closesTheLoop()) {
                throw new ConfigException("--mode", "the demo closes the loop: one of " + DualMode.closedLoopKeys() + ", got '"
                        + parsed.key() + "'");
            }
            m.put("dual.mode", parsed.key());
        }
        if (margins != null && !margins.isEmpty()) {
            for (String s : margins) {
                int eq = s.indexOf('=');
                if (eq <= 0) {
                    throw new ConfigException("--margin", "expected NAME=VALUE, got '" + s + "'");
                }
                m.put("constraints." + s.substring(0, eq).trim(), s.substring(eq + 1).trim());
            }
        }
        return m;
    }

    static Duration parseDuration(String option, String s) {
        String t = s.trim().toLowerCase(java.util.Locale.ROOT);
        try {
            if (t.equals("0")) {
                return Duration.ZERO;
            }
            if (t.matches("\\d+(ms|s|m|h)")) {
                long n = Long.parseLong(t.replaceAll("[a-z]+$", ""));
                return switch (t.replaceAll("^\\d+", "")) {
                    case "ms" -> Duration.ofMillis(n);
                    case "s" -> Duration.ofSeconds(n);
                    case "m" -> Duration.ofMinutes(n);
                    default -> Duration.ofHours(n);
                };
            }
            return Duration.parse(s);
        } catch (DateTimeParseException | NumberFormatException e) {
            throw new ConfigException(option, "expected a duration like 90s, 10m or 1h, got '" + s + "'");
        }
    }
}
