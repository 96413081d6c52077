package dev.dualign.app.experiment;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.axis.ValueAxis;
import org.jfree.chart.plot.ValueMarker;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYErrorRenderer;
import org.jfree.data.xy.YIntervalSeries;
import org.jfree.data.xy.YIntervalSeriesCollection;

/**
 * One line chart of an experiment, written as a PNG with JFreeChart (headless): each series a
 * line of means with its spread over seeds as error bars, drawn in the order of its points,
 * optional horizontal reference lines.
 */
final class Plot {
    /** A line: x, mean y and the y range drawn as an error bar (min..max over seeds). */
    record Series(String name, double[] x, double[] y, double[] lo, double[] hi) {
        static Series of(String name, double[] x, double[][] perSeed) {
            int n = x.length;
            double[] y = new double[n];
            double[] lo = new double[n];
            double[] hi = new double[n];
            for (int i = 0; i < n; i++) {
                double sum = 0;
                lo[i] = Double.POSITIVE_INFINITY;
                hi[i] = Double.NEGATIVE_INFINITY;
                for (double[] s : perSeed) {
                    sum += s[i];
                    lo[i] = Math.min(lo[i], s[i]);
                    hi[i] = Math.max(hi[i], s[i]);
                }
                y[i] = sum / perSeed.length;
            }
            return new Series(name, x, y, lo, hi);
        }
    }

    /** A horizontal line, e.g. the nominal level or the margin. */
    record Reference(String label, double y) {}

    /** Distinguishable on white and in greyscale print. */
    private static final Color[] PALETTE = {new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c),
        new Color(0xff7f0e), new Color(0x9467bd), new Color(0x000000), new Color(0x8c564b)};

    private final String title;
    private final String xLabel;
    private final String yLabel;
    private final boolean logX;
    private final List<Series> series = new ArrayList<>();
    private final List<Reference> references = new ArrayList<>();

    Plot(String title, String xLabel, String yLabel, boolean logX) {
        this.title = title;
        this.xLabel = xLabel;
        this.yLabel = yLabel;
        this.logX = logX;
    }

    Plot add(Series s) {
        series.add(s);
        return this;
    }

    Plot reference(String label, double y) {
        references.add(new Reference(label, y));
        return this;
    }

    void writePng(Path file) throws IOException {
        System.setProperty("java.awt.headless", "true");
        YIntervalSeriesCollection data = new YIntervalSeriesCollection();
        for (Series s : series) {
            YIntervalSeries ys = new YIntervalSeries(s.name(), false, true); // in the order given: a path may turn back
            for (int i = 0; i < s.x().length; i++) {
                if (Double.isFinite(s.y()[i])) {
                    ys.add(s.x()[i], s.y()[i], s.lo()[i], s.hi()[i]);
                }
            }
            data.addSeries(ys);
        }
        ValueAxis x = logX ? new LogAxis(xLabel) : new NumberAxis(xLabel);
        if (x instanceof NumberAxis n) {
            n.setAutoRangeIncludesZero(false);
        }
        NumberAxis y = new NumberAxis(yLabel);
        y.setAutoRangeIncludesZero(false);
        XYErrorRenderer r = new XYErrorRenderer();
        r.setDefaultLinesVisible(true);
        r.setDefaultShapesVisible(true);
        for (int i = 0; i < series.size(); i++) {
            r.setSeriesPaint(i, PALETTE[i % PALETTE.length]);
            r.setSeriesStroke(i, new BasicStroke(2f));
        }
        XYPlot plot = new XYPlot(data, x, y, r);
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        for (Reference ref : references) {
            ValueMarker m = new ValueMarker(ref.y(), Color.DARK_GRAY, new BasicStroke(1f, BasicStroke.CAP_BUTT,
                    BasicStroke.JOIN_MITER, 1f, new float[] {6f, 4f}, 0f));
            m.setLabel(ref.label());
            m.setLabelAnchor(org.jfree.chart.ui.RectangleAnchor.TOP_RIGHT);
            m.setLabelTextAnchor(org.jfree.chart.ui.TextAnchor.BOTTOM_RIGHT);
            plot.addRangeMarker(m);
        }
        JFreeChart chart = new JFreeChart(title, JFreeChart.DEFAULT_TITLE_FONT, plot, true);
        chart.setBackgroundPaint(Color.WHITE);
        Files.createDirectories(file.toAbsolutePath().getParent());
        ChartUtils.saveChartAsPNG(file.toFile(), chart, 900, 560);
    }
}
