package dev.dualign.core.event;

import java.util.ArrayList;
import java.util.List;
import java.util.function.ToIntFunction;

/**
 * How a scorer reads a conversation: our documented default chat template. A scorer scores a pair:
 * the conversation before the response (one text, oldest turn first, cut from the oldest turn to fit
 * the scorer's length) and the response (its text, then its tool calls). A single user message reads
 * as its bare text, exactly as before conversations were logged, so single-turn scores do not move.
 *
 * <pre>
 * system: You are a careful assistant.
 * user: what is the weather in Paris?
 * assistant: → get_weather({"city":"Paris"})
 * tool get_weather: 21 C and sunny
 * user: should I take an umbrella?
 * </pre>
 */
public final class ChatTemplate {
    private ChatTemplate() {}

    /** One message as a line of the template. */
    public static String turn(ChatMessage m) {
        StringBuilder b = new StringBuilder();
        if (m.role().equals("tool")) {
            String who = m.name() != null ? m.name() : m.toolCallId();
            b.append("tool").append(who == null || who.isEmpty() ? "" : " " + who).append(": ").append(m.content());
        } else {
            b.append(m.role()).append(": ").append(m.content());
        }
        appendCalls(b, m.toolCalls());
        return b.toString();
    }

    /** The response as a scorer reads it: its text, then each tool call as {@code → name(arguments)}. */
    public static String response(String text, List<ToolCall> calls) {
        if (calls == null || calls.isEmpty()) {
            return text;
        }
        StringBuilder b = new StringBuilder(text);
        appendCalls(b, calls);
        return b.toString().strip();
    }

    private static void appendCalls(StringBuilder b, List<ToolCall> calls) {
        if (calls == null) {
            return;
        }
        for (ToolCall c : calls) {
            b.append(b.isEmpty() || b.charAt(b.length() - 1) == ' ' ? "" : " ").append("→ ").append(c.name()).append('(')
                    .append(c.arguments()).append(')');
        }
    }

    /** Whether {@code messages} is no more than one user message: then the prompt's text is read alone. */
    public static boolean singlePrompt(List<ChatMessage> messages) {
        return messages == null || messages.isEmpty() || messages.size() == 1 && messages.get(0).role().equals("user")
                && messages.get(0).toolCalls() == null;
    }

    /**
     * The conversation as one text for a scorer whose budget for it is {@code budget} tokens, counted
     * by {@code tokens}: system and developer messages are always kept; the other turns are kept from
     * the newest back while they fit, so the oldest go first. The newest turn is kept even when it
     * alone is over the budget (the scorer's own truncation then cuts it).
     */
    public static String context(List<ChatMessage> messages, ToIntFunction<String> tokens, int budget) {
        if (singlePrompt(messages)) {
            return messages == null || messages.isEmpty() ? "" : messages.get(0).content();
        }
        int n = messages.size();
        String[] lines = new String[n];
        boolean[] keep = new boolean[n];
        int used = 0;
        for (int i = 0; i < n; i++) {
            lines[i] = turn(messages.get(i));
            if (pinned(messages.get(i))) {
                keep[i] = true;
                used += tokens.applyAsInt(lines[i]);
            }
        }
        boolean first = true;
        for (int i = n - 1; i >= 0; i--) {
            if (keep[i]) {
                continue;
            }
            int cost = tokens.applyAsInt(lines[i]);
            if (!first && used + cost > budget) {
                break; // this turn and every older one are dropped
            }
            keep[i] = true;
            used += cost;
            first = false;
        }
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            if (keep[i]) {
                out.add(lines[i]);
            }
        }
        return String.join("\n", out);
    }

    private static boolean pinned(ChatMessage m) {
        return m.role().equals("system") || m.role().equals("developer");
    }
}
