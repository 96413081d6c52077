package dev.dualign.serving;

import dev.dualign.model.lm.PolicyLm;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CancellationException;
import java.util.concurrent.LinkedBlockingDeque;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Dynamic batching of HTTP chat requests: one thread runs one generation at a time, and the requests
 * that arrive while it runs are answered together by the next one, up to {@code server.batch}
 * responses. A model answers a batch of 32 in little more time than one response, so throughput
 * under concurrent load approaches the batched figure instead of one response per model turn.
 * The queue is bounded: a full queue refuses at once (the caller answers 503 with Retry-After)
 * rather than letting waits grow without end; a request whose caller gave up is skipped.
 */
final class ChatBatcher implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ChatBatcher.class);

    /**
     * One request: its asks (one per response it wants, e.g. OpenAI's {@code n}), where its words go
     * as they are drawn (by the ask's index within the request; may be null), and its result.
     */
    static final class Pending {
        final List<PolicyServer.Ask> asks;
        final PolicyLm.TokenListener listener;
        final CompletableFuture<List<PolicyServer.Answer>> result = new CompletableFuture<>();
        /** Whether a word was already handed to its listener: such a request cannot be generated again. */
        volatile boolean heard;
        /** When it was queued (System.nanoTime). */
        final long queuedAt = System.nanoTime();

        Pending(List<PolicyServer.Ask> asks, PolicyLm.TokenListener listener) {
            this.asks = List.copyOf(asks);
            this.listener = listener;
        }
    }

    /** Told of each batch answered: how many responses, and the seconds its generation took. */
    interface BatchObserver {
        void batch(int responses, double seconds);
    }

    /** Answers a whole batch; {@link PolicyServer#answerAll} or an enforcing variant of it. */
    interface Answerer {
        List<PolicyServer.Answer> answer(List<PolicyServer.Ask> asks, PolicyLm.TokenListener listener);
    }

    private final int maxRows;
    private final Answerer answerer;
    private final Consumer<List<PolicyServer.Answer>> afterBatch;
    private final BatchObserver observer;
    private final LinkedBlockingDeque<Pending> queue;
    private final Thread thread;
    private volatile boolean closed;
    /** How long a batch waits for more requests after its first, when the last batch had several. */
    private final long waitNanos;
    /** Requests in the last batch: one means no concurrency to wait for. */
    private int lastRequests;
    /** When the last batch's requests got their answers (System.nanoTime). */
    private long lastAnswered;
    /** A request taken from the queue that did not fit the last batch: the next one starts with it. */
    private Pending carry;

    /**
     * @param maxRows most responses in one generation ({@code server.batch})
     * @param maxQueued most requests waiting; more are refused
     * @param waitMs how long a batch waits for more requests after its first, under concurrent load
     *     (the last batch held more than one request); no wait for a lone client
     * @param afterBatch runs on the batch thread once every request of a batch has its answer (e.g.
     *     sends the exchanges to Kafka); its failure fails no request
     * @param observer told each batch's responses and generation time (metrics)
     */
    ChatBatcher(int maxRows, int maxQueued, double waitMs, Answerer answerer, Consumer<List<PolicyServer.Answer>> afterBatch,
            BatchObserver observer) {
        if (maxRows < 1 || maxQueued < 1) {
            throw new IllegalArgumentException("batch and queue must be ≥ 1, got " + maxRows + " and " + maxQueued);
        }
        this.maxRows = maxRows;
        this.waitNanos = (long) (waitMs * 1e6);
        this.answerer = answerer;
        this.afterBatch = afterBatch;
        this.observer = observer;
        this.queue = new LinkedBlockingDeque<>(maxQueued);
        this.thread = new Thread(this::run, "dualign-chat-batcher");
        thread.setDaemon(true);
        thread.start();
    }

    /**
     * Queues a request; its result completes when its batch is answered.
     *
     * @return false when the queue is full or the batcher closed (nothing was queued)
     * @throws IllegalArgumentException when the request alone wants more responses than a batch holds
     */
    boolean submit(Pending p) {
        if (p.asks.isEmpty() || p.asks.size() > maxRows) {
            throw new IllegalArgumentException("a request may ask for 1 to " + maxRows + " responses, got " + p.asks.size());
        }
        if (closed || !queue.offerLast(p)) {
            return false;
        }
        if (closed && queue.remove(p)) { // closed meanwhile: the batch thread will not see it
            return false;
        }
        return true;
    }

    int queued() {
        return queue.size();
    }

    private void run() {
        while (!closed) {
            List<Pending> batch;
            try {
                batch = next();
            } catch (InterruptedException e) {
                break;
            }
            if (batch.isEmpty()) {
                continue;
            }
            List<PolicyServer.Ask> asks = new ArrayList<>();
            List<Pending> owner = new ArrayList<>();
            List<Integer> local = new ArrayList<>();
            for (Pending p : batch) {
                for (int i = 0; i < p.asks.size(); i++) {
                    asks.add(p.asks.get(i));
                    owner.add(p);
                    local.add(i);
                }
            }
            PolicyLm.TokenListener dispatch = (row, tok, lp) -> {
                Pending p = owner.get(row);
                if (p.listener != null && !p.result.isDone()) {
                    p.heard = true;
                    p.listener.token(local.get(row), tok, lp);
                }
            };
            List<PolicyServer.Answer> answers;
            try {
                long t0 = System.nanoTime();
                answers = answerer.answer(asks, dispatch);
                observer.batch(asks.size(), (System.nanoTime() - t0) / 1e9);
            } catch (RuntimeException e) {
                lastAnswered = System.nanoTime();
                if (batch.size() > 1) {
                    // one bad request must not fail the others: answer each alone (a request that
                    // already streamed words fails instead: its client has half an answer)
                    LOG.warn("a batch of {} requests failed ({}); answering them one by one", batch.size(), e.toString());
                    batch.forEach(p -> {
                        if (p.heard) {
                            p.result.completeExceptionally(e);
                        } else {
                            answerAlone(p);
                        }
                    });
                } else {
                    batch.get(0).result.completeExceptionally(e);
                }
                continue;
            } catch (Throwable t) { // an Error: fail the batch, keep the thread serving
                LOG.error("a batch of {} responses failed", asks.size(), t);
                lastAnswered = System.nanoTime();
                batch.forEach(p -> p.result.completeExceptionally(t));
                continue;
            }
            // stamped before any caller hears its answer: a request sent in reply comes after it
            lastAnswered = System.nanoTime();
            int at = 0;
            for (Pending p : batch) {
                p.result.complete(answers.subList(at, at + p.asks.size()));
                at += p.asks.size();
            }
            try {
                afterBatch.accept(answers);
            } catch (RuntimeException e) {
                LOG.error("after a batch of {} responses: {}", answers.size(), e.toString(), e);
            }
        }
        failQueued();
    }

    private void answerAlone(Pending p) {
        List<PolicyServer.Answer> answers;
        try {
            answers = answerer.answer(p.asks, p.listener == null ? null : (row, tok, lp) -> {
                if (!p.result.isDone()) {
                    p.heard = true;
                    p.listener.token(row, tok, lp);
                }
            });
        } catch (RuntimeException e) {
            p.result.completeExceptionally(e);
            return;
        }
        p.result.complete(answers);
        try {
            afterBatch.accept(answers);
        } catch (RuntimeException e) {
            LOG.error("after answering one request: {}", e.toString(), e);
        }
    }

    private Pending pollUntil(long until) throws InterruptedException {
        long left = until - System.nanoTime();
        return left > 0 ? queue.pollFirst(left, TimeUnit.NANOSECONDS) : queue.pollFirst();
    }

    /** Waits for a request, then takes every queued one that still fits; skips those whose caller gave up. */
    private List<Pending> next() throws InterruptedException {
        List<Pending> batch = new ArrayList<>();
        Pending first = carry != null ? carry : queue.pollFirst(1, TimeUnit.SECONDS);
        carry = null;
        if (first == null) {
            return batch;
        }
        int rows = 0;
        // under concurrent load the clients answered by the last batch are still sending their next
        // requests when this one starts: wait a moment for them, or batches alternate big and small.
        // Once as many are here as were waiting when it ended plus as many as it answered (every
        // client of a closed loop is back), waiting longer only idles the model.
        boolean waits = lastRequests > 1;
        long until = System.nanoTime() + (waits ? waitNanos : 0);
        // the queue is read only when there is a wait to cut short
        int expected = waits ? lastRequests + waitingSince(first, lastAnswered) : Integer.MAX_VALUE;
        for (Pending p = first; p != null; p = pollUntil(until)) {
            if (p.result.isDone()) {
                continue; // cancelled: its caller timed out
            }
            if (rows + p.asks.size() > maxRows) {
                carry = p;
                break;
            }
            batch.add(p);
            rows += p.asks.size();
            if (rows == maxRows) {
                break;
            }
            if (batch.size() >= expected) {
                until = System.nanoTime(); // take what is queued already, wait for nothing more
            }
        }
        lastRequests = batch.size();
        return batch;
    }

    /** Requests queued before {@code time}: {@code first} (taken already) and those still in the queue. */
    private int waitingSince(Pending first, long time) {
        int n = first.queuedAt - time < 0 ? 1 : 0;
        for (Pending p : queue) {
            if (p.queuedAt - time < 0) {
                n++;
            }
        }
        return n;
    }

    private void failQueued() {
        if (carry != null) {
            carry.result.completeExceptionally(new CancellationException("the server is shutting down"));
        }
        Pending p;
        while ((p = queue.pollFirst()) != null) {
            p.result.completeExceptionally(new CancellationException("the server is shutting down"));
        }
    }

    @Override
    public void close() {
        closed = true;
        thread.interrupt();
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        failQueued();
    }
}
