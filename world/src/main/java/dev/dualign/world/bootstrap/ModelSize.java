package dev.dualign.world.bootstrap;

/**
 * How big the bootstrapped models are: {@code tiny} for tests (seconds), {@code small} for the
 * demo (a few minutes on 2 cores).
 */
public enum ModelSize {
    TINY(4_000, 48, 2, 1, 5, 5_000, 32, 8, 200),
    SMALL(12_000, 64, 4, 2, 3, 30_000, 64, 10, 600);

    final int corpus;
    final int lmDim;
    final int lmHeads;
    final int lmLayers;
    final int lmEpochs;
    final int scorerData;
    final int scorerDim;
    final int scorerEpochs;
    final int evalPrompts;

    ModelSize(int corpus, int lmDim, int lmHeads, int lmLayers, int lmEpochs, int scorerData, int scorerDim,
            int scorerEpochs, int evalPrompts) {
        this.corpus = corpus;
        this.lmDim = lmDim;
        this.lmHeads = lmHeads;
        this.lmLayers = lmLayers;
        this.lmEpochs = lmEpochs;
        this.scorerData = scorerData;
        this.scorerDim = scorerDim;
        this.scorerEpochs = scorerEpochs;
        this.evalPrompts = evalPrompts;
    }

    public String label() {
        return name().toLowerCase();
    }

    public static ModelSize of(String s) {
        try {
            return valueOf(s.trim().toUpperCase());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("size must be tiny or small, got '" + s + "'");
        }
    }
}
