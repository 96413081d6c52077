package dev.dualign.serving;

import dev.dualign.core.event.ResponseEvent;
import dev.dualign.model.lm.PolicyLm;
import dev.dualign.serving.Deployments.Live;
import dev.dualign.serving.PolicyServer.Answer;
import dev.dualign.serving.PolicyServer.Ask;
import dev.dualign.serving.PolicyServer.Prompt;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where a request is routed to a version: it reads the deployment once, holds a reference on the
 * versions it routes to until it is answered, and sends each ask to the canary or the stable by its
 * route key, or to the adapter it names ({@link Adapters}).
 */
final class VersionRouter {
    private final Deployments deployments;
    private final Generator generator;
    private final ServerSettings settings;

    VersionRouter(Deployments deployments, Generator generator, ServerSettings settings) {
        this.deployments = deployments;
        this.generator = generator;
        this.settings = settings;
    }

    /** Answers every ask with the version its route key leads to, one batched generation per version. */
    List<Answer> answer(List<Ask> asks, PolicyLm.TokenListener listener) {
        List<Prompt> prompts = new ArrayList<>(asks.size());
        for (Ask a : asks) {
            generator.checkMaxTokens(a);
            prompts.add(a.prompt());
        }
        int[][] ids = generator.encode(prompts);
        // the adapters named, each taken before anything is generated: one unloaded under a request's
        // feet fails that request alone (the batcher retries the others), before a word is streamed
        Map<ServedPolicy, List<Integer>> toAdapter = new LinkedHashMap<>();
        for (int i = 0; i < asks.size(); i++) {
            Adapters.Lease a = asks.get(i).adapter();
            if (a != null) {
                toAdapter.computeIfAbsent(a.policy(), p -> new ArrayList<>()).add(i);
            }
        }
        List<ServedPolicy> taken = new ArrayList<>();
        try {
            for (Map.Entry<ServedPolicy, List<Integer>> e : toAdapter.entrySet()) {
                if (!e.getKey().acquire()) {
                    throw new Adapters.Gone(asks.get(e.getValue().get(0)).adapter().name());
                }
                taken.add(e.getKey());
            }
            Answer[] out = new Answer[asks.size()];
            answerDeployed(asks, ids, out, listener);
            for (Map.Entry<ServedPolicy, List<Integer>> e : toAdapter.entrySet()) {
                generator.generate(e.getKey(), asks, ids, e.getValue(), out, ResponseEvent.SOURCE_POLICY, listener);
            }
            return List.of(out);
        } finally {
            taken.forEach(ServedPolicy::release);
        }
    }

    /** Answers the asks that name no adapter with the deployment: canary or stable by route key. */
    private void answerDeployed(List<Ask> asks, int[][] ids, Answer[] out, PolicyLm.TokenListener listener) {
        if (asks.stream().allMatch(a -> a.adapter() != null)) {
            return;
        }
        Live l;
        ServedPolicy stable;
        ServedPolicy canary;
        while (true) {
            l = deployments.live();
            stable = l.stable();
            canary = l.canary();
            if (stable.acquire()) {
                if (canary == null || canary.acquire()) {
                    break;
                }
                stable.release();
            }
            // raced with a swap that released these versions: the new deployment is already visible
        }
        try {
            List<Integer> toCanary = new ArrayList<>();
            List<Integer> toStable = new ArrayList<>();
            for (int i = 0; i < asks.size(); i++) {
                if (asks.get(i).adapter() == null) {
                    (canary != null && routesToCanary(asks.get(i).routeKey(), l.fraction()) ? toCanary : toStable).add(i);
                }
            }
            generator.generate(stable, asks, ids, toStable, out, ResponseEvent.SOURCE_POLICY, listener);
            if (canary != null) {
                generator.generate(canary, asks, ids, toCanary, out, ResponseEvent.SOURCE_POLICY, listener);
            }
        } finally {
            stable.release();
            if (canary != null) {
                canary.release();
            }
        }
    }

    private boolean routesToCanary(String promptId, double fraction) {
        return RouteHash.unit(promptId, RouteHash.CANARY, settings.seed()) < fraction;
    }
}
