package dev.dualign.serving;

import ai.djl.Device;
import dev.dualign.core.event.DeploymentDecision;
import dev.dualign.core.event.Estimate;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.model.lm.Generation;
import dev.dualign.model.lm.PolicyLm;
import dev.dualign.model.lm.Sampling;
import dev.dualign.model.registry.ModelNames;
import dev.dualign.model.scorer.Scorer;
import dev.dualign.model.scorer.ScorerSet;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.model.text.WordTokenizer;
import java.util.ArrayDeque;
import dev.dualign.core.control.CanaryHold;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
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
 * thread at a time ({@link #generateOwned}); concurrent requests for one version take turns.
 */
public final class PolicyServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PolicyServer.class);

    /** A prompt to answer; the id decides canary routing, so one prompt always meets one version. */
    public record Prompt(String id, String text) {}

    /**
     * One response to draw: its prompt, the key that routes it (canary share and reference
     * sampling hash it), and how to sample. HTTP requests get a key the server makes, so no client
     * picks its version; Kafka prompts use their id, so a redelivered prompt meets the same version.
     */
    public record Ask(Prompt prompt, String routeKey, double temperature, double topP, int maxTokens) {}

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

    private record Live(ServedPolicy stable, ServedPolicy canary, double fraction) {}

    private final ModelRegistry registry;
    private final WordTokenizer tokenizer;
    private final Device device;
    private final ServerSettings settings;
    private final ServedPolicy reference;
    private final AtomicReference<Live> live;
    private final Object swapLock = new Object();
    private final Deque<Long> previousStable = new ArrayDeque<>();
    /** Versions the job rolled back here: never promoted later by a decision naming them. Guarded by swapLock. */
    private final java.util.Set<Long> rolledBackByJob = new java.util.HashSet<>();
    private final List<VersionEvent> timeline = new CopyOnWriteArrayList<>();
    private final List<Consumer<VersionEvent>> listeners = new CopyOnWriteArrayList<>();
    private final Map<Long, AtomicLong> answered = new ConcurrentHashMap<>();
    private final AtomicLong sequence = new AtomicLong();
    private volatile String lastRefusal = "";
    private volatile boolean referenceWanted = true;
    /** When the current canary took the slot (server clock), or −1; guarded by swapLock. */
    private long canarySince = -1;
    /** The newest version waiting behind an undecided canary ({@link CanaryHold}), or null; guarded by swapLock. */
    private Waiting waiting;

    private record Waiting(long version, String manifestSha256) {}

    /** Under enforcement, its scorers, λ and draws; else null. */
    private final Enforcer enforcer;

    private PolicyServer(ModelRegistry registry, WordTokenizer tokenizer, Device device, ServerSettings settings,
            ServedPolicy reference, Live initial, Enforcer enforcer) {
        this.registry = registry;
        this.tokenizer = tokenizer;
        this.device = device;
        this.settings = settings;
        this.reference = reference;
        this.live = new AtomicReference<>(initial);
        this.enforcer = enforcer;
    }

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
        PolicyServer server = new PolicyServer(registry, tok, device, settings, reference, new Live(reference, null, 0),
                scorers == null ? null : new Enforcer(settings.enforce(), scorers, settings.seed() * 31 + 7));
        server.record(0, "deploy", "reference policy");
        if (settings.initialVersion() != 0) {
            if (!server.deploy(settings.initialVersion(), null, false)) {
                LOG.warn("initial version {} refused ({}); serving the reference", settings.initialVersion(), server.lastRefusal);
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
        listeners.add(l);
    }

    public List<VersionEvent> timeline() {
        return List.copyOf(timeline);
    }

    public Deployment deployment() {
        Live l = live.get();
        return new Deployment(l.stable.version, l.canary == null ? -1 : l.canary.version, l.fraction);
    }

    /** Why the last version was refused (empty if none was). */
    public String lastRefusal() {
        return lastRefusal;
    }

    /** Responses answered per version since start. */
    public Map<Long, Long> answeredPerVersion() {
        Map<Long, Long> m = new java.util.TreeMap<>();
        answered.forEach((v, n) -> m.put(v, n.get()));
        return m;
    }

    /** The longest prompt, in words, that leaves room for a response. */
    public int maxPromptWords() {
        return reference.lm.config().maxLen() - 3 - settings.maxTokens();
    }

    /** Checks a prompt; the message says what is wrong, or null when it can be answered. */
    public String problem(String text) {
        return text == null || text.isBlank() ? "prompt is empty" : problem(tokenizer.encode(text));
    }

    private String problem(int[] ids) {
        if (ids.length == 0) {
            return "prompt is empty";
        }
        if (ids.length > maxPromptWords()) {
            return "prompt has " + ids.length + " words; at most " + maxPromptWords() + " fit";
        }
        return null;
    }

    /** Each prompt's word ids, encoded once for both the check and the generation. */
    private int[][] encode(List<Prompt> prompts) {
        int[][] ids = new int[prompts.size()][];
        for (int i = 0; i < ids.length; i++) {
            String text = prompts.get(i).text();
            if (text == null || text.isBlank()) {
                throw new IllegalArgumentException("prompt is empty");
            }
            ids[i] = tokenizer.encode(text);
            String why = problem(ids[i]);
            if (why != null) {
                throw new IllegalArgumentException(why);
            }
        }
        return ids;
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
     * Answers every ask with the version its route key leads to, each with its own sampling
     * settings, in one batched generation per version; {@code listener} hears each word as it is
     * drawn, by the ask's index.
     *
     * @throws IllegalArgumentException if a prompt cannot be answered or an ask wants more than
     *     {@code server.max-tokens} words
     */
    public List<Answer> answerAll(List<Ask> asks, PolicyLm.TokenListener listener) {
        return enforcer == null ? answerPlain(asks, listener) : answerEnforced(asks);
    }

    /**
     * λ from the job's {@code dualign.dual}: enforcement chooses with it from now on. Constraints
     * it does not name keep their multiplier (0 before the first).
     */
    public void onLambda(Map<String, Double> lambda) {
        if (enforcer != null) {
            enforcer.onLambda(lambda);
        }
    }

    /** The λ enforcement chooses with, by constraint; empty before the job's first (or without enforcement). */
    public Map<String, Double> enforcedLambda() {
        return enforcer == null ? Map.of() : enforcer.lambda();
    }

    /**
     * Enforcement at inference: K candidates per ask from the version it routes to, scored by the
     * job's scorers, one served by {@link TiltedChoice} with the live λ. Before the job's first λ
     * the pick is uniform: the reference served as it is, never a reward-greedy choice no margin
     * has checked. The served response's log π is log π_ref + log(K·p): its KL estimate errs high.
     * Words are not streamed as drawn (the choice comes after all K): streaming sends them at the end.
     */
    private List<Answer> answerEnforced(List<Ask> asks) {
        int k = settings.enforce().candidates();
        // each answer's candidates are one prompt's reference samples for the job's solve: asks that
        // share a prompt (OpenAI's n) get one set each
        Map<String, Integer> shared = new java.util.HashMap<>();
        asks.forEach(a -> shared.merge(a.prompt().id(), 1, Integer::sum));
        Map<String, Integer> seen = new java.util.HashMap<>();
        List<String> setIds = new ArrayList<>(asks.size());
        for (Ask a : asks) {
            String id = a.prompt().id();
            setIds.add(shared.get(id) == 1 ? id : id + "-" + seen.merge(id, 1, Integer::sum));
        }
        // a generation holds at most server.batch rows: K per answer
        int per = Math.max(1, settings.batch() / k);
        List<Answer> out = new ArrayList<>(asks.size());
        for (int from = 0; from < asks.size(); from += per) {
            int to = Math.min(asks.size(), from + per);
            out.addAll(enforce(asks.subList(from, to), setIds.subList(from, to), k));
        }
        return out;
    }

    /** One generation's worth of enforced answers: K reference candidates each, scored, one chosen. */
    private List<Answer> enforce(List<Ask> asks, List<String> setIds, int k) {
        List<Ask> expanded = new ArrayList<>(asks.size() * k);
        List<Prompt> prompts = new ArrayList<>(asks.size() * k);
        List<Integer> all = new ArrayList<>(asks.size() * k);
        for (int j = 0; j < asks.size(); j++) {
            Ask a = asks.get(j);
            Prompt set = new Prompt(setIds.get(j), a.prompt().text());
            for (int i = 0; i < k; i++) {
                all.add(expanded.size());
                expanded.add(new Ask(set, a.routeKey(), a.temperature(), a.topP(), a.maxTokens()));
                prompts.add(set);
            }
        }
        for (Ask a : asks) {
            if (a.maxTokens() < 1 || a.maxTokens() > settings.maxTokens()) {
                throw new IllegalArgumentException("max tokens must be in [1, " + settings.maxTokens() + "], got " + a.maxTokens());
            }
        }
        // the candidates come from the reference, whatever is deployed: the tilt is of π_ref
        Answer[] cands = new Answer[expanded.size()];
        generate(reference, expanded, encode(prompts), all, cands, ResponseEvent.SOURCE_REFERENCE, null);
        List<Scorer.PromptResponse> pairs = new ArrayList<>(cands.length);
        for (Answer c : cands) {
            pairs.add(new Scorer.PromptResponse(c.event().prompt(), c.event().response()));
        }
        Map<String, double[]> scores = enforcer.score(pairs);
        long now = System.currentTimeMillis();
        List<Answer> out = new ArrayList<>(asks.size());
        for (int j = 0; j < asks.size(); j++) {
            int from = j * k;
            Enforcer.Choice chosen = enforcer.choose(scores, from);
            Answer c = cands[from + chosen.index()];
            ResponseEvent e = c.event();
            // log π_λ(y) = log π_ref(y) + log(K·p), clamped at 0 (a log-probability): the clamp lowers
            // the KL estimate for the rare answer the reference itself finds near certain
            ResponseEvent served = new ResponseEvent(UUID.randomUUID().toString(), e.promptId(), e.prompt(), e.response(),
                    0, Math.min(0, e.refLogprob() + chosen.logRatio()), e.refLogprob(), ResponseEvent.SOURCE_POLICY,
                    now);
            List<ResponseEvent> set = new ArrayList<>(k);
            for (int i = 0; i < k; i++) {
                set.add(cands[from + i].event());
            }
            out.add(new Answer(served, c.words(), c.tokenLogprobs(), c.stopped(), asks.get(j).routeKey(), set));
        }
        return out;
    }

    private List<Answer> answerPlain(List<Ask> asks, PolicyLm.TokenListener listener) {
        List<Prompt> prompts = new ArrayList<>(asks.size());
        for (Ask a : asks) {
            if (a.maxTokens() < 1 || a.maxTokens() > settings.maxTokens()) {
                throw new IllegalArgumentException("max tokens must be in [1, " + settings.maxTokens() + "], got " + a.maxTokens());
            }
            prompts.add(a.prompt());
        }
        int[][] ids = encode(prompts);
        Live l;
        ServedPolicy stable;
        ServedPolicy canary;
        while (true) {
            l = live.get();
            stable = l.stable;
            canary = l.canary;
            if (stable.acquire()) {
                if (canary == null || canary.acquire()) {
                    break;
                }
                stable.release();
            }
            // raced with a swap that released these versions: the new deployment is already visible
        }
        try {
            List<Integer> toCanary = new ArrayList<>();
            List<Integer> toStable = new ArrayList<>();
            for (int i = 0; i < asks.size(); i++) {
                (canary != null && routesToCanary(asks.get(i).routeKey(), l.fraction) ? toCanary : toStable).add(i);
            }
            Answer[] out = new Answer[asks.size()];
            generate(stable, asks, ids, toStable, out, ResponseEvent.SOURCE_POLICY, listener);
            if (canary != null) {
                generate(canary, asks, ids, toCanary, out, ResponseEvent.SOURCE_POLICY, listener);
            }
            return List.of(out);
        } finally {
            stable.release();
            if (canary != null) {
                canary.release();
            }
        }
    }

    /** {@code samples} responses of the reference policy to each prompt, tagged {@code source=reference}. */
    public List<ResponseEvent> referenceSamples(List<Prompt> prompts, int samples) {
        int[][] once = encode(prompts);
        List<Ask> repeated = new ArrayList<>();
        int[][] ids = new int[prompts.size() * samples][];
        List<Integer> idx = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            for (int k = 0; k < samples; k++) {
                ids[repeated.size()] = once[i];
                idx.add(repeated.size());
                repeated.add(new Ask(prompts.get(i), prompts.get(i).id(), settings.temperature(), 1.0, settings.maxTokens()));
            }
        }
        Answer[] out = new Answer[repeated.size()];
        generate(reference, repeated, ids, idx, out, ResponseEvent.SOURCE_REFERENCE, null);
        return java.util.Arrays.stream(out).map(Answer::event).toList();
    }

    /**
     * λ(0) is set: the reference samples (for the one-shot solve, and a relative margin) have done
     * their work, so no more are generated. Called on the first {@code DualUpdate} seen.
     */
    public void referenceNoLongerNeeded() {
        if (referenceWanted) {
            referenceWanted = false;
            LOG.info("λ(0) is set: reference sampling stops");
        }
    }

    /** Whether this prompt is one of the {@code referenceFraction} also answered by the reference (until λ(0) is set). */
    public boolean sampledForReference(String promptId) {
        return referenceWanted && unit(promptId, 0x5DEECE66DL) < settings.referenceFraction();
    }

    private boolean routesToCanary(String promptId, double fraction) {
        return unit(promptId, 0x9E3779B97F4A7C15L) < fraction;
    }

    private double unit(String id, long salt) {
        long h = (id.hashCode() * 0xC2B2AE3D27D4EB4FL) ^ salt ^ settings.seed();
        h ^= h >>> 33;
        h *= 0xff51afd7ed558ccdL;
        h ^= h >>> 33;
        return (h >>> 11) * 0x1.0p-53;
    }

    private void generate(ServedPolicy p, List<Ask> asks, int[][] promptIds, List<Integer> idx, Answer[] out,
            String source, PolicyLm.TokenListener listener) {
        if (idx.isEmpty()) {
            return;
        }
        List<int[]> ids = new ArrayList<>(idx.size());
        List<Sampling> rows = new ArrayList<>(idx.size());
        for (int i : idx) {
            ids.add(promptIds[i]);
            Ask a = asks.get(i);
            rows.add(new Sampling(a.temperature(), a.topP(), a.maxTokens(), 0));
        }
        long seed = settings.seed() * 1_000_003L + sequence.incrementAndGet();
        PolicyLm.TokenListener mapped = listener == null ? null : (row, tok, lp) -> {
            if (tok != WordTokenizer.PAD) { // as decode(): a pad is no word
                listener.token(idx.get(row), tok, lp);
            }
        };
        List<Generation> gens = generateOwned(p.lm, ids, rows, seed, mapped);
        long now = System.currentTimeMillis();
        for (int k = 0; k < idx.size(); k++) {
            Prompt pr = asks.get(idx.get(k)).prompt();
            Generation g = gens.get(k);
            List<String> words = new ArrayList<>(g.tokens().length);
            double[] lps = new double[g.tokens().length];
            for (int t = 0; t < g.tokens().length; t++) {
                if (g.tokens()[t] != WordTokenizer.PAD) { // as decode(): a pad is no word
                    lps[words.size()] = g.tokenLogprobs()[t];
                    words.add(tokenizer.word(g.tokens()[t]));
                }
            }
            ResponseEvent e = new ResponseEvent(UUID.randomUUID().toString(), pr.id(), pr.text(), tokenizer.decode(g.tokens()),
                    p.version, Math.min(0, g.logprob()), Math.min(0, g.refLogprob()), source, now);
            out[idx.get(k)] = new Answer(e, List.copyOf(words), java.util.Arrays.copyOf(lps, words.size()), g.stopped(),
                    asks.get(idx.get(k)).routeKey());
        }
        answered.computeIfAbsent(p.version, v -> new AtomicLong()).addAndGet(idx.size());
    }

    /** A word of the vocabulary, as streamed to clients. */
    public String word(int token) {
        return tokenizer.word(token);
    }

    /**
     * A newly fine-tuned version, as the checkpoint topic announces it: deployed as the canary at
     * once when the slot is free or its canary has had {@code canaryHoldMs}; else it waits (the
     * newest waiting one only) until {@link #tick} finds the canary decided or its hold over.
     *
     * @return whether the version was deployed now (false: waiting, or refused)
     */
    public boolean offer(long version, String manifestSha256) {
        synchronized (swapLock) {
            Live cur = live.get();
            boolean busy = settings.canaryFraction() > 0 && cur.canary != null && cur.canary.version != version
                    && cur.stable.version != version;
            if (busy && !CanaryHold.mayReplace(canarySince, System.currentTimeMillis(), settings.canaryHoldMs())) {
                if (waiting != null && waiting.version() != version) {
                    record(waiting.version(), "retire", "superseded by version " + version + " while waiting");
                }
                waiting = new Waiting(version, manifestSha256);
                record(version, "wait", String.format("behind canary %d until it is decided, at most %.0f s", cur.canary.version,
                        (CanaryHold.dueAt(canarySince, settings.canaryHoldMs()) - System.currentTimeMillis()) / 1000.0));
                return false;
            }
            if (waiting != null && waiting.version() <= version) {
                waiting = null;
            }
            return deploy(version, manifestSha256, false);
        }
    }

    /**
     * Deploys the waiting version once the canary is decided or its hold is over; called after
     * every decision and on the serving loop's every poll, so the wait ends on time.
     *
     * @return the version deployed, or −1
     */
    public long tick() {
        synchronized (swapLock) {
            Live cur = live.get();
            if (waiting == null || (cur.canary != null
                    && !CanaryHold.mayReplace(canarySince, System.currentTimeMillis(), settings.canaryHoldMs()))) {
                return -1;
            }
            Waiting w = waiting;
            waiting = null;
            return deploy(w.version(), w.manifestSha256(), false) ? w.version() : -1;
        }
    }

    /** The version waiting behind the canary, or −1. */
    public long waitingVersion() {
        synchronized (swapLock) {
            return waiting == null ? -1 : waiting.version();
        }
    }

    /**
     * Loads {@code version} from the registry, verifies every file (and the manifest digest when
     * given), warms it up and swaps it in: as the canary when a canary share is configured and
     * {@code direct} is false, else as the stable version. A version that fails any check is refused
     * and nothing changes.
     *
     * @return whether the version was swapped in
     */
    public boolean deploy(long version, String manifestSha256, boolean direct) {
        synchronized (swapLock) {
            Live cur = live.get();
            if (cur.stable.version == version || (cur.canary != null && cur.canary.version == version)) {
                LOG.info("version {} is already deployed", version);
                return true;
            }
            ServedPolicy next = loadOrRefuse(version, manifestSha256, cur);
            if (next == null) {
                return false;
            }
            if (settings.canaryFraction() > 0 && !direct) {
                live.set(new Live(cur.stable, next, settings.canaryFraction()));
                canarySince = System.currentTimeMillis();
                if (cur.canary != null) {
                    record(cur.canary.version, "retire", "superseded by version " + version + " before a decision");
                    cur.canary.release();
                }
                record(version, "canary", String.format("%.0f%% of traffic", 100 * settings.canaryFraction()));
            } else {
                live.set(new Live(next, null, 0));
                previousStable.push(cur.stable.version);
                cur.stable.release();
                if (cur.canary != null) {
                    record(cur.canary.version, "retire", "replaced by a direct deployment");
                    cur.canary.release();
                }
                record(version, "deploy", "serving all traffic");
            }
            return true;
        }
    }

    /** {@link #load}, or null with the refusal recorded (serving goes on unchanged). */
    private ServedPolicy loadOrRefuse(long version, String manifestSha256, Live cur) {
        try {
            return load(version, manifestSha256);
        } catch (RuntimeException e) {
            lastRefusal = "version " + version + " refused: " + e.getMessage();
            LOG.error("{}; still serving version {}", lastRefusal, cur.stable.version);
            record(version, "refuse", e.getMessage());
            return null;
        }
    }

    private ServedPolicy load(long version, String manifestSha256) {
        if (version == 0) {
            return reference;
        }
        String sha = manifestSha256 != null ? manifestSha256 : registry.manifestSha256(ModelNames.POLICY, version);
        PolicyLm lm = PolicyLm.load(registry.open(ModelNames.POLICY, version, sha), device);
        try {
            // warm-up: one short generation; a broken or non-finite model is caught here, not by a user
            List<Generation> g = generateOwned(lm, List.of(tokenizer.encode("hello")), Sampling.plain(4, 1));
            if (!Double.isFinite(g.get(0).logprob())) {
                throw new IllegalStateException("warm-up produced a non-finite log-probability");
            }
        } catch (RuntimeException e) {
            lm.close();
            throw e;
        }
        return new ServedPolicy(version, lm, sha, false);
    }

    /** Makes the canary the stable version; {@code version} must be the canary, or −1 for whichever it is. */
    public boolean promote(long version, String reason) {
        synchronized (swapLock) {
            Live cur = live.get();
            if (cur.canary == null || (version >= 0 && cur.canary.version != version)) {
                return false;
            }
            live.set(new Live(cur.canary, null, 0));
            previousStable.push(cur.stable.version);
            cur.stable.release();
            record(cur.canary.version, "promote", reason);
            return true;
        }
    }

    /**
     * Rolls back: drops the canary when there is one, else returns to the previous stable version.
     *
     * @return the version now serving all traffic, or −1 when there was nothing to roll back to
     */
    public long rollback(String reason) {
        synchronized (swapLock) {
            Live cur = live.get();
            if (cur.canary != null) {
                live.set(new Live(cur.stable, null, 0));
                cur.canary.release();
                record(cur.canary.version, "rollback", reason);
                return cur.stable.version;
            }
            while (!previousStable.isEmpty()) {
                long prev = previousStable.pop();
                try {
                    ServedPolicy p = load(prev, null);
                    live.set(new Live(p, null, 0));
                    cur.stable.release();
                    record(cur.stable.version, "rollback", reason + "; back to version " + prev);
                    return prev;
                } catch (RuntimeException e) {
                    LOG.warn("cannot roll back to version {}: {}", prev, e.getMessage());
                }
            }
            return -1;
        }
    }

    /**
     * Generates with {@code lm} scored against the reference while owning both models: a model is
     * used by one thread at a time (HTTP workers, the Kafka thread and warm-ups share them). Locks are
     * always taken policy first, reference second, so two generations cannot deadlock.
     */
    private List<Generation> generateOwned(PolicyLm lm, List<int[]> ids, Sampling s) {
        return generateOwned(lm, ids, java.util.Collections.nCopies(ids.size(), s), s.seed(), null);
    }

    private List<Generation> generateOwned(PolicyLm lm, List<int[]> ids, List<Sampling> rows, long seed,
            PolicyLm.TokenListener listener) {
        synchronized (lm) {
            synchronized (reference.lm) {
                return lm.generate(ids, rows, seed, reference.lm, listener);
            }
        }
    }

    /**
     * Carries out the job's decision about a canary (the job judges; the server obeys). A decision
     * about any version but the current canary changes nothing: it was retired or decided already.
     *
     * @return whether the deployment changed
     */
    public boolean carryOut(DeploymentDecision d) {
        synchronized (swapLock) {
            Live cur = live.get();
            if (cur.canary == null || cur.canary.version != d.policyVersion()) {
                if (d.action() == DeploymentDecision.Action.PROMOTE && d.policyVersion() > cur.stable.version
                        && !rolledBackByJob.contains(d.policyVersion())) {
                    // promoted by the job while this server had another canary (it started late, or replaced
                    // that canary before the decision): the job's word wins, so every replica serves one stable version
                    return promoteOther(d.policyVersion(), "job decision: " + d.reason());
                }
                return false;
            }
            String why = "job decision: " + d.reason();
            if (d.action() == DeploymentDecision.Action.ROLLBACK) {
                rolledBackByJob.add(d.policyVersion());
            }
            boolean changed = switch (d.action()) {
                case PROMOTE -> promote(d.policyVersion(), why);
                case ROLLBACK -> rollback(why) >= 0;
            };
            tick(); // the slot is free: a version waiting behind this canary goes in now
            return changed;
        }
    }

    /** Loads a promoted version that is not the canary and makes it stable; a newer canary stays. */
    private boolean promoteOther(long version, String reason) {
        Live cur = live.get();
        ServedPolicy next = loadOrRefuse(version, null, cur);
        if (next == null) {
            return false;
        }
        boolean keepCanary = cur.canary != null && cur.canary.version > version;
        live.set(new Live(next, keepCanary ? cur.canary : null, keepCanary ? cur.fraction : 0));
        previousStable.push(cur.stable.version);
        cur.stable.release();
        if (cur.canary != null && !keepCanary) {
            record(cur.canary.version, "retire", "older than version " + version + ", which the job promoted");
            cur.canary.release();
        }
        record(version, "promote", reason + " (not this server's canary)");
        return true;
    }

    /** The admin view: deployment, versions in the registry with their λ, and the timeline. */
    public Map<String, Object> describe() {
        Map<String, Object> m = new LinkedHashMap<>();
        Deployment d = deployment();
        m.put("stable", d.stable());
        m.put("canary", d.canary() < 0 ? null : d.canary());
        m.put("canaryFraction", d.canaryFraction());
        m.put("previousStable", List.copyOf(previousStable));
        m.put("answered", answeredPerVersion());
        List<Map<String, Object>> versions = new ArrayList<>();
        for (long v : registry.versions(ModelNames.POLICY)) {
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("version", v);
            try {
                var man = registry.manifest(ModelNames.POLICY, v);
                e.put("parent", man.parentVersion());
                e.put("lambda", man.lambda());
                e.put("created", man.created());
            } catch (RuntimeException ex) {
                e.put("error", ex.getMessage());
            }
            versions.add(e);
        }
        m.put("registry", versions);
        m.put("lastRefusal", lastRefusal);
        m.put("timeline", timeline());
        return m;
    }

    private void record(long version, String kind, String detail) {
        VersionEvent e = new VersionEvent(System.currentTimeMillis(), version, kind, detail);
        timeline.add(e);
        LOG.info("version {}: {} ({})", version, kind, detail);
        for (Consumer<VersionEvent> l : listeners) {
            try {
                l.accept(e);
            } catch (RuntimeException ex) {
                LOG.warn("version listener failed: {}", ex.toString());
            }
        }
    }

    @Override
    public void close() {
        synchronized (swapLock) {
            Live cur = live.get();
            if (cur.canary != null) {
                cur.canary.release();
            }
            cur.stable.release();
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
