package dev.dualign.core.control;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class AdapterSlotsTest {
    private static final Path ROOT = Path.of("/srv/registry");

    @Test
    void aNameIsLoadedOnceAndNeverAgainAfterItsUnload() {
        AdapterSlots s = new AdapterSlots("dualign", 4);
        assertThat(s.reserve("policy-v7")).isNull();
        assertThat(s.reserve("policy-v7")).contains("already loaded"); // a load under way holds the name
        s.loaded("policy-v7");
        assertThat(s.isLoaded("policy-v7")).isTrue();
        assertThat(s.reserve("policy-v7")).contains("already loaded");
        assertThat(s.unload("policy-v7")).isTrue();
        assertThat(s.unload("policy-v7")).isFalse();
        assertThat(s.reserve("policy-v7")).contains("never reused");
        assertThat(s.loaded()).isEmpty();
    }

    @Test
    void aFailedLoadFreesItsNameAndItsSlot() {
        AdapterSlots s = new AdapterSlots("dualign", 1);
        assertThat(s.reserve("a")).isNull();
        assertThat(s.reserve("b")).contains("at most 1").contains("server.max-adapters");
        s.abandon("a");
        assertThat(s.reserve("a")).isNull(); // never served: the name may be tried again
        assertThatThrownBy(() -> s.loaded("b")).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void atMostMaxAreLoadedOrLoadingAndAnUnloadFreesASlot() {
        AdapterSlots s = new AdapterSlots("dualign", 2);
        assertThat(s.reserve("a")).isNull();
        s.loaded("a");
        assertThat(s.reserve("b")).isNull(); // loading counts too
        assertThat(s.reserve("c")).contains("at most 2");
        s.loaded("b");
        assertThat(s.loaded()).containsExactly("a", "b");
        s.unload("a");
        assertThat(s.reserve("c")).isNull();
        assertThat(new AdapterSlots("dualign", 0).reserve("a")).contains("off");
        assertThatThrownBy(() -> new AdapterSlots("dualign", -1)).hasMessageContaining("≥ 0");
    }

    @Test
    void namesAreCheckedAndTheBaseModelIsNoAdapter() {
        AdapterSlots s = new AdapterSlots("dualign", 4);
        assertThat(s.reserve("dualign")).contains("base model");
        for (String bad : new String[] {null, "", "org/model", "-x", "a b", "x".repeat(129)}) {
            assertThat(s.reserve(bad)).as(bad).contains("lora_name must be");
        }
        assertThat(s.reserve("Qwen2.5:lora_v3-1")).isNull();
    }

    @Test
    void aPathNamesAVersionOfThisRegistryOrIsRefused() {
        assertThat(AdapterSlots.version("policy/7", ROOT, "policy")).isEqualTo(7);
        assertThat(AdapterSlots.version("./policy/7/", ROOT, "policy")).isEqualTo(7);
        assertThat(AdapterSlots.version("/srv/registry/policy/12", ROOT, "policy")).isEqualTo(12);
        assertThat(AdapterSlots.version("/srv/registry/x/../policy/0", ROOT, "policy")).isEqualTo(0);
        for (String bad : new String[] {null, "", "policy", "policy/v7", "policy/7/lm.params", "reward/1", "../policy/7",
                "/srv/other/policy/7", "/srv/registry/policy/7/../../../etc/policy/7", "meta-llama/Llama-3-8B", "policy\\7",
                "policy/1234567890123456789"}) {
            assertThatThrownBy(() -> AdapterSlots.version(bad, ROOT, "policy")).as(bad).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("policy/<version>").hasMessageContaining("/srv/registry/policy/<version>");
        }
    }
}
