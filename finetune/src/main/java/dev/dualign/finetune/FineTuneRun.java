package dev.dualign.finetune;

import dev.dualign.core.event.CheckpointEvent;
import dev.dualign.core.event.FineTuneRequest;
import dev.dualign.core.event.ScoredSample;
import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs one fine-tune with the {@link FineTuner} (which publishes the version): reports its steps,
 * cancels it when the fine-tuner closes or stands by, and holds the publish-then-halt failure drill.
 */
final class FineTuneRun {
    private static final Logger LOG = LoggerFactory.getLogger(FineTuneService.class); // logs as FineTuneService did

    private final FineTuner tuner;
    private final BooleanSupplier keepGoing;
    private final Consumer<String> status;

    /**
     * @param keepGoing false once the run must stop (closing, or the lease lost): it then ends with a
     *     {@link java.util.concurrent.CancellationException} at its next step
     * @param status where its progress goes, for status lines
     */
    FineTuneRun(FineTuner tuner, BooleanSupplier keepGoing, Consumer<String> status) {
        this.tuner = tuner;
        this.keepGoing = keepGoing;
        this.status = status;
    }

    /** Trains {@code request} on {@code data}; the published version's checkpoint event (not yet announced). */
    CheckpointEvent train(FineTuneRequest request, List<ScoredSample> data) {
        long hold = Long.getLong(FineTuneService.FAULT_HOLD_BEFORE_TRAINING_MS, 0);
        if (hold > 0) {
            // a failure drill: the request is taken and not yet trained on, for as long as a kill -9 needs
            LOG.warn("{} is set: holding request {} for {} ms before training", FineTuneService.FAULT_HOLD_BEFORE_TRAINING_MS,
                    request.requestId(), hold);
            try {
                Thread.sleep(hold);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new java.util.concurrent.CancellationException("interrupted while holding the request");
            }
        }
        int[] lastLogged = {0};
        CheckpointEvent c = tuner.train(request, data, step -> {
            if (!keepGoing.getAsBoolean()) {
                throw new java.util.concurrent.CancellationException("the fine-tuner is shutting down or "
                        + "standing by");
            }
            status.accept("training for λ=" + request.lambda() + ", step " + step);
            if (step - lastLogged[0] >= 25) {
                lastLogged[0] = step;
                LOG.info("fine-tune {}: step {}", request.requestId(), step);
            }
        });
        if (Boolean.getBoolean(FineTuneService.FAULT_HALT_AFTER_PUBLISH)) {
            // a failure drill: the process dies like kill -9, the version in the registry, nothing announced or committed
            LOG.error("{} is set: halting after publishing version {} for {}", FineTuneService.FAULT_HALT_AFTER_PUBLISH,
                    c.version(), request.requestId());
            Runtime.getRuntime().halt(137);
        }
        return c;
    }
}
