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
}
