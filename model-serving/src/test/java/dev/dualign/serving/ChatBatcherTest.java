package dev.dualign.serving;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dualign.core.event.ResponseEvent;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Dynamic batching without a model: an answerer that blocks until released shows which requests
 * share a generation, that a batch never exceeds its rows, that a cancelled request is skipped,
 * that a full queue refuses and that one bad request does not fail its batch.
 */
class ChatBatcherTest {
    private final List<List<String>> batches = new CopyOnWriteArrayList<>();
    private final List<List<PolicyServer.Answer>> after = new CopyOnWriteArrayList<>();
    private volatile CountDownLatch entered = new CountDownLatch(1);
    private volatile CountDownLatch release = new CountDownLatch(1);

    private List<PolicyServer.Answer> answer(List<PolicyServer.Ask> asks) {
        List<String> texts = asks.stream().map(a -> a.prompt().text()).toList();
        batches.add(texts);
        entered.countDown();
        try {
            assertThat(release.await(10, TimeUnit.SECONDS)).isTrue();
        } catch (InterruptedException e) {
            throw new IllegalStateException(e);
        }
        if (texts.contains("bad")) {
            throw new IllegalArgumentException("prompt 'bad' cannot be answered");
        }
        List<PolicyServer.Answer> out = new ArrayList<>();
        for (PolicyServer.Ask a : asks) {
            ResponseEvent e = new ResponseEvent("r-" + a.prompt().text(), a.prompt().id(), a.prompt().text(), "echo " + a.prompt().text(),
                    0, -1.0, -1.0, ResponseEvent.SOURCE_POLICY, 1L);
            out.add(new PolicyServer.Answer(e, List.of("echo", a.prompt().text()), new double[] {-0.5, -0.5}, true, a.routeKey()));
        }
        return out;
    }

    private static ChatBatcher.Pending request(String text, int n) {
        List<PolicyServer.Ask> asks = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            asks.add(new PolicyServer.Ask(new PolicyServer.Prompt("id-" + text, text), "key-" + text, 1.0, 1.0, 4));
        }
        return new ChatBatcher.Pending(asks, null);
    }

    private ChatBatcher batcher(int rows, int queue) {
        return new ChatBatcher(rows, queue, 0, (asks, listener) -> answer(asks), after::add, (n, sec) -> { });
    }

    @Test
    void requestsArrivingDuringAGenerationShareTheNextOneUpToTheBatchSize() throws Exception {
        try (ChatBatcher b = batcher(8, 64)) {
            ChatBatcher.Pending first = request("first", 1);
            assertThat(b.submit(first)).isTrue();
            assertThat(entered.await(10, TimeUnit.SECONDS)).isTrue(); // the first runs alone
            List<ChatBatcher.Pending> waiting = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                waiting.add(request("w" + i, 2)); // 10 rows: 4 requests fit a batch of 8, the fifth waits
            }
            waiting.forEach(p -> assertThat(b.submit(p)).isTrue());
            release.countDown();
            assertThat(first.result.get(10, TimeUnit.SECONDS)).hasSize(1);
            for (ChatBatcher.Pending p : waiting) {
                List<PolicyServer.Answer> a = p.result.get(10, TimeUnit.SECONDS);
                assertThat(a).hasSize(2);
                assertThat(a).allSatisfy(x -> assertThat(x.event().prompt()).isEqualTo(p.asks.get(0).prompt().text()));
            }
            assertThat(batches).containsExactly(List.of("first"), List.of("w0", "w0", "w1", "w1", "w2", "w2", "w3", "w3"),
                    List.of("w4", "w4"));
            long until = System.currentTimeMillis() + 10_000;
            while (after.size() < 3 && System.currentTimeMillis() < until) {
                Thread.sleep(10); // the sink runs after the answers are handed out
            }
            assertThat(after).hasSize(3); // every batch's exchanges reach the sink
        }
    }

    @Test
    void aBatchStopsWaitingOnceEveryClientOfTheLastOneIsBack() throws Exception {
        // a wait of a minute for more requests: the batch of the two returning clients must start
        // as soon as both are back, not a minute later
        try (ChatBatcher b = new ChatBatcher(8, 64, 60_000, (asks, listener) -> answer(asks), after::add, (n, sec) -> { })) {
            ChatBatcher.Pending first = request("first", 1);
            assertThat(b.submit(first)).isTrue();
            assertThat(entered.await(10, TimeUnit.SECONDS)).isTrue(); // "first" runs alone and holds the model
            ChatBatcher.Pending x = request("x", 1);
            ChatBatcher.Pending y = request("y", 1);
            assertThat(b.submit(x)).isTrue();
            assertThat(b.submit(y)).isTrue();
            release.countDown(); // from now on every generation returns at once
            first.result.get(10, TimeUnit.SECONDS);
            x.result.get(10, TimeUnit.SECONDS); // x and y shared a batch (the last had one request: no wait)
            y.result.get(10, TimeUnit.SECONDS);
            assertThat(batches).containsExactly(List.of("first"), List.of("x", "y"));
            // closed-loop clients: each sends its next request once answered
            ChatBatcher.Pending x2 = request("x2", 1);
            ChatBatcher.Pending y2 = request("y2", 1);
            assertThat(b.submit(x2)).isTrue();
            assertThat(b.submit(y2)).isTrue();
            // within the test's own timeout, far below the minute the batch would otherwise wait
            assertThat(x2.result.get(20, TimeUnit.SECONDS)).hasSize(1);
            assertThat(y2.result.get(20, TimeUnit.SECONDS)).hasSize(1);
            assertThat(batches).containsExactly(List.of("first"), List.of("x", "y"), List.of("x2", "y2"));
        }
    }

    @Test
    void aRequestWhoseCallerGaveUpIsSkippedAndAFullQueueRefuses() throws Exception {
        try (ChatBatcher b = batcher(8, 2)) {
            assertThat(b.submit(request("first", 1))).isTrue();
            assertThat(entered.await(10, TimeUnit.SECONDS)).isTrue();
            ChatBatcher.Pending gaveUp = request("gave-up", 1);
            ChatBatcher.Pending kept = request("kept", 1);
            assertThat(b.submit(gaveUp)).isTrue();
            assertThat(b.submit(kept)).isTrue();
            assertThat(b.submit(request("one-too-many", 1))).isFalse(); // queue of 2 is full: refused at once
            gaveUp.result.cancel(false);
            release.countDown();
            assertThat(kept.result.get(10, TimeUnit.SECONDS)).hasSize(1);
            assertThat(batches).containsExactly(List.of("first"), List.of("kept"));
        }
    }

    @Test
    void oneBadRequestFailsAloneAndItsBatchIsAnsweredOneByOne() throws Exception {
        try (ChatBatcher b = batcher(8, 16)) {
            assertThat(b.submit(request("first", 1))).isTrue();
            assertThat(entered.await(10, TimeUnit.SECONDS)).isTrue();
            ChatBatcher.Pending good = request("good", 1);
            ChatBatcher.Pending bad = request("bad", 1);
            b.submit(good);
            b.submit(bad);
            release.countDown();
            assertThat(good.result.get(10, TimeUnit.SECONDS).get(0).event().response()).isEqualTo("echo good");
            assertThatThrownBy(() -> bad.result.get(10, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                    .hasCauseInstanceOf(IllegalArgumentException.class);
            assertThat(batches).containsExactly(List.of("first"), List.of("good", "bad"), List.of("good"), List.of("bad"));
        }
    }

    @Test
    void aRequestLargerThanABatchIsRefusedAndClosingFailsWhatWaits() throws Exception {
        ChatBatcher b = batcher(4, 16);
        assertThatThrownBy(() -> b.submit(request("big", 5))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("1 to 4 responses");
        assertThat(b.submit(request("first", 1))).isTrue();
        assertThat(entered.await(10, TimeUnit.SECONDS)).isTrue();
        ChatBatcher.Pending waiting = request("waiting", 1);
        b.submit(waiting);
        // closing interrupts the generation in flight and fails what still waits
        b.close();
        assertThat(waiting.result).isCompletedExceptionally();
        release.countDown();
        assertThat(b.submit(request("late", 1))).isFalse();
    }
}
