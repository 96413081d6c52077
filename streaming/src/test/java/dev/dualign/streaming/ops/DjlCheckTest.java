package dev.dualign.streaming.ops;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URL;
import java.net.URLClassLoader;
import org.junit.jupiter.api.Test;

class DjlCheckTest {
    @Test
    void passesWhereDjlIsOnTheClassPath() {
        assertThatCode(() -> DjlCheck.require(DjlCheckTest.class.getClassLoader())).doesNotThrowAnyException();
    }

    @Test
    void aClassPathWithoutDjlFailsWithTheInstructions() throws Exception {
        // like a Flink installation whose lib/ lacks streaming/target/flink-lib
        try (URLClassLoader bare = new URLClassLoader(new URL[0], ClassLoader.getPlatformClassLoader())) {
            assertThatThrownBy(() -> DjlCheck.require(bare))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("DJL is not on the class path")
                    .hasMessageContaining("flink-lib")
                    .hasMessageContaining("lib/");
        }
    }

    @Test
    void djlLoadedByAnotherClassLoaderIsExplainedOtherFailuresPassThrough() {
        RuntimeException twice = new RuntimeException("Failed to load PyTorch native library", new UnsatisfiedLinkError(
                "Native Library /x/libc10.so already loaded in another classloader"));
        org.assertj.core.api.Assertions.assertThat(DjlCheck.explain(twice)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("already loaded by another class loader").hasMessageContaining("flink-lib")
                .hasCause(twice);
        RuntimeException other = new IllegalArgumentException("device must be auto, cpu or gpu");
        org.assertj.core.api.Assertions.assertThat(DjlCheck.explain(other)).isSameAs(other);
    }
}
