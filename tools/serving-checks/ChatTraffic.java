import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Users of a chatbot, as an outside process: CLIENTS clients asking chat completions one after the
 * other for SECONDS, each a prompt drawn from 240 (so the job sees many distinct prompts, as live
 * traffic has), a line per 50 answers on standard output. Counts answers by HTTP status; any status
 * but 200 (or no answer) is a failure. Exit status 0 when none failed. With {@code CHAT_KEY} set, each
 * request carries it as its bearer token (a server that asks its clients for keys).
 *
 * <pre>java tools/serving-checks/ChatTraffic.java http://127.0.0.1:8080 CLIENTS SECONDS</pre>
 */
public final class ChatTraffic {
    private static final String[] TOPICS = {"sleep", "money", "work", "family", "health", "my bank", "my boss", "exams"};
    private static final String[] OPENERS = {"i cannot stop worrying about", "how do i deal with", "what should i do about",
            "i feel stuck with", "help me think about", "i keep failing at"};
    private static final String[] ENDINGS = {"", " today", " at night", " again", " lately"};

    public static void main(String[] args) throws Exception {
        URI base = URI.create(args[0].replaceAll("/+$", ""));
        int clients = Integer.parseInt(args[1]);
        long until = System.nanoTime() + Long.parseLong(args[2]) * 1_000_000_000L;
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        String key = System.getenv("CHAT_KEY");
        AtomicLong ok = new AtomicLong();
        AtomicLong failed = new AtomicLong();
        List<Thread> threads = new ArrayList<>();
        for (int c = 0; c < clients; c++) {
            Random rnd = new Random(c);
            Thread t = new Thread(() -> {
                while (System.nanoTime() < until) {
                    String prompt = OPENERS[rnd.nextInt(OPENERS.length)] + " " + TOPICS[rnd.nextInt(TOPICS.length)]
                            + ENDINGS[rnd.nextInt(ENDINGS.length)];
                    String body = "{\"model\":\"dualign\",\"max_tokens\":24,\"messages\":[{\"role\":\"user\",\"content\":\""
                            + prompt + "\"}]}";
                    try {
                        HttpResponse<String> r = http.send(HttpRequest.newBuilder(base.resolve("/v1/chat/completions"))
                                .timeout(Duration.ofSeconds(60)).header("Content-Type", "application/json")
                                .header("Authorization", "Bearer " + (key == null ? "none" : key))
                                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
                        if (r.statusCode() == 200) {
                            if (ok.incrementAndGet() % 50 == 0) {
                                System.out.println("chat: " + ok.get() + " answered, " + failed.get() + " failed");
                            }
                        } else {
                            failed.incrementAndGet();
                            System.out.println("chat: HTTP " + r.statusCode() + ": " + r.body());
                        }
                    } catch (Exception e) {
                        failed.incrementAndGet();
                        System.out.println("chat: no answer: " + e);
                    }
                }
            });
            t.start();
            threads.add(t);
        }
        for (Thread t : threads) {
            t.join();
        }
        System.out.println("chat: done, " + ok.get() + " answered, " + failed.get() + " failed");
        System.exit(failed.get() == 0 ? 0 : 1);
    }
}
