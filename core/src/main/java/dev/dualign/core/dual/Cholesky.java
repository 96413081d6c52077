package dev.dualign.core.dual;

/** Solves (H + μI) x = b for a small symmetric H; {@code null} when not positive definite. */
final class Cholesky {
    private Cholesky() {}

    static double[] solve(double[] h, double[] b, int n, double mu) {
        double[] l = new double[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j <= i; j++) {
                double s = h[i * n + j] + (i == j ? mu : 0);
                for (int q = 0; q < j; q++) {
                    s -= l[i * n + q] * l[j * n + q];
                }
                if (i == j) {
                    if (!(s > 0) || !Double.isFinite(s)) {
                        return null;
                    }
                    l[i * n + i] = Math.sqrt(s);
                } else {
                    l[i * n + j] = s / l[j * n + j];
                }
            }
        }
        double[] y = new double[n];
        for (int i = 0; i < n; i++) {
            double s = b[i];
            for (int q = 0; q < i; q++) {
                s -= l[i * n + q] * y[q];
            }
            y[i] = s / l[i * n + i];
        }
        double[] x = new double[n];
        for (int i = n - 1; i >= 0; i--) {
            double s = y[i];
            for (int q = i + 1; q < n; q++) {
                s -= l[q * n + i] * x[q];
            }
            x[i] = s / l[i * n + i];
        }
        for (double v : x) {
            if (!Double.isFinite(v)) {
                return null;
            }
        }
        return x;
    }
}
