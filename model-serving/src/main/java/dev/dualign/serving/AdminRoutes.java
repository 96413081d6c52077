package dev.dualign.serving;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dualign.service.OpsSurface;
import java.util.Map;

/**
 * The policy server's admin calls, as routes of its {@link OpsSurface}: list the versions, promote
 * (the canary, or any published version directly), roll back, deploy a version as canary or stable.
 */
final class AdminRoutes {
    private AdminRoutes() {}

    static OpsSurface mount(OpsSurface ops, PolicyServer server) {
        return ops.admin(server.settings().adminToken())
                .route("versions", "GET", body -> server.describe())
                .route("promote", "POST", body -> promote(server, body))
                .route("rollback", "POST", body -> rollback(server))
                .route("deploy", "POST", body -> deploy(server, body));
    }

    private static Object promote(PolicyServer server, JsonNode body) {
        long v = body.hasNonNull("version") ? body.get("version").asLong() : -1;
        boolean ok = server.promote(v, "admin promote");
        if (!ok && v >= 0 && server.deployment().canary() != v) {
            // not the canary: deploy that version directly
            ok = server.deploy(v, null, true);
            if (!ok) {
                throw new OpsSurface.Refusal(409, server.lastRefusal());
            }
        } else if (!ok) {
            throw new OpsSurface.Refusal(409, "there is no canary to promote");
        }
        return Map.of("deployment", server.deployment());
    }

    private static Object rollback(PolicyServer server) {
        if (server.rollback("admin rollback") < 0) {
            throw new OpsSurface.Refusal(409, "nothing to roll back to");
        }
        return Map.of("deployment", server.deployment());
    }

    private static Object deploy(PolicyServer server, JsonNode body) {
        if (!body.hasNonNull("version") || !body.get("version").canConvertToLong()) {
            throw new OpsSurface.Refusal(400, "field 'version' must be an integer");
        }
        boolean canary = body.path("canary").asBoolean(true);
        if (!server.deploy(body.get("version").asLong(), null, !canary)) {
            throw new OpsSurface.Refusal(409, server.lastRefusal());
        }
        return Map.of("deployment", server.deployment());
    }
}
