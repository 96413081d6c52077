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

    private final org.apache.flink.metrics.Counter steps;
    private final org.apache.flink.metrics.Counter inputs;

    LambdaGauges(MetricGroup metrics, List<String> names, double lambdaMax) {
        values = new double[names.size()];
        for (int c = 0; c < values.length; c++) {
            int idx = c;
            MetricGroup g = metrics.addGroup("constraint", names.get(c));
            g.gauge("lambda", (Gauge<Double>) () -> values[idx]);
            // 1 while λ sits at its bound: the margin may be unreachable (an alert rule watches it)
            g.gauge("atLambdaMax", (Gauge<Integer>) () -> values[idx] >= lambdaMax - 1e-12 ? 1 : 0);
        }
        // every λ update, and every input while λ may move (ControlPolicy.movesLambda): the alert
        // DualignNoDualStep fires on inputs without steps, not on a λ that is meant to stay put
        steps = metrics.counter("dualSteps");
        inputs = metrics.counter("dualInputs");
    }

    void received(int n) {
        inputs.inc(n);
    }

    void stepped() {
        steps.inc();
    }

    void set(double[] lambda) {
        System.arraycopy(lambda, 0, values, 0, values.length);
    }
}
