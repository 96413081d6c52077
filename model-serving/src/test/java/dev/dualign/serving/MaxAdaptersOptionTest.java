package dev.dualign.serving;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dualign.core.config.Config;
import dev.dualign.core.config.ConfigException;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@code server.max-adapters}: a bad value fails at start naming the key; the default leaves room for a canary. */
class MaxAdaptersOptionTest {
    @Test
    void aBadBoundFailsAtStartNamingTheKey() {
        for (Object bad : new Object[] {-1, 65, "many"}) {
            assertThatThrownBy(() -> Config.of(Map.of("server.max-adapters", bad), ServingOptions.ALL, List.of()))
                    .as(String.valueOf(bad)).isInstanceOf(ConfigException.class).hasMessageContaining("server.max-adapters");
        }
        assertThat(Config.of(Map.of(), ServingOptions.ALL, List.of()).get(ServingOptions.MAX_ADAPTERS)).isEqualTo(4);
        assertThat(Config.of(Map.of("server.max-adapters", 0), ServingOptions.ALL, List.of()).get(ServingOptions.MAX_ADAPTERS)).isZero();
        assertThat(ServerSettings.local("t", 0).maxAdapters()).isEqualTo(ServerSettings.DEFAULT_MAX_ADAPTERS);
        assertThat(ServerSettings.local("t", 0).withMaxAdapters(2).withCanaryHoldMs(5).maxAdapters()).isEqualTo(2);
    }
}
