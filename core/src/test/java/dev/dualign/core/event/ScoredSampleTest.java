package dev.dualign.core.event;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

class ScoredSampleTest {
    @Test
    void shouldRoundTripEveryField() {
        ScoredSample s = new ScoredSample("r1", "p1", "how do I sleep", "try a routine", 3L, -4.5, -5.0,
                "policy", 1700000000000L, 0.75, Map.of("harmless", 0.2, "humour", -0.1));
        String json = s.toJson();
        assertThat(json).contains("\"schema\":1").contains("\"promptId\":\"p1\"");
        assertThat(ScoredSample.fromJson(json)).isEqualTo(s);
    }

    @Test
    void shouldWriteExactlyWhatDataBindingWrites() throws Exception {
        java.util.Random r = new java.util.Random(7);
        java.util.List<ScoredSample> samples = new java.util.ArrayList<>(java.util.List.of(
                ScoredSample.of("p", 0.0, Map.of()),
                new ScoredSample(null, "p\"q", "ünïcödé \\ \n\t ☃ 😀", "", null, -0.0, null, "reference", null, -1e-300,
                        new java.util.LinkedHashMap<>(Map.of("harmless", 1e20))),
                new ScoredSample("r1", "p1", "how do I sleep", "try a routine", 3L, -4.5, -5.0,
                        "policy", 1700000000000L, 0.75, Map.of("harmless", 0.2, "humour", -0.1))));
        for (int i = 0; i < 200; i++) {
            Map<String, Double> u = new java.util.LinkedHashMap<>();
            for (int k = 0; k < r.nextInt(4); k++) {
                u.put("u" + k, r.nextGaussian() * Math.pow(10, r.nextInt(20) - 10));
            }
            samples.add(new ScoredSample(r.nextBoolean() ? "r" + i : null, "p" + r.nextInt(), "prompt " + r.nextLong(),
                    r.nextBoolean() ? null : "resp " + r.nextDouble(), r.nextBoolean() ? (long) r.nextInt(50) : null,
                    r.nextBoolean() ? -r.nextDouble() * 30 : null, r.nextBoolean() ? -r.nextDouble() * 30 : null,
                    r.nextBoolean() ? "policy" : null, r.nextBoolean() ? r.nextLong() : null, r.nextGaussian(), u));
        }
        for (ScoredSample s : samples) {
            byte[] expected = EventJson.mapper().writeValueAsBytes(s);
            assertThat(new String(s.toJsonBytes(), java.nio.charset.StandardCharsets.UTF_8))
                    .isEqualTo(new String(expected, java.nio.charset.StandardCharsets.UTF_8));
            assertThat(ScoredSample.fromJson(s.toJsonBytes())).isEqualTo(s);
        }
    }

    @Test
    void shouldAcceptTheMinimalFormAndIgnoreUnknownFields() {
        ScoredSample s = ScoredSample.fromJson(
                "{\"promptId\":\"p1\",\"reward\":0.3,\"utilities\":{\"harmless\":-0.2},\"extra\":[1,2],\"schema\":7}");
        assertThat(s.promptId()).isEqualTo("p1");
        assertThat(s.utility("harmless")).isEqualTo(-0.2);
        assertThat(s.policyVersion()).isNull();
    }

    @Test
    void shouldNameTheMissingOrBadField() {
        assertThatThrownBy(() -> ScoredSample.fromJson("{\"reward\":1,\"utilities\":{}}"))
                .isInstanceOf(InvalidEventException.class).hasMessageContaining("promptId");
        assertThatThrownBy(() -> ScoredSample.fromJson("{\"promptId\":\"p\",\"reward\":\"x\",\"utilities\":{}}"))
                .hasMessageContaining("reward").hasMessageContaining("number");
        assertThatThrownBy(() -> ScoredSample.fromJson("{\"promptId\":\"p\",\"reward\":1,\"utilities\":{\"h\":\"NaN\"}}"))
                .hasMessageContaining("utilities.h").hasMessageContaining("finite");
        assertThatThrownBy(() -> ScoredSample.fromJson("{\"promptId\":\"p\",\"reward\":1e999,\"utilities\":{}}"))
                .hasMessageContaining("reward").hasMessageContaining("finite");
        assertThatThrownBy(() -> ScoredSample.fromJson("{\"promptId\":\"p\",\"reward\":NaN,\"utilities\":{}}"))
                .hasMessageContaining("not valid JSON");
        assertThatThrownBy(() -> ScoredSample.fromJson("[1,2]")).hasMessageContaining("JSON object");
        assertThatThrownBy(() -> ScoredSample.fromJson("")).hasMessageContaining("empty");
    }

    @Test
    void shouldNameAUtilityThatAConstraintNeedsButTheSampleLacks() {
        ScoredSample s = ScoredSample.of("p", 1, Map.of("humour", 0.1));
        assertThatThrownBy(() -> s.utility("harmless")).hasMessageContaining("utilities.harmless");
    }
}
