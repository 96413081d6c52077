package dev.dualign.core.dataset;

import dev.dualign.core.event.FineTuneRequest;
import java.nio.file.Path;

/**
 * A dataset file as written: what a {@link FineTuneRequest} names so the trainer can check it reads
 * the very bytes the job wrote.
 *
 * @param path where it was written
 * @param sha256 SHA-256 of its bytes, 64 lower-case hex
 * @param records its lines
 * @param format what each line is ({@link PolicyDataset#FORMAT} or {@link DpoView#FORMAT})
 */
public record DatasetFile(Path path, String sha256, long records, String format) {
    /** The request's description of this file, at its absolute {@code file:} URI. */
    public FineTuneRequest.Dataset ref() {
        return ref(path.toAbsolutePath().toUri().toString());
    }

    /** The request's description of this file, at {@code uri} (where a remote trainer reads it). */
    public FineTuneRequest.Dataset ref(String uri) {
        return new FineTuneRequest.Dataset(uri, sha256, records, format);
    }
}
