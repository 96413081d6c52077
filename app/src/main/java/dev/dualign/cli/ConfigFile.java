package dev.dualign.cli;

import dev.dualign.core.config.Config;
import dev.dualign.app.DualignOptions;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The {@code --config FILE} option of every command that reads the configuration (a picocli mixin). */
final class ConfigFile {
    @Option(names = "--config", paramLabel = "FILE", description = "Configuration file (default: conf/dualign.yaml).")
    Path path;

    /** The file given, else the installation's {@code conf/dualign.yaml}, else the defaults. */
    Config load() {
        return DualignOptions.load(path);
    }
}
