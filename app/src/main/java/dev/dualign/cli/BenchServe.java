package dev.dualign.cli;

import dev.dualign.model.Devices;
import dev.dualign.model.lm.PolicyLm;
import dev.dualign.model.lm.Sampling;
import dev.dualign.model.registry.ModelNames;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.serving.HttpApi;
import dev.dualign.serving.PolicyServer;
import dev.dualign.serving.ServerSettings;
import dev.dualign.service.ServiceMetrics;
import dev.dualign.service.WebServer;
import dev.dualign.model.text.WordTokenizer;
import dev.dualign.world.World;
import dev.dualign.world.bootstrap.Bootstrap;
import java.io.PrintWriter;
import java.net.URI;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * HTTP chat-completion throughput and latency of the policy server at 1, 8 and 32 concurrent
 * clients, against the batched generation throughput of the same model measured in the same run
 * (as {@code bench models} measures it): how much of the batched figure dynamic batching delivers.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Chat-completion throughput and p50/p99 latency at 1, 8 and 32 concurrent clients against the batched "
                + "generation throughput of the same model, same run (≤ 24 new tokens, top-p 0.95).")
final class BenchServe implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--registry", paramLabel = "DIR", description = "Registry with a bootstrap (default: .dualign/registry).")
    Path registry;

    @Option(names = "--batch", defaultValue = "64", description = "server.batch, and the batch of the generation figure (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--clients", defaultValue = "1,8,32", split = ",", description = "Concurrent clients per round (default: ${DEFAULT-VALUE}).")
    int[] clients;

    @Option(names = "--seconds", defaultValue = "20", description = "Measured seconds per round, after the warm-up (default: ${DEFAULT-VALUE}).")
    int seconds;

    @Option(names = "--warmup", defaultValue = "10", description = "Seconds of each round before the measured ones, JIT warm-up included (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--http", defaultValue = "jetty", split = ",",
            description = "HTTP servers to measure, in this order: jetty (what serve runs), jdk (the JDK server it ran before "
                    + "decision 28, as the baseline; default: ${DEFAULT-VALUE}).")
    List<String> http;

    @Option(names = "--device", defaultValue = "auto")
    String device;

    @Option(names = "--enforce", paramLabel = "K", defaultValue = "0",
            description = "Also serve with enforcement at inference: K candidates per answer, scored (default: off).")
    int enforce;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        ModelRegistry reg = new ModelRegistry(registry != null ? registry : BootstrapCommand.defaultRegistry());
        if (!Bootstrap.isBootstrapped(reg)) {
            spec.commandLine().getErr().println("dualign bench serve: no bootstrap in " + reg.root() + "; run dualign bootstrap first");
            return Dualign.EXIT_BAD_INPUT;
        }
        var dev = Devices.resolve(device);
        SplittableRandom rnd = new SplittableRandom(1);
        List<String> prompts = new ArrayList<>();
        for (int i = 0; i < 4096; i++) {
            prompts.add(World.prompt(rnd).text());
        }
        Sampling s = new Sampling(1.0, 0.95, 24, 7);
        int maxClients = Arrays.stream(clients).max().orElse(1);
        List<String> rows = new ArrayList<>();
        double batched;
        double batchedAtClients;
        try (WordTokenizer tok = WordTokenizer.load(reg.open(ModelNames.TOKENIZER, 0).resolve("tokenizer.json"));
                PolicyLm lm = PolicyLm.load(reg.open(ModelNames.POLICY, 0), dev)) {
            // 2,048 responses each, after a warm-up batch: 512 gave figures that moved by a third between runs
            batched = BenchModels.generate(lm, tok, prompts, batch, s, 2048);
            batchedAtClients = maxClients < batch ? BenchModels.generate(lm, tok, prompts, maxClients, s, 2048) : batched;
            out.printf("models from %s (size %s) on %s, %d cores%n", reg.root(), reg.manifest(ModelNames.POLICY, 0).info().get("size"),
                    dev, Runtime.getRuntime().availableProcessors());
            out.printf("batched generation (bench models): batch %d %,.0f responses/s; batch %d %,.0f responses/s%n", batch, batched,
                    Math.min(maxClients, batch), batchedAtClients);
            // this machine's speed drifts by a fifth over minutes: the round with the most clients is
            // also compared with the batched figure measured just before and just after it
            Bracket bracket = () -> BenchModels.generate(lm, tok, prompts, batch, s, 1024);
            // the reference serves everything: no canary, no reference samples, no Kafka sink (not part of this figure)
            ServerSettings plain = new ServerSettings("127.0.0.1", 0, "", 0.0, 0, 0.0, 1, 24, 1.0, 60_000, 0, 1, batch,
                    ServerSettings.DEFAULT_MODEL, null);
            for (String engine : http) {
                if (!engine.equals("jetty") && !engine.equals("jdk")) {
                    spec.commandLine().getErr().println("dualign bench serve: --http takes jetty and jdk, not " + engine);
                    return Dualign.EXIT_BAD_INPUT;
                }
                // read when each server is made: the JDK baseline only for its own round
                System.setProperty(WebServer.ENGINE_PROPERTY, engine);
                try {
                    serve(out, reg, dev, plain, http.size() > 1 ? "plain " + engine : "plain", prompts, batched, batchedAtClients,
                            maxClients, rows, bracket);
                } finally {
                    System.clearProperty(WebServer.ENGINE_PROPERTY);
                }
            }
            if (enforce > 0) {
                // the cost of enforcement: K candidates per answer (a generation holds batch/K answers) and their
                // scoring; λ is never set here, so the pick is uniform, which costs the same as any other
                ServerSettings enforced = new ServerSettings("127.0.0.1", 0, "", 0.0, 0, 0.0, 1, 24, 1.0, 60_000, 0, 1,
                        batch, ServerSettings.DEFAULT_MODEL, null)
                        .withEnforce(new ServerSettings.Enforce(enforce, 0.1, List.of("harmless")));
                serve(out, reg, dev, enforced, "enforce K=" + enforce, prompts, batched, batchedAtClients, maxClients, rows, bracket);
            }
        }
        out.printf("  | date | cores | server | clients | completions/s | of batched(%d) %,.0f/s | of batched(%d) %,.0f/s "
                + "| of batched(%d) around the round | p50 | p99 |%n", batch, batched, Math.min(maxClients, batch), batchedAtClients, batch);
        rows.forEach(out::println);
        out.flush();
        return 0;
    }

    private void serve(PrintWriter out, ModelRegistry reg, ai.djl.Device dev, ServerSettings settings, String label, List<String> prompts,
            double batched, double batchedAtClients, int maxClients, List<String> rows, Bracket bracket) throws Exception {
        ServiceMetrics metrics = new ServiceMetrics();
        try (PolicyServer server = PolicyServer.start(reg, settings, dev);
                HttpApi api = new HttpApi(server, null, null, () -> null, metrics)) {
            URI uri = URI.create(api.url() + "v1/chat/completions");
            // the server's own answering path without HTTP: batches of 32 asks, as 32 clients would fill them
            int full = Math.min(32, settings.batch());
            List<PolicyServer.Ask> asks = new ArrayList<>();
            for (int i = 0; i < full; i++) {
                asks.add(new PolicyServer.Ask(new PolicyServer.Prompt("b" + i, prompts.get(i)), "b" + i, 1.0, 0.95, 24));
            }
            server.answerAll(asks, null);
            long t0 = System.nanoTime();
            int answered = 0;
            while (System.nanoTime() - t0 < 5_000_000_000L) {
                answered += server.answerAll(asks, null).size();
            }
            out.printf("%s, answerAll(%d asks) without HTTP: %,.0f answers/s%n", label, full, answered / ((System.nanoTime() - t0) / 1e9));
            for (int c : clients) {
                double around = Double.NaN;
                double justBefore = c == maxClients ? bracket.batched() : Double.NaN;
                double[] before = batches(metrics);
                Round r = round(uri, prompts, c, warmup, seconds);
                double[] after = batches(metrics);
                if (c == maxClients) {
                    double justAfter = bracket.batched();
                    around = (justBefore + justAfter) / 2;
                    out.printf("%s, %2d clients: batched(%d) just before the round %,.0f/s, just after %,.0f/s: %.0f%% of their mean%n", label, c,
                            batch, justBefore, justAfter, 100 * r.perSecond / around);
                }
                if (!r.cpu().isEmpty()) {
                    StringBuilder cpu = new StringBuilder();
                    r.cpu().forEach((k, v) -> cpu.append(String.format(" %s %.0f%%", k, 100 * v)));
                    out.printf("%s, %2d clients: CPU in the measured seconds, in %% of one core:%s%n", label, c, cpu);
                }
                double n = after[1] - before[1];
                out.printf("%s, %2d clients: %,.0f batches, %.1f responses and %.0f ms each on average (warm-up included)%n", label, c, n,
                        (after[0] - before[0]) / n, 1000 * (after[2] - before[2]) / n);
                double share = r.perSecond / batched;
                out.printf("%s, %2d clients: %,.1f completions/s (%.0f%% of batched(%d), %.0f%% of batched(%d)), p50 %.0f ms, p99 %.0f ms, "
                        + "%d errors%n", label, c, r.perSecond, 100 * share, batch, 100 * r.perSecond / batchedAtClients, Math.min(maxClients, batch),
                        r.p50Ms, r.p99Ms, r.errors);
                rows.add(String.format("  | %s | %d cores | %s | %d | %,.1f/s | %.0f%% | %.0f%% | %s | %.0f ms | %.0f ms |", LocalDate.now(),
                        Runtime.getRuntime().availableProcessors(), label, c, r.perSecond, 100 * share,
                        100 * r.perSecond / batchedAtClients, Double.isNaN(around) ? "—" : String.format("%.0f%%", 100 * r.perSecond / around),
                        r.p50Ms, r.p99Ms));
            }
        }
    }

    /**
     * CPU seconds so far of each thread ("group/tid": the batch thread, HTTP, the clients, JIT, GC,
     * the rest) and the machine's idle and stolen seconds ("machine idle", "machine stolen"), from
     * Linux's /proc; empty elsewhere or when /proc cannot be read. A diagnostic: where the cores go
     * while the clients run.
     */
    static java.util.Map<String, Double> cpuByThread() {
        java.util.Map<String, Double> by = new java.util.HashMap<>();
        Path tasks = Path.of("/proc/self/task");
        if (!java.nio.file.Files.isDirectory(tasks)) {
            return by;
        }
        try (var dirs = java.nio.file.Files.list(tasks)) {
            for (Path t : (Iterable<Path>) dirs::iterator) {
                String stat;
                try {
                    stat = java.nio.file.Files.readString(t.resolve("stat"));
                } catch (java.io.IOException e) {
                    continue; // the thread ended
                }
                int open = stat.indexOf('(');
                int close = stat.lastIndexOf(')');
                String name = stat.substring(open + 1, close);
                String[] f = stat.substring(close + 2).split(" ");
                double sec = (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0; // utime, stime in USER_HZ
                String group = name.startsWith("bench-client") ? "clients" : name.startsWith("dualign-chat") ? "batch"
                        : name.startsWith("dualign-http") || name.startsWith("HTTP-Dispatcher") ? "http"
                        : name.startsWith("C1 Compiler") || name.startsWith("C2 Compiler") ? "JIT"
                        : name.startsWith("GC ") || name.startsWith("G1 ") ? "GC" : "other";
                by.put(group + "/" + t.getFileName(), sec);
            }
            String[] cpu = java.nio.file.Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
            by.put("machine idle", Long.parseLong(cpu[4]) / 100.0);
            by.put("machine stolen", Long.parseLong(cpu[8]) / 100.0);
        } catch (java.io.IOException | RuntimeException e) {
            by.clear();
        }
        return by;
    }

    /**
     * CPU per group between two {@link #cpuByThread} readings, in shares of one core over
     * {@code seconds}: per thread, so a thread that ended in between takes nothing from its group
     * (its CPU inside the window is lost, not subtracted); empty when either reading is.
     */
    static java.util.Map<String, Double> cpuShares(java.util.Map<String, Double> from, java.util.Map<String, Double> to, double seconds) {
        java.util.Map<String, Double> by = new java.util.TreeMap<>();
        if (from.isEmpty() || to.isEmpty()) {
            return by;
        }
        to.forEach((k, v) -> {
            String group = k.contains("/") ? k.substring(0, k.indexOf('/')) : k;
            by.merge(group, (v - from.getOrDefault(k, 0.0)) / seconds, Double::sum);
        });
        return by;
    }

    /** The batched generation figure of {@code bench models}, measured now (responses/s). */
    @FunctionalInterface
    private interface Bracket {
        double batched();
    }

    /** Sum of batch sizes, number of batches and sum of batch seconds so far, from the server's metrics. */
    private static double[] batches(ServiceMetrics m) {
        double[] v = new double[3];
        for (String line : m.scrape().split("\n")) {
            String[] kv = line.split(" ");
            switch (kv[0]) {
                case "dualign_chat_batch_responses_sum" -> v[0] = Double.parseDouble(kv[1]);
                case "dualign_chat_batch_responses_count" -> v[1] = Double.parseDouble(kv[1]);
                case "dualign_chat_batch_seconds_sum" -> v[2] = Double.parseDouble(kv[1]);
                default -> { }
            }
        }
        return v;
    }

    private record Round(double perSecond, double p50Ms, double p99Ms, int errors, java.util.Map<String, Double> cpu) {}

    /** {@code c} clients, each sending its next request when the last is answered, for {@code warmup} and then {@code seconds} seconds. */
    private static Round round(URI uri, List<String> prompts, int c, int warmup, int seconds) throws InterruptedException {
        long start = System.nanoTime();
        long measureFrom = start + warmup * 1_000_000_000L;
        long end = measureFrom + seconds * 1_000_000_000L;
        ConcurrentLinkedQueue<Long> latencies = new ConcurrentLinkedQueue<>();
        AtomicInteger errors = new AtomicInteger();
        // CPU by thread group over the measured seconds (to ½ s before their end, while every client
        // still runs), in share of one core, read by a thread that sleeps through the rest
        java.util.Map<String, Double> cpu = new java.util.TreeMap<>();
        Thread sampler = new Thread(() -> {
            try {
                Thread.sleep(Math.max(0, (measureFrom - System.nanoTime()) / 1_000_000));
                long t0 = System.nanoTime();
                java.util.Map<String, Double> from = cpuByThread();
                Thread.sleep(Math.max(0, (end - 500_000_000L - System.nanoTime()) / 1_000_000));
                java.util.Map<String, Double> to = cpuByThread();
                cpu.putAll(cpuShares(from, to, (System.nanoTime() - t0) / 1e9));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "bench-cpu");
        sampler.start();
        List<Thread> threads = new ArrayList<>();
        for (int k = 0; k < c; k++) {
            int client = k;
            Thread t = new Thread(() -> {
                int i = client;
                while (System.nanoTime() < end) {
                    String prompt = prompts.get(i++ % prompts.size()).replace("\"", "");
                    String body = "{\"model\":\"dualign\",\"messages\":[{\"role\":\"user\",\"content\":\"" + prompt
                            + "\"}],\"max_tokens\":24,\"top_p\":0.95}";
                    long t0 = System.nanoTime();
                    try {
                        // a plain blocking connection (kept alive by the JDK): the load generator shares the
                        // server's two cores, and java.net.http's client costs several times its CPU
                        java.net.HttpURLConnection con = (java.net.HttpURLConnection) uri.toURL().openConnection();
                        con.setRequestMethod("POST");
                        con.setDoOutput(true);
                        con.setRequestProperty("Content-Type", "application/json");
                        try (var o = con.getOutputStream()) {
                            o.write(body.getBytes(java.nio.charset.StandardCharsets.UTF_8));
                        }
                        int status = con.getResponseCode();
                        try (var in = status == 200 ? con.getInputStream() : con.getErrorStream()) {
                            if (in != null) {
                                in.readAllBytes();
                            }
                        }
                        long t1 = System.nanoTime();
                        if (status != 200) {
                            errors.incrementAndGet();
                        } else if (t1 >= measureFrom && t1 <= end) {
                            latencies.add(t1 - t0);
                        }
                    } catch (Exception e) {
                        errors.incrementAndGet();
                    }
                }
            }, "bench-client-" + k);
            t.start();
            threads.add(t);
        }
        for (Thread t : threads) {
            t.join();
        }
        sampler.join();
        long[] ns = latencies.stream().mapToLong(Long::longValue).sorted().toArray();
        if (ns.length == 0) {
            return new Round(0, Double.NaN, Double.NaN, errors.get(), cpu);
        }
        return new Round(ns.length / (double) seconds, ns[ns.length / 2] / 1e6, ns[(int) Math.min(ns.length - 1, Math.ceil(ns.length * 0.99) - 1)] / 1e6,
                errors.get(), cpu);
    }
}
