package dev.dualign.streaming.ops;

import dev.dualign.core.event.ScoredSample;
import java.util.List;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple5;
import org.apache.flink.api.java.typeutils.TupleTypeInfo;

/**
 * What the estimator needs of a scored sample — version, reward, log π − log π_ref, the utilities
 * in configuration order, the timestamp — as a tuple, so that the hop to the keyed estimator is
 * Flink's fixed binary layout (about 50 bytes) instead of the sample's JSON with its texts.
 * Profiling the job showed that JSON on this hop cost more CPU than the estimator itself.
 */
public final class EstimatorSample extends Tuple5<Long, Double, Double, double[], Long> {
    private static final long serialVersionUID = 1L;

    public static final TypeInformation<EstimatorSample> TYPE = new TupleTypeInfo<>(EstimatorSample.class,
            Types.LONG, Types.DOUBLE, Types.DOUBLE, PrimitiveArrayTypeInfo.DOUBLE_PRIMITIVE_ARRAY_TYPE_INFO, Types.LONG);

    /** For Flink's tuple serializer. */
    public EstimatorSample() {}

    public EstimatorSample(long version, double reward, double kl, double[] utilities, long timestamp) {
        super(version, reward, kl, utilities, timestamp);
    }

    /** The sample's numbers; {@code kl} is NaN when a log-probability is missing. */
    public static EstimatorSample of(ScoredSample s, List<String> utilityNames) {
        double[] u = new double[utilityNames.size()];
        for (int i = 0; i < u.length; i++) {
            u[i] = s.utility(utilityNames.get(i));
        }
        double kl = s.logprob() != null && s.refLogprob() != null ? s.logprob() - s.refLogprob() : Double.NaN;
        long ts = s.timestamp() == null ? 0L : s.timestamp();
        return new EstimatorSample(s.policyVersion() == null ? 0L : s.policyVersion(), s.reward(), kl, u, ts);
    }

    public long version() {
        return f0;
    }

    public double reward() {
        return f1;
    }

    /** log π − log π_ref, or NaN when unknown. */
    public double kl() {
        return f2;
    }

    /** Utilities in the order of the job's constraint names. */
    public double[] utilities() {
        return f3;
    }

    public long timestamp() {
        return f4;
    }
}
