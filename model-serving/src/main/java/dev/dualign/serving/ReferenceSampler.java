package dev.dualign.serving;

import dev.dualign.core.control.ReferenceBudget;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.serving.PolicyServer.Answer;
import dev.dualign.serving.PolicyServer.Ask;
import dev.dualign.serving.PolicyServer.Prompt;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reference sampling for the job's one-shot solve, as background work: prompts the reference
 * fraction picks are queued as users are answered, and a low-priority thread answers them with
 * the reference policy within {@code server.reference-share} of generation time
 * ({@link ReferenceBudget}), until the solve has the prompts it needs or λ(0) arrives. The samples
 * go to their own sink; when it falls behind they are dropped, never the users' answers.
 */
final class ReferenceSampler implements AutoCloseable {
    /** The server's logger: these lines read as they did when the server logged them itself. */
    private static final Logger LOG = LoggerFactory.getLogger(PolicyServer.class);
    /** The most unused budget saved up and spent at once. */
    static final long BURST_NANOS = 200_000_000L;
    /** Prompts waiting for their samples; more are dropped (and counted). */
    static final int QUEUE = 256;

    private final Generator generator;
    private final ServedPolicy reference;
    private final ServerSettings settings;
    private final ReferenceBudget budget;
    private final BlockingQueue<Prompt> queue = new ArrayBlockingQueue<>(QUEUE);
    private final AtomicLong samples = new AtomicLong();
    private final AtomicLong dropped = new AtomicLong();
    private final AtomicLong busyNanos = new AtomicLong();
    private volatile boolean referenceWanted = true;
    private volatile Consumer<List<ResponseEvent>> sink;
    private volatile BooleanSupplier sinkBehind = () -> false;
    private volatile Thread worker;

    ReferenceSampler(Generator generator, ServedPolicy reference, ServerSettings settings) {
        this.generator = generator;
        this.reference = reference;
        this.settings = settings;
        this.budget = new ReferenceBudget(settings.referenceShare(), BURST_NANOS, settings.referenceTarget(), System.nanoTime());
    }

    /** {@code samples} responses of the reference policy to each prompt, tagged {@code source=reference}. */
    List<ResponseEvent> samples(List<Prompt> prompts, int samples) {
        int[][] once = generator.encode(prompts);
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
        generator.generate(reference, repeated, ids, idx, out, ResponseEvent.SOURCE_REFERENCE, null);
        return java.util.Arrays.stream(out).map(Answer::event).toList();
    }

    /**
     * Where the background samples go, and whether that sink is behind (then samples are dropped
     * before they are made). Starts the worker; without a sink nothing is sampled.
     */
    synchronized void sendTo(Consumer<List<ResponseEvent>> out, BooleanSupplier behind) {
        this.sink = out;
        this.sinkBehind = behind;
        if (worker == null && referenceWanted && settings.referenceFraction() > 0) {
            Thread t = new Thread(this::work, "dualign-reference-samples");
            t.setDaemon(true);
            t.setPriority(Thread.MIN_PRIORITY);
            worker = t;
            t.start();
        }
    }

    /** Queues a prompt the reference fraction picked; answered later, off the request path. */
    void offer(Prompt p) {
        if (!referenceWanted || sink == null) {
            return;
        }
        if (!queue.offer(p)) {
            dropped.incrementAndGet();
        }
    }

    private void work() {
        // one prompt's samples per generation: a short hold of the reference model, which also answers
        // users until a version is promoted (tools/serving-checks/cold-start.sh, one run each: users kept
        // 0.78 of their throughput with four prompts a generation, 0.85 with one)
        int perBatch = 1;
        while (referenceWanted && !Thread.currentThread().isInterrupted()) {
            try {
                Prompt first = queue.poll(200, TimeUnit.MILLISECONDS);
                if (first == null) {
                    continue;
                }
                long wait = budget.waitNanos(System.nanoTime());
                if (wait > 0) {
                    TimeUnit.NANOSECONDS.sleep(wait);
                }
                List<Prompt> batch = new ArrayList<>(List.of(first));
                queue.drainTo(batch, perBatch - 1);
                if (!referenceWanted) {
                    break;
                }
                if (sinkBehind.getAsBoolean()) {
                    dropped.addAndGet(batch.size()); // the users' answers go first
                    continue;
                }
                // the budget pays for all of a round's work, its sending included: on a machine whose
                // cores the users' requests keep busy, the events and their serialisation cost users as
                // much as the generation (cold-start check: 0.77 to 0.89 of their throughput with only
                // the generation counted, at a share of 0.1)
                long t0 = System.nanoTime();
                List<ResponseEvent> made = samples(batch, settings.referenceSamples());
                sink.accept(made);
                long t1 = System.nanoTime();
                budget.spent(t1, t1 - t0, batch.size());
                busyNanos.addAndGet(t1 - t0);
                samples.addAndGet(made.size());
                if (budget.done()) {
                    stop("the one-shot solve has the " + budget.sampledPrompts() + " prompts it needs ("
                            + settings.referenceTarget() + ")");
                }
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                LOG.error("reference samples failed; going on: {}", e.toString());
            }
        }
    }

    /**
     * λ(0) is set: the reference samples (for the one-shot solve, and a relative margin) have done
     * their work, so no more are generated. Called on the first {@code DualUpdate} seen, and on a
     * start that restored one.
     */
    void noLongerNeeded() {
        stop("λ(0) is set");
    }

    private void stop(String why) {
        if (referenceWanted) {
            referenceWanted = false;
            dropped.addAndGet(queue.size());
            queue.clear();
            LOG.info("{}: reference sampling stops", why);
        }
    }

    /** Whether this prompt is one of the {@code referenceFraction} also answered by the reference (until it stops). */
    boolean sampled(String promptId) {
        return referenceWanted && RouteHash.unit(promptId, RouteHash.REFERENCE, settings.seed()) < settings.referenceFraction();
    }

    boolean wanted() {
        return referenceWanted;
    }

    long samplesMade() {
        return samples.get();
    }

    long dropped() {
        return dropped.get();
    }

    /** Seconds the background samples have taken, their sending included: what the budget charged. */
    double busySeconds() {
        return busyNanos.get() / 1e9;
    }

    @Override
    public void close() {
        referenceWanted = false;
        Thread t = worker;
        if (t != null) {
            t.interrupt();
            try {
                t.join(5_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
