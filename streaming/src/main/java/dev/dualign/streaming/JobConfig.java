package dev.dualign.streaming;

import dev.dualign.connectors.KafkaOptions;
import dev.dualign.core.control.ControlOptions;
import dev.dualign.core.config.Config;
import dev.dualign.core.config.ConfigOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The keys the alignment job reads, and the loading rule every process shares: an explicit file
 * must exist; otherwise {@code conf/dualign.yaml} under the installation is used when present, else
 * the defaults. One file configures every process, so the job passes over the keys of the server
 * and the fine-tuner ({@code server.*}, {@code finetune.*}): those processes check them at their start.
 */
public final class JobConfig {
    public static final List<ConfigOption<?>> ALL;
    /** Prefixes whose keys are free-form: Kafka client properties and the constraints. */
    public static final List<String> FREE_FORM = List.of(KafkaOptions.CLIENT_PROPERTIES_PREFIX, ControlOptions.CONSTRAINTS_PREFIX);
    /** What the job accepts unchecked: the free-form prefixes and the other processes' keys. */
    public static final List<String> PASS_THROUGH = List.of(KafkaOptions.CLIENT_PROPERTIES_PREFIX, ControlOptions.CONSTRAINTS_PREFIX,
            "server.", "finetune.");

    static {
        List<ConfigOption<?>> all = new ArrayList<>(KafkaOptions.ALL);
        all.addAll(ControlOptions.ALL);
        all.addAll(JobOptions.ALL);
        ALL = List.copyOf(all);
    }

    private JobConfig() {}

    /** Loads {@code explicit} or the installation's default file for the job; unknown keys fail naming the key. */
    public static Config load(Path explicit) {
        return load(explicit, ALL, PASS_THROUGH);
    }

    /** The loading rule, for a process that knows the keys {@code all}. */
    public static Config load(Path explicit, List<ConfigOption<?>> all, List<String> passThrough) {
        if (explicit != null) {
            return Config.load(explicit, all, passThrough);
        }
        String home = System.getProperty("dualign.home");
        if (home != null) {
            Path dflt = Path.of(home, "conf", "dualign.yaml");
            if (Files.exists(dflt)) {
                return Config.load(dflt, all, passThrough);
            }
        }
        return Config.of(Map.of(), all, passThrough);
    }
}
