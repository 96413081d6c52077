package dev.dualign.core.control;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dualign.core.config.Config;
import dev.dualign.core.config.ConfigException;
import dev.dualign.core.dual.DualMode;
import dev.dualign.core.dual.ProjectedSubgradient;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The controller's settings come from their own keys, and a bad one fails naming it. */
class ControlSettingsTest {
    static ControlSettings of(Map<String, ?> m) {
        return ControlSettings.from(Config.of(m, ControlOptions.ALL, List.of(ControlOptions.CONSTRAINTS_PREFIX)));
    }

    @Test
    void readsTheDualKeysAndTheConstraintsInOrder() {
        ControlSettings s = of(Map.of("constraints.harmless", 0.5, "constraints.humour.margin", 0.1,
                "constraints.humour.relative-to", "reference", "dual.mode", "one-shot", "dual.eta-schedule", "constant",
                "dual.enforce.every", 7, "dual.headroom", 0.02));
        assertThat(s.mode()).isEqualTo(DualMode.ONE_SHOT);
        assertThat(s.names()).containsExactlyInAnyOrder("harmless", "humour");
        assertThat(s.relativeToReference()).containsExactly("humour");
        assertThat(s.schedule()).isEqualTo(ProjectedSubgradient.Schedule.CONSTANT);
        assertThat(s.enforceEvery()).isEqualTo(7);
        assertThat(s.headroom()).isEqualTo(0.02);
        assertThat(s.beta()).isEqualTo(ControlOptions.BETA.defaultValue());
        assertThat(s.oneShotSamplesPerPrompt()).isEqualTo(ControlOptions.ONE_SHOT_SAMPLES.defaultValue());
    }

    @Test
    void theIterativeStepIsNewtonByDefaultAndTheSubgradientOnRequest() {
        ControlSettings d = of(Map.of("constraints.harmless", 0.5));
        assertThat(d.stepRule()).isEqualTo(dev.dualign.core.dual.StepRule.NEWTON);
        assertThat(d.newtonDamping()).isEqualTo(0.5);
        assertThat(d.newtonMaxStep()).isEqualTo(2.0);
        assertThat(d.newtonGain()).isEqualTo(0.5);
        ControlSettings s = of(Map.of("constraints.harmless", 0.5, "dual.step-rule", "subgradient", "dual.newton.damping", 0.8,
                "dual.newton.max-step", 1.5, "dual.newton.gain", 0.3));
        assertThat(s.stepRule()).isEqualTo(dev.dualign.core.dual.StepRule.SUBGRADIENT);
        assertThat(s.newtonDamping()).isEqualTo(0.8);
        assertThat(s.newtonMaxStep()).isEqualTo(1.5);
        assertThat(s.newtonGain()).isEqualTo(0.3);
        assertThatThrownBy(() -> of(Map.of("constraints.harmless", 0.5, "dual.newton.gain", 1.0)))
                .isInstanceOf(ConfigException.class).hasMessageContaining("dual.newton.gain");
        assertThatThrownBy(() -> of(Map.of("constraints.harmless", 0.5, "dual.step-rule", "adam")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("dual.step-rule");
    }

    @Test
    void aBadKeyFailsNamingIt() {
        assertThatThrownBy(() -> of(Map.of())).isInstanceOf(ConfigException.class).hasMessageContaining("constraints");
        assertThatThrownBy(() -> of(Map.of("constraints.harmless.margin", 0.1, "constraints.harmless.relative-to", "reference",
                "dual.mode", "primal-dual"))).isInstanceOf(ConfigException.class)
                .hasMessageContaining("constraints.harmless.relative-to").hasMessageContaining("iterative, one-shot, enforce");
        assertThatThrownBy(() -> of(Map.of("constraints.harmless", 0.5, "dual.beta", -1)))
                .isInstanceOf(ConfigException.class).hasMessageContaining("dual.beta");
    }
}
