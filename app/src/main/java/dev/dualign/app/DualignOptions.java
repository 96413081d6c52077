package dev.dualign.app;

import dev.dualign.core.config.Config;
import dev.dualign.core.config.ConfigOption;
import dev.dualign.finetune.FineTuneOptions;
import dev.dualign.serving.ServingOptions;
import dev.dualign.streaming.JobConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Every configuration key the command line understands, gathered from the options class of each
 * module that owns one (Kafka, job, server, fine-tuner), so a typo in any of them fails at start-up.
 */
public final class DualignOptions {
    public static final List<ConfigOption<?>> ALL;
    public static final List<String> PASS_THROUGH = JobConfig.FREE_FORM;

    static {
        List<ConfigOption<?>> all = new ArrayList<>(JobConfig.ALL);
        all.addAll(ServingOptions.ALL);
        all.addAll(FineTuneOptions.ALL);
        ALL = List.copyOf(all);
    }

    private DualignOptions() {}

    /**
     * The keys set in {@code environment} as {@code DUALIGN_<KEY>}: the key upper-cased with '.' and
     * '-' as '_' ({@code DUALIGN_SERVER_PORT} for {@code server.port}). Other {@code DUALIGN_} variables
     * (the launcher's own) are not keys and are left alone.
     */
    public static java.util.Map<String, Object> fromEnvironment(java.util.Map<String, String> environment) {
        java.util.Map<String, Object> out = new java.util.LinkedHashMap<>();
        for (ConfigOption<?> o : ALL) {
            String v = environment.get(envName(o.key()));
            if (v != null) {
                out.put(o.key(), v);
            }
        }
        return out;
    }

    /** The environment variable of {@code key}. */
    public static String envName(String key) {
        return "DUALIGN_" + key.toUpperCase(java.util.Locale.ROOT).replace('.', '_').replace('-', '_');
    }

    /** Loads {@code explicit} or the installation's default file; unknown keys fail naming the key. */
    public static Config load(Path explicit) {
        return JobConfig.load(explicit, ALL, PASS_THROUGH);
    }
}
