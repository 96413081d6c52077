package dev.dualign.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dualign.core.dual.DualBootstrap;
import dev.dualign.core.dual.DualProblem;
import dev.dualign.core.dual.DualSolution;
import dev.dualign.core.dual.DualSolver;
import dev.dualign.core.dual.InfeasibleException;
import dev.dualign.core.event.EventJson;
import dev.dualign.core.event.InvalidEventException;
import dev.dualign.core.event.ScoredSample;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * One-shot dualization from a file of scored samples (MoCAN): reads JSON lines, groups them by
 * prompt, minimises the empirical dual exactly and prints λ* with what it implies as one JSON object.
 */
@Command(name = "dual", mixinStandardHelpOptions = true,
        description = {"Solve the empirical dual exactly for λ* from a JSON-lines file of scored samples.",
            "Each line: {\"promptId\":\"p1\",\"reward\":0.3,\"utilities\":{\"harmless\":-0.2}}; other fields are ignored."},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:solved", "2:bad input (file, line and reason on stderr)", "3:infeasible (the constraint is named)"})
final class DualCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--samples", required = true, paramLabel = "FILE", description = "JSON-lines file of scored samples.")
    Path samples;

    @Option(names = "--beta", required = true, paramLabel = "B", description = "KL weight β > 0.")
    double beta;

    @Option(names = "--margin", required = true, paramLabel = "NAME=VALUE",
            description = "A constraint E[g_NAME] ≥ VALUE; repeat for several.")
    Map<String, String> margins = new LinkedHashMap<>();

    @Option(names = "--bootstrap", paramLabel = "N", description = "Bootstrap over prompts with N resamples and report an interval for each λ*.")
    Integer bootstrap;

    @Option(names = "--confidence", defaultValue = "0.95", description = "Two-sided level of the bootstrap interval (default: ${DEFAULT-VALUE}).")
    double confidence;

    @Option(names = "--seed", defaultValue = "1", description = "Seed of the bootstrap (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--lambda-max", defaultValue = "Infinity", paramLabel = "L", description = "Upper bound on each λ (default: none).")
    double lambdaMax;

    @Override
    public Integer call() {
        PrintWriter err = spec.commandLine().getErr();
        PrintWriter out = spec.commandLine().getOut();
        Map<String, Double> parsedMargins;
        try {
            parsedMargins = parseMargins();
            if (!(beta > 0) || !Double.isFinite(beta)) {
                throw new IllegalArgumentException("--beta must be a positive finite number, got " + beta);
            }
            if (bootstrap != null && bootstrap < 1) {
                throw new IllegalArgumentException("--bootstrap must be ≥ 1, got " + bootstrap);
            }
            if (!(confidence > 0 && confidence < 1)) {
                throw new IllegalArgumentException("--confidence must be in (0, 1), got " + confidence);
            }
        } catch (IllegalArgumentException e) {
            err.println("dualign dual: " + e.getMessage());
            return Dualign.EXIT_BAD_INPUT;
        }
        DualProblem problem;
        try {
            problem = read(parsedMargins);
        } catch (BadInput e) {
            err.println("dualign dual: " + e.getMessage());
            return Dualign.EXIT_BAD_INPUT;
        }
        DualSolver solver = new DualSolver(1e-9, 500, lambdaMax);
        try {
            DualSolution s = solver.solve(problem);
            ObjectNode json = EventJson.mapper().createObjectNode();
            json.putPOJO("lambda", s.lambdaByName());
            json.put("dual", s.dual());
            json.putPOJO("expected", s.expectedByName());
            json.put("reward", s.reward());
            json.put("prompts", s.prompts());
            json.put("samples", s.samples());
            json.put("iterations", s.iterations());
            if (!s.atLambdaMax().isEmpty()) {
                json.putPOJO("atLambdaMax", s.atLambdaMax());
            }
            if (bootstrap != null) {
                DualBootstrap.Result ci = DualBootstrap.run(solver, problem, s, bootstrap, confidence, seed);
                ObjectNode interval = json.putObject("interval");
                for (int c = 0; c < ci.names().size(); c++) {
                    interval.putObject(ci.names().get(c)).put("lo", ci.lo()[c]).put("hi", ci.hi()[c]);
                }
                json.putObject("bootstrap").put("resamples", ci.resamples()).put("infeasible", ci.infeasible())
                        .put("confidence", ci.confidence()).put("seed", seed)
                        .put("interval", "lambda-hat at this K (prompts resampled; blind to the finite-K bias)");
                ObjectNode finiteK = json.putObject("finiteK").put("meanK", ci.meanK());
                if (ci.levels().length == 0) {
                    finiteK.put("note", "fewer than " + DualBootstrap.MIN_GROUP_TO_CORRECT
                            + " samples for some prompt: the finite-K bias cannot be estimated");
                } else {
                    finiteK.put("extrapolation", "1/K, from K and K/2");
                    ObjectNode bias = finiteK.putObject("bias");
                    ObjectNode limit = finiteK.putObject("interval");
                    for (int c = 0; c < ci.names().size(); c++) {
                        bias.put(ci.names().get(c), ci.bias()[c]);
                        limit.putObject(ci.names().get(c)).put("lo", ci.limitLo()[c]).put("hi", ci.limitHi()[c]);
                    }
                }
            }
            out.println(EventJson.write(json));
            out.flush();
            return 0;
        } catch (InfeasibleException e) {
            err.println("dualign dual: " + e.getMessage());
            return Dualign.EXIT_INFEASIBLE;
        }
    }

    private Map<String, Double> parseMargins() {
        Map<String, Double> out = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : margins.entrySet()) {
            if (e.getKey().isBlank()) {
                throw new IllegalArgumentException("--margin needs NAME=VALUE, got an empty name");
            }
            try {
                double v = Double.parseDouble(e.getValue().trim());
                if (!Double.isFinite(v)) {
                    throw new NumberFormatException();
                }
                out.put(e.getKey().trim(), v);
            } catch (NumberFormatException ex) {
                throw new IllegalArgumentException("--margin " + e.getKey() + "=" + e.getValue()
                        + ": the value must be a finite number");
            }
        }
        return out;
    }

    private DualProblem read(Map<String, Double> parsedMargins) throws BadInput {
        DualProblem.Builder builder = DualProblem.builder(beta).constraints(parsedMargins);
        long line = 0;
        try (BufferedReader r = Files.newBufferedReader(samples, StandardCharsets.UTF_8)) {
            String text;
            while ((text = r.readLine()) != null) {
                line++;
                if (text.isBlank()) {
                    continue;
                }
                try {
                    builder.add(ScoredSample.fromJson(text));
                } catch (InvalidEventException e) {
                    throw new BadInput(samples + ":" + line + ": " + e.getMessage());
                }
            }
        } catch (NoSuchFileException e) {
            throw new BadInput(samples + ": no such file");
        } catch (java.nio.charset.MalformedInputException e) {
            throw new BadInput(samples + ":" + (line + 1) + ": not valid UTF-8");
        } catch (IOException e) {
            throw new BadInput(samples + ": cannot read: " + e.getMessage());
        }
        if (builder.samples() == 0) {
            throw new BadInput(samples + ": no samples in the file");
        }
        return builder.build();
    }

    private static final class BadInput extends Exception {
        BadInput(String message) {
            super(message);
        }
    }
}
