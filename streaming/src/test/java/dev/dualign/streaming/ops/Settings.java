package dev.dualign.streaming.ops;

import dev.dualign.core.config.Config;
import dev.dualign.streaming.JobConfig;
import dev.dualign.streaming.JobSettings;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/** Job settings for tests, from the same checked configuration path as production. */
final class Settings {
    private Settings() {}

    static JobSettings of(Map<String, Object> overrides) {
        Map<String, Object> m = new HashMap<>();
        if (overrides.keySet().stream().noneMatch(k -> k.startsWith("constraints."))) {
            m.put("constraints.harmless", 0.5); // the default constraint, unless the test names its own
        }
        m.putAll(overrides);
        return JobSettings.from(Config.of(m, JobConfig.ALL, JobConfig.PASS_THROUGH),
                Path.of(System.getProperty("java.io.tmpdir")));
    }
}
