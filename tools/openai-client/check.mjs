// Drives a Dualign server with the official `openai` npm client, as an existing chatbot client would:
// lists models, asks for completions plain and streamed, and checks the errors it gets back.
// Usage: node check.mjs BASE_URL [PROMPT]   (BASE_URL e.g. http://127.0.0.1:8080; exits 1 on any failure)
import OpenAI from "openai";

const base = (process.argv[2] || "http://127.0.0.1:8080").replace(/\/$/, "");
const prompt = process.argv[3] || "how do i reset my password";
const client = new OpenAI({ baseURL: base + "/v1", apiKey: process.env.OPENAI_API_KEY || "not-needed", maxRetries: 2 });
const report = {};

function check(cond, what) {
  if (!cond) {
    throw new Error("check failed: " + what);
  }
}

const models = await client.models.list();
const ids = models.data.map((m) => m.id);
check(ids.length >= 1, "models.list() returns a model");
const model = ids[0];
report.models = ids;

const plain = await client.chat.completions.create({
  model,
  messages: [{ role: "system", content: "be kind" }, { role: "user", content: prompt }],
  n: 2,
  max_tokens: 12,
  temperature: 0.8,
  top_p: 0.95,
  logprobs: true,
  user: "ci-user",
});
check(plain.object === "chat.completion", "object is chat.completion, got " + plain.object);
check(plain.choices.length === 2, "n=2 gives two choices, got " + plain.choices.length);
for (const c of plain.choices) {
  check(typeof c.message.content === "string", "choice has text content");
  check(["stop", "length"].includes(c.finish_reason), "finish_reason stop|length, got " + c.finish_reason);
  const words = c.logprobs.content.map((t) => t.token);
  check(words.join(" ") === c.message.content, "logprob tokens spell the content");
  check(words.length <= 12, "max_tokens respected");
  check(c.logprobs.content.every((t) => t.logprob <= 0), "log-probabilities ≤ 0");
}
check(plain.usage.completion_tokens === plain.choices.reduce((n, c) => n + c.logprobs.content.length, 0),
  "usage counts the words of every choice");
report.plain = plain.choices.map((c) => c.message.content);
report.fingerprint = plain.system_fingerprint;

const stream = await client.chat.completions.create({
  model,
  messages: [{ role: "user", content: prompt }],
  max_tokens: 12,
  stream: true,
  stream_options: { include_usage: true },
});
let text = "";
let finish = null;
let usage = null;
let chunks = 0;
for await (const chunk of stream) {
  chunks++;
  check(chunk.object === "chat.completion.chunk", "stream chunks are chat.completion.chunk");
  for (const c of chunk.choices) {
    text += c.delta.content || "";
    finish = c.finish_reason || finish;
  }
  usage = chunk.usage || usage;
}
check(["stop", "length"].includes(finish), "the stream finishes with stop|length, got " + finish);
check(usage !== null, "include_usage gives a usage chunk");
check(usage.completion_tokens === (text === "" ? 0 : text.split(" ").length), "streamed words match usage");
report.stream = { text, chunks, finish };

try {
  await client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: prompt }] });
  check(false, "an unknown model is refused");
} catch (e) {
  check(e instanceof OpenAI.NotFoundError, "unknown model: NotFoundError, got " + e);
  check(e.code === "model_not_found", "unknown model: code model_not_found, got " + e.code);
}
try {
  await client.chat.completions.create({ model, messages: [{ role: "user", content: prompt }], temperature: 7 });
  check(false, "temperature 7 is refused");
} catch (e) {
  check(e instanceof OpenAI.BadRequestError, "bad temperature: BadRequestError, got " + e);
  check(e.param === "temperature", "bad temperature: param names it, got " + e.param);
}
report.errors = "ok";
console.log(JSON.stringify({ ok: true, base, ...report }));
