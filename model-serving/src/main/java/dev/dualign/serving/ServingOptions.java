package dev.dualign.serving;

import dev.dualign.core.config.ConfigOption;
import java.util.List;

/** Configuration keys of the policy server and the gateway ({@code server.*}). */
public final class ServingOptions {
    public static final ConfigOption<String> HOST = ConfigOption.string("server.host", "127.0.0.1")
            .describe("HTTP bind address of the policy server and dashboard (loopback by default).");
    public static final ConfigOption<Integer> PORT = ConfigOption.integer("server.port", 8080)
            .check(v -> v >= 0 && v < 65536, "a port in [0, 65535]").describe("HTTP port (0: any free port).");
    public static final ConfigOption<String> ADMIN_TOKEN = ConfigOption.string("server.admin-token", "")
            .describe("Bearer token for /admin/*; empty: the demo makes one up and prints it, `serve` disables admin.");
    public static final ConfigOption<Double> CANARY_FRACTION = ConfigOption.number("server.canary-fraction", 0.5)
            .check(v -> v >= 0 && v < 1, "in [0, 1)").describe("Share of prompts a new version answers until promoted (0: no canary).");
    public static final ConfigOption<Long> CANARY_HOLD_MS = ConfigOption.longInteger("server.canary-hold-ms", 120_000)
            .check(v -> v >= 0, "a number ≥ 0").describe("How long an undecided canary keeps its slot against a newer version "
                    + "(0: replaced at once); the newer one waits, then deploys when the canary is decided or the hold ends.");
    public static final ConfigOption<Double> REFERENCE_FRACTION = ConfigOption.number("server.reference-fraction", 0.3)
            .check(v -> v >= 0 && v <= 1, "in [0, 1]").describe("Share of prompts also answered by the reference for the one-shot dual.");
    public static final ConfigOption<Integer> REFERENCE_SAMPLES = ConfigOption.integer("server.reference-samples", 16)
            .check(v -> v >= 1, "an integer ≥ 1").describe("Reference samples per such prompt.");
    public static final ConfigOption<Integer> MAX_TOKENS = ConfigOption.integer("server.max-tokens", 40)
            .check(v -> v >= 1, "an integer ≥ 1").describe("Longest response, in words.");
    public static final ConfigOption<Double> TEMPERATURE = ConfigOption.number("server.temperature", 1.0)
            .check(v -> v > 0, "a number > 0").describe("Sampling temperature.");
    public static final ConfigOption<Long> REQUEST_TIMEOUT_MS = ConfigOption.longInteger("server.request-timeout-ms", 10_000)
            .check(v -> v > 0, "a number > 0").describe("Most an HTTP request waits, swaps included, before a 503.");
    public static final ConfigOption<Long> INITIAL_VERSION = ConfigOption.longInteger("server.initial-version", 0)
            .check(v -> v >= 0, "a version ≥ 0").describe("Policy version served at start (0: the reference).");
    public static final ConfigOption<String> INSTANCE_ID = ConfigOption.string("server.instance-id", "")
            .describe("This server's stable name, distinct per live instance (empty: the host name). Its Kafka "
                    + "transactional id: a restarted instance fences the crashed one and aborts its open transaction.");
    public static final ConfigOption<Integer> BATCH = ConfigOption.integer("server.batch", 64)
            .check(v -> v >= 1, "an integer ≥ 1").describe("Most responses in one batched generation: Kafka prompts, and "
                    + "HTTP requests that arrive while a generation runs (dynamic batching).");
    public static final ConfigOption<Integer> ENFORCE_CANDIDATES = ConfigOption.integer("server.enforce.candidates", 4)
            .check(v -> v >= 2, "an integer ≥ 2").describe("dual.mode enforce: candidate responses drawn per answer, one "
                    + "served with probability ∝ exp((r + λ·g)/β); generation costs K times as much.");
    public static final ConfigOption<String> BACKEND = ConfigOption.choice("server.backend", "builtin", "builtin", "upstream")
            .describe("builtin: Dualign's own policy answers; upstream: serve forwards chat completions to server.upstream.url "
                    + "and logs the answers (gateway mode, HTTP only).");
    public static final ConfigOption<String> UPSTREAM_URL = ConfigOption.string("server.upstream.url", "")
            .describe("Gateway mode: the OpenAI-compatible chatbot's base URL, up to and including /v1.");
    public static final ConfigOption<String> UPSTREAM_API_KEY_ENV = ConfigOption.string("server.upstream.api-key-env", "")
            .describe("Gateway mode: the environment variable holding the upstream's API key (empty: the client's own Authorization header is forwarded).");
    public static final ConfigOption<Long> UPSTREAM_VERSION = ConfigOption.longInteger("server.upstream.version", 1)
            .check(v -> v >= 0, "a version ≥ 0").describe("Gateway mode: the policy version the upstream's answers are logged "
                    + "under; give each upstream deployment its own, so the job estimates each apart.");
    public static final ConfigOption<Long> UPSTREAM_FIRST_BYTE_TIMEOUT_MS = ConfigOption.longInteger(
            "server.upstream.first-byte-timeout-ms", 10_000).check(v -> v > 0, "a number > 0")
            .describe("Gateway mode: most a streamed answer waits for its first byte before a 504.");
    public static final ConfigOption<Long> UPSTREAM_IDLE_TIMEOUT_MS = ConfigOption.longInteger("server.upstream.idle-timeout-ms",
            10_000).check(v -> v > 0, "a number > 0")
            .describe("Gateway mode: most a streamed answer may fall silent between chunks before it is cut off.");
    public static final ConfigOption<Long> UPSTREAM_TOTAL_TIMEOUT_MS = ConfigOption.longInteger("server.upstream.total-timeout-ms",
            Gateway.Settings.DEFAULT_TOTAL_TIMEOUT_MS).check(v -> v > 0, "a number > 0")
            .describe("Gateway mode: most a whole answer may take, streamed or not (a plain LLM answer arrives only when complete).");
    public static final ConfigOption<String> UPSTREAM_ADAPTERS = ConfigOption.choice("server.upstream.adapters", "none", "none",
            "vllm", "sglang", "static").describe("Gateway mode: how a trainer's new version reaches the upstream. vllm | sglang: "
                    + "loaded at run time over its adapter API and canaried by model name; static: each version is a model the "
                    + "upstream already serves (server.upstream.static-models); none: outside versions are refused.");
    public static final ConfigOption<String> UPSTREAM_STATIC_MODELS = ConfigOption.string("server.upstream.static-models", "")
            .describe("Gateway mode, adapters static: VERSION=MODEL pairs, comma-separated, the upstream model serving each version "
                    + "(a checkpoint may name its model id instead).");
    public static final ConfigOption<String> UPSTREAM_REPLICAS = ConfigOption.string("server.upstream.replicas", "")
            .describe("Gateway mode: each upstream replica's base URL (up to and including /v1), comma-separated; an adapter is "
                    + "loaded on every one before any request is routed to it (empty: server.upstream.url is the one replica).");
    public static final ConfigOption<Double> UPSTREAM_SAMPLE_FRACTION = ConfigOption.number("server.upstream.sample-fraction", 0.0)
            .check(v -> v >= 0 && v <= 1, "in [0, 1]").describe("Gateway mode: share of answered prompts for which the upstream is "
                    + "asked for server.upstream.samples more responses (the policy dataset's K per prompt), off the request path "
                    + "within server.reference-share of the time; 0: none.");
    public static final ConfigOption<Integer> UPSTREAM_SAMPLES = ConfigOption.integer("server.upstream.samples", 4)
            .check(v -> v >= 1 && v <= 64, "an integer in [1, 64]").describe("Gateway mode: responses asked for (the upstream's n) "
                    + "for each prompt picked by server.upstream.sample-fraction.");
    public static final ConfigOption<Integer> UPSTREAM_MAX_LORAS = ConfigOption.integer("server.upstream.max-loras", 1)
            .check(v -> v >= 1, "an integer ≥ 1").describe("Gateway mode: the upstream's --max-loras, most adapters loaded at "
                    + "once; a canary needs 2 (the stable version's and the canary's).");
    public static final ConfigOption<Long> UPSTREAM_ADAPTER_TIMEOUT_MS = ConfigOption.longInteger(
            "server.upstream.adapter-timeout-ms", 60_000).check(v -> v > 0, "a number > 0")
            .describe("Gateway mode: most one adapter load or unload may take; a load past it refuses the version.");
    public static final ConfigOption<String> MODEL = ConfigOption.string("server.model", "dualign")
            .check(v -> !v.isBlank(), "a non-empty model id")
            .describe("Model id of the OpenAI-compatible API (/v1/models); requests naming another model get 404.");
    public static final ConfigOption<Integer> MAX_ADAPTERS = ConfigOption.integer("server.max-adapters",
            ServerSettings.DEFAULT_MAX_ADAPTERS).check(v -> v >= 0 && v <= 64, "an integer in [0, 64]")
            .describe("Runtime adapters (policy versions loaded by name with /v1/load_lora_adapter, as vLLM's --max-loras) "
                    + "loaded at once; each is a whole copy of the policy in memory. 0: none.");
    public static final ConfigOption<Integer> HTTP_MAX_ACTIVE = ConfigOption.integer("server.http.max-active", 128)
            .check(v -> v >= 1, "≥ 1")
            .describe("API requests handled at once; each holds a thread while it waits for its answer (health, metrics and admin are outside it).");
    public static final ConfigOption<Integer> HTTP_MAX_WAITING = ConfigOption.integer("server.http.max-waiting", 256)
            .check(v -> v >= 0, "≥ 0").describe("API requests that may wait for a slot; more get 503 with Retry-After at once.");
    public static final ConfigOption<Long> HTTP_MAX_WAIT_MS = ConfigOption.longInteger("server.http.max-wait-ms", 500)
            .check(v -> v >= 0, "≥ 0").describe("Most a request waits for a slot before it gets 503 with Retry-After.");
    public static final ConfigOption<Long> HTTP_IDLE_TIMEOUT_MS = ConfigOption.longInteger("server.http.idle-timeout-ms", 10_000)
            .check(v -> v >= 100, "≥ 100")
            .describe("A client that sends nothing or reads nothing for this long is disconnected (not applied while an answer is being made).");
    public static final ConfigOption<Long> HTTP_MIN_BODY_RATE = ConfigOption.longInteger("server.http.min-body-bytes-per-second", 1024)
            .check(v -> v >= 0, "≥ 0 (0: off)").describe("A request body arriving slower than this, after 2 s, is cut (0: off).");

    public static final ConfigOption<Double> REFERENCE_SHARE = ConfigOption.number("server.reference-share",
            ServerSettings.DEFAULT_REFERENCE_SHARE).check(v -> v > 0 && v <= 1, "in (0, 1]")
            .describe("Share of generation time the reference samples for the one-shot solve may take, off the users' request path.");
    public static final ConfigOption<String> CLIENT_KEYS_FILE = ConfigOption.string("server.client-keys-file", "")
            .describe("File of the API clients' hashed keys (NAME sha256:HEX [REQUESTS_PER_MINUTE] per line; bin/dualign keys add); "
                    + "empty: /v1/* asks for no key.");
    public static final ConfigOption<String> CORS_ORIGINS = ConfigOption.string("server.cors-origins", "")
            .describe("Browser origins that may call /v1/* from a web page, comma-separated (* for any); empty: no CORS.");

    public static final List<ConfigOption<?>> ALL = List.of(HOST, PORT, ADMIN_TOKEN, CANARY_FRACTION, CANARY_HOLD_MS, REFERENCE_FRACTION,
            REFERENCE_SAMPLES, MAX_TOKENS, TEMPERATURE, REQUEST_TIMEOUT_MS, INITIAL_VERSION, INSTANCE_ID, BATCH, MODEL, ENFORCE_CANDIDATES, BACKEND,
            UPSTREAM_URL, UPSTREAM_API_KEY_ENV, UPSTREAM_VERSION, UPSTREAM_FIRST_BYTE_TIMEOUT_MS, UPSTREAM_IDLE_TIMEOUT_MS,
            UPSTREAM_TOTAL_TIMEOUT_MS, UPSTREAM_ADAPTERS, UPSTREAM_STATIC_MODELS, UPSTREAM_REPLICAS, UPSTREAM_MAX_LORAS, UPSTREAM_SAMPLE_FRACTION, UPSTREAM_SAMPLES,
            UPSTREAM_ADAPTER_TIMEOUT_MS, HTTP_MAX_ACTIVE, HTTP_MAX_WAITING, HTTP_MAX_WAIT_MS, HTTP_IDLE_TIMEOUT_MS, HTTP_MIN_BODY_RATE,
            CLIENT_KEYS_FILE, CORS_ORIGINS, REFERENCE_SHARE, MAX_ADAPTERS);

    /**
     * Who may call the API: the clients' keys ({@code server.client-keys-file}, read now, so a bad
     * file fails at start naming the key) and the CORS origins.
     */
    public static dev.dualign.service.WebServer.Access httpAccess(dev.dualign.core.config.Config c) {
        String file = c.get(CLIENT_KEYS_FILE).trim();
        dev.dualign.service.ClientKeys keys = null;
        if (!file.isEmpty()) {
            try {
                keys = dev.dualign.service.ClientKeys.load(java.nio.file.Path.of(file));
            } catch (RuntimeException e) {
                throw new dev.dualign.core.config.ConfigException(CLIENT_KEYS_FILE.key(), e.getMessage());
            }
            if (keys.size() == 0) {
                throw new dev.dualign.core.config.ConfigException(CLIENT_KEYS_FILE.key(), file + " lists no client: every request "
                        + "would get 401 (add one with bin/dualign keys add, or leave the key empty to ask for none)");
            }
        }
        List<String> origins = java.util.Arrays.stream(c.get(CORS_ORIGINS).split(",")).map(String::trim).filter(o -> !o.isEmpty()).toList();
        for (String o : origins) {
            if (!o.equals("*") && !o.matches("https?://[^/\\s]+")) {
                throw new dev.dualign.core.config.ConfigException(CORS_ORIGINS.key(), "an origin is scheme://host[:port] with no path, or *; got " + o);
            }
        }
        return new dev.dualign.service.WebServer.Access(keys, origins);
    }

    /** How much work the policy server's or gateway's HTTP server takes on ({@code server.http.*}). */
    public static dev.dualign.service.WebServer.Limits httpLimits(dev.dualign.core.config.Config c) {
        return new dev.dualign.service.WebServer.Limits(c.get(HTTP_MAX_ACTIVE), c.get(HTTP_MAX_WAITING),
                java.time.Duration.ofMillis(c.get(HTTP_MAX_WAIT_MS)), java.time.Duration.ofMillis(c.get(HTTP_IDLE_TIMEOUT_MS)),
                c.get(HTTP_MIN_BODY_RATE));
    }

    private ServingOptions() {}
}
