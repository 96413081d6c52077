package dev.dualign.cli;

import ai.djl.Device;
import dev.dualign.app.Demo;
import dev.dualign.connectors.KafkaSettings;
import dev.dualign.connectors.TopicAdmin;
import dev.dualign.core.config.Config;
import dev.dualign.core.config.ConfigException;
import dev.dualign.model.Devices;
import dev.dualign.serving.ServingOptions;
import dev.dualign.finetune.FineTuneService;
import dev.dualign.finetune.FineTuner;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.serving.Gateway;
import dev.dualign.serving.ResponseSink;
import dev.dualign.serving.ServerSettings;
import dev.dualign.model.scorer.ScorerSet;
import dev.dualign.serving.GroundTruth;
import dev.dualign.serving.HttpApi;
import dev.dualign.service.LoopKafka;
import dev.dualign.serving.LoopMonitor;
import dev.dualign.serving.PolicyServer;
import dev.dualign.serving.ServingLoop;
import dev.dualign.streaming.JobSettings;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Production serving against a real Kafka cluster: the policy server (HTTP API, Kafka mode, hot
 * swap, canary, admin endpoints, dashboard) and/or the fine-tuner, next to a job started with
 * {@code flink run}. Unlike the demo nothing is embedded and nothing is simulated.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {"Run the policy server (with the dashboard) and/or the fine-tuner against a Kafka cluster.",
            "Needs kafka.bootstrap.servers; the alignment job runs on Flink (flink run, see README)."})
final class ServeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ConfigFile config;

    /** Which part of the loop this process runs. */
    enum Role { SERVER, FINETUNER, BOTH }

    /** Whether the gateway does not enforce (enforcement logs every answer's K candidates already; sampling is refused there). */
    private static boolean enforceNot(Config c, JobSettings js) {
        if (js.control().mode().enforcesAtInference()) {
            if (c.get(ServingOptions.UPSTREAM_SAMPLE_FRACTION) > 0) {
                throw new ConfigException(ServingOptions.UPSTREAM_SAMPLE_FRACTION.key(), "must be 0 under dual.mode: enforce: "
                        + "the gateway logs every answer's candidates already");
            }
            return false;
        }
        return true;
    }

    @Option(names = "--role", defaultValue = "both", description = "server | finetuner | both (default: ${DEFAULT-VALUE}).")
    Role role;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        Path home = Path.of(System.getProperty("dualign.home", "."));
        Config c = config.load();
        out.println(ConfigFile.describe(c));
        out.flush();
        JobSettings js = JobSettings.from(c, home);
        KafkaSettings kafka = KafkaSettings.from(c);
        if (kafka.useEmbeddedBroker()) {
            throw new ConfigException("kafka.bootstrap.servers", "serve talks to a Kafka cluster: set it (bin/dualign demo "
                    + "runs everything embedded)");
        }
        TopicAdmin.requireReachable(kafka, KafkaCommand.REACH_TIMEOUT); // exit 5 naming the broker, before anything starts
        ModelRegistry registry = new ModelRegistry(Path.of(js.registry()));
        boolean gateway = c.get(ServingOptions.BACKEND).equals("upstream");
        Gateway.Settings gs = gateway && role != Role.FINETUNER ? gatewaySettings(c, System.getenv()) : null;
        dev.dualign.serving.AdapterSettings adapters = gs == null ? null : adapterSettings(c, gs, js.control());
        dev.dualign.service.WebServer.Access access = access(c, gs);
        if (!(gateway && role == Role.SERVER) || js.control().mode().enforcesAtInference()) {
            // a gateway alone scores nothing, unless it enforces
            Demo.checkScorers(registry, js.names(), "scoring.registry");
        }
        TopicAdmin.ensure(kafka).requireOk();
        LoopKafka lk = Demo.loopKafka(kafka);
        Device device = Devices.resolve(js.device());
        String token = c.get(ServingOptions.ADMIN_TOKEN);

        PolicyServer server = null;
        LoopMonitor monitor = null;
        ServingLoop loop = null;
        HttpApi http = null;
        dev.dualign.service.OpsSurface.Endpoint metricsOnly = null;
        dev.dualign.service.ServiceMetrics metrics = new dev.dualign.service.ServiceMetrics();
        FineTuner tuner = null;
        FineTuneService service = null;
        Gateway gw = null;
        ResponseSink gwSink = null;
        dev.dualign.serving.LambdaFollower follower = null;
        dev.dualign.serving.GatewayFollower gwVersions = null;
        if (gs != null) {
            gwSink = new ResponseSink(lk);
            ResponseSink sink = gwSink;
            ServerSettings.Enforce enforce = ServerSettings.enforce(c, js.control());
            if (enforce != null) { // enforcement through the upstream: the job's scorers, the live λ
                java.util.concurrent.atomic.AtomicReference<dev.dualign.serving.LambdaFollower> lambdas =
                        new java.util.concurrent.atomic.AtomicReference<>();
                gw = new Gateway(gs, sink, metrics, () -> {
                    String p = sink.problem();
                    var f = lambdas.get();
                    return p != null || f == null ? p : f.problem();
                }, enforce, ScorerSet.open(registry, js.names(), device), ServingOptions.httpLimits(c), access);
                follower = new dev.dualign.serving.LambdaFollower(lk, gw::onLambda);
                lambdas.set(follower);
                out.printf("Enforcement:      %d candidates per answer from the upstream, λ from %s%n", enforce.candidates(), lk.dual());
            } else if (adapters != null) { // versions swapped into the upstream: followed on the checkpoint and decision topics
                java.util.concurrent.atomic.AtomicReference<dev.dualign.serving.GatewayFollower> versions =
                        new java.util.concurrent.atomic.AtomicReference<>();
                gw = new Gateway(gs, sink, metrics, () -> {
                    String p = sink.problem();
                    var f = versions.get();
                    return p != null || f == null ? p : f.problem();
                }, null, null, ServingOptions.httpLimits(c), access, adapters);
                if (java.nio.file.Files.isDirectory(registry.root())) {
                    gw.recordVersionsIn(registry); // outside versions by reference, beside the built-in ones
                }
                gwVersions = new dev.dualign.serving.GatewayFollower(lk, gw);
                versions.set(gwVersions);
                out.printf("Adapters:         %s on %d replica(s), new versions from %s, decisions from %s%n",
                        c.get(ServingOptions.UPSTREAM_ADAPTERS), adapters.replicas().size(), lk.checkpoints(), lk.decisions());
            } else {
                gw = new Gateway(gs, sink, metrics, sink::problem, null, null, ServingOptions.httpLimits(c), access);
            }
            out.printf("Gateway:          %sv1/chat/completions → %s  (answers logged to %s as version %d)%n", gw.url(),
                    gs.upstream(), lk.responses(), gs.version());
            double sampleFraction = c.get(ServingOptions.UPSTREAM_SAMPLE_FRACTION);
            if (sampleFraction > 0 && enforceNot(c, js)) {
                gw.sampleForDatasets(sampleFraction, c.get(ServingOptions.UPSTREAM_SAMPLES), c.get(ServingOptions.REFERENCE_SHARE));
                out.printf("Dataset samples:  %d more responses for %.0f%% of answered prompts, within %.0f%% of the time%n",
                        c.get(ServingOptions.UPSTREAM_SAMPLES), 100 * sampleFraction, 100 * c.get(ServingOptions.REFERENCE_SHARE));
            }
        } else if (role != Role.FINETUNER) {
            monitor = Demo.monitorFor(js, GroundTruth.NONE); // a real chatbot: no oracle
            server = PolicyServer.start(registry, ServerSettings.from(c, js.control(), token, 1), device);
            loop = new ServingLoop(server, lk, monitor, c.get(ServingOptions.BATCH), c.get(ServingOptions.INSTANCE_ID))
                    .registerMetrics(metrics);
            // HTTP first: /healthz says 503 while the deployment and λ load, and chat is refused until they have
            http = new HttpApi(server, loop.httpSink(), monitor::state, loop::problem, metrics, ServingOptions.httpLimits(c), access);
            loop.start();
            out.printf("Policy server:    %sv1/chat  (Kafka: %s → %s)%n", http.url(), lk.prompts(), lk.responses());
            out.printf("Dashboard:        %s%n", http.url());
            out.println(token.isBlank() ? "Admin endpoints:  disabled (set server.admin-token)"
                    : "Admin endpoints:  " + http.url() + "admin/versions (Authorization: Bearer <server.admin-token>)");
        }
        if (role != Role.SERVER) {
            tuner = new FineTuner(registry, device, dev.dualign.finetune.FineTuneSettings.from(c, js.control(), c.get(ServingOptions.MAX_TOKENS), 1));
            service = new FineTuneService(tuner, lk).registerMetrics(metrics);
            if (c.get(dev.dualign.finetune.FineTuneOptions.ANSWER).equals("adapter")) {
                service.answeringAsAdapters(c.get(dev.dualign.finetune.FineTuneOptions.ADAPTER_PREFIX));
            }
            service.start();
            out.printf("Fine-tuner:       %s → registry %s → %s%n", lk.control(), registry.root(), lk.checkpoints());
            if (monitor != null) {
                monitor.showFineTuner(service::status);
            }
            if (http == null && gw == null) { // alone: its own /metrics and /healthz on the server's address
                FineTuneService fine = service;
                metricsOnly = new dev.dualign.service.OpsSurface(metrics, fine::problem).serve(c.get(ServingOptions.HOST),
                        c.get(ServingOptions.PORT));
                out.printf("Metrics:          http://%s:%d/metrics%n", c.get(ServingOptions.HOST), metricsOnly.port());
            }
        }
        out.println("Ctrl-C stops");
        out.flush();

        CountDownLatch stopped = new CountDownLatch(1);
        ServingLoop l = loop;
        HttpApi h = http;
        PolicyServer s = server;
        FineTuneService fs = service;
        FineTuner t = tuner;
        dev.dualign.service.OpsSurface.Endpoint me = metricsOnly;
        Gateway g = gw;
        ResponseSink gsink = gwSink;
        dev.dualign.serving.LambdaFollower lf = follower;
        dev.dualign.serving.GatewayFollower gv = gwVersions;
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            // HTTP first, while the answers' Kafka sinks are still open (the policy server answers what is in flight;
            // the gateway still cuts its requests short)
            if (h != null) {
                h.close();
            }
            if (g != null) {
                g.close();
                gsink.close();
            }
            if (lf != null) {
                lf.close();
            }
            if (gv != null) {
                gv.close();
            }
            if (l != null) {
                l.close(); // flushes the HTTP answers' sinks
            }
            if (me != null) {
                me.close();
            }
            if (s != null) {
                s.close();
            }
            if (fs != null) {
                fs.close();
            }
            if (t != null) {
                t.close();
            }
            stopped.countDown();
        }, "dualign-serve-shutdown"));
        stopped.await();
        return 0;
    }

    /** Gateway mode's settings; a missing URL or an API-key variable that is not set fails here, naming the key. */
    /**
     * Who may call {@code /v1/*}. A gateway that holds the upstream's key must ask its own clients
     * for theirs: otherwise anyone who reaches it chats on that key.
     */
    static dev.dualign.service.WebServer.Access access(Config c, Gateway.Settings gateway) {
        dev.dualign.service.WebServer.Access access = ServingOptions.httpAccess(c);
        if (gateway != null && gateway.apiKey() != null && access.keys() == null) {
            throw new ConfigException(ServingOptions.CLIENT_KEYS_FILE.key(), "the gateway holds the upstream's key ("
                    + ServingOptions.UPSTREAM_API_KEY_ENV.key() + "), so it must ask its own clients for theirs: set it to a file "
                    + "of hashed client keys (bin/dualign keys add NAME --file FILE), or drop the upstream key so each client's own "
                    + "key is passed on");
        }
        return access;
    }

    /**
     * How the gateway swaps versions into its upstream ({@code server.upstream.adapters}), or null;
     * a canary without room for two adapters, or swapping under enforcement, fails here naming the key.
     */
    static dev.dualign.serving.AdapterSettings adapterSettings(Config c, Gateway.Settings gs,
            dev.dualign.core.control.ControlSettings control) {
        dev.dualign.serving.AdapterSettings a = dev.dualign.serving.AdapterSettings.from(c, gs.upstream());
        if (a != null && control.mode().enforcesAtInference()) {
            throw new ConfigException(ServingOptions.UPSTREAM_ADAPTERS.key(), "dual.mode enforce draws each answer's candidates "
                    + "from the upstream's one deployment and fine-tunes nothing: set it to none, or choose a dual.mode that fine-tunes");
        }
        return a;
    }

    static Gateway.Settings gatewaySettings(Config c, Map<String, String> env) {
        String url = c.get(ServingOptions.UPSTREAM_URL).trim();
        if (url.isEmpty()) {
            throw new ConfigException(ServingOptions.UPSTREAM_URL.key(), "server.backend is upstream: set the chatbot's base URL, "
                    + "e.g. http://chatbot:8000/v1");
        }
        java.net.URI uri;
        try {
            uri = java.net.URI.create(url);
        } catch (IllegalArgumentException e) {
            throw new ConfigException(ServingOptions.UPSTREAM_URL.key(), "not a URL: " + url);
        }
        if (!"http".equals(uri.getScheme()) && !"https".equals(uri.getScheme())) {
            throw new ConfigException(ServingOptions.UPSTREAM_URL.key(), "must be an http or https URL, got " + url);
        }
        String var = c.get(ServingOptions.UPSTREAM_API_KEY_ENV).trim();
        String key = null;
        if (!var.isEmpty()) {
            key = env.get(var);
            if (key == null || key.isBlank()) {
                throw new ConfigException(ServingOptions.UPSTREAM_API_KEY_ENV.key(), "names the environment variable " + var
                        + ", which is not set");
            }
        }
        if (c.get(ServingOptions.UPSTREAM_TOTAL_TIMEOUT_MS) < c.get(ServingOptions.UPSTREAM_FIRST_BYTE_TIMEOUT_MS)) {
            throw new ConfigException(ServingOptions.UPSTREAM_TOTAL_TIMEOUT_MS.key(), "must be at least "
                    + ServingOptions.UPSTREAM_FIRST_BYTE_TIMEOUT_MS.key() + " (" + c.get(ServingOptions.UPSTREAM_FIRST_BYTE_TIMEOUT_MS) + ")");
        }
        return new Gateway.Settings(c.get(ServingOptions.HOST), c.get(ServingOptions.PORT), uri, key,
                c.get(ServingOptions.UPSTREAM_VERSION), c.get(ServingOptions.UPSTREAM_FIRST_BYTE_TIMEOUT_MS),
                c.get(ServingOptions.UPSTREAM_IDLE_TIMEOUT_MS), c.get(ServingOptions.UPSTREAM_TOTAL_TIMEOUT_MS));
    }
}
