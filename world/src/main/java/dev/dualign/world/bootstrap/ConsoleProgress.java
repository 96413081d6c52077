package dev.dualign.world.bootstrap;

import java.io.PrintStream;

/** A one-line progress bar redrawn in place on a terminal stream. */
public final class ConsoleProgress implements Progress {
    private static final int WIDTH = 30;
    private final PrintStream out;
    private final boolean interactive;
    private String stage = "";
    private int total = 1;
    private long started;
    private int lastPercent = -1;

    /** @param interactive redraw a bar in place (a terminal); otherwise print one line per finished stage */
    public ConsoleProgress(PrintStream out, boolean interactive) {
        this.out = out;
        this.interactive = interactive;
    }

    @Override
    public void stage(String name, int total) {
        this.stage = name;
        this.total = Math.max(1, total);
        this.started = System.nanoTime();
        this.lastPercent = -1;
        advance(0);
    }

    @Override
    public void advance(int done) {
        if (!interactive) {
            return;
        }
        int pct = (int) Math.min(100, 100L * done / total);
        if (pct == lastPercent) {
            return;
        }
        lastPercent = pct;
        int filled = pct * WIDTH / 100;
        double secs = (System.nanoTime() - started) / 1e9;
        out.printf("\r%-22s [%s%s] %3d%% %6.1fs", stage, "#".repeat(filled), ".".repeat(WIDTH - filled), pct, secs);
        out.flush();
    }

    @Override
    public void finish(String summary) {
        double secs = (System.nanoTime() - started) / 1e9;
        out.printf(interactive ? "\r%-22s [%s] 100%% %6.1fs  %s%n" : "%-22s [%s] done %6.1fs  %s%n", stage,
                "#".repeat(WIDTH), secs, summary);
        out.flush();
    }
}
