package dev.dualign.serving;

import dev.dualign.model.registry.ModelNames;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.serving.PolicyServer.Deployment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The admin view ({@code GET /admin/versions}): deployment, versions in the registry with their λ, and the timeline. */
final class AdminView {
    private final ModelRegistry registry;
    private final Deployments deployments;
    private final VersionLoader loader;
    private final Generator generator;
    private final VersionTimeline timeline;

    AdminView(ModelRegistry registry, Deployments deployments, VersionLoader loader, Generator generator,
            VersionTimeline timeline) {
        this.registry = registry;
        this.deployments = deployments;
        this.loader = loader;
        this.generator = generator;
        this.timeline = timeline;
    }

    Map<String, Object> describe() {
        Map<String, Object> m = new LinkedHashMap<>();
        Deployment d = deployments.deployment();
        m.put("stable", d.stable());
        m.put("canary", d.canary() < 0 ? null : d.canary());
        m.put("canaryFraction", d.canaryFraction());
        m.put("previousStable", deployments.previousStable());
        m.put("answered", generator.answeredPerVersion());
        List<Map<String, Object>> versions = new ArrayList<>();
        for (long v : registry.versions(ModelNames.POLICY)) {
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("version", v);
            try {
                var man = registry.manifest(ModelNames.POLICY, v);
                e.put("parent", man.parentVersion());
                e.put("lambda", man.lambda());
                e.put("created", man.created());
            } catch (RuntimeException ex) {
                e.put("error", ex.getMessage());
            }
            versions.add(e);
        }
        m.put("registry", versions);
        m.put("lastRefusal", loader.lastRefusal());
        m.put("timeline", timeline.events());
        return m;
    }
}
