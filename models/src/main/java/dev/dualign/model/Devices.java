package dev.dualign.model;

import ai.djl.Device;
import ai.djl.engine.Engine;
import java.util.Locale;

/** {@code device: auto | cpu | gpu}. One code path: only the device handed to DJL differs. */
public final class Devices {
    /** Where models run, as configured. */
    public enum Choice {
        /** A GPU when DJL sees one, else the CPU. */
        AUTO,
        CPU,
        /** A GPU, or a clear error at start-up when DJL sees none. */
        GPU;

        /** The choice named {@code setting} (any case); null means {@link #AUTO}. */
        public static Choice of(String setting) {
            if (setting == null) {
                return AUTO;
            }
            try {
                return valueOf(setting.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("device must be auto, cpu or gpu, got '" + setting + "'");
            }
        }
    }

    private Devices() {}

    public static Device resolve(Choice choice) {
        int gpus = Engine.getInstance().getGpuCount();
        return switch (choice) {
            case AUTO -> gpus > 0 ? Device.gpu() : Device.cpu();
            case CPU -> Device.cpu();
            case GPU -> {
                if (gpus == 0) {
                    throw new IllegalArgumentException("device: gpu was asked for, but DJL sees no GPU");
                }
                yield Device.gpu();
            }
        };
    }

    public static Device resolve(String setting) {
        return resolve(Choice.of(setting));
    }
}
