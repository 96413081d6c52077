package dev.dualign.cli;

import dev.dualign.app.DualignOptions;
import dev.dualign.core.config.Config;
import dev.dualign.core.config.ConfigException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import picocli.CommandLine.Option;

/**
 * The configuration options of every command that reads the configuration (a picocli mixin): the
 * file, then {@code DUALIGN_…} environment variables, then {@code --set KEY=VALUE}, each over the one
 * before; every key is checked and an unknown one fails naming it.
 */
final class ConfigFile {
    @Option(names = "--config", paramLabel = "FILE", description = "Configuration file (default: conf/dualign.yaml).")
    Path path;

    @Option(names = "--set", paramLabel = "KEY=VALUE", description = "Set one configuration key (repeatable); over the file "
            + "and over DUALIGN_KEY environment variables (the key upper-cased, '.' and '-' as '_', e.g. DUALIGN_SERVER_PORT).")
    List<String> sets = new ArrayList<>();

    /** Keys whose values are secrets: shown masked when the configuration is printed. */
    static final Pattern SECRET = Pattern.compile("(?i)(.*(^|[.-])(token|password|secret|api-key)|.*jaas.*)");

    /** The file given, else the installation's {@code conf/dualign.yaml}, else the defaults; then the environment and --set. */
    Config load() {
        return load(System.getenv());
    }

    Config load(Map<String, String> environment) {
        Config c = DualignOptions.load(path);
        Map<String, Object> env = DualignOptions.fromEnvironment(environment);
        Map<String, Object> set = new LinkedHashMap<>();
        for (String s : sets) {
            int eq = s.indexOf('=');
            if (eq <= 0) {
                throw new ConfigException("--set", "expects KEY=VALUE, got '" + s + "'");
            }
            set.put(s.substring(0, eq).trim(), s.substring(eq + 1));
        }
        return c.with(env, DualignOptions.ALL, DualignOptions.PASS_THROUGH).with(set, DualignOptions.ALL, DualignOptions.PASS_THROUGH);
    }

    /** One line with every key set away from its default, secrets masked: what a run was started with. */
    static String describe(Config c) {
        Map<String, dev.dualign.core.config.ConfigOption<?>> options = new LinkedHashMap<>();
        DualignOptions.ALL.forEach(o -> options.put(o.key(), o));
        List<String> parts = new ArrayList<>();
        c.explicit().forEach((k, v) -> {
            dev.dualign.core.config.ConfigOption<?> o = options.get(k);
            if (o == null || !o.parse(v).equals(o.defaultValue())) { // the file lists every key: show what differs
                parts.add(k + "=" + (SECRET.matcher(k).matches() && !String.valueOf(v).isEmpty() ? "****" : v));
            }
        });
        return "Config:           " + (parts.isEmpty() ? "all defaults" : String.join(", ", parts) + " (the rest at their defaults)");
    }
}
