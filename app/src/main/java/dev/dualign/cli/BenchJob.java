package dev.dualign.cli;

import dev.dualign.connectors.EmbeddedKafka;
import dev.dualign.connectors.KafkaSettings;
import dev.dualign.connectors.TopicAdmin;
import dev.dualign.connectors.flink.DualignKafka;
import dev.dualign.core.config.Config;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.core.event.Topic;
import dev.dualign.model.Devices;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.model.scorer.Scorer;
import dev.dualign.model.scorer.ScorerSet;
import dev.dualign.streaming.AlignmentJob;
import dev.dualign.app.DualignOptions;
import dev.dualign.streaming.JobEnvironment;
import dev.dualign.streaming.JobSettings;
import dev.dualign.world.World;
import dev.dualign.world.bootstrap.Bootstrap;
import java.io.PrintWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * End-to-end job benchmark: throughput from dualign.responses to dualign.scored against the raw
 * batched scorers and the Kafka passthrough measured in the same run, then the latency from a
 * response's timestamp to its inclusion in an estimate under a steady live rate.
 */
@Command(name = "job", mixinStandardHelpOptions = true,
        description = "End-to-end throughput (vs raw scorers and the Kafka passthrough, same run) and arrival-to-estimate latency.")
final class BenchJob implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--registry", paramLabel = "DIR", description = "Registry with a bootstrap (default: .dualign/registry).")
    Path registry;

    @Option(names = "--events", description = "Responses for the throughput runs (default: 300000; 24000 with --scorers minilm, so start-up is a few per cent of the run).")
    Integer events;

    @Option(names = "--rate", description = "Responses/s for the latency run (default: 500; half the raw throughput with --scorers minilm).")
    Integer rate;

    @Option(names = "--scorers", defaultValue = "latest", paramLabel = "KIND", description = "latest: the registry's newest scorers; "
            + "minilm: all-MiniLM-L6-v2 with trained heads, bootstrapped first when they are not the newest (default: ${DEFAULT-VALUE}).")
    String scorers;

    @Option(names = "--latency-seconds", defaultValue = "30", description = "Length of the latency run (default: ${DEFAULT-VALUE}).")
    int latencySeconds;

    @Option(names = "--parallelism", defaultValue = "2")
    int parallelism;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        Path reg = registry != null ? registry : BootstrapCommand.defaultRegistry();
        boolean minilm = scorers.equals(dev.dualign.world.bootstrap.MinilmScorers.FAMILY);
        if (!minilm && !scorers.equals("latest")) {
            spec.commandLine().getErr().println("dualign bench job: --scorers must be latest or minilm, got '" + scorers + "'");
            return Dualign.EXIT_BAD_INPUT;
        }
        int events = this.events != null ? this.events : minilm ? 24_000 : 300_000;
        if (minilm) {
            BootstrapCommand.ensureMinilm(Config.of(Map.of("scoring.registry", reg.toString(), "constraints.harmless", 0.5), DualignOptions.ALL,
                    DualignOptions.PASS_THROUGH), Path.of(System.getProperty("dualign.home", ".")), dev.dualign.world.bootstrap.ModelSize.SMALL, out);
        }
        if (!Bootstrap.isBootstrapped(new ModelRegistry(reg))) {
            spec.commandLine().getErr().println("dualign bench job: no bootstrap in " + reg + "; run dualign bootstrap first");
            return Dualign.EXIT_BAD_INPUT;
        }
        Path tmp = Files.createTempDirectory("dualign-bench-job-");
        try (EmbeddedKafka kafka = EmbeddedKafka.start(tmp.resolve("kafka"))) {
            List<ResponseEvent> traffic = traffic(events);
            JobSettings s = settings(reg, tmp, 0);
            out.printf("scorers: %s%n", ScorerSet.pin(new ModelRegistry(reg), s.names()));
            out.printf("CPU: %s, %d cores%n", cpu(), Runtime.getRuntime().availableProcessors());
            out.flush();

            // the MiniLM scorers' single-thread and padded figures are only for comparison: 6,000 responses
            // measure them, the job's own denominator (raw on all threads) runs on every response the job scores
            List<ResponseEvent> side = minilm ? traffic.subList(0, Math.min(traffic.size(), 6_000)) : traffic;
            double raw1 = rawScorers(s, side, 1, true);
            double raw = rawScorers(s, traffic, parallelism, true);
            // padded to the maximum costs several times more: a quarter of the responses is enough to measure it
            double rawMax = rawScorers(s, side.subList(0, Math.max(side.size() / 4, 4 * parallelism * s.batchSize())), parallelism,
                    false);
            out.printf("raw scorers (reward + %s, batch %d, called directly): length buckets %,.0f responses/s on 1 thread, %,.0f on %d "
                    + "threads; padded to the maximum %,.0f on %d threads (buckets ×%.2f)%n",
                    s.names(), s.batchSize(), raw1, raw, parallelism, rawMax, parallelism, raw / rawMax);
            out.flush();
            int rate = this.rate != null ? this.rate : minilm ? Math.max(1, (int) (raw / 2)) : 500;

            KafkaSettings in = load(kafka, "bj-in.", traffic);
            // each job its own consumer group: a shared one would start each job where the last stopped
            passthrough(in.withGroupId("bench-warm"), in.withTopicPrefix("bj-warm."), tmp, events); // the first job in a JVM pays class loading
            double pass = passthrough(in.withGroupId("bench-pass"), in.withTopicPrefix("bj-pass."), tmp, events);
            out.printf("Kafka passthrough (exactly-once, same data): %,.0f responses/s%n", pass);

            // the first alignment job in this JVM also compiles its code paths (the JIT took about a
            // tenth of the machine for the whole of a 45-s MiniLM run); a job that runs for days does
            // not, and the raw scorers and the passthrough are measured warm: the same job runs again
            // on the same responses under another prefix, and job/raw is the warm run's
            double cold = alignmentJob(s, in.withGroupId("bench-job"), events, "bench-job");
            if (cold < 0) {
                out.printf("MISMATCH: fewer scored records committed than the %,d responses%n", events);
                return 1;
            }
            KafkaSettings again = load(kafka, "bj-again.", traffic);
            double job = alignmentJob(settings(reg, tmp.resolve("again"), 0), again.withGroupId("bench-job-again"), events,
                    "bench-job-again");
            if (job < 0) {
                out.printf("MISMATCH: fewer scored records committed than the %,d responses%n", events);
                return 1;
            }
            out.printf("alignment job, responses → scored (parallelism %d, exactly-once, start-up included): first in this JVM "
                    + "%,.0f responses/s, again %,.0f responses/s%n", parallelism, cold, job);
            out.printf("  = %.0f%% (first %.0f%%) of the raw scorers on %d threads, %.0f%% of the passthrough%n", 100 * job / raw,
                    100 * cold / raw, parallelism, 100 * job / pass);
            out.flush();

            int port = 9250;
            JobSettings live = settings(reg, tmp, port);
            KafkaSettings liveKafka = load(kafka, "bj-live.", List.of());
            StreamExecutionEnvironment env2 = StreamExecutionEnvironment.createLocalEnvironment(parallelism,
                    JobEnvironment.configuration(live));
            AlignmentJob.kafka(env2, live, liveKafka, false);
            JobClient client = env2.executeAsync("bench-job-latency");
            Thread.sleep(5000);
            produceLive(liveKafka, rate, latencySeconds);
            Thread.sleep(3000);
            Map<String, List<Double>> q;
            try {
                q = latencyQuantiles(port);
            } catch (java.io.IOException e) {
                // the throughput above stands on its own: say the latency was not measured, and why
                out.printf("latency: not measured (the job's Prometheus endpoint on port %d did not answer: %s; the job is %s)%n", port, e,
                        client.getJobStatus().get(30, TimeUnit.SECONDS));
                q = Map.of();
            }
            client.cancel().get(60, TimeUnit.SECONDS);
            out.printf("latency from a response's timestamp to its inclusion in an estimate, at %d responses/s for %d s:%n",
                    rate, latencySeconds);
            out.printf("  p50 %s ms, p99 %s ms (per estimator subtask)%n", q.get("0.5"), q.get("0.99"));
            out.printf("  | %s | %s, %d cores | %s | %,.0f/s (first run %,.0f/s) | %,.0f/s | %,.0f/s | %,.0f/s | %.2f | p50 %s, p99 %s ms at %d/s |%n",
                    LocalDate.now(), cpu(), Runtime.getRuntime().availableProcessors(), scorers, job, cold, raw, rawMax, pass, job / raw,
                    q.get("0.5"), q.get("0.99"), rate);
            out.printf("job/raw: %.2f%n", job / raw);
            out.flush();
        } finally {
            try (var files = Files.walk(tmp)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
        return 0;
    }

    /** The CPU's model name, from /proc/cpuinfo. */
    static String cpu() {
        try {
            return Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                    .map(l -> l.substring(l.indexOf(':') + 1).trim()).findFirst().orElse("unknown CPU");
        } catch (java.io.IOException e) {
            return "unknown CPU";
        }
    }

    private static JobSettings settings(Path reg, Path tmp, int prometheus) {
        Map<String, Object> m = new HashMap<>();
        m.put("constraints.harmless", 0.5);
        m.put("scoring.registry", reg.toString());
        m.put("checkpoint.dir", tmp.resolve("ckpt-" + prometheus).toUri().toString());
        m.put("checkpoint.interval-ms", 1000);
        m.put("metrics.prometheus-port", prometheus);
        m.put("dual.n-min", 1_000_000); // measure the data path, not fine-tune requests
        Config c = Config.of(m, DualignOptions.ALL, DualignOptions.PASS_THROUGH);
        return JobSettings.from(c, tmp);
    }

    private List<ResponseEvent> traffic(int n) {
        SplittableRandom rnd = new SplittableRandom(5);
        List<ResponseEvent> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            World.Prompt p = World.prompt(rnd);
            out.add(new ResponseEvent("r" + i, "p" + i, p.text(), World.referenceResponse(p.intent(), rnd), 0, -20.0, -20.0,
                    ResponseEvent.SOURCE_POLICY, System.currentTimeMillis()));
        }
        return out;
    }

    /** Scorer throughput with {@code threads} scorer sets working on disjoint halves, as the job's subtasks do. */
    private static double rawScorers(JobSettings s, List<ResponseEvent> traffic, int threads, boolean buckets) throws Exception {
        List<Scorer.PromptResponse> pairs = traffic.stream().map(Scorer.PromptResponse::of).toList();
        int per = pairs.size() / threads / s.batchSize() * s.batchSize();
        List<ScorerSet> sets = new ArrayList<>();
        try {
            for (int t = 0; t < threads; t++) {
                ScorerSet set = ScorerSet.open(new ModelRegistry(Path.of(s.registry())), s.names(), Devices.resolve("auto"));
                for (int w = 0; w < Math.min(50, pairs.size() / s.batchSize() / 4); w++) {
                    set.score(pairs.subList(w * s.batchSize(), (w + 1) * s.batchSize()), s.batchSize(), buckets); // warm-up (JIT)
                }
                sets.add(set);
            }
            List<Thread> workers = new ArrayList<>();
            long t0 = System.nanoTime();
            for (int t = 0; t < threads; t++) {
                ScorerSet set = sets.get(t);
                List<Scorer.PromptResponse> mine = pairs.subList(t * per, (t + 1) * per);
                Thread w = new Thread(() -> {
                    for (int from = 0; from < mine.size(); from += s.batchSize()) {
                        set.score(mine.subList(from, from + s.batchSize()), s.batchSize(), buckets); // as the job calls it
                    }
                });
                w.start();
                workers.add(w);
            }
            for (Thread w : workers) {
                w.join();
            }
            return (double) per * threads / ((System.nanoTime() - t0) / 1e9);
        } finally {
            sets.forEach(ScorerSet::close);
        }
    }

    private static KafkaSettings load(EmbeddedKafka kafka, String prefix, List<ResponseEvent> traffic) throws Exception {
        KafkaSettings k = KafkaSettings.defaults().withBootstrapServers(kafka.bootstrapServers()).withTopicPrefix(prefix);
        TopicAdmin.ensure(k).requireOk();
        try (KafkaProducer<byte[], byte[]> p = producer(kafka.bootstrapServers())) {
            for (ResponseEvent e : traffic) {
                p.send(new ProducerRecord<>(k.topic(Topic.RESPONSES), e.key().getBytes(StandardCharsets.UTF_8), e.toJsonBytes()));
            }
        }
        return k;
    }

    private static KafkaProducer<byte[], byte[]> producer(String servers) {
        Properties props = new Properties();
        props.put("bootstrap.servers", servers);
        props.put("linger.ms", "5");
        return new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer());
    }

    /** The alignment job over {@code events} responses: responses/s from {@code execute} to its end, or −1 if any was not scored. */
    private double alignmentJob(JobSettings s, KafkaSettings in, int events, String name) throws Exception {
        long t0 = System.nanoTime();
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(parallelism, JobEnvironment.configuration(s));
        AlignmentJob.kafka(env, s, in, true);
        env.execute(name);
        double rate = events / ((System.nanoTime() - t0) / 1e9);
        return BenchKafka.countCommitted(in.bootstrapServers(), in.topic(Topic.SCORED)) == events ? rate : -1;
    }

    private double passthrough(KafkaSettings in, KafkaSettings out, Path tmp, int events) throws Exception {
        TopicAdmin.ensure(out).requireOk();
        Configuration c = new Configuration();
        c.setString("execution.checkpointing.interval", "1000 ms");
        c.setString("restart-strategy.type", "none");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(parallelism, c);
        DualignKafka src = new DualignKafka(in);
        DualignKafka.Parsed<ResponseEvent> parsed = src.read(env, Topic.RESPONSES, ResponseEvent.class, true);
        new DualignKafka(out).write(parsed.events(), Topic.RESPONSES, ResponseEvent.class);
        long t0 = System.nanoTime();
        env.execute("bench-passthrough");
        return events / ((System.nanoTime() - t0) / 1e9);
    }

    private static void produceLive(KafkaSettings k, int rate, int seconds) throws Exception {
        SplittableRandom rnd = new SplittableRandom(9);
        long start = System.nanoTime();
        int sent = 0;
        try (KafkaProducer<byte[], byte[]> p = producer(k.bootstrapServers())) {
            while (System.nanoTime() - start < seconds * 1_000_000_000L) {
                long due = start + (long) (sent * 1e9 / rate);
                long wait = due - System.nanoTime();
                if (wait > 0) {
                    Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                }
                World.Prompt pr = World.prompt(rnd);
                ResponseEvent e = new ResponseEvent("l" + sent, "p" + sent, pr.text(), World.referenceResponse(pr.intent(), rnd), 0,
                        -20.0, -20.0, ResponseEvent.SOURCE_POLICY, System.currentTimeMillis());
                p.send(new ProducerRecord<>(k.topic(Topic.RESPONSES), e.key().getBytes(StandardCharsets.UTF_8), e.toJsonBytes()));
                sent++;
            }
        }
    }

    /** quantile → values per subtask, scraped from the Prometheus endpoint. */
    private static Map<String, List<Double>> latencyQuantiles(int port) throws Exception {
        java.io.IOException last = null;
        for (int attempt = 0; attempt < 10; attempt++) { // the reporter starts with the job: give it a few seconds
            try {
                return quantiles(port);
            } catch (java.io.IOException e) {
                last = e;
                Thread.sleep(1000);
            }
        }
        throw last;
    }

    private static Map<String, List<Double>> quantiles(int port) throws Exception {
        String body = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString()).body();
        Pattern p = Pattern.compile("^\\S*inclusionLatencyMs\\{.*quantile=\"([0-9.]+)\".*\\}\\s+(\\S+)$", Pattern.MULTILINE);
        Map<String, List<Double>> out = new HashMap<>();
        Matcher m = p.matcher(body);
        while (m.find()) {
            double v = Double.parseDouble(m.group(2));
            if (!Double.isNaN(v)) { // a subtask that owns no version key has no samples
                out.computeIfAbsent(m.group(1), x -> new ArrayList<>()).add(v);
            }
        }
        return out;
    }
}
