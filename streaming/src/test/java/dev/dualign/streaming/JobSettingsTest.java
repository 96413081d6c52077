package dev.dualign.streaming;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dualign.core.config.Config;
import dev.dualign.core.config.ConfigException;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Margins: absolute (`harmless: 0.5`) or relative to the reference (`harmless: {margin: 0.1, relative-to: reference}`). */
class JobSettingsTest {
    static JobSettings of(Map<String, Object> m) {
        return JobSettings.from(Config.of(m, JobConfig.ALL, JobConfig.PASS_THROUGH), Path.of("/tmp"));
    }

    @Test
    void aMarginIsAbsoluteOrRelativeToTheReference() {
        JobSettings s = of(Map.of("constraints.harmless.margin", 0.1, "constraints.harmless.relative-to", "reference",
                "constraints.humour", 0.2));
        assertThat(s.names()).containsExactly("harmless", "humour");
        assertThat(s.constraints()).containsEntry("harmless", 0.1).containsEntry("humour", 0.2);
        assertThat(s.control().relativeToReference()).containsExactly("harmless");
        assertThat(s.absoluteMargins()).isNull(); // the judge must wait for the controller's word
        assertThat(s.control().resolve(new double[] {0.35, 0.0})).containsExactly(new double[] {0.45, 0.2},
                org.assertj.core.api.Assertions.within(1e-12));

        JobSettings abs = of(Map.of("constraints.harmless", 0.5));
        assertThat(abs.control().relativeToReference()).isEmpty();
        assertThat(abs.absoluteMargins()).containsExactly(Map.entry("harmless", 0.5));
    }

    @Test
    void aBadRelativeMarginFailsAtStartUpNamingTheKey() {
        assertThatThrownBy(() -> of(Map.of("constraints.harmless.relative-to", "reference")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("constraints.harmless.margin");
        assertThatThrownBy(() -> of(Map.of("constraints.harmless.margin", 0.1, "constraints.harmless.relative-to", "stable")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("constraints.harmless.relative-to").hasMessageContaining("stable");
        assertThatThrownBy(() -> of(Map.of("constraints.harmless.margn", 0.1)))
                .isInstanceOf(ConfigException.class).hasMessageContaining("constraints.harmless.margn");
        assertThatThrownBy(() -> of(Map.of("constraints.harmless.margin", 0.1, "constraints.harmless.relative-to", "reference",
                "dual.mode", "primal-dual"))).isInstanceOf(ConfigException.class)
                .hasMessageContaining("constraints.harmless.relative-to").hasMessageContaining("primal-dual");
    }

    @Test
    void theRewardsRangeAndTheConstraintsNamesAreCheckedAtStartUp() {
        JobSettings s = of(Map.of("constraints.harmless", 0.5, "dual.reward-range-lo", 0.0, "dual.reward-range-hi", 1.0));
        assertThat(s.rewardRangeLo()).isEqualTo(0.0);
        assertThat(s.rewardRangeHi()).isEqualTo(1.0);
        assertThatThrownBy(() -> of(Map.of("constraints.harmless", 0.5, "dual.reward-range-lo", 1.0, "dual.reward-range-hi", 1.0)))
                .isInstanceOf(ConfigException.class).hasMessageContaining("dual.reward-range-hi");
        // the estimates report the reward (and its decision bound) under "reward": a constraint may not take the name
        assertThatThrownBy(() -> of(Map.of("constraints.reward", 0.5))).isInstanceOf(ConfigException.class)
                .hasMessageContaining("constraints.reward").hasMessageContaining("may not be named reward");
    }
}
