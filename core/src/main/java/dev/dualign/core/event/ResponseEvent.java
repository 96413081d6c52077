package dev.dualign.core.event;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A response on {@code dualign.responses}, keyed by prompt id so that all responses to a prompt
 * stay in one partition. It carries the policy version and both log-probabilities, so every
 * estimate downstream is per version and the KL to the reference can be measured.
 *
 * @param id response id
 * @param promptId the prompt it answers
 * @param prompt prompt text
 * @param response response text
 * @param policyVersion version of the policy that produced it (0 = the reference)
 * @param logprob log π(y|x) under that policy, or null when the chatbot cannot tell (no KL then)
 * @param refLogprob log π_ref(y|x) under the reference policy, or null when unknown (an external
 *     chatbot's answer, logged by a gateway): the job then reports the version's KL as unknown,
 *     never as 0
 * @param source {@code policy} (served), {@code reference} (sampled for the one-shot dual) or
 *     {@code sample} (one of K more responses of the version that answered the prompt, drawn for
 *     the policy dataset: never served, never in estimates)
 * @param timestamp epoch milliseconds
 * @param clientId the id the client or the upstream gave this request, kept as a label only, or
 *     null: estimates group by {@code promptId}, which the server assigns, so no client can choose
 *     which samples are pooled
 * @param messages the conversation the response answered, oldest message first, in the OpenAI chat
 *     format (system, history, tool turns, the last user message), or null for a single prompt:
 *     scorers then read it through {@link ChatTemplate}; {@code prompt} stays the last user message
 * @param toolCalls the tool calls the response made, or null: a turn that only calls a tool has an
 *     empty {@code response} and is read by its calls
 * @param model the model name the request was answered under, when a gateway routed it to a version
 *     swapped into its upstream (that version's adapter name), or null; the version number above
 *     identifies it too, since names are never reused
 */
@JsonPropertyOrder({"schema", "id", "promptId", "prompt", "response", "policyVersion", "logprob", "refLogprob",
        "source", "timestamp", "clientId", "messages", "toolCalls", "model"})
public record ResponseEvent(String id, String promptId, String prompt, String response, long policyVersion,
        Double logprob, Double refLogprob, String source, long timestamp, String clientId, List<ChatMessage> messages,
        List<ToolCall> toolCalls, String model) implements Event {
    /** Longest {@link #clientId} kept. */
    public static final int MAX_CLIENT_ID = 256;
    public static final String SOURCE_POLICY = "policy";
    public static final String SOURCE_REFERENCE = "reference";
    /** An extra response for the policy dataset (K per prompt), not served and not estimated. */
    public static final String SOURCE_SAMPLE = "sample";

    public ResponseEvent {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(promptId, "promptId");
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(response, "response");
        checkSource(source);
        if (policyVersion < 0) {
            throw new InvalidEventException("policyVersion", "must be ≥ 0, got " + policyVersion);
        }
        if (logprob != null && (!Double.isFinite(logprob) || logprob > 0)) {
            throw new InvalidEventException("logprob", "must be a finite log-probability ≤ 0, got " + logprob);
        }
        if (refLogprob != null && (!Double.isFinite(refLogprob) || refLogprob > 0)) {
            throw new InvalidEventException("refLogprob", "must be a finite log-probability ≤ 0, got " + refLogprob);
        }
        if (clientId != null && clientId.length() > MAX_CLIENT_ID) {
            throw new InvalidEventException("clientId", "must be at most " + MAX_CLIENT_ID + " characters, got " + clientId.length());
        }
        messages = messages == null || messages.isEmpty() ? null : List.copyOf(messages);
        toolCalls = toolCalls == null || toolCalls.isEmpty() ? null : List.copyOf(toolCalls);
        if (model != null && (model.isEmpty() || model.length() > 256)) {
            throw new InvalidEventException("model", "must be 1–256 characters, got " + model.length());
        }
    }

    /** A response with the conversation and tool calls, answered under no particular model name. */
    public ResponseEvent(String id, String promptId, String prompt, String response, long policyVersion, Double logprob,
            Double refLogprob, String source, long timestamp, String clientId, List<ChatMessage> messages, List<ToolCall> toolCalls) {
        this(id, promptId, prompt, response, policyVersion, logprob, refLogprob, source, timestamp, clientId, messages, toolCalls,
                null);
    }

    /** A single-prompt response (no conversation logged) with the client's label. */
    public ResponseEvent(String id, String promptId, String prompt, String response, long policyVersion, Double logprob,
            Double refLogprob, String source, long timestamp, String clientId) {
        this(id, promptId, prompt, response, policyVersion, logprob, refLogprob, source, timestamp, clientId, null, null);
    }

    /** A response without a client's label. */
    public ResponseEvent(String id, String promptId, String prompt, String response, long policyVersion, Double logprob,
            Double refLogprob, String source, long timestamp) {
        this(id, promptId, prompt, response, policyVersion, logprob, refLogprob, source, timestamp, null, null, null);
    }

    /** The same response labelled with the client's (or upstream's) own id. */
    public ResponseEvent withClientId(String label) {
        return new ResponseEvent(id, promptId, prompt, response, policyVersion, logprob, refLogprob, source, timestamp, label,
                messages, toolCalls, model);
    }

    /** The same response with the conversation it answered and the tool calls it made (either may be null). */
    public ResponseEvent withConversation(List<ChatMessage> conversation, List<ToolCall> calls) {
        return new ResponseEvent(id, promptId, prompt, response, policyVersion, logprob, refLogprob, source, timestamp, clientId,
                conversation, calls, model);
    }

    /** The same response, answered under {@code name} (a swapped-in version's adapter name; null: none). */
    public ResponseEvent withModel(String name) {
        return new ResponseEvent(id, promptId, prompt, response, policyVersion, logprob, refLogprob, source, timestamp, clientId,
                messages, toolCalls, name);
    }

    static void checkSource(String source) {
        if (!SOURCE_POLICY.equals(source) && !SOURCE_REFERENCE.equals(source) && !SOURCE_SAMPLE.equals(source)) {
            throw new InvalidEventException("source", "must be 'policy', 'reference' or 'sample', got " + source);
        }
    }

    @Override
    public String key() {
        return promptId;
    }

    @JsonIgnore
    public boolean isReference() {
        return SOURCE_REFERENCE.equals(source);
    }

    /** This response with its scores: what the scoring operator emits. */
    public ScoredSample scored(double reward, Map<String, Double> utilities) {
        return new ScoredSample(id, promptId, prompt, response, policyVersion, logprob, refLogprob, source,
                timestamp, reward, utilities);
    }

    public static ResponseEvent fromJson(JsonFields f) {
        return new ResponseEvent(f.requireText("id"), f.requireText("promptId"), f.requireString("prompt"),
                f.requireString("response"), f.requireLong("policyVersion"), f.optionalFinite("logprob"),
                f.optionalFinite("refLogprob"), f.requireText("source"), f.requireLong("timestamp"), f.optionalText("clientId"),
                f.optionalObjectList("messages", ChatMessage::fromJson), f.optionalObjectList("toolCalls", ToolCall::fromJson),
                f.optionalText("model"));
    }
}
