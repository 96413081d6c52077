package dev.dualign.streaming.ops;

import dev.dualign.connectors.flink.JsonTypeInfo;
import dev.dualign.core.dataset.DatasetFile;
import dev.dualign.core.dataset.PolicyDataset;
import dev.dualign.core.event.FineTuneRequest;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.core.event.ScoredSample;
import dev.dualign.streaming.JobSettings;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.util.Collector;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns each fine-tune request into the file a trainer reads, so no trainer needs the job's
 * topics or scorers: it keeps the scored responses of the most recent prompts (up to K each) in
 * keyed RocksDB state, and on a request writes them, scored and weighted at the request's λ and β,
 * as a {@link PolicyDataset} under {@code dataset.root}, and passes the request on naming the file
 * and its sha256, and the stable version (from the canary judge's promotions) its result must beat. A request restored from a checkpoint and sent again gets a file of its own (the
 * name holds the request's timestamp and digest); the files of the newest {@code dataset.keep}
 * requests are kept.
 */
public final class DatasetStage extends KeyedCoProcessFunction<String, DatasetStage.In, FineTuneRequest, FineTuneRequest> {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(DatasetStage.class);

    /** A prompt's scored responses so far, and when its first one came (its place in the window). */
    public record Group(long seq, List<ScoredSample> samples) {}

    /**
     * What the stage reads besides requests: scored samples, grouped upstream as the controller's are
     * (one key holds every prompt, so each subtask sends lists, not single records), or the version
     * a decision promoted.
     */
    public record In(List<ScoredSample> samples, Long promoted) {
        public static In of(List<ScoredSample> s) {
            return new In(s, null);
        }

        public static In promotion(long version) {
            return new In(null, version);
        }
    }

    private final JobSettings settings;
    private transient MapState<String, Group> groups;
    /** Arrival number → prompt id: the window's order, oldest first, so eviction is O(1). */
    private transient MapState<Long, String> order;
    private transient ValueState<Long> next;
    private transient ValueState<Long> oldest;
    /** The newest promoted version, and the oldest version seen serving: the stable one a request names. */
    private transient ValueState<Long> promoted;
    private transient ValueState<Long> oldestServed;

    public DatasetStage(JobSettings settings) {
        this.settings = settings;
    }

    @Override
    public void open(OpenContext ctx) {
        var rc = getRuntimeContext();
        groups = rc.getMapState(new MapStateDescriptor<>("dataset-groups", Types.STRING, JsonTypeInfo.forRecord(Group.class)));
        order = rc.getMapState(new MapStateDescriptor<>("dataset-order", Types.LONG, Types.STRING));
        next = rc.getState(new ValueStateDescriptor<>("dataset-next", Types.LONG));
        oldest = rc.getState(new ValueStateDescriptor<>("dataset-oldest", Types.LONG));
        promoted = rc.getState(new ValueStateDescriptor<>("dataset-promoted", Types.LONG));
        oldestServed = rc.getState(new ValueStateDescriptor<>("dataset-oldest-served", Types.LONG));
    }

    @Override
    public void processElement1(In in, Context ctx, Collector<FineTuneRequest> out) throws Exception {
        if (in.promoted() != null) {
            promoted.update(promoted.value() == null ? in.promoted() : Math.max(promoted.value(), in.promoted()));
            return;
        }
        for (ScoredSample s : in.samples()) {
            add(s);
        }
    }

    private void add(ScoredSample s) throws Exception {
        if (s.policyVersion() != null && ResponseEvent.SOURCE_POLICY.equals(s.source())
                && (oldestServed.value() == null || s.policyVersion() < oldestServed.value())) {
            oldestServed.update(s.policyVersion());
        }
        if (s.prompt() == null || s.response() == null) {
            return; // nothing to train on
        }
        Group g = groups.get(s.promptId());
        if (g != null) {
            if (g.samples().size() < settings.datasets().maxResponses()) {
                List<ScoredSample> more = new ArrayList<>(g.samples());
                more.add(s);
                groups.put(s.promptId(), new Group(g.seq(), more));
            }
            return;
        }
        long seq = next.value() == null ? 0 : next.value();
        next.update(seq + 1);
        groups.put(s.promptId(), new Group(seq, List.of(s)));
        order.put(seq, s.promptId());
        long first = oldest.value() == null ? 0 : oldest.value();
        while (seq + 1 - first > settings.datasets().maxPrompts()) {
            String id = order.get(first);
            order.remove(first);
            Group old = id == null ? null : groups.get(id);
            if (old != null && old.seq() == first) {
                groups.remove(id);
            }
            first++;
        }
        oldest.update(first);
    }

    @Override
    public void processElement2(FineTuneRequest req, Context ctx, Collector<FineTuneRequest> out) throws Exception {
        List<List<ScoredSample>> newestFirst = new ArrayList<>();
        long last = next.value() == null ? 0 : next.value();
        long first = oldest.value() == null ? 0 : oldest.value();
        for (long seq = last - 1; seq >= first; seq--) {
            String id = order.get(seq);
            Group g = id == null ? null : groups.get(id);
            if (g != null && g.seq() == seq) {
                newestFirst.add(g.samples());
            }
        }
        double beta = req.beta() != null ? req.beta() : settings.control().beta();
        var records = PolicyDataset.records(newestFirst, req.lambda(), beta);
        Path dir = Path.of(settings.datasets().root(), safe(settings.constraintSet()));
        FineTuneRequest.Dataset ref;
        try {
            ref = write(dir, req, records);
        } catch (IOException e) {
            // the request still goes: a trainer that needs the file refuses it, and the controller's timeout sends another
            LOG.error("fine-tune request {}: could not write its dataset under {}; sent without one", req.requestId(), dir, e);
            out.collect(req.withData(null, stable(req)));
            return;
        }
        LOG.info("fine-tune request {}: dataset of {} prompts ({} responses) at {}", req.requestId(), ref.records(),
                records.stream().mapToInt(r -> r.responses().size()).sum(), ref.uri());
        out.collect(req.withData(ref, stable(req)));
    }

    /**
     * The version serving now, as the canary judge reckons it: the newest promoted, else the oldest
     * seen serving (the deployment the loop started from); null before either is known.
     */
    private Long stable(FineTuneRequest req) throws Exception {
        if (req.stableVersion() != null) {
            return req.stableVersion();
        }
        return promoted.value() != null ? promoted.value() : oldestServed.value();
    }

    private FineTuneRequest.Dataset write(Path dir, FineTuneRequest req, List<dev.dualign.core.dataset.PolicyDatasetRecord> records)
            throws IOException {
        // written beside, hashed, then named by its digest: a replayed request never overwrites a file a trainer reads beside, hashed, then named by its digest: a replayed request never overwrites a file a trainer reads
        Path part = dir.resolve(safe(req.requestId()) + "-" + req.timestamp() + ".jsonl");
        DatasetFile f = PolicyDataset.write(part, records);
        Path named = dir.resolve(safe(req.requestId()) + "-" + req.timestamp() + "-" + f.sha256().substring(0, 12) + ".jsonl");
        Files.move(part, named, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        prune(dir, settings.datasets().keep());
        return new DatasetFile(named, f.sha256(), f.records(), f.format()).ref();
    }

    /** The newest {@code keep} files stay (a trainer may still read one), older ones go. */
    static void prune(Path dir, int keep) {
        try (Stream<Path> files = Files.list(dir)) {
            List<Path> all = files.filter(p -> p.getFileName().toString().endsWith(".jsonl"))
                    .sorted(Comparator.comparingLong(DatasetStage::modified).reversed()).toList();
            for (Path old : all.subList(Math.min(keep, all.size()), all.size())) {
                Files.deleteIfExists(old);
            }
        } catch (IOException e) {
            LOG.warn("could not prune old datasets in {}: {}", dir, e.toString());
        }
    }

    private static long modified(Path p) {
        try {
            return Files.getLastModifiedTime(p).toMillis();
        } catch (IOException e) {
            return Long.MIN_VALUE; // gone meanwhile: first to be deleted
        }
    }

    /** A name that is one path element on any file system. */
    static String safe(String s) {
        return s.replaceAll("[^A-Za-z0-9._-]", "_");
    }
}
