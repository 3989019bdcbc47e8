package org.flinksqlgen.kafka;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.dag.Transformation;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.transformations.SideOutputTransformation;
import org.apache.flink.table.data.RowData;

import java.util.HashMap;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.function.Supplier;

/**
 * The reads that the {@code scan.rows = valid | bad} scans of one job share, by environment and
 * table (with its options). The planner translates each scan on its own; the first one builds the
 * read (Kafka source and split), the others add their side output to it. A read is not shared
 * with a later job: once a job graph has taken its split, the next scan builds a new one.
 */
final class SharedReads {

    private static final Map<StreamExecutionEnvironment, Map<String, Read>> READS = new WeakHashMap<>();

    private SharedReads() {}

    static synchronized Read of(StreamExecutionEnvironment env, String key, Supplier<Read> build) {
        final Map<String, Read> reads = READS.computeIfAbsent(env, e -> new HashMap<>());
        Read read = reads.get(key);
        if (read == null || read.rows.spent) {
            read = build.get();
            read.rows.spent = false; // a check for serialisability while building is not a job graph
            reads.put(key, read);
        }
        return read;
    }

    /** A Kafka source and its split; a transformation holds no environment, so entries can go. */
    static final class Read {
        private final Transformation<RowData> split;
        final SplitRows rows;

        Read(Transformation<RowData> split, SplitRows rows) {
            this.split = split;
            this.rows = rows;
        }

        DataStream<RowData> scan(StreamExecutionEnvironment env, boolean bad, int[] fields,
                TypeInformation<RowData> type) {
            return new DataStream<>(env, new SideOutputTransformation<>(split, rows.add(bad, fields, type)));
        }
    }
}
