package dev.dualign.model.text;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * A word-level tokenizer saved as a HuggingFace {@code tokenizer.json} (WordLevel model,
 * whitespace split, lower-case) and loaded through DJL's HuggingFace tokenizers, offline. Ids 0–4
 * are the special tokens; a user's own tokenizer.json of the same kind loads the same way.
 */
public final class WordTokenizer implements AutoCloseable {
    public static final int PAD = 0;
    public static final int UNK = 1;
    public static final int BOS = 2;
    public static final int SEP = 3;
    public static final int EOS = 4;
    public static final List<String> SPECIALS = List.of("<pad>", "<unk>", "<bos>", "<sep>", "<eos>");

    private final HuggingFaceTokenizer hf;
    private final String[] words;
    /** Set when the file is exactly our kind (WordLevel, WhitespaceSplit, Lowercase): a JNI-free encoder. */
    private final Map<String, Integer> direct;

    private WordTokenizer(HuggingFaceTokenizer hf, String[] words, Map<String, Integer> direct) {
        this.hf = hf;
        this.words = words;
        this.direct = direct;
    }

    /** Writes a tokenizer.json for {@code vocabulary} (specials first, then the words in order). */
    public static void write(Path file, List<String> vocabulary) {
        ObjectMapper m = new ObjectMapper();
        ObjectNode root = m.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        for (int i = 0; i < SPECIALS.size(); i++) {
            added.addObject().put("id", i).put("content", SPECIALS.get(i)).put("single_word", false)
                    .put("lstrip", false).put("rstrip", false).put("normalized", false).put("special", true);
        }
        root.putObject("normalizer").put("type", "Lowercase");
        root.putObject("pre_tokenizer").put("type", "WhitespaceSplit");
        root.putNull("post_processor");
        root.putNull("decoder");
        ObjectNode model = root.putObject("model");
        model.put("type", "WordLevel");
        ObjectNode vocab = model.putObject("vocab");
        for (int i = 0; i < SPECIALS.size(); i++) {
            vocab.put(SPECIALS.get(i), i);
        }
        int id = SPECIALS.size();
        for (String w : vocabulary) {
            if (!vocab.has(w)) {
                vocab.put(w, id++);
            }
        }
        model.put("unk_token", "<unk>");
        try {
            Files.write(file, m.writerWithDefaultPrettyPrinter().writeValueAsBytes(root));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }

    public static WordTokenizer load(Path file) {
        try {
            JsonNode root = new ObjectMapper().readTree(file.toFile());
            JsonNode vocab = root.path("model").path("vocab");
            if (!vocab.isObject() || vocab.size() <= SPECIALS.size()) {
                throw new IllegalArgumentException(file + " is not a word-level tokenizer.json with a vocabulary");
            }
            String[] words = new String[vocab.size()];
            Iterator<Map.Entry<String, JsonNode>> it = vocab.fields();
            while (it.hasNext()) {
                Map.Entry<String, JsonNode> e = it.next();
                words[e.getValue().asInt()] = e.getKey();
            }
            for (int i = 0; i < SPECIALS.size(); i++) {
                if (!SPECIALS.get(i).equals(words[i])) {
                    throw new IllegalArgumentException(file + ": id " + i + " must be " + SPECIALS.get(i));
                }
            }
            HuggingFaceTokenizer hf = HuggingFaceTokenizer.newInstance(file, Map.of("addSpecialTokens", "false", "maxLength", "512"));
            boolean simple = "WordLevel".equals(root.path("model").path("type").asText())
                    && "WhitespaceSplit".equals(root.path("pre_tokenizer").path("type").asText())
                    && "Lowercase".equals(root.path("normalizer").path("type").asText());
            Map<String, Integer> direct = null;
            if (simple) {
                direct = new java.util.HashMap<>();
                for (int i = 0; i < words.length; i++) {
                    direct.put(words[i], i);
                }
            }
            return new WordTokenizer(hf, words, direct);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot load tokenizer " + file, e);
        }
    }

    public int vocabSize() {
        return words.length;
    }

    /** Token ids of {@code text}; unknown words become {@link #UNK}. */
    public int[] encode(String text) {
        if (direct != null) {
            return encodeDirect(text);
        }
        return encodeNative(text);
    }

    /** Through the HuggingFace tokenizer (the definition; used for any tokenizer.json). */
    public int[] encodeNative(String text) {
        Encoding e = hf.encode(text, false, false);
        long[] ids = e.getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = (int) ids[i];
        }
        return out;
    }

    /**
     * The same as {@link #encodeNative} for a WordLevel tokenizer with whitespace split and
     * lower-casing, without a JNI call per text (tested equal on the whole corpus and on edge
     * cases: Unicode spaces, control characters, special tokens inside words).
     */
    private int[] encodeDirect(String text) {
        if (text.indexOf('<') >= 0) {
            return encodeNative(text); // special tokens such as <eos> split words apart there; rare
        }
        // lower-case, then split on runs of Unicode White_Space (the WhitespaceSplit pre-tokenizer),
        // without a regex: split("\\s+") was the largest single cost of scoring a batch (profiled)
        String s = text.toLowerCase(java.util.Locale.ROOT);
        int n = s.length();
        int[] out = new int[Math.max(4, n / 4)];
        int count = 0;
        int i = 0;
        while (i < n) {
            while (i < n && isWhiteSpace(s.charAt(i))) {
                i++;
            }
            int start = i;
            while (i < n && !isWhiteSpace(s.charAt(i))) {
                i++;
            }
            if (i > start) {
                if (count == out.length) {
                    out = java.util.Arrays.copyOf(out, out.length * 2);
                }
                out[count++] = direct.getOrDefault(s.substring(start, i), UNK);
            }
        }
        return count == out.length ? out : java.util.Arrays.copyOf(out, count);
    }

    /** Unicode's White_Space property, which the tokenizer's whitespace split uses (all in the BMP). */
    static boolean isWhiteSpace(char c) {
        if (c <= ' ') {
            return c == ' ' || (c >= '\t' && c <= '\r');
        }
        if (c < 0x85) {
            return false;
        }
        return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029
                || c == 0x202F || c == 0x205F || c == 0x3000;
    }

    /** Token ids of many texts. */
    public int[][] encodeAll(List<String> texts) {
        if (direct != null) {
            int[][] out = new int[texts.size()][];
            for (int i = 0; i < out.length; i++) {
                out[i] = encodeDirect(texts.get(i));
            }
            return out;
        }
        Encoding[] enc = hf.batchEncode(texts, false, false);
        int[][] out = new int[enc.length][];
        for (int i = 0; i < enc.length; i++) {
            long[] ids = enc[i].getIds();
            out[i] = new int[ids.length];
            for (int k = 0; k < ids.length; k++) {
                out[i][k] = (int) ids[k];
            }
        }
        return out;
    }

    /** Words of {@code ids} joined by spaces, stopping at the first {@link #EOS}; pads skipped. */
    public String decode(int[] ids) {
        StringBuilder sb = new StringBuilder();
        for (int id : ids) {
            if (id == EOS) {
                break;
            }
            if (id == PAD) {
                continue;
            }
            if (sb.length() > 0) {
                sb.append(' ');
            }
            sb.append(id >= 0 && id < words.length ? words[id] : "<unk>");
        }
        return sb.toString();
    }

    public String word(int id) {
        return words[id];
    }

    @Override
    public void close() {
        hf.close();
    }
}
