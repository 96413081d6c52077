package dev.dualign.core.event;

import static org.assertj.core.api.Assertions.assertThat;

import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class DeadLetterTest {
    @Test
    void aHugeRecordIsCutToABoundedHeadWithItsSizeAndDigestSoTheDeadLetterAlwaysFitsKafka() throws Exception {
        byte[] garbage = new byte[2 * 1024 * 1024];
        new SplittableRandom(1).nextBytes(garbage);
        DeadLetter d = DeadLetter.of("dualign.responses", 3, 42, garbage, "unreadable ResponseEvent: " + "x".repeat(10_000), 7L);
        assertThat(d.truncated()).isTrue();
        assertThat(d.rawBytes()).isEqualTo(Arrays.copyOf(garbage, DeadLetter.MAX_RAW_BYTES));
        assertThat(d.rawSize()).isEqualTo(garbage.length);
        assertThat(d.rawSha256()).isEqualTo(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(garbage)));
        assertThat(d.error()).hasSizeLessThanOrEqualTo(DeadLetter.MAX_ERROR_CHARS + 1).endsWith("…");
        byte[] json = d.toJsonBytes();
        assertThat(json.length).isLessThan(128 * 1024); // far below the 1 MiB max.request.size of the sinks
        assertThat(Events.parse(DeadLetter.class, json)).isEqualTo(d);
    }

    @Test
    void aSmallRecordIsKeptWhole() {
        DeadLetter d = DeadLetter.of("t", 0, 1, "{not json".getBytes(), "not valid JSON", 1L);
        assertThat(d.truncated()).isFalse();
        assertThat(new String(d.rawBytes())).isEqualTo("{not json");
        assertThat(new String(d.toJsonBytes())).doesNotContain("rawSize");
    }
}
