package dev.dualign.serving;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dualign.service.OpsSurface;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

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
                .route("rollback", "POST", body -> rollback(server, body))
                .route("deploy", "POST", body -> deploy(server, body));
    }

    /**
     * Refuses a body with fields the call does not take, and returns its {@code version}: a JSON
     * integer ≥ 0, or -1 when absent and not required. Anything else is a 400, so a typo never
     * becomes version 0 (the reference) for everyone.
     */
    static long version(JsonNode body, boolean required, Set<String> fields) {
        for (Iterator<String> it = body.fieldNames(); it.hasNext();) {
            String f = it.next();
            if (!fields.contains(f)) {
                throw new OpsSurface.Refusal(400, "unknown field '" + f + "'; this call takes " + (fields.isEmpty() ? "no fields"
                        : String.join(", ", new TreeSet<>(fields))));
            }
        }
        JsonNode v = body.get("version");
        if (v == null || v.isNull()) {
            if (required) {
                throw new OpsSurface.Refusal(400, "field 'version' must be an integer");
            }
            return -1;
        }
        if (!v.isIntegralNumber() || !v.canConvertToLong() || v.asLong() < 0) {
            throw new OpsSurface.Refusal(400, "field 'version' must be an integer ≥ 0, got " + v);
        }
        return v.asLong();
    }

    private static Object promote(PolicyServer server, JsonNode body) {
        long v = version(body, false, Set.of("version"));
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

    private static Object rollback(PolicyServer server, JsonNode body) {
        version(body, false, Set.of());
        if (server.rollback("admin rollback") < 0) {
            throw new OpsSurface.Refusal(409, "nothing to roll back to");
        }
        return Map.of("deployment", server.deployment());
    }

    private static Object deploy(PolicyServer server, JsonNode body) {
        long v = version(body, true, Set.of("version", "canary"));
        JsonNode c = body.get("canary");
        if (c != null && !c.isBoolean()) {
            throw new OpsSurface.Refusal(400, "field 'canary' must be true or false, got " + c);
        }
        boolean canary = c == null || c.asBoolean();
        if (!server.deploy(v, null, !canary)) {
            throw new OpsSurface.Refusal(409, server.lastRefusal());
        }
        return Map.of("deployment", server.deployment());
    }
}
