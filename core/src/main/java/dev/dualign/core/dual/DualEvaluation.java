package dev.dualign.core.dual;

/**
 * D(λ), its gradient and Hessian, and the moments of the tilted policy π_λ, from one pass over
 * the samples. Gradient: ∇D = E_x E_{π_λ}[g] − b. Hessian: (1/β) E_x Cov_{π_λ}(g).
 */
final class DualEvaluation {
    final int k;
    double value;
    final double[] grad;
    final double[] hess; // row-major k×k
    final double[] expectedG;
    double expectedR;

    DualEvaluation(int k) {
        this.k = k;
        this.grad = new double[k];
        this.hess = new double[k * k];
        this.expectedG = new double[k];
    }

    /**
     * Evaluates at {@code lambda} with optional prompt weights (bootstrap multiplicities).
     * Log-sum-exp with the per-prompt maximum subtracted, so scores ≫ β never overflow; the
     * covariance is accumulated on utilities shifted by the prompt's first sample to avoid
     * cancellation when |g| is large and its spread small.
     */
    static DualEvaluation evaluate(DualProblem p, double[] lambda, double[] promptWeights, double[] scratch) {
        if (p.k == 2) {
            return evaluate2(p, lambda, promptWeights, scratch);
        }
        final int k = p.k;
        final double invBeta = 1.0 / p.beta;
        final double[] r = p.reward;
        final double[] g = p.g;
        final int[] off = p.offsets;
        final int m = off.length - 1;
        DualEvaluation ev = new DualEvaluation(k);
        double[] sumG = new double[k];
        double[] shift = new double[k];
        double[] cov = new double[k * k];
        double total = 0;
        double value = 0;
        double er = 0;
        for (int x = 0; x < m; x++) {
            double w = promptWeights == null ? 1.0 : promptWeights[x];
            if (w == 0) {
                continue;
            }
            int from = off[x];
            int to = off[x + 1];
            double mx = Double.NEGATIVE_INFINITY;
            for (int i = from; i < to; i++) {
                double s = r[i];
                int base = i * k;
                for (int c = 0; c < k; c++) {
                    s += lambda[c] * g[base + c];
                }
                s *= invBeta;
                scratch[i - from] = s;
                if (s > mx) {
                    mx = s;
                }
            }
            double z = 0;
            double zr = 0;
            java.util.Arrays.fill(sumG, 0);
            java.util.Arrays.fill(cov, 0);
            int base0 = from * k;
            for (int c = 0; c < k; c++) {
                shift[c] = g[base0 + c];
            }
            for (int i = from; i < to; i++) {
                double e = Math.exp(scratch[i - from] - mx);
                z += e;
                zr += e * r[i];
                int base = i * k;
                for (int c = 0; c < k; c++) {
                    double dc = g[base + c] - shift[c];
                    sumG[c] += e * dc;
                    double edc = e * dc;
                    for (int d = 0; d <= c; d++) {
                        cov[c * k + d] += edc * (g[base + d] - shift[d]);
                    }
                }
            }
            double invZ = 1.0 / z;
            value += w * (mx + Math.log(z / (to - from)));
            er += w * zr * invZ;
            for (int c = 0; c < k; c++) {
                double mc = sumG[c] * invZ;
                ev.grad[c] += w * (mc + shift[c]);
                for (int d = 0; d <= c; d++) {
                    double md = sumG[d] * invZ;
                    ev.hess[c * k + d] += w * (cov[c * k + d] * invZ - mc * md);
                }
            }
            total += w;
        }
        double invTotal = 1.0 / total;
        ev.value = p.beta * value * invTotal;
        ev.expectedR = er * invTotal;
        for (int c = 0; c < k; c++) {
            ev.expectedG[c] = ev.grad[c] * invTotal;
            ev.grad[c] = ev.expectedG[c] - p.margins[c];
            ev.value -= lambda[c] * p.margins[c];
            for (int d = 0; d <= c; d++) {
                double h = ev.hess[c * k + d] * invTotal * invBeta;
                ev.hess[c * k + d] = h;
                ev.hess[d * k + c] = h;
            }
        }
        return ev;
    }

    /**
     * The same pass unrolled for two constraints, the common case (harmlessness and one more): the
     * JIT keeps every accumulator in a register, about twice as fast as the general loop.
     */
    private static DualEvaluation evaluate2(DualProblem p, double[] lambda, double[] promptWeights, double[] scratch) {
        final double invBeta = 1.0 / p.beta;
        final double l0 = lambda[0] * invBeta;
        final double l1 = lambda[1] * invBeta;
        final double[] r = p.reward;
        final double[] g = p.g;
        final int[] off = p.offsets;
        final int m = off.length - 1;
        double total = 0;
        double value = 0;
        double er = 0;
        double grad0 = 0;
        double grad1 = 0;
        double h00 = 0;
        double h01 = 0;
        double h11 = 0;
        for (int x = 0; x < m; x++) {
            double w = promptWeights == null ? 1.0 : promptWeights[x];
            if (w == 0) {
                continue;
            }
            int from = off[x];
            int to = off[x + 1];
            double mx = Double.NEGATIVE_INFINITY;
            for (int i = from; i < to; i++) {
                double s = r[i] * invBeta + l0 * g[2 * i] + l1 * g[2 * i + 1];
                scratch[i - from] = s;
                mx = Math.max(mx, s);
            }
            double shift0 = g[2 * from];
            double shift1 = g[2 * from + 1];
            double z = 0;
            double zr = 0;
            double s0 = 0;
            double s1 = 0;
            double c00 = 0;
            double c01 = 0;
            double c11 = 0;
            for (int i = from; i < to; i++) {
                double e = Math.exp(scratch[i - from] - mx);
                double d0 = g[2 * i] - shift0;
                double d1 = g[2 * i + 1] - shift1;
                double ed0 = e * d0;
                double ed1 = e * d1;
                z += e;
                zr += e * r[i];
                s0 += ed0;
                s1 += ed1;
                c00 += ed0 * d0;
                c01 += ed0 * d1;
                c11 += ed1 * d1;
            }
            double invZ = 1.0 / z;
            double m0 = s0 * invZ;
            double m1 = s1 * invZ;
            value += w * (mx + Math.log(z / (to - from)));
            er += w * zr * invZ;
            grad0 += w * (m0 + shift0);
            grad1 += w * (m1 + shift1);
            h00 += w * (c00 * invZ - m0 * m0);
            h01 += w * (c01 * invZ - m0 * m1);
            h11 += w * (c11 * invZ - m1 * m1);
            total += w;
        }
        DualEvaluation ev = new DualEvaluation(2);
        double invTotal = 1.0 / total;
        ev.expectedR = er * invTotal;
        ev.expectedG[0] = grad0 * invTotal;
        ev.expectedG[1] = grad1 * invTotal;
        ev.grad[0] = ev.expectedG[0] - p.margins[0];
        ev.grad[1] = ev.expectedG[1] - p.margins[1];
        ev.value = p.beta * value * invTotal - lambda[0] * p.margins[0] - lambda[1] * p.margins[1];
        ev.hess[0] = h00 * invTotal * invBeta;
        ev.hess[1] = h01 * invTotal * invBeta;
        ev.hess[2] = ev.hess[1];
        ev.hess[3] = h11 * invTotal * invBeta;
        return ev;
    }

    static int maxGroup(DualProblem p) {
        int mx = 0;
        for (int x = 0; x + 1 < p.offsets.length; x++) {
            mx = Math.max(mx, p.offsets[x + 1] - p.offsets[x]);
        }
        return mx;
    }
}
