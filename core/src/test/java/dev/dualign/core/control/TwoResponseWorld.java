package dev.dualign.core.control;

/**
 * A world whose answer to λ is known in closed form, shared by the controller's tests here and in
 * the Flink job: two responses per prompt, (r1, g1) and (r2, g2); a policy fine-tuned with λ is the
 * tilted π_λ, so E_λ[g] = w·g1 + (1 − w)·g2 with w = σ((r1 − r2 + λ(g1 − g2))/β), and λ* solves
 * E_λ*[g] = b.
 */
public final class TwoResponseWorld {
    public static final double BETA = 0.1;
    public static final double R1 = 1.0;
    public static final double G1 = -0.5;
    public static final double R2 = 0.2;
    public static final double G2 = 0.9;
    public static final double B = 0.5;

    private TwoResponseWorld() {}

    /** E_λ[g] of the policy fine-tuned with λ. */
    public static double expectedG(double lambda) {
        double w = 1 / (1 + Math.exp(-(R1 - R2 + lambda * (G1 - G2)) / BETA));
        return w * G1 + (1 - w) * G2;
    }

    /** The λ* at which E_λ*[g] = b. */
    public static double lambdaStar() {
        double w = (B - G2) / (G1 - G2);
        return (BETA * Math.log(w / (1 - w)) - (R1 - R2)) / (G1 - G2);
    }
}
