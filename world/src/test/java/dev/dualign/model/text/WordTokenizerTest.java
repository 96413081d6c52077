package dev.dualign.model.text;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dualign.world.Oracle;
import dev.dualign.world.World;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WordTokenizerTest {
    @TempDir
    Path dir;

    @Test
    void javaEncoderEqualsTheHuggingFaceTokenizerOnTheWholeWorld() {
        Path f = dir.resolve("tokenizer.json");
        WordTokenizer.write(f, Oracle.vocabulary());
        try (WordTokenizer t = WordTokenizer.load(f)) {
            assertThat(t.vocabSize()).isEqualTo(Oracle.vocabulary().size() + 5);
            SplittableRandom rnd = new SplittableRandom(4);
            for (int i = 0; i < 3000; i++) {
                World.Prompt p = World.prompt(rnd);
                String r = i % 2 == 0 ? World.referenceResponse(p.intent(), rnd) : World.mixedResponse(p.intent(), rnd);
                for (String text : List.of(p.text(), r)) {
                    assertThat(t.encode(text)).as(text).isEqualTo(t.encodeNative(text));
                }
            }
            for (String odd : List.of("", "   ", "Hello  THERE , zebra\tcrossing\n?", "<eos> sleep", " sleep ",
                    "\u000Bsleep\fwell\r\n.", "\t\n", "sleep\u0001well", "SLEEP\u00A0well", "sleep\u2003well", "\u0001sleep well\u001F", "sleep<eos>well", "<PAD> <pad>x", "ΣΑΣ σας",
                    "sleep\u0085\u1680\u2028\u2029\u202F\u205F\u3000\u200Bwell",
                    "a  b   c    d     e      f       g        h         i          j           k")) {
                assertThat(t.encode(odd)).as(odd).isEqualTo(t.encodeNative(odd));
            }
            assertThat(t.encode("zebra")).containsExactly(WordTokenizer.UNK);
            assertThat(t.decode(t.encode("keep a regular bedtime ."))).isEqualTo("keep a regular bedtime .");
        }
    }
}
