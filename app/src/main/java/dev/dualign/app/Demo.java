package dev.dualign.app;

import ai.djl.Device;
import dev.dualign.connectors.EmbeddedKafka;
import dev.dualign.connectors.KafkaSettings;
import dev.dualign.connectors.TopicAdmin;
import dev.dualign.core.config.Config;
import dev.dualign.core.dual.DualMode;
import dev.dualign.core.event.Topic;
import dev.dualign.model.Devices;
import dev.dualign.serving.ServingOptions;
import dev.dualign.finetune.FineTuneService;
import dev.dualign.finetune.FineTuneOptions;
import dev.dualign.finetune.FineTuneSettings;
import dev.dualign.finetune.FineTuner;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.model.scorer.ScorerSet;
import dev.dualign.serving.GroundTruth;
import dev.dualign.serving.HttpApi;
import dev.dualign.service.LoopKafka;
import dev.dualign.serving.LoopMonitor;
import dev.dualign.serving.PolicyServer;
import dev.dualign.serving.ServerSettings;
import dev.dualign.serving.ServingLoop;
import dev.dualign.streaming.AlignmentJob;
import dev.dualign.streaming.JobEnvironment;
import dev.dualign.streaming.JobIdentity;
import dev.dualign.streaming.JobSettings;
import dev.dualign.world.OracleTruth;
import dev.dualign.world.TrafficSimulator;
import dev.dualign.world.bootstrap.Bootstrap;
import dev.dualign.world.bootstrap.ConsoleProgress;
import dev.dualign.world.bootstrap.ModelSize;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The whole loop in one process: the embedded broker, the alignment job on a MiniCluster (web UI),
 * the policy server with its HTTP API and dashboard, the fine-tuner and a traffic simulator. Used
 * by {@code bin/dualign demo} and, at a tiny scale, by the end-to-end tests. Every part is the
 * real one; only the users are simulated.
 */
public final class Demo implements AutoCloseable {
    static final String JOB_NAME = "dualign-demo";

    private static final Logger LOG = LoggerFactory.getLogger(Demo.class);

    /**
     * @param duration how long to run (null: until {@link #close()})
     * @param rate simulated prompts per second
     * @param seed seed of the simulated users and of sampling
     * @param size model size to bootstrap when the registry is empty
     * @param statusEvery how often a status line is printed (null: never)
     */
    public record Options(Duration duration, double rate, long seed, ModelSize size, Duration statusEvery) {}

    private final PrintWriter out;
    private final LoopMonitor monitor;
    private EmbeddedKafka broker;
    private JobClient job;
    private PolicyServer server;
    private HttpApi http;
    private ServingLoop serving;
    /** The server's and the fine-tuner's metrics, at the server's /metrics. */
    private final dev.dualign.service.ServiceMetrics metrics = new dev.dualign.service.ServiceMetrics();
    private FineTuner tuner;
    private FineTuneService fineTuneService;
    private TrafficSimulator simulator;
    private Thread statusThread;
    private String adminToken;
    private String flinkUrl;
    private String bootstrapServers;
    private final CountDownLatch finished = new CountDownLatch(1);
    private volatile boolean closed;
    /** The scorer models the job scores with, with their files' checksums: what the summary names. */
    private Map<String, Object> scorerModels = Map.of();

    private Demo(PrintWriter out, LoopMonitor monitor) {
        this.out = out;
        this.monitor = monitor;
    }

    /** Starts every part; on any failure stops what was started and rethrows. */
    public static Demo start(Config c, Path home, Options o, PrintWriter out) throws Exception {
        JobSettings js = JobSettings.from(c, home);
        if (!c.isSet(dev.dualign.streaming.JobOptions.CHECKPOINT_DIR)) {
            // the demo's state is its own: `dualign job` must never resume a demo's checkpoint
            js = js.withCheckpointDir(home.resolve(".dualign/demo/checkpoints").toUri().toString());
        }
        if (!js.control().mode().closesTheLoop()) {
            throw new dev.dualign.core.config.ConfigException("dual.mode", "the demo closes the loop: use one of "
                    + DualMode.closedLoopKeys());
        }
        requireFreePort(js.webPort(), "flink.web-port");
        requireFreePort(c.get(ServingOptions.PORT), "server.port");
        KafkaSettings kafka = KafkaSettings.from(c);
        if (!kafka.useEmbeddedBroker()) { // a cluster that does not answer: exit 5 naming it, before the bootstrap
            TopicAdmin.requireReachable(kafka, java.time.Duration.ofSeconds(10));
        }
        ensureModels(js, o, out); // before the monitor: its clock is the loop's, not the bootstrap's
        Demo d = new Demo(out, monitorFor(js, new OracleTruth())); // the simulated users' prompts: truth is known
        d.scorerModels = scorerModels(new ModelRegistry(Path.of(js.registry())), js.names());
        try {
            d.startParts(c, home, js, o);
            return d;
        } catch (Exception | Error e) {
            d.close();
            throw e;
        }
    }

    private void startParts(Config c, Path home, JobSettings js, Options o) throws Exception {
        Device device = Devices.resolve(js.device());
        ModelRegistry registry = new ModelRegistry(Path.of(js.registry()));
        KafkaSettings kafka = KafkaSettings.from(c);
        if (kafka.useEmbeddedBroker()) {
            broker = EmbeddedKafka.start(null, 0); // a fresh broker per demo: every run starts from the reference
            kafka = kafka.withBootstrapServers(broker.bootstrapServers());
        }
        bootstrapServers = kafka.bootstrapServers();
        TopicAdmin.ensure(kafka).requireOk();
        LoopKafka loopKafka = loopKafka(kafka);

        adminToken = c.get(ServingOptions.ADMIN_TOKEN);
        if (adminToken.isBlank()) {
            byte[] b = new byte[16];
            new SecureRandom().nextBytes(b);
            adminToken = HexFormat.of().formatHex(b);
        }
        ServerSettings ss = ServerSettings.from(c, js.control(), adminToken, o.seed());
        server = PolicyServer.start(registry, ss, device);
        serving = new ServingLoop(server, loopKafka, monitor, c.get(ServingOptions.BATCH), c.get(ServingOptions.INSTANCE_ID))
                .registerMetrics(metrics);
        http = new HttpApi(server, serving.httpSink(), monitor::state, serving::problem, metrics, ServingOptions.httpLimits(c),
                ServingOptions.httpAccess(c));
        serving.start();

        tuner = new FineTuner(registry, device, FineTuneSettings.from(c, js.control(), c.get(ServingOptions.MAX_TOKENS), o.seed()));
        fineTuneService = new FineTuneService(tuner, loopKafka).registerMetrics(metrics).start();
        monitor.showFineTuner(fineTuneService::status);

        // the job's checkpoints of a demo run are its own: every run starts with λ = 0 (or the one-shot λ*)
        StreamExecutionEnvironment env = JobEnvironment.local(js, new Configuration(), true);
        AlignmentJob.kafka(env, js, kafka, false);
        job = env.executeAsync(JOB_NAME);
        JobIdentity identity = JobIdentity.of(JOB_NAME, js);
        JobEnvironment.localPath(js.checkpointDir()).ifPresent(root -> identity.writeTo(root.resolve(job.getJobID().toHexString())));
        flinkUrl = "http://127.0.0.1:" + js.webPort();

        simulator = new TrafficSimulator(loopKafka, o.rate(), o.seed()).start();

        out.printf("Dashboard:        %s%n", http.url());
        out.printf("Flink web UI:     %s  (job %s)%n", flinkUrl, job.getJobID());
        out.printf("Kafka bootstrap:  %s%n", bootstrapServers);
        out.printf("Chat API:         curl -s %sv1/chat/completions -d '{\"messages\":[{\"role\":\"user\",\"content\":\"how do i reset my password\"}]}'%n",
                http.url());
        out.printf("                  (OpenAI-compatible: base URL %sv1, model %s)%n", http.url(), ss.model());
        out.printf("Admin token:      %s  (Authorization: Bearer …; %sadmin/versions)%n", adminToken, http.url());
        out.printf("mode %s, margins %s%s, %.0f prompts/s, seed %d%s%n", js.control().mode(), js.constraints(),
                js.control().relativeToReference().isEmpty() ? "" : " (" + js.control().relativeToReference() + " above the reference's mean)", o.rate(), o.seed(),
                o.duration() == null ? "; Ctrl-C stops" : "; stops after " + o.duration().toSeconds() + " s (Ctrl-C earlier)");
        out.flush();

        if (o.statusEvery() != null) {
            statusThread = new Thread(() -> {
                try {
                    long lastAnswered = 0;
                    long lastT = System.nanoTime();
                    while (!closed) {
                        Thread.sleep(o.statusEvery().toMillis());
                        long answered = serving.answered();
                        long t = System.nanoTime();
                        double rps = (answered - lastAnswered) * 1e9 / Math.max(1, t - lastT);
                        lastAnswered = answered;
                        lastT = t;
                        out.println(monitor.statusLine() + String.format("  | %.0f requests/s", rps) + "  | fine-tuner: "
                                + fineTuneService.status());
                        out.flush();
                    }
                } catch (InterruptedException e) {
                    // stopping
                }
            }, "dualign-demo-status");
            statusThread.setDaemon(true);
            statusThread.start();
        }
        if (o.duration() != null) {
            Thread timer = new Thread(() -> {
                try {
                    Thread.sleep(o.duration().toMillis());
                    finished.countDown();
                } catch (InterruptedException e) {
                    // stopping
                }
            }, "dualign-demo-timer");
            timer.setDaemon(true);
            timer.start();
        }
    }

    /** The loop's monitor: the job's estimates, and {@code truth} beside them where it is known. */
    public static LoopMonitor monitorFor(JobSettings js, GroundTruth truth) {
        // a margin relative to the reference is unknown (NaN) until the controller publishes it
        Map<String, Double> margins = new java.util.LinkedHashMap<>(js.constraints());
        js.control().relativeToReference().forEach(n -> margins.put(n, Double.NaN));
        return new LoopMonitor(js.control().mode(), margins, truth, LoopMonitor.Bands.of(js.confidence(), js.anytimeValid()));
    }

    private static void ensureModels(JobSettings js, Options o, PrintWriter out) {
        ModelRegistry registry = new ModelRegistry(Path.of(js.registry()));
        if (!Bootstrap.isBootstrapped(registry)) {
            out.println("no models in " + registry.root() + ": bootstrapping the synthetic world first (size "
                    + o.size().name().toLowerCase(java.util.Locale.ROOT) + ")");
            out.flush();
            Bootstrap.run(new Bootstrap.Options(registry.root(), 1, o.size(), Devices.resolve(js.device()), false),
                    new ConsoleProgress(System.err, System.console() != null));
        }
        checkScorers(registry, js.names(), "constraints");
    }

    /** A constraint without a scorer, or a registry without models, is a configuration error naming {@code key}. */
    public static void checkScorers(ModelRegistry registry, java.util.List<String> utilities, String key) {
        try {
            ScorerSet.check(registry, utilities);
        } catch (IllegalArgumentException e) {
            throw new dev.dualign.core.config.ConfigException(key, e.getMessage());
        }
    }

    /** The server's and fine-tuner's view of the configured Kafka: client properties and topic names. */
    public static LoopKafka loopKafka(KafkaSettings kafka) {
        return new LoopKafka(kafka.clientProperties(Map.of()), kafka.groupId(), kafka.topicPrefix());
    }

    /** A busy port is a configuration problem with a name, not a stack trace halfway through start-up. */
    private static void requireFreePort(int port, String key) {
        if (port == 0) {
            return;
        }
        try (java.net.ServerSocket s = new java.net.ServerSocket()) {
            s.setReuseAddress(true);
            s.bind(new java.net.InetSocketAddress("127.0.0.1", port));
        } catch (java.io.IOException e) {
            throw new dev.dualign.core.config.ConfigException(key, "port " + port + " is in use (another dualign?); "
                    + "stop that process or set " + key + " to a free port");
        }
    }

    public LoopMonitor monitor() {
        return monitor;
    }

    public PolicyServer server() {
        return server;
    }

    public FineTuneService fineTuner() {
        return fineTuneService;
    }

    public String dashboardUrl() {
        return http.url();
    }

    public String adminToken() {
        return adminToken;
    }

    public String bootstrapServers() {
        return bootstrapServers;
    }

    /** Waits until the duration is over or {@link #close()} is called. */
    public void awaitEnd() throws InterruptedException {
        finished.await();
    }

    public boolean awaitEnd(long timeout, TimeUnit unit) throws InterruptedException {
        return finished.await(timeout, unit);
    }

    public Map<String, Object> summary() {
        Map<String, Object> s = new java.util.LinkedHashMap<>(monitor.summary());
        s.put("scorerModels", scorerModels);
        return s;
    }

    /**
     * The models a job opened now scores with ({@link ScorerSet#pin}: each scorer, and the tokenizer or
     * encoder they share), each with its version, kind and every file's sha256.
     */
    public static Map<String, Object> scorerModels(ModelRegistry registry, java.util.List<String> utilities) {
        Map<String, Object> out = new java.util.LinkedHashMap<>();
        ScorerSet.pin(registry, utilities).forEach((name, v) -> {
            var m = registry.manifest(name, v);
            Map<String, Object> d = new java.util.LinkedHashMap<>();
            d.put("version", v);
            d.put("kind", m.info().getOrDefault("kind", name.equals(dev.dualign.model.registry.ModelNames.TOKENIZER) ? "tokenizer" : "word-model"));
            if (m.info().containsKey("model")) {
                d.put("model", m.info().get("model"));
            }
            if (m.info().containsKey("source")) {
                d.put("source", m.info().get("source"));
            }
            Map<String, String> files = new java.util.LinkedHashMap<>();
            m.files().forEach(f -> files.put(f.path(), "sha256:" + f.sha256()));
            d.put("files", files);
            d.put("manifestSha256", registry.manifestSha256(name, v));
            out.put(name, d);
        });
        return out;
    }

    /** Stops every part, newest first; safe to call twice. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        finished.countDown();
        if (statusThread != null) {
            statusThread.interrupt();
        }
        quietly("traffic simulator", simulator);
        quietly("HTTP server", http); // first: requests in flight are answered while their Kafka sink is open
        quietly("policy server loop", serving);
        quietly("fine-tuner", fineTuneService);
        quietly("fine-tuner", tuner);
        quietly("Flink job", job == null ? null : () -> job.cancel().get(60, TimeUnit.SECONDS));
        quietly("policy server", server);
        quietly("Kafka broker", broker);
    }

    /** Closes {@code part} (if it was started), logging instead of throwing. */
    private static void quietly(String what, AutoCloseable part) {
        if (part == null) {
            return;
        }
        try {
            part.close();
        } catch (Exception e) {
            LOG.warn("stopping the {}: {}", what, e.toString());
        }
    }
}
