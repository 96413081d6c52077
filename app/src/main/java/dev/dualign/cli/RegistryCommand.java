package dev.dualign.cli;

import dev.dualign.model.Devices;
import dev.dualign.model.registry.Manifest;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.model.scorer.ScorerImport;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** The model registry from the command line: what it holds, and importing a team's own scorers. */
@Command(name = "registry", mixinStandardHelpOptions = true, description = "List the model registry, or import your own scorer into it.",
        subcommands = {RegistryCommand.ListVersions.class, RegistryCommand.Import.class})
final class RegistryCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "Every model in the registry with its versions.")
    static final class ListVersions implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Option(names = "--registry", paramLabel = "DIR", description = "Registry directory (default: .dualign/registry).")
        Path registry;

        @Override
        public Integer call() throws Exception {
            PrintWriter out = spec.commandLine().getOut();
            ModelRegistry reg = new ModelRegistry(registry != null ? registry : BootstrapCommand.defaultRegistry());
            if (!Files.isDirectory(reg.root())) {
                spec.commandLine().getErr().println("dualign registry list: no registry at " + reg.root());
                return Dualign.EXIT_BAD_INPUT;
            }
            try (Stream<Path> names = Files.list(reg.root())) {
                for (Path p : names.filter(Files::isDirectory).sorted().toList()) {
                    String name = p.getFileName().toString();
                    List<Long> versions;
                    try {
                        versions = reg.versions(name);
                    } catch (IllegalArgumentException e) {
                        continue; // not a model name (e.g. a staging folder)
                    }
                    for (long v : versions) {
                        Manifest m = reg.manifest(name, v);
                        out.printf("%-10s %4d  %s  %s%n", name, v, m.created(), m.info().getOrDefault("kind", ""));
                    }
                }
            }
            out.flush();
            return 0;
        }
    }

    @Command(name = "import", mixinStandardHelpOptions = true, description = "Import a model into the registry.",
            subcommands = {ImportScorer.class})
    static final class Import implements Runnable {
        @Spec
        CommandSpec spec;

        @Override
        public void run() {
            spec.commandLine().usage(spec.commandLine().getOut());
        }
    }

    @Command(name = "scorer", mixinStandardHelpOptions = true,
            description = {"Publish your own reward or utility scorer: a TorchScript (.pt) or ONNX (.onnx) model and its Hugging",
                "Face tokenizer.json. TorchScript runs on DJL's PyTorch engine, ONNX on its OnnxRuntime engine.",
                "The prompt and response go in as a text pair (the tokenizer's template), truncated and padded to --max-length;",
                "the score is one output column, raw or through --transform. The model is run on test pairs first; one that",
                "does not run is refused and nothing is published. The job, server and fine-tuner use the newest version of",
                "each name when they start. Contract and exporting a Hugging Face model: docs/plug-in.md.",
                "Trust: a TorchScript file is code. Loading it (here, and in every job, server and fine-tuner that uses it)",
                "runs what its author put in it. Import only models from people you trust; the manifest records the file's",
                "sha256 and who imported it. An ONNX file is a graph of standard operators, not code."})
    static final class ImportScorer implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Option(names = "--name", required = true, description = "reward, or the utility of a constraint (e.g. harmless).")
        String name;

        @Option(names = "--model", required = true, paramLabel = "FILE", description = "TorchScript file (torch.jit.save), or ONNX file (.onnx).")
        Path model;

        @Option(names = "--tokenizer", required = true, paramLabel = "FILE", description = "Hugging Face tokenizer.json.")
        Path tokenizer;

        @Option(names = "--config", paramLabel = "FILE",
                description = "Hugging Face config.json for id2label and max_position_embeddings (default: config.json beside the model).")
        Path config;

        static final class Column {
            @Option(names = "--output", paramLabel = "INDEX", description = "Output column that is the score (default: 0).")
            Integer output;

            @Option(names = "--label", paramLabel = "L", description = "Output column by its id2label name.")
            String label;
        }

        @ArgGroup(exclusive = true)
        Column column;

        @Option(names = "--max-length", paramLabel = "N", description = "Tokens per pair (default: the config's "
                + "max_position_embeddings, at most 512).")
        Integer maxLength;

        @Option(names = "--inputs", split = ",", paramLabel = "NAMES",
                description = "The model's inputs in order, among input_ids, attention_mask, token_type_ids (default: found by trying).")
        List<String> inputs;

        @Option(names = "--transform", defaultValue = "none",
                description = "none (raw, e.g. a reward logit), sigmoid or softmax (probability of the column) (default: ${DEFAULT-VALUE}).")
        String transform;

        @Option(names = "--registry", paramLabel = "DIR", description = "Registry directory (default: .dualign/registry).")
        Path registry;

        @Option(names = "--device", defaultValue = "auto")
        String device;

        @Override
        public Integer call() {
            PrintWriter out = spec.commandLine().getOut();
            ModelRegistry reg = new ModelRegistry(registry != null ? registry : BootstrapCommand.defaultRegistry());
            ScorerImport.Result r;
            try {
                r = ScorerImport.publish(reg, new ScorerImport.Request(name, model, tokenizer, config,
                        column == null ? null : column.output, column == null ? null : column.label, maxLength, inputs, transform),
                        Devices.resolve(device));
            } catch (IllegalArgumentException e) {
                spec.commandLine().getErr().println("dualign registry import scorer: " + e.getMessage());
                return Dualign.EXIT_BAD_INPUT;
            }
            out.printf("published %s version %d to %s (%s)%n", name, r.manifest().version(), reg.root(), r.spec().format());
            out.printf("  inputs %s, output %d%s, transform %s, max length %d%n", r.spec().inputs(), r.spec().output(),
                    r.spec().label() == null ? "" : " (" + r.spec().label() + ")", r.spec().transform(), r.spec().maxLength());
            for (int i = 0; i < ScorerImport.SMOKE.size(); i++) {
                out.printf("  test pair %d scores %.6f%n", i, r.smokeScores()[i]);
            }
            out.flush();
            return 0;
        }
    }
}
