package dev.dualign.serving;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import java.util.Set;

/**
 * An OpenAI chat-completion request as the built-in policy reads it, checked field by field so a
 * client learns which parameter is wrong ({@link ApiError} names it). The built-in policy is
 * single-turn: it answers the last user message; earlier turns and system messages are not seen
 * (a gateway forwards them all to its upstream).
 *
 * @param prompt the text of the last user message
 * @param n responses wanted
 * @param temperature sampling temperature (0: greedy)
 * @param topP nucleus mass (0: the most likely word only)
 * @param maxTokens most words per response
 * @param logprobs whether to return each word's log-probability
 * @param stream whether to answer with server-sent events
 * @param includeUsage whether a streamed answer ends with a usage chunk ({@code stream_options.include_usage})
 * @param user the client's end-user id: accepted, never used to route
 * @param messages the whole conversation, logged with each answer (our model answers the last user
 *     message; the scorers read all of it)
 * @param adapter the runtime adapter the request names as its model, or null for the server's own model
 */
record ChatCompletion(String prompt, int n, double temperature, double topP, int maxTokens, boolean logprobs,
        boolean stream, boolean includeUsage, String user, List<dev.dualign.core.event.ChatMessage> messages, String adapter) {

    /** Parameters a client may send that change what the built-in policy would have to do, and it cannot. */
    private static final Set<String> UNSUPPORTED = Set.of("tools", "tool_choice", "functions", "function_call", "stop",
            "response_format", "audio", "modalities", "prediction", "logit_bias");
    private static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant", "tool", "function");
    /** Sampling needs a positive temperature and nucleus; these stand in for OpenAI's 0 (greedy). */
    static final double GREEDY_TEMPERATURE = 1e-4;
    static final double GREEDY_TOP_P = 1e-9;

    /** An OpenAI-style error: HTTP status, type, the parameter at fault (or null) and a code (or null). */
    static final class ApiError extends RuntimeException {
        final int status;
        final String type;
        final String param;
        final String code;

        ApiError(int status, String type, String param, String code, String message) {
            super(message);
            this.status = status;
            this.type = type;
            this.param = param;
            this.code = code;
        }

        static ApiError invalid(String param, String message) {
            return new ApiError(400, "invalid_request_error", param, null, message);
        }
    }

    /**
     * Reads a request body.
     *
     * @param model the model id this server serves
     * @param adapters whether a name is a loaded runtime adapter's (any other model is refused with 404)
     * @param maxTokens the server's longest response ({@code server.max-tokens})
     * @param maxN most responses one request may ask for ({@code server.batch})
     */
    static ChatCompletion parse(JsonNode body, String model, java.util.function.Predicate<String> adapters, int maxTokens, int maxN) {
        for (String f : UNSUPPORTED) {
            JsonNode v = body.get(f);
            if (v != null && !v.isNull() && !(v.isArray() && v.isEmpty())) {
                throw ApiError.invalid(f, "'" + f + "' is not supported by this server");
            }
        }
        JsonNode m = body.get("model");
        String adapter = m != null && m.isTextual() && !m.asText().equals(model) ? m.asText() : null;
        if (m != null && !m.isNull() && !(m.isTextual() && (m.asText().equals(model) || adapters.test(adapter)))) {
            throw modelNotFound(m.isTextual() ? m.asText() : m.toString(), model);
        }
        String prompt = lastUserMessage(body.get("messages"));
        int n = integer(body, "n", 1, 1, maxN);
        double temperature = number(body, "temperature", 1.0, 0, 2);
        double topP = number(body, "top_p", 1.0, 0, 1);
        String lengthKey = body.hasNonNull("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        int length = integer(body, lengthKey, maxTokens, 1, maxTokens);
        boolean logprobs = bool(body, "logprobs");
        int top = integer(body, "top_logprobs", 0, 0, 20);
        if (top > 0) {
            throw ApiError.invalid("top_logprobs", "top_logprobs is not supported: only the chosen words' log-probabilities are returned");
        }
        boolean stream = bool(body, "stream");
        JsonNode so = body.get("stream_options");
        boolean usage = false;
        if (so != null && !so.isNull()) {
            if (!so.isObject()) {
                throw ApiError.invalid("stream_options", "'stream_options' must be an object");
            }
            usage = bool(so, "include_usage");
        }
        JsonNode u = body.get("user");
        if (u != null && !u.isNull() && !u.isTextual()) {
            throw ApiError.invalid("user", "'user' must be a string");
        }
        return new ChatCompletion(prompt, n, temperature == 0 ? GREEDY_TEMPERATURE : temperature, topP == 0 ? GREEDY_TOP_P : topP,
                length, logprobs, stream, usage, u == null || u.isNull() ? null : u.asText(),
                Conversations.messages(body.get("messages")), adapter);
    }

    /** OpenAI's error for a model the server does not serve (404, {@code model_not_found}). */
    static ApiError modelNotFound(String name, String model) {
        return new ApiError(404, "invalid_request_error", "model", "model_not_found",
                "The model '" + name + "' does not exist; this server serves '" + model + "' and the adapters /v1/models lists");
    }

    private static String lastUserMessage(JsonNode messages) {
        if (messages == null || !messages.isArray() || messages.isEmpty()) {
            throw ApiError.invalid("messages", "'messages' must be a non-empty array");
        }
        String last = null;
        for (int i = 0; i < messages.size(); i++) {
            JsonNode msg = messages.get(i);
            String where = "messages[" + i + "]";
            if (!msg.isObject()) {
                throw ApiError.invalid(where, where + " must be an object");
            }
            JsonNode role = msg.get("role");
            if (role == null || !role.isTextual() || !ROLES.contains(role.asText())) {
                throw ApiError.invalid(where + ".role", where + ".role must be one of " + List.copyOf(ROLES));
            }
            String text = content(msg.get("content"), where + ".content", !role.asText().equals("assistant"));
            if (role.asText().equals("user")) {
                last = text;
            }
        }
        if (last == null || last.isBlank()) {
            throw ApiError.invalid("messages", "'messages' has no user message with text to answer");
        }
        return last;
    }

    /** A message's text: a string, or an array of parts of which the text ones are joined. */
    private static String content(JsonNode c, String where, boolean required) {
        if (c == null || c.isNull()) {
            if (required) {
                throw ApiError.invalid(where, where + " is missing");
            }
            return "";
        }
        if (c.isTextual()) {
            return c.asText();
        }
        if (c.isArray()) {
            StringBuilder sb = new StringBuilder();
            for (int k = 0; k < c.size(); k++) {
                JsonNode part = c.get(k);
                String type = part.path("type").asText("");
                if (!type.equals("text")) {
                    throw ApiError.invalid(where + "[" + k + "]", "only text content parts are supported, got '" + type + "'");
                }
                if (!part.path("text").isTextual()) {
                    throw ApiError.invalid(where + "[" + k + "].text", where + "[" + k + "].text must be a string");
                }
                sb.append(sb.length() > 0 ? " " : "").append(part.get("text").asText());
            }
            return sb.toString();
        }
        throw ApiError.invalid(where, where + " must be a string or an array of text parts");
    }

    private static int integer(JsonNode body, String key, int dflt, int min, int max) {
        JsonNode v = body.get(key);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.isIntegralNumber() || v.asLong() < min || v.asLong() > max) {
            throw ApiError.invalid(key, "'" + key + "' must be an integer in [" + min + ", " + max + "], got " + v);
        }
        return v.asInt();
    }

    private static double number(JsonNode body, String key, double dflt, double min, double max) {
        JsonNode v = body.get(key);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.isNumber() || !(v.asDouble() >= min && v.asDouble() <= max)) {
            throw ApiError.invalid(key, "'" + key + "' must be a number in [" + min + ", " + max + "], got " + v);
        }
        return v.asDouble();
    }

    private static boolean bool(JsonNode body, String key) {
        JsonNode v = body.get(key);
        if (v == null || v.isNull()) {
            return false;
        }
        if (!v.isBoolean()) {
            throw ApiError.invalid(key, "'" + key + "' must be a boolean, got " + v);
        }
        return v.asBoolean();
    }
}
