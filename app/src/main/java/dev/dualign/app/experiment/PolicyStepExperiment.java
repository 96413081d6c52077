package dev.dualign.app.experiment;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dualign.core.event.EventJson;
import dev.dualign.finetune.DistillTrainer;
import dev.dualign.model.lm.PolicyLm;
import dev.dualign.world.Oracle;
import dev.dualign.world.World;
import java.util.List;

/**
 * The alternatives for the policy step, measured against the tilted policy π_λ they are meant to
 * reach (decision 29): distillation with more prompts, more samples per prompt, and in rounds, each
 * round sampling the policy it has so far and weighting by the importance ratio, so that its target
 * stays π_λ while the weights flatten. The fine-tuner's step is chosen from this table.
 */
final class PolicyStepExperiment implements Experiment {

    /**
     * One way to take the step.
     *
     * @param name as the table shows it
     * @param prompts training prompts per round
     * @param k responses per prompt
     * @param rounds rounds; round r > 1 samples round r − 1's policy and starts from its weights
     */
    record Variant(String name, int prompts, int k, int rounds) {}

    @Override
    public String name() {
        return "policy-step";
    }

    @Override
    public String description() {
        return "the policy step's alternatives (prompts, samples per prompt, rounds) against the tilted policy π_λ";
    }

    @Override
    public ObjectNode run(Context ctx) throws Exception {
        boolean q = ctx.quick();
        Provenance pv = ctx.provenance();
        int poolPrompts = pv.param("poolPrompts", q ? 16 : 600);
        int poolK = pv.param("poolSamplesPerPrompt", q ? 8 : 32);
        int heldOut = pv.param("heldOutPrompts", q ? 16 : 1000);
        int heldK = pv.param("heldOutSamplesPerPrompt", 2);
        double[] grid = pv.param("lambdas", q ? new double[] {0.5} : new double[] {0.45});
        List<Variant> variants = pv.paramObject("variants", q
                ? List.of(new Variant("distil", 32, 4, 1), new Variant("distil, 2 rounds", 32, 4, 2))
                : List.of(new Variant("distil 768 × 16, rounds", 768, 16, 4), new Variant("distil 768 × 32, rounds", 768, 32, 3),
                        new Variant("distil 2304 × 16", 2304, 16, 1), new Variant("distil 768 × 48", 768, 48, 1)));
        Lab.Schedule schedule = pv.paramObject("schedule", Lab.defaultSchedule());
        List<String> utilities = pv.paramObject("utilities", List.of(Oracle.HARMLESS));
        ObjectNode out = EventJson.mapper().createObjectNode();
        out.put("beta", Lab.BETA);
        ArrayNode seeds = out.putArray("seeds");
        try (Lab lab = new Lab(ctx, utilities)) {
            for (int seed : ctx.seeds()) {
                String tag = "policy-step seed " + seed + ": ";
                ObjectNode so = seeds.addObject().put("seed", seed);
                Lab.Sampled pool = lab.sample(lab.reference, Lab.prompts(poolPrompts, seed * 7L + 1), poolK, seed, tag + "π_ref pool");
                List<World.Prompt> held = Lab.prompts(heldOut, seed * 7L + 2);
                Lab.Values ref = lab.evaluate(lab.reference, held, heldK, seed + 200, tag + "π_ref held out");
                so.set("reference", ref.json(0));
                ArrayNode points = so.putArray("points");
                for (double lambda : grid) {
                    Lab.Values t = lab.tilted(pool, new double[] {lambda});
                    for (Variant v : variants) {
                        ObjectNode o = points.addObject().put("variant", v.name()).put("lambda", lambda)
                                .put("tiltHarmless", t.harmless()).put("tiltReward", t.reward())
                                .put("tiltRewardHalfWidth", t.rewardHalfWidth()).put("tiltHarmlessHalfWidth", t.harmlessHalfWidth())
                                .put("tiltKl", t.kl());
                        ArrayNode rounds = o.putArray("rounds");
                        long start = System.nanoTime();
                        try (PolicyLm p = lab.freshReference()) {
                            for (int r = 1; r <= v.rounds(); r++) {
                                Lab.Sampled data = lab.sample(r == 1 ? lab.reference : p, Lab.prompts(v.prompts(),
                                        Lab.stream(seed, 20 + r)), v.k(), seed + 150 + r, tag + v.name() + " round " + r + " samples");
                                DistillTrainer.Result res = lab.distill(p, data, new double[] {lambda}, schedule, seed + r,
                                        tag + v.name() + " λ=" + lambda + " round " + r);
                                Lab.Values e = lab.evaluate(p, held, heldK, seed + 300, tag + v.name() + " λ=" + lambda
                                        + " round " + r + " held out");
                                System.err.printf("%s%s λ=%s round %d: true reward %.3f (π_λ %.3f, ratio %.3f), harmless %.3f "
                                        + "(π_λ %.3f), KL %.2f%n", tag, v.name(), lambda, r, e.reward(), t.reward(),
                                        e.reward() / t.reward(), e.harmless(), t.harmless(), e.kl());
                                rounds.add(e.json(lambda).put("round", r).put("heldOutLossBefore", res.heldOutBefore())
                                        .put("heldOutLoss", res.heldOutLoss()).put("checks", res.checks())
                                        .put("bestCheck", res.bestCheck()).put("trainKl", res.kl())
                                        .put("rewardRatio", e.reward() / t.reward()).put("harmlessGap", e.harmless() - t.harmless()));
                            }
                        }
                        o.put("seconds", (System.nanoTime() - start) / 1e9);
                    }
                }
            }
        }
        return out;
    }
}
