package dev.dualign.streaming.ops;

import dev.dualign.core.event.DeadLetter;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.core.event.ScoredSample;
import java.util.List;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.streaming.api.operators.BoundedOneInput;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;

/**
 * Runs {@link ScoreBatcher} and scores every pending batch when a bounded input ends: Flink drops
 * processing-time timers that have not fired when a job finishes, so without this the last
 * partial batches of a bounded run would never be scored.
 */
public final class ScoreBatchOperator extends KeyedProcessOperator<Integer, ResponseEvent, ScoredSample>
        implements BoundedOneInput {
    private static final long serialVersionUID = 1L;

    public ScoreBatchOperator(ScoreBatcher function) {
        super(function);
    }

    @Override
    public void endInput() throws Exception {
        ScoreBatcher fn = (ScoreBatcher) getUserFunction();
        List<Integer> keys = this.<Integer>getKeyedStateBackend().<VoidNamespace>getKeys(ScoreBatcher.BUFFER_STATE, VoidNamespace.INSTANCE)
                .toList();
        for (Integer key : keys) {
            setCurrentKey(key);
            fn.flush(new ScoreBatcher.Sink() {
                @Override
                public void scored(ScoredSample s) {
                    output.collect(new StreamRecord<>(s));
                }

                @Override
                public void dead(DeadLetter d) {
                    output.collect(ScoreBatcher.DEAD_LETTERS, new StreamRecord<>(d));
                }

                @Override
                public void deleteTimer(long time) {
                    // the job is ending: its timers go with it
                }
            });
        }
    }
}
