package dev.dualign.model.registry;

import java.util.List;
import java.util.Map;

/**
 * What a published version is: written last into the version's directory, and the only thing a
 * reader trusts. Every file of the version is listed with its sha256 and size.
 *
 * @param name model name ({@code policy}, {@code reward}, ...)
 * @param version version number
 * @param parentVersion the version it was derived from, if any
 * @param created ISO-8601 creation time
 * @param lambda λ it was trained with (policies), empty otherwise
 * @param files every file of the version
 * @param metrics training and evaluation figures
 * @param info descriptive strings (seed, size, device, ...)
 */
public record Manifest(String name, long version, Long parentVersion, String created, Map<String, Double> lambda,
        List<FileEntry> files, Map<String, Double> metrics, Map<String, String> info) {

    /**
     * One file of a version.
     *
     * @param path path relative to the version directory, '/'-separated
     * @param sha256 lower-case hex digest
     * @param size bytes
     */
    public record FileEntry(String path, String sha256, long size) {}
}
