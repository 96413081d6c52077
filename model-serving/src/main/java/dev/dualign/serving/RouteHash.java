package dev.dualign.serving;

/**
 * The hash of a route key to a number in [0, 1), salted per use and seeded by the server's seed:
 * canary routing and reference sampling each compare it with their fraction, so one key always
 * gets the same answer on every replica.
 */
final class RouteHash {
    /** Salt of canary routing ({@link VersionRouter}). */
    static final long CANARY = 0x9E3779B97F4A7C15L;
    /** Salt of reference sampling ({@link ReferenceSampler}). */
    static final long REFERENCE = 0x5DEECE66DL;

    private RouteHash() {}

    static double unit(String id, long salt, long seed) {
        long h = (id.hashCode() * 0xC2B2AE3D27D4EB4FL) ^ salt ^ seed;
        h ^= h >>> 33;
        h *= 0xff51afd7ed558ccdL;
        h ^= h >>> 33;
        return (h >>> 11) * 0x1.0p-53;
    }
}
