package dev.dualign.streaming;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dualign.core.config.ConfigException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;

/**
 * What wrote a checkpoint or savepoint: the job's name and the settings that shape its graph and
 * its state. Stored beside the checkpoints of one run (and in each savepoint), so that a run never
 * resumes state another job or another configuration wrote, where λ and the estimates would mean
 * something else.
 *
 * @param job the job's name ({@code dualign-alignment}, {@code dualign-demo})
 * @param settings the settings that must match, as text
 */
public record JobIdentity(String job, Map<String, String> settings) {
    public static final String FILE = "dualign-job.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * The identity of {@code job} run with {@code s}: the settings whose change makes the state mean
     * something else (the mode's controller state, the controller's id). The constraints are not
     * part of it: λ is carried over by constraint name and the estimates start afresh when they
     * change. Where it runs (ports, paths, device, parallelism) is not part of it either.
     */
    public static JobIdentity of(String job, JobSettings s) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("dual.mode", s.control().mode().key());
        m.put("dual.constraint-set", s.constraintSet());
        return new JobIdentity(job, m);
    }

    /** Writes this identity into {@code dir} (created if needed). */
    public void writeTo(Path dir) {
        try {
            Files.createDirectories(dir);
            JSON.writerWithDefaultPrettyPrinter().writeValue(dir.resolve(FILE).toFile(), this);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + dir.resolve(FILE), e);
        }
    }

    /** The identity stored in {@code dir}, if any (state written before identities were kept has none). */
    public static Optional<JobIdentity> readFrom(Path dir) {
        Path f = dir.resolve(FILE);
        if (!Files.isRegularFile(f)) {
            return Optional.empty();
        }
        try {
            return Optional.of(JSON.readValue(f.toFile(), JobIdentity.class));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + f, e);
        }
    }

    /** Where the identity of a restore point lives: a checkpoint's run directory, or the savepoint itself. */
    public static Optional<Path> directoryOf(String restorePoint) {
        return JobEnvironment.localPath(restorePoint).map(p -> p.getFileName() != null
                && p.getFileName().toString().startsWith("chk-") ? p.getParent() : p);
    }

    /** What differs from {@code written}, one entry per setting ({@code key: written → now}); empty when none. */
    public List<String> differencesFrom(JobIdentity written) {
        List<String> out = new ArrayList<>();
        if (!job.equals(written.job())) {
            out.add("job: " + written.job() + " → " + job);
        }
        for (String k : new TreeSet<>(union(settings.keySet(), written.settings().keySet()))) {
            String was = written.settings().get(k);
            String now = settings.get(k);
            if (was == null ? now != null : !was.equals(now)) {
                out.add(k + ": " + was + " → " + now);
            }
        }
        return out;
    }

    private static java.util.Set<String> union(java.util.Set<String> a, java.util.Set<String> b) {
        java.util.Set<String> u = new java.util.HashSet<>(a);
        u.addAll(b);
        return u;
    }

    /**
     * Refuses to resume {@code restorePoint} when another job or configuration wrote it, naming
     * both; a restore point without an identity (older state, a remote one) is resumed as before.
     */
    public void requireSameAs(String restorePoint) {
        Optional<JobIdentity> written = directoryOf(restorePoint).flatMap(JobIdentity::readFrom);
        if (written.isEmpty()) {
            return;
        }
        List<String> diff = differencesFrom(written.get());
        if (!diff.isEmpty()) {
            throw new ConfigException("checkpoint.restore-from", restorePoint + " was written by " + written.get().job()
                    + " with other settings than this " + job + " (" + String.join("; ", diff) + "); start with --fresh, "
                    + "or give this run its own checkpoint.dir");
        }
    }
}
