package dev.dualign.serving;

import static dev.dualign.serving.GatewayReplies.serve;

import dev.dualign.service.OpsSurface;
import dev.dualign.service.ServiceMetrics;
import dev.dualign.service.WebServer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpServer;
import dev.dualign.core.control.TiltedChoice;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.model.scorer.ScorerSet;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * Gateway mode ({@code server.backend: upstream}): Dualign in front of an existing
 * OpenAI-compatible chatbot. Chat-completion requests go to the upstream as they came, its answer
 * comes back unchanged (status, body, and server-sent events as they arrive), and every answered
 * choice is logged to {@code dualign.responses} under the upstream deployment's version number, with
 * log π from the upstream's token log-probabilities when it returns them. log π_ref is unknown
 * here, so it is left out and the job reports the version's KL as unknown.
 *
 * <p>With enforcement ({@code dual.mode: enforce}) the gateway asks the upstream for K times the
 * choices, scores them with the job's scorers and returns, per choice wanted, one of its K
 * candidates drawn by {@link TiltedChoice} with the live λ; the upstream is the reference here,
 * so its token log-probabilities give log π_ref, and all K are logged as reference samples.
 *
 * <p>This class is the HTTP server and its wiring; the parts are {@link GatewayEndpoints} (the
 * endpoints), {@link UpstreamClient} (the upstream), {@link GatewayEnforcement} (the candidate
 * choice) and {@link AnswerLog} (the answers to Kafka).
 */
public final class Gateway implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * @param host bind address
     * @param port port (0: any free one)
     * @param upstream the upstream's base URL, up to and including {@code /v1}
     * @param apiKey the upstream's bearer token, or null
     * @param version the version number its answers are logged under ({@code server.upstream.version})
     * @param requestTimeoutMs most a streamed answer waits for its first byte
     * @param idleTimeoutMs most a streamed answer may fall silent between two chunks
     * @param totalTimeoutMs most a whole answer may take, streamed or not: an LLM's answer takes
     *     tens of seconds, and a non-streamed one arrives only when it is complete
     */
    public record Settings(String host, int port, URI upstream, String apiKey, long version, long requestTimeoutMs,
            long idleTimeoutMs, long totalTimeoutMs) {

        /** The default whole-answer limit: minutes, as LLM answers need. */
        public static final long DEFAULT_TOTAL_TIMEOUT_MS = 300_000;

        /** First byte and silence bounded by {@code requestTimeoutMs}, the whole answer by the default total. */
        public Settings(String host, int port, URI upstream, String apiKey, long version, long requestTimeoutMs) {
            this(host, port, upstream, apiKey, version, requestTimeoutMs, requestTimeoutMs,
                    Math.max(requestTimeoutMs, DEFAULT_TOTAL_TIMEOUT_MS));
        }

        public Settings {
            if (requestTimeoutMs <= 0 || idleTimeoutMs <= 0 || totalTimeoutMs < requestTimeoutMs) {
                throw new IllegalArgumentException("timeouts must be > 0 and the total at least the first byte's, got "
                        + requestTimeoutMs + ", " + idleTimeoutMs + ", " + totalTimeoutMs + " ms");
            }
            if (version < 0) {
                throw new IllegalArgumentException("version must be ≥ 0, got " + version);
            }
            String s = upstream.toString();
            if (!s.startsWith("http://") && !s.startsWith("https://")) {
                throw new IllegalArgumentException("upstream URL must be http(s), got " + s);
            }
        }

        URI resolve(String path) {
            String base = upstream.toString().replaceAll("/+$", "");
            return URI.create(base + path);
        }
    }

    private final Settings settings;
    private final ServiceMetrics metrics;
    private final Supplier<String> problem;
    private final WebServer web;
    private final HttpServer http;
    /** Enforcement through the upstream, or null. */
    private final GatewayEnforcement enforcement;
    /** The versions swapped into the upstream, or null when it serves its one deployment. */
    private final AdapterSwap swap;
    /** Versions offered, canaried, promoted, rolled back, retired and refused. */
    private final VersionTimeline timeline = new VersionTimeline();
    private final UpstreamClient upstream;
    private final AnswerLog answers;
    /** K more responses for a share of the answered prompts, or null. */
    private volatile GatewaySampler sampler;

    public Gateway(Settings settings, Consumer<List<ResponseEvent>> sink, ServiceMetrics metrics, Supplier<String> problem)
            throws IOException {
        this(settings, sink, metrics, problem, null, null);
    }

    /**
     * @param enforce enforcement at inference, or null
     * @param scorers the job's scorers, for enforcement (closed with the gateway); null without
     */
    public Gateway(Settings settings, Consumer<List<ResponseEvent>> sink, ServiceMetrics metrics, Supplier<String> problem,
            ServerSettings.Enforce enforce, ScorerSet scorers) throws IOException {
        this(settings, sink, metrics, problem, enforce, scorers, WebServer.Limits.api(), WebServer.Access.open());
    }

    /**
     * @param limits how much work the HTTP server takes on ({@code server.http.*})
     * @param access who may call {@code /v1/*}; with clients' keys, a client's {@code Authorization}
     *     is its key to the gateway and is never passed on to the upstream
     */
    public Gateway(Settings settings, Consumer<List<ResponseEvent>> sink, ServiceMetrics metrics, Supplier<String> problem,
            ServerSettings.Enforce enforce, ScorerSet scorers, WebServer.Limits limits, WebServer.Access access) throws IOException {
        this(settings, sink, metrics, problem, enforce, scorers, limits, access, null);
    }

    /**
     * @param adapters how outside versions are swapped into the upstream ({@code server.upstream.adapters}),
     *     or null to serve its one deployment; not with enforcement
     */
    public Gateway(Settings settings, Consumer<List<ResponseEvent>> sink, ServiceMetrics metrics, Supplier<String> problem,
            ServerSettings.Enforce enforce, ScorerSet scorers, WebServer.Limits limits, WebServer.Access access,
            AdapterSettings adapters) throws IOException {
        if ((enforce == null) != (scorers == null)) {
            throw new IllegalArgumentException("enforcement needs its scorers, and scorers are for enforcement");
        }
        if (enforce != null && adapters != null) {
            throw new IllegalArgumentException("enforcement draws its candidates from the upstream's one deployment: "
                    + "it does not canary swapped-in versions");
        }
        AnswerLog answers = new AnswerLog(sink, settings.version());
        UpstreamClient upstream = new UpstreamClient(settings, answers, access.keys() == null);
        this.answers = answers;
        this.upstream = upstream;
        this.enforcement = enforce == null ? null : new GatewayEnforcement(new Enforcer(enforce, scorers, 7), upstream, answers);
        this.settings = settings;
        this.metrics = metrics;
        this.problem = problem;
        timeline.addListener(e -> metrics.inc("dualign_version_events_total",
                "Deployment events by kind (canary, promote, rollback, retire, refused, …)", Map.of("event", e.kind())));
        this.swap = adapters == null ? null : new AdapterSwap(adapters, settings.version(), settings.apiKey(), timeline);
        GatewayEndpoints endpoints = new GatewayEndpoints(upstream, enforcement, metrics, settings.version(), swap);
        this.web = new WebServer(settings.host(), settings.port(), limits, access, "dualign-gateway");
        this.http = web.http();
        http.createContext("/v1/chat/completions", ex -> serve(ex, endpoints::completions));
        http.createContext("/v1/models", ex -> serve(ex, endpoints::models));
        http.createContext("/v1/", ex -> serve(ex, endpoints::proxy)); // every other route, relayed unchanged
        mountOps();
        web.registerMetrics(metrics);
        web.start();
    }

    /** {@code /healthz} (503 with the problem while there is one, the upstream and the route) and {@code /metrics}. */
    private void mountOps() {
        new OpsSurface(metrics, problem).details(() -> swap == null ? Map.of("upstream", settings.upstream().toString())
                : Map.of("upstream", settings.upstream().toString(), "route", swap.route())).mountOn(http);
    }

    public int port() {
        return web.port();
    }

    public String url() {
        return "http://" + settings.host() + ":" + port() + "/";
    }

    /** λ from the job's {@code dualign.dual}; enforcement chooses with it from now on (uniformly before the first). */
    public void onLambda(Map<String, Double> byName) {
        if (enforcement != null) {
            enforcement.onLambda(byName);
        }
    }

    /**
     * A new version from the checkpoint topic: loaded into the upstream on every replica and
     * canaried by model name, or refused with the reason in {@link #timeline()}. Each load is
     * bounded by {@code server.upstream.adapter-timeout-ms}; without adapters every version is refused.
     *
     * @return whether the version answers requests now
     */
    public boolean offer(dev.dualign.core.event.CheckpointEvent c) {
        if (swap == null) {
            timeline.record(c.version(), "refuse", "the gateway swaps no versions into its upstream (server.upstream.adapters: none)");
            return false;
        }
        return swap.offer(c);
    }

    /** The fine-tune requests the job sent (their ids), newest kept; what an outside trainer's answer must name. */
    private final java.util.Set<String> requests = java.util.Collections.synchronizedSet(java.util.Collections.newSetFromMap(
            new java.util.LinkedHashMap<>() {
                @Override
                protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
                    return size() > 100_000;
                }
            }));

    /** A fine-tune request the job sent, from the control topic: an answer to it may be loaded. */
    void requested(String requestId) {
        requests.add(requestId);
    }

    /** Whether the job sent this request (as far as the control topic was read). */
    boolean knowsRequest(String requestId) {
        return requestId != null && requests.contains(requestId);
    }

    /** From now on an outside version is loaded only when it answers a request the job sent ({@link #requested}). */
    void checkRequests() {
        if (swap != null) {
            swap.checkRequests(this::knowsRequest);
        }
    }

    /**
     * Records each outside version it admits in {@code registry} by reference
     * ({@link dev.dualign.model.registry.ModelNames#EXTERNAL_POLICY}: a manifest naming the adapter,
     * its path, checksum and request, no weights), so the registry lists every version the loop
     * served, whoever trained it. A version recorded before (a restart) is left as it is; a registry
     * that cannot be written is logged and the version still served.
     */
    public Gateway recordVersionsIn(dev.dualign.model.registry.ModelRegistry registry) {
        if (swap != null) {
            swap.onAdmitted(c -> recordReference(registry, c));
        }
        return this;
    }

    static void recordReference(dev.dualign.model.registry.ModelRegistry registry, dev.dualign.core.event.CheckpointEvent c) {
        String name = dev.dualign.model.registry.ModelNames.EXTERNAL_POLICY;
        if (registry.versions(name).contains(c.version())) {
            return;
        }
        Map<String, String> info = new java.util.TreeMap<>();
        var ext = c.external();
        if (ext.adapter() != null) {
            info.put("adapter", ext.adapter());
            info.put("path", ext.path());
        }
        if (ext.modelId() != null) {
            info.put("modelId", ext.modelId());
        }
        info.put("sha256", c.sha256());
        if (c.requestId() != null) {
            info.put("requestId", c.requestId());
        }
        info.put("checkpointPath", c.path());
        try {
            registry.publish(name, c.version(), c.parentVersion(), c.lambda(), c.metrics(), info, dir -> { });
        } catch (RuntimeException e) {
            org.slf4j.LoggerFactory.getLogger(Gateway.class).warn("version {}: not recorded in the registry {} ({}); it is served "
                    + "all the same", c.version(), registry.root(), e.toString());
        }
    }

    /** A version of the deployment history that serves no more: its name stays taken. */
    void remember(dev.dualign.core.event.CheckpointEvent c) {
        if (swap != null) {
            swap.remember(c);
        }
    }

    /** The stable version by the deployment history, loaded and serving, or refused. */
    boolean deployStable(dev.dualign.core.event.CheckpointEvent c) {
        return swap != null && swap.deployStable(c);
    }

    /** The base version: the upstream's own deployment ({@code server.upstream.version}). */
    long baseVersion() {
        return settings.version();
    }

    /** The job's decision about the canary, carried out (promote, roll back); others change nothing. */
    public boolean carryOut(dev.dualign.core.event.DeploymentDecision d) {
        return swap != null && swap.carryOut(d);
    }

    /** Where requests go now (the stable version, the canary and its share, by model name). */
    public dev.dualign.core.control.AdapterPlan.Route route() {
        return swap == null ? new dev.dualign.core.control.AdapterPlan.Route(settings.version(), null, -1, null, 0) : swap.route();
    }

    /** What happened to each version offered: the refusals with their reasons among them. */
    public List<PolicyServer.VersionEvent> timeline() {
        return timeline.events();
    }

    /**
     * Draws the policy dataset's K responses per prompt on live traffic: for {@code fraction} of the
     * answered prompts, {@code k} more responses from the version that answered, within
     * {@code share} of wall time ({@link GatewaySampler}). Not under enforcement, which logs its K
     * candidates already.
     */
    public Gateway sampleForDatasets(double fraction, int k, double share) {
        if (enforcement != null) {
            throw new IllegalStateException("under enforcement every answer's K candidates are logged already");
        }
        GatewaySampler s = new GatewaySampler(upstream, answers, fraction, k, share);
        s.register(metrics);
        this.sampler = s;
        return this;
    }

    @Override
    public void close() {
        web.close();
        GatewaySampler s = sampler;
        if (s != null) {
            s.close();
        }
        if (swap != null) {
            swap.close();
        }
        if (enforcement != null) {
            enforcement.close();
        }
    }
}
