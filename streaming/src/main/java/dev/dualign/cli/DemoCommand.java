package dev.dualign.cli;

import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * The whole loop on one machine. Not built yet: it says what it will do and exits non-zero, so
 * nobody mistakes it for a working demo.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Run the whole loop on this machine: embedded Kafka, the Flink job, policy server, fine-tuner and simulated users (not built yet).")
final class DemoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter err = spec.commandLine().getErr();
        err.println("""
                dualign demo is not built yet. When it is, it will, in one process:
                  1. train the synthetic world's models on first use (bootstrap),
                  2. start an embedded Kafka broker and the Flink alignment job (with its web UI),
                  3. start the policy server, the fine-tuner and simulated users,
                  4. print the dashboard URL and a status line (λ, per-version estimates) every few seconds.
                Built so far: `dualign bootstrap` (the world and its models), `dualign job` (the Flink
                alignment job with its web UI), `dualign kafka up|topics|tail`, `dualign dual`, `dualign bench`.
                Still missing for the demo: the fine-tuner, the policy server and the dashboard.""");
        err.flush();
        return 1;
    }
}
