package dev.dualign.streaming.ops;

import java.util.List;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.MetricGroup;

/**
 * λ per constraint as Flink gauges, the constraint a label and not part of the name (Prometheus:
 * {@code …_constraint_lambda{constraint="harmless"}}), registered by the subtask that owns the
 * constraint set on its first record, so idle subtasks do not report a λ of 0.
 */
final class LambdaGauges {
    private final double[] values;

    LambdaGauges(MetricGroup metrics, List<String> names) {
        values = new double[names.size()];
        for (int c = 0; c < values.length; c++) {
            int idx = c;
            metrics.addGroup("constraint", names.get(c)).gauge("lambda", (Gauge<Double>) () -> values[idx]);
        }
    }

    void set(double[] lambda) {
        System.arraycopy(lambda, 0, values, 0, values.length);
    }
}
