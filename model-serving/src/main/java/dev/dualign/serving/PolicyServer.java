package dev.dualign.serving;

import ai.djl.Device;
import dev.dualign.core.event.DeploymentDecision;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.model.lm.PolicyLm;
import dev.dualign.model.registry.ModelNames;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.model.scorer.ScorerSet;
import dev.dualign.model.text.WordTokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Answers prompts with the deployed policy version and swaps versions without dropping a request.
 * The deployment (stable version, optional canary and its share of traffic) is one immutable value
 * behind an atomic reference: a request reads it once, takes a reference on the version it routes
 * to and finishes on it, while a swap loads, verifies and warms the new version first and then
 * replaces the value in one step. Requests never take the lock that serialises swaps. A version
 * that fails verification is refused and the deployment stays as it was. Each model is used by one
 * thread at a time ({@link Generator#generateOwned}); concurrent requests for one version take turns.
 *
 * <p>This class is the facade; the work is done by: {@link VersionRouter} (which version answers a
 * request), {@link Generator} (producing answers), {@link EnforcedAnswers} (enforcement at
 * inference), {@link ReferenceSampler} (reference samples), {@link Deployments} (deploy, promote,
 * rollback), {@link CanarySlot} (waiting behind a canary, the job's decisions), {@link VersionLoader}
 * (load, verify, warm up), {@link VersionTimeline} (the version history), {@link AdminView} and
 * {@link Adapters} (versions loaded by name beside the deployment).
 */
public final class PolicyServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PolicyServer.class);

    /**
     * A prompt to answer.
     *
     * @param id the server's id for it, which estimates group by
     * @param text the prompt
     * @param label the client's own id for the request, carried as {@link ResponseEvent#clientId}, or null
     */
    public record Prompt(String id, String text, String label, List<dev.dualign.core.event.ChatMessage> messages) {
        public Prompt(String id, String text) {
            this(id, text, null, null);
        }

        public Prompt(String id, String text, String label) {
            this(id, text, label, null);
        }
    }

    /**
     * One response to draw: its prompt, the key that routes it (canary share and reference
     * sampling hash it), and how to sample. HTTP requests get a key the server makes, so no client
     * picks its version; Kafka prompts use their id, so a redelivered prompt meets the same version.
     * An ask with an {@code adapter} is answered by that adapter's version, not the deployment's.
     */
    public record Ask(Prompt prompt, String routeKey, double temperature, double topP, int maxTokens, Adapters.Lease adapter) {
        public Ask(Prompt prompt, String routeKey, double temperature, double topP, int maxTokens) {
            this(prompt, routeKey, temperature, topP, maxTokens, null);
        }
    }

    /**
     * A drawn response: the event that goes to Kafka, and what an API shows of it.
     *
     * @param words the response's words, in order
     * @param tokenLogprobs log π of each word (temperature 1)
     * @param stopped whether the policy ended it (false: cut at its length)
     * @param routeKey the key its ask was routed by
     * @param candidates under enforcement, every candidate it was chosen from, as reference samples
     *     for the job's solve (they go to Kafka with it); else empty
     */
    public record Answer(ResponseEvent event, List<String> words, double[] tokenLogprobs, boolean stopped, String routeKey,
            List<ResponseEvent> candidates) {
        public Answer(ResponseEvent event, List<String> words, double[] tokenLogprobs, boolean stopped, String routeKey) {
            this(event, words, tokenLogprobs, stopped, routeKey, List.of());
        }

        /** What goes to Kafka: the answer, then its candidates. */
        public List<ResponseEvent> events() {
            if (candidates.isEmpty()) {
                return List.of(event);
            }
            List<ResponseEvent> all = new ArrayList<>(candidates.size() + 1);
            all.add(event);
            all.addAll(candidates);
            return all;
        }
    }

    /** The stable version, the canary (or −1) and its share. */
    public record Deployment(long stable, long canary, double canaryFraction) {}

    /** One entry of the version timeline: deploy, canary, promote, rollback, retire or refuse. */
    public record VersionEvent(long timestamp, long version, String kind, String detail) {}

    private final WordTokenizer tokenizer;
    private final ServerSettings settings;
    private final ServedPolicy reference;
    private final VersionTimeline timeline = new VersionTimeline();
    private final Generator generator;
    private final VersionLoader loader;
    private final Deployments deployments;
    private final CanarySlot canarySlot;
    private final VersionRouter router;
    private final ReferenceSampler referenceSampler;
    private final AdminView admin;
    /** Under enforcement, its scorers, λ and draws; else null. */
    private final Enforcer enforcer;
    /** Under enforcement, the answering path that uses it; else null. */
    private final EnforcedAnswers enforced;

    private final ModelRegistry registry;
    private final Adapters adapters;

    private PolicyServer(ModelRegistry registry, WordTokenizer tokenizer, Device device, ServerSettings settings,
            ServedPolicy reference, Enforcer enforcer) {
        this.registry = registry;
        this.tokenizer = tokenizer;
        this.settings = settings;
        this.reference = reference;
        this.enforcer = enforcer;
        this.generator = new Generator(tokenizer, settings, reference);
        this.loader = new VersionLoader(registry, device, tokenizer, reference, generator, timeline);
        this.deployments = new Deployments(reference, settings, loader, timeline);
        this.canarySlot = new CanarySlot(deployments, settings, timeline);
        this.router = new VersionRouter(deployments, generator, settings);
        this.referenceSampler = new ReferenceSampler(generator, reference, settings);
        this.admin = new AdminView(registry, deployments, loader, generator, timeline);
        this.enforced = enforcer == null ? null : new EnforcedAnswers(generator, reference, settings, enforcer);
        this.adapters = new Adapters(registry, loader, settings, timeline);
    }

    /**
     * Pins in the registry, as {@code holder}, the versions this server serves, waits to serve or
     * may roll back to, and keeps the pin current on every deployment event: the fine-tuner's
     * pruning never deletes them, so this server finds them again after a restart.
     */
    public void pinAs(String holder) {
        VersionPins pin = new VersionPins(registry, holder, deployments, canarySlot);
        pin.run();
        timeline.addListener(e -> pin.run());
        pinRefresh = pin;
    }

    private volatile Runnable pinRefresh;

    /** Loads the tokenizer, the reference policy (version 0) and the initial version from the registry. */
    public static PolicyServer start(ModelRegistry registry, ServerSettings settings, Device device) {
        long tokVersion = registry.latest(ModelNames.TOKENIZER)
                .orElseThrow(() -> new IllegalStateException("no tokenizer in " + registry.root() + ": run bootstrap first"));
        WordTokenizer tok = WordTokenizer.load(registry.open(ModelNames.TOKENIZER, tokVersion).resolve("tokenizer.json"));
        PolicyLm ref = PolicyLm.load(registry.open(ModelNames.POLICY, 0), device);
        ServedPolicy reference = new ServedPolicy(0, ref, registry.manifestSha256(ModelNames.POLICY, 0), true);
        ScorerSet scorers = null;
        if (settings.enforce() != null) {
            try {
                // the job's scorers, newest versions, exactly as it loads them
                scorers = ScorerSet.open(registry, settings.enforce().constraints(), device);
            } catch (RuntimeException e) {
                ref.close();
                tok.close();
                throw e;
            }
        }
        PolicyServer server = new PolicyServer(registry, tok, device, settings, reference,
                scorers == null ? null : new Enforcer(settings.enforce(), scorers, settings.seed() * 31 + 7));
        server.timeline.record(0, "deploy", "reference policy");
        if (settings.initialVersion() != 0) {
            if (!server.deploy(settings.initialVersion(), null, false)) {
                LOG.warn("initial version {} refused ({}); serving the reference", settings.initialVersion(), server.lastRefusal());
            }
        }
        return server;
    }

    public ServerSettings settings() {
        return settings;
    }

    public WordTokenizer tokenizer() {
        return tokenizer;
    }

    public void addListener(Consumer<VersionEvent> l) {
        timeline.addListener(l);
    }

    public List<VersionEvent> timeline() {
        return timeline.events();
    }

    public Deployment deployment() {
        return deployments.deployment();
    }

    /** The runtime adapters (vLLM's load/unload API). */
    public Adapters adapters() {
        return adapters;
    }

    /** Why the last version was refused (empty if none was). */
    public String lastRefusal() {
        return loader.lastRefusal();
    }

    /** Responses answered per version since start. */
    public Map<Long, Long> answeredPerVersion() {
        return generator.answeredPerVersion();
    }

    /** The longest prompt, in words, that leaves room for a response. */
    public int maxPromptWords() {
        return generator.maxPromptWords();
    }

    /** Checks a prompt; the message says what is wrong, or null when it can be answered. */
    public String problem(String text) {
        return generator.problem(text);
    }

    /**
     * Answers every prompt with the version it routes to (one batched generation per version) and
     * returns the responses in order, each tagged with the version that produced it.
     *
     * @throws IllegalArgumentException if a prompt cannot be answered (check {@link #problem} first)
     */
    public List<ResponseEvent> answer(List<Prompt> prompts) {
        List<Ask> asks = new ArrayList<>(prompts.size());
        for (Prompt p : prompts) {
            asks.add(new Ask(p, p.id(), settings.temperature(), 1.0, settings.maxTokens()));
        }
        return answerAll(asks, null).stream().map(Answer::event).toList();
    }

    /**
     * Answers every ask with the version its route key leads to ({@link VersionRouter}), or under
     * enforcement by {@link EnforcedAnswers}, each with its own sampling settings, in one batched
     * generation per version; {@code listener} hears each word as it is drawn, by the ask's index.
     *
     * @throws IllegalArgumentException if a prompt cannot be answered or an ask wants more than
     *     {@code server.max-tokens} words
     */
    public List<Answer> answerAll(List<Ask> asks, PolicyLm.TokenListener listener) {
        return enforced == null ? router.answer(asks, listener) : enforced.answer(asks);
    }

    /**
     * λ from the job's {@code dualign.dual}: enforcement chooses with it from now on. Constraints
     * it does not name keep their multiplier (0 before the first).
     */
    public void onLambda(Map<String, Double> lambda) {
        this.lambda = Map.copyOf(lambda);
        if (enforcer != null) {
            enforcer.onLambda(lambda);
        }
    }

    private volatile Map<String, Double> lambda = Map.of();

    /** The newest λ the job published (restored from {@code dualign.dual} on start), by constraint; empty before any. */
    public Map<String, Double> lambda() {
        return lambda;
    }

    /** The λ enforcement chooses with, by constraint; empty before the job's first (or without enforcement). */
    public Map<String, Double> enforcedLambda() {
        return enforcer == null ? Map.of() : enforcer.lambda();
    }

    /** λ(0) is set: reference sampling stops ({@link ReferenceSampler#noLongerNeeded}). */
    public void referenceNoLongerNeeded() {
        referenceSampler.noLongerNeeded();
    }

    private volatile String held;

    /**
     * Refuses users' requests (503) until {@link #release}: a restarted server first loads what it
     * served (its deployment, λ) and must not answer with the reference meanwhile.
     */
    public void hold(String why) {
        held = why;
    }

    public void release() {
        held = null;
    }

    /** Why users' requests are refused for now, or null when they are answered. */
    public String held() {
        return held;
    }

    /**
     * Queues a prompt the reference fraction picked for its reference samples, made in the
     * background within {@code server.reference-share} ({@link ReferenceSampler}).
     */
    public void offerForReference(Prompt p) {
        referenceSampler.offer(p);
    }

    /**
     * Where the background reference samples go ({@code dualign.responses}), and whether that sink is
     * behind, so samples are dropped before users' answers; the first call wins.
     */
    public void sendReferenceSamplesTo(java.util.function.Consumer<List<ResponseEvent>> sink, java.util.function.BooleanSupplier behind) {
        if (!referenceSinkSet) {
            referenceSinkSet = true;
            referenceSampler.sendTo(sink, behind);
        }
    }

    private volatile boolean referenceSinkSet;

    /** Reference samples made, and whether sampling still runs; the sampler itself for the server's metrics. */
    public long referenceSamplesMade() {
        return referenceSampler.samplesMade();
    }

    ReferenceSampler referenceSampler() {
        return referenceSampler;
    }

    public boolean referenceSampling() {
        return referenceSampler.wanted();
    }

    public boolean sampledForReference(String promptId) {
        return referenceSampler.sampled(promptId);
    }

    /** A word of the vocabulary, as streamed to clients. */
    public String word(int token) {
        return tokenizer.word(token);
    }

    /** A newly announced version: the canary now, or waiting behind an undecided one ({@link CanarySlot#offer}). */
    public boolean offer(long version, String manifestSha256) {
        return canarySlot.offer(version, manifestSha256);
    }

    /** Deploys the waiting version once the canary is decided or its hold is over ({@link CanarySlot#tick}). */
    public long tick() {
        Runnable refresh = pinRefresh;
        if (refresh != null) {
            refresh.run(); // a no-op unless the pin is a day old
        }
        return canarySlot.tick();
    }

    /** The version waiting behind the canary, or −1. */
    public long waitingVersion() {
        return canarySlot.waitingVersion();
    }

    /** Loads, verifies, warms up and swaps in a version, or refuses it ({@link Deployments#deploy}). */
    public boolean deploy(long version, String manifestSha256, boolean direct) {
        return deployments.deploy(version, manifestSha256, direct);
    }

    /** Makes the canary the stable version; {@code version} must be the canary, or −1 for whichever it is. */
    public boolean promote(long version, String reason) {
        return deployments.promote(version, reason);
    }

    /** Drops the canary, else returns to the previous stable version ({@link Deployments#rollback}). */
    public long rollback(String reason) {
        return deployments.rollback(reason);
    }

    /** Carries out the job's decision about a canary ({@link CanarySlot#carryOut}); whether the deployment changed. */
    public boolean carryOut(DeploymentDecision d) {
        return canarySlot.carryOut(d);
    }

    /** The admin view: deployment, versions in the registry with their λ, and the timeline. */
    public Map<String, Object> describe() {
        return admin.describe();
    }

    @Override
    public void close() {
        referenceSampler.close(); // before the reference model it generates with
        synchronized (deployments.swapLock) {
            deployments.releaseAll();
            adapters.close();
            synchronized (reference.lm) { // after a generation still running on it
                reference.lm.close();
            }
            tokenizer.close();
            if (enforcer != null) {
                enforcer.close();
            }
        }
    }
}
