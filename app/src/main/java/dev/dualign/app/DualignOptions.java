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

    /** Loads {@code explicit} or the installation's default file; unknown keys fail naming the key. */
    public static Config load(Path explicit) {
        return JobConfig.load(explicit, ALL, PASS_THROUGH);
    }
}
