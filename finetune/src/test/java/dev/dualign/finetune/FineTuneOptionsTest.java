package dev.dualign.finetune;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class FineTuneOptionsTest {
    @Test
    void everyKeyDeclaredIsAKeyTheConfigurationKnows() throws Exception {
        // a key left out of ALL is refused as unknown at start-up, even in the shipped conf
        for (java.lang.reflect.Field f : FineTuneOptions.class.getFields()) {
            if (f.getType() == dev.dualign.core.config.ConfigOption.class) {
                assertThat(FineTuneOptions.ALL).as(f.getName()).contains((dev.dualign.core.config.ConfigOption<?>) f.get(null));
            }
        }
    }

    @Test
    void anUnknownMethodIsRefusedNamingTheKey() {
        assertThatThrownBy(() -> FineTuneOptions.METHOD.parse("ppo")).hasMessageContaining("finetune.method")
                .hasMessageContaining("distill").hasMessageContaining("dpo");
        assertThat(FineTuneOptions.METHOD.parse("dpo")).isEqualTo("dpo");
    }

    @Test
    void dpoStaysTheLiveDefaultUntilDistillationIsProvenInTheLoopAndTheOldConstructorsKeepDpo() {
        assertThat(FineTuneSettings.defaults(List.of("harmless"), 0.1).distills()).isFalse();
        assertThat(FineTuneSettings.defaults(List.of("harmless"), 0.1).withMethod("distill").distills()).isTrue();
        assertThat(new FineTuneSettings(List.of("harmless"), 0.1, 1, 16, 1e-3f, 30.0, 200, 20, 20, 5000, 3).method())
                .isEqualTo(FineTuneSettings.DPO);
        assertThatThrownBy(() -> FineTuneSettings.defaults(List.of("harmless"), 0.1).withMethod("ppo"))
                .hasMessageContaining("finetune.method");
    }
}
