package dev.dualign.cli;

import java.awt.GraphicsEnvironment;
import org.junit.jupiter.api.Assumptions;

/**
 * The experiments' plots draw text, which needs fonts (fontconfig and at least one font family):
 * a bare machine may have none. Tests that render a plot skip themselves there, naming what to
 * install; {@code .ci/run} installs it and fails if they were skipped.
 */
final class Fonts {
    private Fonts() {}

    static void assumeAvailable() {
        String why;
        try {
            System.setProperty("java.awt.headless", "true");
            why = GraphicsEnvironment.getLocalGraphicsEnvironment().getAvailableFontFamilyNames().length > 0 ? null
                    : "no font families";
        } catch (Throwable t) { // no fontconfig: an Error from AWT's native font manager
            why = t.toString();
        }
        Assumptions.assumeTrue(why == null, "plots need fonts (" + why + "): install fontconfig and fonts-dejavu-core");
    }
}
