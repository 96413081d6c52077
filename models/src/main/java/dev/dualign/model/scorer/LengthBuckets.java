package dev.dualign.model.scorer;

import java.util.ArrayList;
import java.util.List;

/**
 * Cuts a batch of tokenized pairs into transformer calls whose shape depends on each pair alone
 * (decision 32, which keeps decision 5's guarantee): a pair goes to the smallest bucket length that
 * holds its tokens, and every call of a bucket has that bucket's fixed row count, padded with empty
 * rows. Padding everything to the model's maximum ({@link #padToMax}) is what decision 5 did before.
 */
public final class LengthBuckets {
    /** Bucket lengths in tokens; a model's maximum length closes the list. */
    public static final List<Integer> LENGTHS = List.of(32, 64, 128, 256, 512);
    /** Tokens a bucketed call holds: rows = this / bucket length (at least 1, at most the batch size). */
    public static final int CALL_TOKENS = 512;

    /**
     * One model call.
     *
     * @param rows the batch index of each row, -1 for a padding row
     * @param length tokens per row
     */
    public record Call(int[] rows, int length) {}

    private LengthBuckets() {}

    /** The bucket of a pair of {@code tokens} tokens for a model of {@code maxLength}. */
    public static int bucketOf(int tokens, int maxLength) {
        for (int b : LENGTHS) {
            if (b >= maxLength) {
                break;
            }
            if (tokens <= b) {
                return b;
            }
        }
        return maxLength;
    }

    /** Rows of every call at bucket length {@code length}: fixed by the length and {@code rows} alone. */
    public static int rowsOf(int length, int rows) {
        return Math.max(1, Math.min(rows, CALL_TOKENS / length));
    }

    /**
     * The calls for pairs of {@code tokens[i]} tokens, in bucket order: by length bucket, or, with
     * {@code buckets} off, every pair at {@code maxLength} in calls of {@code rows} (decision 5's shape).
     */
    public static List<Call> plan(int[] tokens, int maxLength, int rows, boolean buckets) {
        if (rows <= 0) {
            throw new IllegalArgumentException("rows must be ≥ 1, got " + rows);
        }
        List<Call> calls = new ArrayList<>();
        if (!buckets) {
            cut(indices(tokens, t -> true), maxLength, rows, calls);
            return calls;
        }
        List<Integer> lengths = new ArrayList<>();
        for (int b : LENGTHS) {
            if (b < maxLength) {
                lengths.add(b);
            }
        }
        lengths.add(maxLength);
        for (int len : lengths) {
            cut(indices(tokens, t -> bucketOf(t, maxLength) == len), len, rowsOf(len, rows), calls);
        }
        return calls;
    }

    private static List<Integer> indices(int[] tokens, java.util.function.IntPredicate in) {
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < tokens.length; i++) {
            if (in.test(tokens[i])) {
                out.add(i);
            }
        }
        return out;
    }

    private static void cut(List<Integer> members, int length, int rows, List<Call> calls) {
        for (int from = 0; from < members.size(); from += rows) {
            int[] r = new int[rows];
            java.util.Arrays.fill(r, -1);
            for (int k = 0; k < rows && from + k < members.size(); k++) {
                r[k] = members.get(from + k);
            }
            calls.add(new Call(r, length));
        }
    }
}
