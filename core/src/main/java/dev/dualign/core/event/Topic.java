package dev.dualign.core.event;

import java.util.Arrays;
import java.util.Locale;

/** The topics of the loop and the one event type each carries (docs/events.md): the one model of them. */
public enum Topic {
    PROMPTS("prompts", PromptEvent.class),
    RESPONSES("responses", ResponseEvent.class),
    SCORED("scored", ScoredSample.class),
    DUAL("dual", DualUpdate.class),
    CONTROL("control", FineTuneRequest.class),
    CHECKPOINTS("checkpoints", CheckpointEvent.class),
    ALERTS("alerts", Alert.class),
    ESTIMATES("estimates", VersionEstimate.class),
    DECISIONS("decisions", DeploymentDecision.class),
    DLQ("dlq", DeadLetter.class);

    private final String suffix;
    private final Class<? extends Event> eventType;

    Topic(String suffix, Class<? extends Event> eventType) {
        this.suffix = suffix;
        this.eventType = eventType;
    }

    public String suffix() {
        return suffix;
    }

    public Class<? extends Event> eventType() {
        return eventType;
    }

    /**
     * Whether the topic is compacted rather than deleted by age: the state a restarted server
     * rebuilds (the versions announced, the deployment decisions, the newest λ per constraint set,
     * each keyed so the newest record per key is what counts) must outlive any retention period.
     */
    public boolean compacted() {
        return this == DUAL || this == CHECKPOINTS || this == DECISIONS;
    }

    /** The full name under {@code prefix} (the {@code kafka.topic-prefix}, e.g. {@code dualign.}). */
    public String under(String prefix) {
        return prefix + suffix;
    }

    /** Finds a topic by its full name under {@code prefix}, or by its short name ({@code responses}). */
    public static Topic byName(String name, String prefix) {
        for (Topic t : values()) {
            if (name.equals(prefix + t.suffix) || name.equalsIgnoreCase(t.suffix)) {
                return t;
            }
        }
        throw new IllegalArgumentException("unknown topic '" + name + "'; known: " + Arrays.stream(values())
                .map(t -> prefix + t.suffix).toList() + " (or their short names, e.g. "
                + RESPONSES.name().toLowerCase(Locale.ROOT) + ")");
    }
}
