package dev.dualign.app.experiment;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dualign.world.bootstrap.Progress;
import java.nio.file.Path;

/**
 * One reproducible experiment of {@code bin/dualign experiment}: deterministic for its seeds,
 * it fills a JSON result and writes its plot(s) under the output folder.
 */
public interface Experiment {
    /**
     * @param seeds seeds 1..seeds, each an independent repetition
     * @param quick a scaled-down run (tests, a first look): same code, fewer runs
     * @param out where the plot goes ({@code NAME.png})
     * @param registry the model registry (the experiments that use the world's models; bootstrapped when empty)
     */
    record Context(int seeds, boolean quick, Path out, Progress progress, Path registry) {}

    String name();

    /** One line for {@code --help} and the result file. */
    String description();

    /** Runs it; returns the result (parameters, numbers, conclusions' inputs) without the common header. */
    ObjectNode run(Context ctx) throws Exception;
}
