package dev.dualign.streaming;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import org.apache.flink.util.FlinkException;
import org.junit.jupiter.api.Test;

class JobEnvironmentTest {
    @Test
    void aSavepointFromAnIncompatibleVersionIsExplainedWithTheWayOut() {
        // the chain Flink reported when a savepoint held state of a class this version no longer has
        Exception failure = new RuntimeException("Job execution failed.", new Exception(
                "Exception while creating StreamOperatorStateContext.", new FlinkException(
                        "Could not restore keyed state backend for KeyedProcessOperator_99e9_(1/2) from any of the 1 provided restore options.",
                        new IOException("state class dev.dualign.streaming.ops.EstimatorState not found",
                                new ClassNotFoundException("dev.dualign.streaming.ops.EstimatorState")))));
        assertThat(JobEnvironment.explainRestoreFailure(failure, "file:/sp/savepoint-1")).hasValueSatisfying(m -> assertThat(m)
                .startsWith("cannot resume from file:/sp/savepoint-1: ClassNotFoundException: dev.dualign.streaming.ops.EstimatorState")
                .contains("--fresh"));
    }

    @Test
    void otherFailuresAreLeftAlone() {
        Exception failure = new RuntimeException("Job execution failed.", new IllegalStateException("scorer crashed"));
        assertThat(JobEnvironment.explainRestoreFailure(failure, "file:/sp/savepoint-1")).isEmpty();
        assertThat(JobEnvironment.explainRestoreFailure(failure, "")).isEmpty();
    }
}
