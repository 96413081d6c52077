package dev.dualign.streaming;

import dev.dualign.connectors.KafkaSettings;
import dev.dualign.connectors.flink.DualignKafka;
import dev.dualign.connectors.flink.JsonTypeInfo;
import dev.dualign.core.dual.DualMode;
import dev.dualign.core.event.Alert;
import dev.dualign.core.event.DeadLetter;
import dev.dualign.core.event.DeploymentDecision;
import dev.dualign.core.event.DualUpdate;
import dev.dualign.core.event.Event;
import dev.dualign.core.event.FineTuneRequest;
import dev.dualign.core.event.ResponseEvent;
import dev.dualign.core.event.ScoredSample;
import dev.dualign.core.event.Topic;
import dev.dualign.core.event.VersionEstimate;
import dev.dualign.streaming.ops.CanaryJudge;
import dev.dualign.streaming.ops.ControllerInput;
import dev.dualign.streaming.ops.DatasetStage;
import dev.dualign.streaming.ops.DualController;
import dev.dualign.streaming.ops.EstimatorSample;
import dev.dualign.streaming.ops.MicroBatcher;
import dev.dualign.streaming.ops.ScoreBatchOperator;
import dev.dualign.streaming.ops.VersionEstimator;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/**
 * The alignment job graph: parse → score (batched, DJL) → estimate per policy version → dual
 * controller and canary judge, with the scored samples, estimates, λ updates, fine-tune requests,
 * deployment decisions, alerts and dead letters written out. Built by one function that takes its input stream and its outputs, so tests run
 * the real graph; {@link #kafka} plugs in the Kafka topics. Every operator is named and has a
 * stable uid, so state survives upgrades.
 *
 * <pre>{@code
 * AlignmentJob.kafka(env, settings, kafkaSettings, false);
 * env.execute("dualign");
 * }</pre>
 */
public final class AlignmentJob {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(AlignmentJob.class);
    /** Where the job's outputs go. */
    public interface Outputs {
        <T extends Event> void write(DataStream<T> stream, Topic topic, Class<T> type);
    }

    private AlignmentJob() {}

    /** The whole job on the Kafka topics of {@code kafka}. */
    public static void kafka(StreamExecutionEnvironment env, JobSettings settings, KafkaSettings kafka, boolean bounded) {
        DualignKafka k = new DualignKafka(kafka);
        DualignKafka.Parsed<ResponseEvent> in = k.read(env, Topic.RESPONSES, ResponseEvent.class, bounded);
        build(in.events(), in.deadLetters(), settings, kafka.topic(Topic.RESPONSES), kafka.topic(Topic.SCORED), k::write);
    }

    /**
     * Wires the graph.
     *
     * @param responses parsed responses
     * @param deadLetters dead letters of the parsing upstream (joined with the scorer's)
     * @param responsesTopic name recorded in scorer dead letters
     * @param scoredTopic topic fine-tune requests point at for their data
     */
    public static void build(DataStream<ResponseEvent> responses, DataStream<DeadLetter> deadLetters, JobSettings unpinned,
            String responsesTopic, String scoredTopic, Outputs out) {
        // the scorer versions are resolved here, once: every operator of the run carries the same ones
        JobSettings settings = unpinned.pinScorers();
        LOG.info("scoring with {} from {}", settings.scorers(), settings.registry());
        SingleOutputStreamOperator<ScoredSample> scored = responses
                .transform("score", JsonTypeInfo.forRecord(ScoredSample.class), new ScoreBatchOperator(settings, responsesTopic))
                .uid("score");
        out.write(scored, Topic.SCORED, ScoredSample.class);
        out.write(deadLetters.union(scored.getSideOutput(ScoreBatchOperator.DEAD_LETTERS)), Topic.DLQ, DeadLetter.class);

        java.util.List<String> names = settings.names();
        SingleOutputStreamOperator<VersionEstimate> estimates = scored
                // served answers only: a reference sample is not the version's, a dataset sample not a served answer
                .filter(s -> !ResponseEvent.SOURCE_REFERENCE.equals(s.source()) && !ResponseEvent.SOURCE_SAMPLE.equals(s.source()))
                .name("policy-samples").uid("policy-samples")
                .map(s -> EstimatorSample.of(s, names), EstimatorSample.TYPE).name("as-estimator-sample")
                .uid("as-estimator-sample")
                // two phases: each subtask groups its samples per version, the keyed estimator merges the groups
                .transform("partial-estimates", Types.LIST(EstimatorSample.TYPE), new MicroBatcher<EstimatorSample>(
                        EstimatorSample::version, settings.partialSize(), settings.partialWaitMs()))
                .uid("partial-estimates")
                .keyBy(VersionEstimator::versionOf, Types.LONG)
                .process(new VersionEstimator(settings), JsonTypeInfo.forRecord(VersionEstimate.class))
                .name("estimate").uid("estimate");
        out.write(estimates, Topic.ESTIMATES, VersionEstimate.class);
        DualMode mode = settings.control().mode();
        boolean wantsSamples = mode.stepsOnLiveSamples();
        boolean wantsReference = mode.usesReferenceSamples();
        DataStream<ControllerInput> samples = scored
                .filter(s -> ResponseEvent.SOURCE_REFERENCE.equals(s.source()) ? wantsReference
                        : !ResponseEvent.SOURCE_SAMPLE.equals(s.source()) && wantsSamples)
                .name("controller-samples").uid("controller-samples")
                .transform("partial-controller-samples", Types.LIST(JsonTypeInfo.forEvent(ScoredSample.class)),
                        new MicroBatcher<ScoredSample>(x -> 0, settings.partialSize(), settings.partialWaitMs()))
                .uid("partial-controller-samples")
                .map(ControllerInput::of, JsonTypeInfo.forRecord(ControllerInput.class)).name("as-controller-sample")
                .uid("as-controller-sample");
        DataStream<ControllerInput> estimateInputs = estimates
                .map(ControllerInput::of, JsonTypeInfo.forRecord(ControllerInput.class)).name("as-controller-estimate")
                .uid("as-controller-estimate");
        String set = settings.constraintSet();
        SingleOutputStreamOperator<DualUpdate> dual = estimateInputs.union(samples)
                .keyBy(x -> set, Types.STRING)
                .process(new DualController(settings, scoredTopic), JsonTypeInfo.forEvent(DualUpdate.class))
                .name("dual-controller").uid("dual-controller");
        out.write(dual, Topic.DUAL, DualUpdate.class);
        // the judge takes the margins the controller publishes (a relative one is resolved there); it
        // sees every version's estimate under one key, so a canary is judged beside the stable version
        // (its reward test, decision 27). A new uid: the judge keyed by version (uid canary-judge) had
        // other state, and a checkpoint of it is restored with execution.state-recovery.ignore-unclaimed-state.
        String judgeKey = CanaryJudge.keyOf(settings);
        SingleOutputStreamOperator<DeploymentDecision> decisions = estimates
                .keyBy(e -> judgeKey, Types.STRING)
                .connect(dual.broadcast(CanaryJudge.MARGINS))
                .process(new CanaryJudge(settings), JsonTypeInfo.forEvent(DeploymentDecision.class))
                .name("canary-judge").uid("canary-judge-by-set");
        out.write(decisions, Topic.DECISIONS, DeploymentDecision.class);
        // each request leaves with the file of scored responses its trainer reads (dataset.root)
        DataStream<DatasetStage.In> datasetInputs = scored
                .filter(s -> s.prompt() != null && s.response() != null).name("dataset-samples").uid("dataset-samples")
                .transform("partial-dataset-samples", Types.LIST(JsonTypeInfo.forEvent(ScoredSample.class)),
                        new MicroBatcher<ScoredSample>(x -> 0, settings.partialSize(), settings.partialWaitMs()))
                .uid("partial-dataset-samples")
                .map(DatasetStage.In::of, JsonTypeInfo.forRecord(DatasetStage.In.class)).name("as-dataset-samples")
                .uid("as-dataset-samples")
                .union(decisions.filter(d -> d.action() == DeploymentDecision.Action.PROMOTE).name("promotions").uid("promotions")
                        .map(d -> DatasetStage.In.promotion(d.policyVersion()), JsonTypeInfo.forRecord(DatasetStage.In.class))
                        .name("as-dataset-promotion").uid("as-dataset-promotion"));
        DataStream<FineTuneRequest> requests = datasetInputs
                .keyBy(x -> set, Types.STRING)
                .connect(dual.getSideOutput(DualController.FINE_TUNE).keyBy(x -> set, Types.STRING))
                .process(new DatasetStage(settings), JsonTypeInfo.forEvent(FineTuneRequest.class))
                .name("dataset").uid("dataset");
        out.write(requests, Topic.CONTROL, FineTuneRequest.class);
        out.write(estimates.getSideOutput(VersionEstimator.ALERTS).union(dual.getSideOutput(DualController.ALERTS)),
                Topic.ALERTS, Alert.class);
    }
}
