package dev.dualign.core.event;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dualign.core.testing.BadInputs;
import dev.dualign.core.testing.BadInputs.Input;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;

/**
 * Fuzz (issue #31): every event type as it arrives on its Kafka topic, 10,000 generated bad or odd
 * records each, through {@link Events#parse}, the one reader every consumer uses (the job's
 * {@code ParseOrDeadLetter}, the server's prompt loop and its event follower). A record either
 * parses into an event that writes back to the same event, or is refused with an
 * {@link InvalidEventException} carrying a reason, which becomes a {@link DeadLetter} that itself
 * fits and reads back: no other exception, nothing without a reason.
 */
class EventParseFuzzTest {
    static final int TRIES = 10_000;
    private static final Map<Class<?>, BadInputs.Tally> TALLIES = new ConcurrentHashMap<>();

    private static Arbitrary<Input> around(Class<? extends Event> type) {
        Event example = EventsRoundTripTest.examples().stream().filter(type::isInstance).findFirst().orElseThrow();
        try {
            return BadInputs.around((ObjectNode) EventJson.mapper().readTree(example.toJsonBytes()));
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
    }

    static <T extends Event> void check(Class<T> type, Input in) {
        String topic = "fuzz." + type.getSimpleName();
        BadInputs.Tally tally = TALLIES.computeIfAbsent(type, t -> new BadInputs.Tally("Events.parse " + type.getSimpleName()));
        boolean ok = false;
        try {
            T event;
            try {
                event = Events.parse(type, in.bytes());
            } catch (InvalidEventException e) {
                assertThat(e.getMessage()).as("the reason of a refused record").isNotBlank();
                DeadLetter d = DeadLetter.of(topic, 0, 1, in.bytes(), "invalid " + type.getSimpleName() + ": " + e.getMessage(), 1L);
                byte[] written = EventJson.writeBytes(d);
                assertThat(written.length).as("a dead letter fits Kafka's 1 MiB").isLessThan(1 << 20);
                assertThat(Events.parse(DeadLetter.class, written)).isEqualTo(d);
                ok = true;
                tally.count("dead-lettered", false);
                return;
            }
            assertThat(event).isNotNull();
            assertThat(Events.parse(type, EventJson.writeBytes(event))).as("a parsed event writes back to itself").isEqualTo(event);
            ok = true;
            tally.count("parsed", false);
        } finally {
            if (!ok) {
                tally.count("failed", true);
            }
        }
    }

    @Provide Arbitrary<Input> prompts() { return around(PromptEvent.class); }
    @Provide Arbitrary<Input> responses() { return around(ResponseEvent.class); }
    @Provide Arbitrary<Input> scored() { return around(ScoredSample.class); }
    @Provide Arbitrary<Input> dual() { return around(DualUpdate.class); }
    @Provide Arbitrary<Input> fineTune() { return around(FineTuneRequest.class); }
    @Provide Arbitrary<Input> checkpoints() { return around(CheckpointEvent.class); }
    @Provide Arbitrary<Input> alerts() { return around(Alert.class); }
    @Provide Arbitrary<Input> estimates() { return around(VersionEstimate.class); }
    @Provide Arbitrary<Input> decisions() { return around(DeploymentDecision.class); }
    @Provide Arbitrary<Input> deadLetters() { return around(DeadLetter.class); }

    @Property(tries = TRIES) void promptEvents(@ForAll("prompts") Input in) { check(PromptEvent.class, in); }
    @Property(tries = TRIES) void responseEvents(@ForAll("responses") Input in) { check(ResponseEvent.class, in); }
    @Property(tries = TRIES) void scoredSamples(@ForAll("scored") Input in) { check(ScoredSample.class, in); }
    @Property(tries = TRIES) void dualUpdates(@ForAll("dual") Input in) { check(DualUpdate.class, in); }
    @Property(tries = TRIES) void fineTuneRequests(@ForAll("fineTune") Input in) { check(FineTuneRequest.class, in); }
    @Property(tries = TRIES) void checkpointEvents(@ForAll("checkpoints") Input in) { check(CheckpointEvent.class, in); }
    @Property(tries = TRIES) void alertEvents(@ForAll("alerts") Input in) { check(Alert.class, in); }
    @Property(tries = TRIES) void versionEstimates(@ForAll("estimates") Input in) { check(VersionEstimate.class, in); }
    @Property(tries = TRIES) void deploymentDecisions(@ForAll("decisions") Input in) { check(DeploymentDecision.class, in); }
    @Property(tries = TRIES) void deadLetterEvents(@ForAll("deadLetters") Input in) { check(DeadLetter.class, in); }

    @AfterContainer
    static void printCounts() {
        TALLIES.values().forEach(BadInputs.Tally::print);
    }
}
