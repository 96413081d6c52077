package dev.dualign.core.event;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import java.util.Map;
import java.util.Objects;

/**
 * A request on {@code dualign.control} to train the next policy version with a given λ.
 *
 * @param requestId unique id (the key)
 * @param lambda the λ to train with
 * @param baseVersion the version to start from
 * @param dataTopic topic holding the training data (e.g. {@code dualign.scored})
 * @param dataVersion policy version whose samples to train on (optional)
 * @param fromOffsets partition → first offset to read (optional)
 * @param toOffsets partition → offset to stop before (optional)
 * @param timestamp epoch milliseconds
 */
@JsonPropertyOrder({"schema", "requestId", "lambda", "baseVersion", "dataTopic", "dataVersion", "fromOffsets",
        "toOffsets", "timestamp"})
public record FineTuneRequest(String requestId, Map<String, Double> lambda, long baseVersion, String dataTopic,
        Long dataVersion, Map<String, Long> fromOffsets, Map<String, Long> toOffsets, long timestamp) implements Event {
    public FineTuneRequest {
        Objects.requireNonNull(requestId, "requestId");
        lambda = Events.copyLambda(lambda);
        Objects.requireNonNull(dataTopic, "dataTopic");
        fromOffsets = fromOffsets == null ? null : Map.copyOf(fromOffsets);
        toOffsets = toOffsets == null ? null : Map.copyOf(toOffsets);
    }

    @Override
    public String key() {
        return requestId;
    }

    public static FineTuneRequest fromJson(JsonFields f) {
        return new FineTuneRequest(f.requireText("requestId"), f.requireNumberMap("lambda"), f.requireLong("baseVersion"),
                f.requireText("dataTopic"), f.optionalLong("dataVersion"), f.optionalLongMap("fromOffsets"),
                f.optionalLongMap("toOffsets"), f.requireLong("timestamp"));
    }
}
