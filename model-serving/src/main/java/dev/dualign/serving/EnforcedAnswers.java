package dev.dualign.serving;

import dev.dualign.core.control.TiltedChoice;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.model.scorer.Scorer;
import dev.dualign.serving.PolicyServer.Answer;
import dev.dualign.serving.PolicyServer.Ask;
import dev.dualign.serving.PolicyServer.Prompt;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * Enforcement at inference, the server's answering path under {@code dual.mode: enforce}: K
 * reference candidates per ask, scored by the job's scorers, one served by the {@link Enforcer}'s draw.
 */
final class EnforcedAnswers {
    private final Generator generator;
    private final ServedPolicy reference;
    private final ServerSettings settings;
    private final Enforcer enforcer;

    EnforcedAnswers(Generator generator, ServedPolicy reference, ServerSettings settings, Enforcer enforcer) {
        this.generator = generator;
        this.reference = reference;
        this.settings = settings;
        this.enforcer = enforcer;
    }

    /**
     * Enforcement at inference: K candidates per ask from the version it routes to, scored by the
     * job's scorers, one served by {@link TiltedChoice} with the live λ. Before the job's first λ
     * the pick is uniform: the reference served as it is, never a reward-greedy choice no margin
     * has checked. The served response's log π is log π_ref + log(K·p): its KL estimate errs high.
     * Words are not streamed as drawn (the choice comes after all K): streaming sends them at the end.
     */
    List<Answer> answer(List<Ask> asks) {
        int k = settings.enforce().candidates();
        // each answer's candidates are one prompt's reference samples for the job's solve: asks that
        // share a prompt (OpenAI's n) get one set each
        Map<String, Integer> shared = new java.util.HashMap<>();
        asks.forEach(a -> shared.merge(a.prompt().id(), 1, Integer::sum));
        Map<String, Integer> seen = new java.util.HashMap<>();
        List<String> setIds = new ArrayList<>(asks.size());
        for (Ask a : asks) {
            String id = a.prompt().id();
            setIds.add(shared.get(id) == 1 ? id : id + "-" + seen.merge(id, 1, Integer::sum));
        }
        // a generation holds at most server.batch rows: K per answer
        int per = Math.max(1, settings.batch() / k);
        List<Answer> out = new ArrayList<>(asks.size());
        for (int from = 0; from < asks.size(); from += per) {
            int to = Math.min(asks.size(), from + per);
            out.addAll(enforce(asks.subList(from, to), setIds.subList(from, to), k));
        }
        return out;
    }

    /** One generation's worth of enforced answers: K reference candidates each, scored, one chosen. */
    private List<Answer> enforce(List<Ask> asks, List<String> setIds, int k) {
        List<Ask> expanded = new ArrayList<>(asks.size() * k);
        List<Prompt> prompts = new ArrayList<>(asks.size() * k);
        List<Integer> all = new ArrayList<>(asks.size() * k);
        for (int j = 0; j < asks.size(); j++) {
            Ask a = asks.get(j);
            Prompt set = new Prompt(setIds.get(j), a.prompt().text(), a.prompt().label(), a.prompt().messages());
            for (int i = 0; i < k; i++) {
                all.add(expanded.size());
                expanded.add(new Ask(set, a.routeKey(), a.temperature(), a.topP(), a.maxTokens()));
                prompts.add(set);
            }
        }
        for (Ask a : asks) {
            generator.checkMaxTokens(a);
        }
        // the candidates come from the reference, whatever is deployed: the tilt is of π_ref
        Answer[] cands = new Answer[expanded.size()];
        generator.generate(reference, expanded, generator.encode(prompts), all, cands, ResponseEvent.SOURCE_REFERENCE, null);
        List<Scorer.PromptResponse> pairs = new ArrayList<>(cands.length);
        for (Answer c : cands) {
            pairs.add(Scorer.PromptResponse.of(c.event()));
        }
        Map<String, double[]> scores = enforcer.score(pairs);
        long now = System.currentTimeMillis();
        List<Answer> out = new ArrayList<>(asks.size());
        for (int j = 0; j < asks.size(); j++) {
            int from = j * k;
            Enforcer.Choice chosen = enforcer.choose(scores, from);
            Answer c = cands[from + chosen.index()];
            ResponseEvent e = c.event();
            // log π_λ(y) = log π_ref(y) + log(K·p), clamped at 0 (a log-probability): the clamp lowers
            // the KL estimate for the rare answer the reference itself finds near certain
            ResponseEvent served = new ResponseEvent(UUID.randomUUID().toString(), e.promptId(), e.prompt(), e.response(),
                    0, Math.min(0, e.refLogprob() + chosen.logRatio()), e.refLogprob(), ResponseEvent.SOURCE_POLICY,
                    now, e.clientId(), e.messages(), e.toolCalls());
            List<ResponseEvent> set = new ArrayList<>(k);
            for (int i = 0; i < k; i++) {
                set.add(cands[from + i].event());
            }
            out.add(new Answer(served, c.words(), c.tokenLogprobs(), c.stopped(), asks.get(j).routeKey(), set));
        }
        return out;
    }
}
