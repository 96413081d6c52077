package dev.dualign.model;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.engine.EngineException;

/** {@code device: auto | cpu | gpu}. One code path: only the device handed to DJL differs. */
public final class Devices {
    private Devices() {}

    public static Device resolve(String setting) {
        String s = setting == null ? "auto" : setting.trim().toLowerCase();
        int gpus = engine().getGpuCount();
        return switch (s) {
            case "auto" -> gpus > 0 ? Device.gpu() : Device.cpu();
            case "cpu" -> Device.cpu();
            case "gpu" -> {
                if (gpus == 0) {
                    throw new IllegalArgumentException("device: gpu was asked for, but DJL sees no GPU");
                }
                yield Device.gpu();
            }
            default -> throw new IllegalArgumentException("device must be auto, cpu or gpu, got '" + setting + "'");
        };
    }

    /**
     * The DJL engine, with a clear error for the one deployment mistake that breaks it: a JVM
     * loads a native library once, for one class loader, so DJL inside a Flink job jar works for
     * the first job on a task manager and fails for the next one (a resubmission, a restore from a
     * savepoint). On a Flink cluster DJL belongs in Flink's {@code lib/}.
     */
    static Engine engine() {
        try {
            return Engine.getInstance();
        } catch (EngineException e) {
            for (Throwable t = e; t != null; t = t.getCause()) {
                if (t instanceof UnsatisfiedLinkError && String.valueOf(t.getMessage()).contains("another classloader")) {
                    throw new IllegalStateException("DJL's native PyTorch library is already loaded by another class "
                            + "loader in this JVM: on a Flink cluster DJL must be on Flink's class path, not in the job "
                            + "jar. Copy the jars of streaming/target/flink-lib/ (built with the job jar) into Flink's "
                            + "lib/ and restart the task managers; see README, Deployment.", e);
                }
            }
            throw e;
        }
    }
}
