package dev.dualign.core.event;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class WordsTest {
    @Test
    void countsRunsOfNonWhitespace() {
        assertThat(Words.count("")).isZero();
        assertThat(Words.count("   ")).isZero();
        assertThat(Words.count("one")).isEqualTo(1);
        assertThat(Words.count("  one two\tthree\nfour  ")).isEqualTo(4);
    }

    @Test
    void aResponseOverTheBoundIsTooLongAndSaysWhy() {
        assertThat(Words.tooLong("a b", "c d e", 5)).isEmpty();
        assertThat(Words.tooLong("a b", "c d e f", 5)).hasValueSatisfying(why -> assertThat(why)
                .contains("prompt 2 words").contains("response 4 words").contains("scoring.max-words 5"));
        String longResponse = "word ".repeat(10_000);
        assertThat(Words.tooLong("why", longResponse, 4096)).isPresent();
    }
}
