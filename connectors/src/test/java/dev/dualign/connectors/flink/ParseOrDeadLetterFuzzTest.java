package dev.dualign.connectors.flink;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dualign.core.event.DeadLetter;
import dev.dualign.core.event.Event;
import dev.dualign.core.event.EventJson;
import dev.dualign.core.event.Events;
import dev.dualign.core.event.EventsRoundTripTest;
import dev.dualign.core.event.PromptEvent;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.core.event.Topic;
import dev.dualign.core.testing.BadInputs;
import dev.dualign.core.testing.BadInputs.Input;
import java.util.Arrays;
import java.util.List;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterProperty;
import net.jqwik.api.lifecycle.BeforeProperty;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.OneInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;

/**
 * Fuzz (issue #31): the job's input topic {@code dualign.responses}, and {@code dualign.prompts}
 * read the same way, 10,000 generated bad or odd records each through {@link ParseOrDeadLetter},
 * the operator every source feeds, run by Flink's own operator harness. Each record comes out
 * exactly once, as an event or as a dead letter with a reason and its original bytes (nothing lost,
 * nothing doubled), and no exception reaches the job.
 */
class ParseOrDeadLetterFuzzTest {
    static final int TRIES = 10_000;
    /** Below the 1 MiB default, so the generator's long records also take the oversized path. */
    static final int MAX_RECORD_BYTES = 32 * 1024;

    private OneInputStreamOperatorTestHarness<RawRecord, ? extends Event> harness;
    private BadInputs.Tally tally;
    private long offset;

    private static Arbitrary<Input> around(Class<? extends Event> type) throws Exception {
        Event example = EventsRoundTripTest.examples().stream().filter(type::isInstance).findFirst().orElseThrow();
        return BadInputs.around((ObjectNode) EventJson.mapper().readTree(example.toJsonBytes()));
    }

    @Provide
    Arbitrary<Input> responses() throws Exception {
        return around(ResponseEvent.class);
    }

    @Provide
    Arbitrary<Input> prompts() throws Exception {
        return around(PromptEvent.class);
    }

    private <T extends Event> void open(Class<T> type, String topic) throws Exception {
        harness = ProcessFunctionTestHarnesses.forProcessFunction(new ParseOrDeadLetter<>(type, MAX_RECORD_BYTES));
        tally = new BadInputs.Tally("ParseOrDeadLetter " + topic);
        offset = 0;
    }

    @BeforeProperty
    void nothing() {
        harness = null;
    }

    @AfterProperty
    void close() throws Exception {
        if (harness != null) {
            tally.print();
            harness.close();
        }
    }

    private void feed(Class<? extends Event> type, String topic, Input in) throws Exception {
        if (harness == null) {
            open(type, topic);
        }
        boolean ok = false;
        try {
            int events = harness.extractOutputValues().size();
            int letters = deadLetters().size();
            long at = offset++;
            harness.processElement(new RawRecord(topic, 3, at, 0L, null, in.bytes()), 0L);
            List<?> out = harness.extractOutputValues();
            List<DeadLetter> dl = deadLetters();
            assertThat((out.size() - events) + (dl.size() - letters)).as("each record comes out exactly once").isEqualTo(1);
            if (dl.size() > letters) {
                DeadLetter d = dl.get(dl.size() - 1);
                assertThat(d.error()).as("a dead letter's reason").isNotBlank();
                assertThat(d.sourceTopic()).isEqualTo(topic);
                assertThat(d.offset()).isEqualTo(at);
                byte[] kept = d.rawBytes();
                assertThat(kept).as("the original bytes, or their first ones").isEqualTo(
                        Arrays.copyOf(in.bytes(), Math.min(in.bytes().length, DeadLetter.MAX_RAW_BYTES)));
                assertThat(Events.parse(DeadLetter.class, EventJson.writeBytes(d))).isEqualTo(d);
                // "unreadable" is an exception other than InvalidEventException: a reader's bug, never a record's fault
                assertThat(d.error()).as("the reason").doesNotStartWith("unreadable");
                tally.count(d.error().startsWith("record of") ? "dead-lettered-oversized" : "dead-lettered-invalid", false);
            } else {
                Object e = out.get(out.size() - 1);
                assertThat(e).isInstanceOf(type);
                assertThat(in.bytes().length).isLessThanOrEqualTo(MAX_RECORD_BYTES);
                tally.count("parsed", false);
            }
            ok = true;
        } finally {
            if (!ok) {
                tally.count("failed", true);
            }
        }
    }

    private List<DeadLetter> deadLetters() {
        var q = harness.getSideOutput(ParseOrDeadLetter.DEAD_LETTERS);
        return q == null ? List.of() : q.stream().map(StreamRecord::getValue).toList();
    }

    @Property(tries = TRIES)
    void responsesTopic(@ForAll("responses") Input in) throws Exception {
        feed(ResponseEvent.class, Topic.RESPONSES.under("dualign."), in);
    }

    @Property(tries = TRIES)
    void promptsTopic(@ForAll("prompts") Input in) throws Exception {
        feed(PromptEvent.class, Topic.PROMPTS.under("dualign."), in);
    }
}
