package dev.dualign.cli;

import dev.dualign.service.ClientKeys;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** The API keys of the clients of {@code serve} and the gateway ({@code server.client-keys-file}). */
@Command(name = "keys", mixinStandardHelpOptions = true,
        description = "API keys of the clients of serve and the gateway: the file holds only their SHA-256 hashes.",
        subcommands = {KeysCommand.Add.class})
final class KeysCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    @Command(name = "add", mixinStandardHelpOptions = true,
            description = "Make a new key for a client, add its hash to the file (created if missing, readable by its owner only) "
                    + "and print the key once: it is not kept anywhere else.")
    static final class Add implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Parameters(index = "0", paramLabel = "NAME", description = "The client's name (letters, digits, . _ @ -), shown in metrics.")
        String name;

        @Option(names = "--file", required = true, paramLabel = "FILE", description = "The keys file (server.client-keys-file).")
        Path file;

        @Option(names = "--rpm", paramLabel = "N", description = "Requests a minute this client may make (default: no limit).")
        Integer rpm;

        @Override
        public Integer call() throws Exception {
            PrintWriter out = spec.commandLine().getOut();
            PrintWriter err = spec.commandLine().getErr();
            if (rpm != null && rpm < 1) {
                err.println("dualign keys add: --rpm must be ≥ 1, got " + rpm);
                return Dualign.EXIT_BAD_INPUT;
            }
            String[] made;
            try {
                made = ClientKeys.newKey(name, rpm);
            } catch (IllegalArgumentException e) {
                err.println("dualign keys add: " + e.getMessage());
                return Dualign.EXIT_BAD_INPUT;
            }
            if (Files.exists(file)) {
                try {
                    ClientKeys existing = ClientKeys.load(file);
                    if (Files.readAllLines(file).stream().anyMatch(l -> l.strip().startsWith(name + " ") || l.strip().startsWith(name + "\t"))) {
                        err.println("dualign keys add: " + file + " already has a client named " + name
                                + " (" + existing.size() + " clients); remove its line to replace its key");
                        return Dualign.EXIT_BAD_INPUT;
                    }
                } catch (RuntimeException e) {
                    err.println("dualign keys add: " + e.getMessage());
                    return Dualign.EXIT_BAD_INPUT;
                }
            } else {
                if (file.toAbsolutePath().getParent() != null) {
                    Files.createDirectories(file.toAbsolutePath().getParent());
                }
                Files.writeString(file, "# dualign client keys: NAME sha256:HEX [REQUESTS_PER_MINUTE]\n", StandardCharsets.UTF_8);
                try {
                    Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
                } catch (UnsupportedOperationException ignored) {
                    // not a POSIX file system
                }
            }
            Files.writeString(file, made[1] + "\n", StandardCharsets.UTF_8, StandardOpenOption.APPEND);
            out.println("added client " + name + (rpm == null ? " (no rate limit)" : " (" + rpm + " requests a minute)") + " to " + file);
            out.println("its key, shown once: " + made[0]);
            out.flush();
            return 0;
        }
    }
}
