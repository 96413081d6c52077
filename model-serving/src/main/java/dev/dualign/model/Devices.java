package dev.dualign.model;

import ai.djl.Device;
import ai.djl.engine.Engine;

/** {@code device: auto | cpu | gpu}. One code path: only the device handed to DJL differs. */
public final class Devices {
    private Devices() {}

    public static Device resolve(String setting) {
        String s = setting == null ? "auto" : setting.trim().toLowerCase();
        int gpus = Engine.getInstance().getGpuCount();
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
}
