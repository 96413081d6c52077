package dev.dualign.app.experiment;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dualign.world.bootstrap.Progress;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;

/**
 * One reproducible experiment of {@code bin/dualign experiment}: deterministic for its seeds,
 * it fills a JSON result and writes its plot(s) under the output folder.
 */
public interface Experiment {
    /**
     * @param seeds the seeds, each an independent repetition, in the order they run (distinct, ≥ 1)
     * @param quick a scaled-down run (tests, a first look): same code, fewer runs
     * @param out where the plot goes ({@code NAME.png})
     * @param registry the model registry (the experiments that use the world's models; bootstrapped when empty)
     * @param provenance where the run records its parameters and the models it reads
     */
    record Context(List<Integer> seeds, boolean quick, Path out, Progress progress, Path registry, Provenance provenance) {
        public Context {
            seeds = List.copyOf(seeds);
            if (seeds.isEmpty()) {
                throw new IllegalArgumentException("no seeds");
            }
            if (seeds.stream().anyMatch(s -> s < 1) || new HashSet<>(seeds).size() != seeds.size()) {
                throw new IllegalArgumentException("seeds must be distinct and ≥ 1, got " + seeds);
            }
        }

        public Context(List<Integer> seeds, boolean quick, Path out, Progress progress, Path registry) {
            this(seeds, quick, out, progress, registry, new Provenance());
        }

        /** How many seeds. */
        public int n() {
            return seeds.size();
        }
    }

    String name();

    /** One line for {@code --help} and the result file. */
    String description();

    /**
     * Runs it; returns the result (parameters, numbers, conclusions' inputs) without the common header.
     * Every parameter it uses goes through {@code ctx.provenance().param(..)}, so the result records it.
     */
    ObjectNode run(Context ctx) throws Exception;
}
