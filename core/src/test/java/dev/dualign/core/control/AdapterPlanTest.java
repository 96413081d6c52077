package dev.dualign.core.control;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dualign.core.control.AdapterPlan.Admission;
import dev.dualign.core.control.AdapterPlan.Load;
import dev.dualign.core.control.AdapterPlan.Loading;
import dev.dualign.core.control.AdapterPlan.Route;
import dev.dualign.core.control.AdapterPlan.State;
import dev.dualign.core.control.AdapterPlan.Step;
import dev.dualign.core.control.AdapterPlan.Target;
import dev.dualign.core.control.AdapterPlan.Unload;
import dev.dualign.core.control.AdapterPlan.Upstream;
import dev.dualign.core.control.AdapterPlan.Version;
import dev.dualign.core.event.CheckpointEvent.External;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class AdapterPlanTest {
    static final long BASE = 1;
    static final Upstream VLLM = new Upstream(Loading.RUNTIME, 4, 1, Map.of());
    static final Version V3 = new Version(3, "policy-v3", "/adapters/v3");
    static final Version V4 = new Version(4, "policy-v4", "/adapters/v4");
    static final Version V5 = new Version(5, "policy-v5", "/adapters/v5");
    static final Map<Long, Version> KNOWN = Map.of(3L, V3, 4L, V4, 5L, V5);

    static External adapter(String name) {
        return new External(name, "/adapters/" + name, null);
    }

    static State state(List<Set<String>> loaded, Map<String, Integer> inFlight) {
        return new State(BASE, KNOWN, loaded, inFlight);
    }

    @Test
    void anAdapterNameIsNeverReusedByAnotherVersion() {
        Admission again = AdapterPlan.admit(6, adapter("policy-v3"), VLLM, 0.2, KNOWN);
        assertThat(again.version()).isNull();
        assertThat(again.refusal()).contains("policy-v3", "version 3", "never reused");
        // the same version announced again (a checkpoint read twice) is the same version, not a reuse
        assertThat(AdapterPlan.admit(3, new External("policy-v3", "/adapters/v3", null), VLLM, 0.2, KNOWN).version()).isEqualTo(V3);
        assertThat(AdapterPlan.admit(3, adapter("policy-v3b"), VLLM, 0.2, KNOWN).refusal()).contains("announced before as policy-v3");
        // a model id counts as a name too
        assertThat(AdapterPlan.admit(6, new External(null, null, "policy-v4"), VLLM, 0.2, KNOWN).refusal()).contains("never reused");
        assertThat(AdapterPlan.admit(6, adapter("policy-v6"), VLLM, 0.2, KNOWN).version())
                .isEqualTo(new Version(6, "policy-v6", "/adapters/policy-v6"));
    }

    @Test
    void aCanaryNeedsRoomForTwoAdaptersAtStartUpAndAtEachVersion() {
        Upstream one = new Upstream(Loading.RUNTIME, 1, 1, Map.of());
        assertThat(AdapterPlan.startupProblem(one, 0.2)).contains("max_loras ≥ 2", "got 1");
        assertThat(AdapterPlan.admit(6, adapter("policy-v6"), one, 0.2, KNOWN).refusal()).contains("max_loras ≥ 2");
        assertThat(AdapterPlan.startupProblem(new Upstream(Loading.RUNTIME, 2, 1, Map.of()), 0.2)).isNull();
        // without a canary one slot is enough (each version deploys straight to all traffic)
        assertThat(AdapterPlan.startupProblem(one, 0)).isNull();
        assertThat(AdapterPlan.admit(6, adapter("policy-v6"), one, 0, KNOWN).version()).isNotNull();
        // a static upstream loads nothing
        assertThat(AdapterPlan.startupProblem(new Upstream(Loading.STATIC, 1, 1, Map.of()), 0.2)).isNull();
    }

    @Test
    void aStaticUpstreamServesAVersionByItsMappingOrItsModelIdAndRefusesOneWithNeither() {
        Upstream st = new Upstream(Loading.STATIC, 1, 1, Map.of(6L, "llama-8b-v6"));
        assertThat(AdapterPlan.admit(6, adapter("policy-v6"), st, 0.2, Map.of()).version()).isEqualTo(new Version(6, "llama-8b-v6", null));
        assertThat(AdapterPlan.admit(7, adapter("policy-v7"), st, 0.2, Map.of()).refusal()).contains("no mapping", "version 7");
        assertThat(AdapterPlan.admit(7, new External(null, null, "acme/llama-v7"), st, 0.2, Map.of()).version())
                .isEqualTo(new Version(7, "acme/llama-v7", null));
        assertThat(AdapterPlan.admit(6, new External(null, null, "acme/other"), st, 0.2, Map.of()).refusal())
                .contains("llama-8b-v6", "acme/other");
    }

    @Test
    void anUpstreamWithoutLoadingAndABuiltInVersionAreRefused() {
        assertThat(AdapterPlan.admit(6, adapter("policy-v6"), new Upstream(Loading.NONE, 4, 1, Map.of()), 0.2, Map.of()).refusal())
                .contains("adapters: none");
        assertThat(AdapterPlan.admit(6, null, VLLM, 0.2, Map.of()).refusal()).contains("built-in");
    }

    @Test
    void anAdapterIsLoadedOnEveryReplicaAndRoutedToOnlyOnceItIsOnAll() {
        Upstream two = new Upstream(Loading.RUNTIME, 4, 2, Map.of());
        Step s = AdapterPlan.plan(two, state(List.of(Set.of(), Set.of()), Map.of()), new Target(BASE, 3, 0.2));
        assertThat(s.load()).containsExactly(new Load(0, V3), new Load(1, V3));
        assertThat(s.route()).isEqualTo(new Route(BASE, null, -1, null, 0));
        Step half = AdapterPlan.plan(two, state(List.of(Set.of("policy-v3"), Set.of()), Map.of()), new Target(BASE, 3, 0.2));
        assertThat(half.load()).containsExactly(new Load(1, V3));
        assertThat(half.route().canaryModel()).as("not routed while one replica lacks it").isNull();
        Step both = AdapterPlan.plan(two, state(List.of(Set.of("policy-v3"), Set.of("policy-v3")), Map.of()), new Target(BASE, 3, 0.2));
        assertThat(both.settled()).isTrue();
        assertThat(both.route()).isEqualTo(new Route(BASE, null, 3, "policy-v3", 0.2));
    }

    @Test
    void aRetiredAdapterIsUnloadedOnlyOnceNothingInFlightNamesItAndNeverTheStableOrTheCanary() {
        // v3 promoted, v4 the canary, v5 retired (rolled back) with two requests still answering
        List<Set<String>> loaded = List.of(Set.of("policy-v3", "policy-v4", "policy-v5", "preloaded-by-operator"));
        Target t = new Target(3, 4, 0.2);
        Step busy = AdapterPlan.plan(VLLM, state(loaded, Map.of("policy-v5", 2)), t);
        assertThat(busy.unload()).isEmpty();
        Step drained = AdapterPlan.plan(VLLM, state(loaded, Map.of("policy-v5", 0, "policy-v3", 0, "policy-v4", 0)), t);
        assertThat(drained.unload()).as("not the stable, not the canary, not an adapter this gateway did not load")
                .containsExactly(new Unload(0, "policy-v5"));
        assertThat(drained.route()).isEqualTo(new Route(3, "policy-v3", 4, "policy-v4", 0.2));
        Step twoReplicas = AdapterPlan.plan(new Upstream(Loading.RUNTIME, 4, 2, Map.of()),
                state(List.of(Set.of("policy-v3", "policy-v5"), Set.of("policy-v3", "policy-v5")), Map.of()), new Target(3, -1, 0.2));
        assertThat(twoReplicas.unload()).containsExactly(new Unload(0, "policy-v5"), new Unload(1, "policy-v5"));
    }

    @Test
    void aLoadWaitsForRoomWhileARetiredAdapterDrainsThenTakesItsPlace() {
        Upstream two = new Upstream(Loading.RUNTIME, 2, 1, Map.of());
        List<Set<String>> loaded = List.of(Set.of("policy-v3", "policy-v4"));
        Target t = new Target(3, 5, 0.2); // v4 rolled back, v5 the new canary
        Step busy = AdapterPlan.plan(two, state(loaded, Map.of("policy-v4", 1)), t);
        assertThat(busy.load()).isEmpty();
        assertThat(busy.waiting()).singleElement().asString().contains("version 5", "max_loras 2");
        assertThat(busy.route().canaryModel()).isNull();
        Step drained = AdapterPlan.plan(two, state(loaded, Map.of("policy-v4", 0)), t);
        assertThat(drained.unload()).containsExactly(new Unload(0, "policy-v4"));
        assertThat(drained.load()).containsExactly(new Load(0, V5));
        assertThat(drained.waiting()).isEmpty();
    }

    @Test
    void anIncomingVersionIsLoadedBesideTheCanaryButNotRoutedToUntilItTakesTheSlot() {
        Target staging = new Target(BASE, 4, 0.2, 5);
        Step s = AdapterPlan.plan(VLLM, state(List.of(Set.of("policy-v4")), Map.of()), staging);
        assertThat(s.load()).containsExactly(new Load(0, V5));
        assertThat(s.unload()).isEmpty();
        assertThat(s.route()).isEqualTo(new Route(BASE, null, 4, "policy-v4", 0.2));
        Step loaded = AdapterPlan.plan(VLLM, state(List.of(Set.of("policy-v4", "policy-v5")), Map.of()), staging);
        assertThat(loaded.settled()).as("an incoming adapter is kept, not unloaded as retired").isTrue();
        assertThat(loaded.route().canaryVersion()).isEqualTo(4);
    }

    @Test
    void requestsGoAsTheyCameToTheBaseAndByNameToAnExternalStable() {
        assertThat(AdapterPlan.plan(VLLM, state(List.of(Set.of()), Map.of()), new Target(BASE, -1, 0.2)).route())
                .isEqualTo(new Route(BASE, null, -1, null, 0));
        assertThat(AdapterPlan.plan(VLLM, state(List.of(Set.of("policy-v3")), Map.of()), new Target(3, -1, 0.2)).route())
                .isEqualTo(new Route(3, "policy-v3", -1, null, 0));
        // a stable version not loaded (yet) is not routed to: the base answers, and is logged as such
        Step s = AdapterPlan.plan(VLLM, state(List.of(Set.of()), Map.of()), new Target(3, -1, 0.2));
        assertThat(s.route()).isEqualTo(new Route(BASE, null, -1, null, 0));
        assertThat(s.load()).containsExactly(new Load(0, V3));
        // a static upstream's versions are ready at once
        Upstream st = new Upstream(Loading.STATIC, 1, 1, Map.of());
        Map<Long, Version> known = Map.of(6L, new Version(6, "llama-v6", null));
        assertThat(AdapterPlan.plan(st, new State(BASE, known, List.of(Set.of()), Map.of()), new Target(BASE, 6, 0.3)))
                .isEqualTo(new Step(List.of(), List.of(), new Route(BASE, null, 6, "llama-v6", 0.3), List.of()));
        assertThatThrownBy(() -> new Target(BASE, 6, 1.0)).hasMessageContaining("share");
    }

    @Test
    void anAnswerMustNameARequestTheJobSentAndCarryItsAdaptersChecksum() {
        var ext = new dev.dualign.core.event.CheckpointEvent.External("policy-v3", "/adapters/policy-v3", null);
        var answer = new dev.dualign.core.event.CheckpointEvent(3, "policy/3", "a".repeat(64), java.util.Map.of(), 2,
                java.util.Map.of(), 1).answering("ft-3", ext);
        assertThat(AdapterPlan.answerRefusal(answer, true, "a".repeat(64))).isNull();
        assertThat(AdapterPlan.answerRefusal(answer, true, null)).as("unreadable here: the upstream's load decides").isNull();
        assertThat(AdapterPlan.answerRefusal(answer, null, null)).as("requests not followed").isNull();
        assertThat(AdapterPlan.answerRefusal(answer, false, null)).contains("'ft-3', which the job never sent");
        assertThat(AdapterPlan.answerRefusal(answer.answering(null, ext), true, null)).contains("names no fine-tune request");
        assertThat(AdapterPlan.answerRefusal(answer, true, "c".repeat(64))).contains("checksum mismatch", "/adapters/policy-v3",
                "c".repeat(64), "a".repeat(64));
    }
}
