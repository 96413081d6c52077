package dev.dualign.streaming.ops;

/**
 * Checks that DJL can be loaded before anything touches it, so that a cluster without DJL on
 * Flink's class path fails with instructions instead of a bare {@code NoClassDefFoundError}. The
 * job jar leaves DJL out on purpose (a native library loads for one class loader per JVM), so a
 * Flink installation needs {@code streaming/target/flink-lib/*.jar} in its {@code lib/}.
 * No DJL type appears here, so this class itself always loads.
 */
public final class DjlCheck {
    private DjlCheck() {}

    public static void require(ClassLoader loader) {
        try {
            Class.forName("ai.djl.engine.Engine", false, loader);
        } catch (ClassNotFoundException | LinkageError e) {
            throw new IllegalStateException("DJL is not on the class path: on a Flink cluster copy the jars of "
                    + "streaming/target/flink-lib/ (built with the job jar: bin/dualign job --jar) into Flink's lib/ "
                    + "on every node and restart it; see README, Deployment", e);
        }
    }

    /**
     * {@code failure} of DJL's engine start, explained when it is the other deployment mistake: a
     * JVM loads a native library for one class loader only, so DJL inside a job jar works for the
     * first job on a task manager and fails for the next (a resubmission, a restore from a
     * savepoint). Other failures come back unchanged.
     */
    public static RuntimeException explain(RuntimeException failure) {
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof UnsatisfiedLinkError && String.valueOf(t.getMessage()).contains("another classloader")) {
                return new IllegalStateException("DJL's native PyTorch library is already loaded by another class "
                        + "loader in this JVM: on a Flink cluster DJL must be on Flink's class path, not in the job "
                        + "jar. Copy the jars of streaming/target/flink-lib/ (built with the job jar) into Flink's "
                        + "lib/ and restart the task managers; see README, Deployment.", failure);
            }
        }
        return failure;
    }
}
