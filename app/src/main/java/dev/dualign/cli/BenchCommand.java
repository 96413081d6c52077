package dev.dualign.cli;

import dev.dualign.core.dual.DualProblem;
import dev.dualign.core.dual.DualSolution;
import dev.dualign.core.dual.DualSolver;
import java.io.PrintWriter;
import java.time.LocalDate;
import java.util.Arrays;
import java.util.SplittableRandom;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Benchmarks: speed targets are measured here and recorded in docs/benchmarks.md, never asserted in tests. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Measure the speed targets named in the issues (results go to docs/benchmarks.md).",
        subcommands = {BenchCommand.Dual.class, BenchKafka.class, BenchModels.class, BenchJob.class, BenchServe.class})
final class BenchCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    @Command(name = "dual", mixinStandardHelpOptions = true,
            description = "Time the exact dual solve on synthetic samples (default 10,000 prompts × 100, 2 constraints), single-threaded, after parsing.")
    static final class Dual implements Runnable {
        @Spec
        CommandSpec spec;

        @Option(names = "--prompts", defaultValue = "10000")
        int prompts;

        @Option(names = "--per-prompt", defaultValue = "100")
        int perPrompt;

        @Option(names = "--repeats", defaultValue = "15", description = "Timed solves after warm-up (default: ${DEFAULT-VALUE}).")
        int repeats;

        @Option(names = "--seed", defaultValue = "1")
        long seed;

        @Override
        public void run() {
            PrintWriter out = spec.commandLine().getOut();
            SplittableRandom rnd = new SplittableRandom(seed);
            double beta = 0.1;
            DualProblem.Builder b = DualProblem.builder(beta).constraint("harmless", 0.0).constraint("humour", 0.2);
            for (int x = 0; x < prompts; x++) {
                String id = "p" + x;
                double bias = rnd.nextDouble() - 0.5;
                for (int j = 0; j < perPrompt; j++) {
                    double r = bias + gaussian(rnd);
                    double g1 = -0.5 * r + 0.8 * gaussian(rnd) - 0.3;
                    double g2 = -0.4 * r + 0.2 * g1 + 0.6 * gaussian(rnd) - 0.1;
                    b.add(id, r, g1, g2);
                }
            }
            DualProblem p = b.build();
            DualSolver solver = new DualSolver();
            DualSolution s = null;
            for (int w = 0; w < 5; w++) {
                s = solver.solve(p); // warm-up: JIT compiles the evaluation loop
            }
            double[] ms = new double[repeats];
            for (int i = 0; i < repeats; i++) {
                long t0 = System.nanoTime();
                s = solver.solve(p);
                ms[i] = (System.nanoTime() - t0) / 1e6;
            }
            Arrays.sort(ms);
            out.printf("dual solve: %d samples (%d prompts × %d), 2 constraints, β=%.2f%n", p.samples(), prompts, perPrompt, beta);
            out.printf("  λ* = %s, %d Newton iterations, relative projected gradient %.2e%n",
                    s.lambdaByName(), s.iterations(), s.projectedGradient());
            out.printf("  median %.1f ms, min %.1f ms, max %.1f ms over %d solves (single thread)%n",
                    ms[ms.length / 2], ms[0], ms[ms.length - 1], repeats);
            out.printf("  | %s | %s | %s cores | %d | %.1f ms | %.1f ms |%n", LocalDate.now(),
                    System.getProperty("java.vm.name") + " " + System.getProperty("java.version"),
                    Runtime.getRuntime().availableProcessors(), p.samples(), ms[ms.length / 2], ms[0]);
            out.flush();
        }

        private static double gaussian(SplittableRandom r) {
            double u = r.nextDouble();
            double v = r.nextDouble();
            return Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * v);
        }
    }
}
