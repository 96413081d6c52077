package dev.dualign.serving;

import dev.dualign.core.config.Config;
import dev.dualign.core.config.ConfigException;
import dev.dualign.core.control.ControlSettings;

/**
 * The policy server's resolved settings. It decides no canary itself (the job does), so it needs
 * no margins. Canary and reference sampling are fractions of prompts;
 * {@code requestTimeoutMs} bounds how long any HTTP request may wait, during a swap or otherwise.
 *
 * @param host HTTP bind address (loopback by default)
 * @param port HTTP port (0: any free port)
 * @param adminToken bearer token for the admin endpoints; blank disables them (every call gets 401)
 * @param canaryFraction share of prompts a new version answers before it is promoted (0: deploy at once)
 * @param canaryHoldMs how long an undecided canary keeps its slot against a newer version ({@link
 *     dev.dualign.core.control.CanaryHold}; 0: a newer version replaces it at once)
 * @param referenceFraction share of prompts also answered by the reference policy for the one-shot dual
 * @param referenceSamples samples per such prompt
 * @param maxTokens longest response, in words
 * @param temperature sampling temperature
 * @param requestTimeoutMs most an HTTP request waits for its answer before a 503
 * @param initialVersion policy version served at start (0: the reference)
 * @param seed sampling seed
 * @param batch most responses in one batched generation (HTTP requests are batched dynamically up to it)
 * @param model the model id the OpenAI-compatible API lists and accepts
 * @param enforce enforcement at inference ({@code dual.mode: enforce}), or null
 * @param referenceShare the share of generation time reference samples may take, off the users'
 *     request path ({@link dev.dualign.core.control.ReferenceBudget})
 * @param referenceTarget prompts the one-shot solve needs: reference sampling stops once this many
 *     are sampled ({@code dual.one-shot.prompts}), or when λ(0) arrives, whichever is first
 * @param maxAdapters most runtime adapters loaded at once ({@link Adapters}; 0: none)
 */
public record ServerSettings(String host, int port, String adminToken, double canaryFraction, long canaryHoldMs,
        double referenceFraction,
        int referenceSamples, int maxTokens, double temperature, long requestTimeoutMs, long initialVersion,
        long seed, int batch, String model, Enforce enforce, double referenceShare, int referenceTarget, int maxAdapters) {

    /**
     * The default share of generation time for reference samples ({@code server.reference-share}). A
     * second of it costs users more than a second on a small machine (the sampler holds the model on
     * one thread while the other cores wait): at 0.1 users kept 0.77–0.89 of their throughput, at 0.05
     * 0.82–0.92 (tools/serving-checks/cold-start.sh, docs/benchmarks.md).
     */
    public static final double DEFAULT_REFERENCE_SHARE = 0.05;

    /** The default of {@code server.max-adapters}: a canary and a stable version, with room for two more. */
    public static final int DEFAULT_MAX_ADAPTERS = 4;

    /** Settings with the default number of runtime adapters. */
    public ServerSettings(String host, int port, String adminToken, double canaryFraction, long canaryHoldMs, double referenceFraction,
            int referenceSamples, int maxTokens, double temperature, long requestTimeoutMs, long initialVersion, long seed, int batch,
            String model, Enforce enforce, double referenceShare, int referenceTarget) {
        this(host, port, adminToken, canaryFraction, canaryHoldMs, referenceFraction, referenceSamples, maxTokens, temperature,
                requestTimeoutMs, initialVersion, seed, batch, model, enforce, referenceShare, referenceTarget, DEFAULT_MAX_ADAPTERS);
    }

    /** Settings whose reference sampling stops only when λ(0) arrives, at the default share. */
    public ServerSettings(String host, int port, String adminToken, double canaryFraction, long canaryHoldMs, double referenceFraction,
            int referenceSamples, int maxTokens, double temperature, long requestTimeoutMs, long initialVersion, long seed, int batch,
            String model, Enforce enforce) {
        this(host, port, adminToken, canaryFraction, canaryHoldMs, referenceFraction, referenceSamples, maxTokens, temperature,
                requestTimeoutMs, initialVersion, seed, batch, model, enforce, DEFAULT_REFERENCE_SHARE, Integer.MAX_VALUE);
    }

    /**
     * Enforcement at inference: each response is chosen among {@code candidates} drawn from the
     * serving version, scored by the job's scorers, by {@link dev.dualign.core.control.TiltedChoice}.
     *
     * @param candidates K ≥ 2 responses drawn per answer
     * @param beta the KL weight β ({@code dual.beta}, as the job's solver uses it)
     * @param constraints the constraints' utilities, in λ's order
     */
    public record Enforce(int candidates, double beta, java.util.List<String> constraints) {
        public Enforce {
            if (candidates < 2) {
                throw new IllegalArgumentException("enforcement needs at least 2 candidates, got " + candidates);
            }
            if (!(beta > 0)) {
                throw new IllegalArgumentException("β must be > 0, got " + beta);
            }
            constraints = java.util.List.copyOf(constraints);
        }
    }


    public ServerSettings {
        if (!(canaryFraction >= 0 && canaryFraction < 1)) {
            throw new IllegalArgumentException("canary fraction must be in [0, 1), got " + canaryFraction);
        }
        if (canaryHoldMs < 0) {
            throw new IllegalArgumentException("canary hold must be ≥ 0 ms, got " + canaryHoldMs);
        }
        if (!(referenceFraction >= 0 && referenceFraction <= 1)) {
            throw new IllegalArgumentException("reference fraction must be in [0, 1], got " + referenceFraction);
        }
        if (batch < 1) {
            throw new IllegalArgumentException("batch must be ≥ 1, got " + batch);
        }
        if (model == null || model.isBlank()) {
            throw new IllegalArgumentException("model id must not be blank");
        }
        if (!(referenceShare > 0 && referenceShare <= 1)) {
            throw new IllegalArgumentException("reference share must be in (0, 1], got " + referenceShare);
        }
        if (referenceTarget < 1) {
            throw new IllegalArgumentException("reference target must be ≥ 1 prompt, got " + referenceTarget);
        }
        if (maxAdapters < 0) {
            throw new IllegalArgumentException("max adapters must be ≥ 0, got " + maxAdapters);
        }
    }

    /** The model id of the built-in policy, whatever version serves. */
    public static final String DEFAULT_MODEL = "dualign";

    /** Settings for tests and embedding: loopback, any port, the given token and canary fraction, no hold. */
    public static ServerSettings local(String token, double canaryFraction) {
        return new ServerSettings("127.0.0.1", 0, token, canaryFraction, 0, 0.0, 4, 40, 1.0, 30_000, 0, 1, 64, DEFAULT_MODEL, null);
    }

    /** The same settings with another canary hold. */
    public ServerSettings withCanaryHoldMs(long ms) {
        return new ServerSettings(host, port, adminToken, canaryFraction, ms, referenceFraction, referenceSamples, maxTokens,
                temperature, requestTimeoutMs, initialVersion, seed, batch, model, enforce, referenceShare, referenceTarget, maxAdapters);
    }

    /** The same settings with enforcement at inference (no reference sampling: the candidates are the reference samples). */
    public ServerSettings withEnforce(Enforce e) {
        return new ServerSettings(host, port, adminToken, canaryFraction, canaryHoldMs, e == null ? referenceFraction : 0,
                referenceSamples, maxTokens, temperature, requestTimeoutMs, initialVersion, seed, batch, model, e, referenceShare,
                referenceTarget, maxAdapters);
    }

    /** The same settings with another bound on runtime adapters. */
    public ServerSettings withMaxAdapters(int max) {
        return new ServerSettings(host, port, adminToken, canaryFraction, canaryHoldMs, referenceFraction, referenceSamples, maxTokens,
                temperature, requestTimeoutMs, initialVersion, seed, batch, model, enforce, referenceShare, referenceTarget, max);
    }

    /**
     * Reads the server's keys ({@link ServingOptions}), checked against the controller's: a bad one
     * fails naming its key.
     */
    public static ServerSettings from(Config c, ControlSettings control, String token, long seed) {
        long hold = c.get(ServingOptions.CANARY_HOLD_MS);
        if (control.mode().drawsReferenceSamples()
                && c.get(ServingOptions.REFERENCE_SAMPLES) < control.oneShotSamplesPerPrompt()) {
            // the one-shot solve would wait for samples that never come, and λ(0) would fall back to init
            throw new ConfigException(ServingOptions.REFERENCE_SAMPLES.key(), "must be at least "
                    + "dual.one-shot.samples-per-prompt (" + control.oneShotSamplesPerPrompt() + "), got "
                    + c.get(ServingOptions.REFERENCE_SAMPLES));
        }
        if (hold >= control.requestTimeoutMs()) {
            // a version waiting behind the canary would let the controller's fine-tune request time out
            throw new ConfigException(ServingOptions.CANARY_HOLD_MS.key(), "must be less than "
                    + "dual.request-timeout-ms (" + control.requestTimeoutMs() + "), got " + hold);
        }
        return new ServerSettings(c.get(ServingOptions.HOST), c.get(ServingOptions.PORT), token, c.get(ServingOptions.CANARY_FRACTION),
                hold, c.get(ServingOptions.REFERENCE_FRACTION), c.get(ServingOptions.REFERENCE_SAMPLES), c.get(ServingOptions.MAX_TOKENS),
                c.get(ServingOptions.TEMPERATURE), c.get(ServingOptions.REQUEST_TIMEOUT_MS), c.get(ServingOptions.INITIAL_VERSION),
                seed, c.get(ServingOptions.BATCH), c.get(ServingOptions.MODEL), null, c.get(ServingOptions.REFERENCE_SHARE),
                control.oneShotPrompts(), c.get(ServingOptions.MAX_ADAPTERS)).withEnforce(enforce(c, control));
    }

    /**
     * Enforcement at inference in {@code enforce} mode, else null. Each candidate set is one
     * prompt's reference samples for the job's solve, so it must be at least
     * {@code dual.one-shot.samples-per-prompt} large, or no set would ever be complete.
     */
    public static Enforce enforce(Config c, ControlSettings control) {
        if (!control.mode().enforcesAtInference()) {
            return null;
        }
        int k = c.get(ServingOptions.ENFORCE_CANDIDATES);
        if (k < control.oneShotSamplesPerPrompt()) {
            throw new ConfigException(ServingOptions.ENFORCE_CANDIDATES.key(), "must be at least "
                    + "dual.one-shot.samples-per-prompt (" + control.oneShotSamplesPerPrompt() + "), got " + k
                    + ": each prompt's candidates are its reference samples; set both to the same K");
        }
        return new Enforce(k, control.beta(), control.names());
    }
}
