package dev.dualign.streaming;

import dev.dualign.connectors.KafkaOptions;
import dev.dualign.core.config.Config;
import dev.dualign.core.config.ConfigOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Every configuration key the application understands, gathered from each module's options class,
 * and the loading rule: an explicit file must exist; otherwise {@code conf/dualign.yaml} under the
 * installation is used when present, else the defaults.
 */
public final class DualignOptions {
    public static final List<ConfigOption<?>> ALL;
    public static final List<String> PASS_THROUGH = List.of(KafkaOptions.CLIENT_PROPERTIES_PREFIX, JobOptions.CONSTRAINTS_PREFIX);

    static {
        List<ConfigOption<?>> all = new ArrayList<>(KafkaOptions.ALL);
        all.addAll(JobOptions.ALL);
        all.addAll(dev.dualign.model.ServingOptions.ALL);
        ALL = List.copyOf(all);
    }

    private DualignOptions() {}

    /** Loads {@code explicit} or the installation's default file; unknown keys fail naming the key. */
    public static Config load(Path explicit) {
        if (explicit != null) {
            return Config.load(explicit, ALL, PASS_THROUGH);
        }
        String home = System.getProperty("dualign.home");
        if (home != null) {
            Path dflt = Path.of(home, "conf", "dualign.yaml");
            if (Files.exists(dflt)) {
                return Config.load(dflt, ALL, PASS_THROUGH);
            }
        }
        return Config.of(java.util.Map.of(), ALL, PASS_THROUGH);
    }
}
