import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.formats.common.TimestampFormat;
import org.apache.flink.formats.json.JsonParserRowDataDeserializationSchema;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.runtime.typeutils.InternalTypeInfo;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.RowType;

import java.nio.charset.StandardCharsets;
import java.util.Random;

/**
 * Deserializer cost alone (no Flink job): Flink's `json` format (its JsonParser-based schema) vs
 * flinksql-gen's checked format in typed mode, built through the format factory from the options the
 * planner renders. Run by `bench/bench_sources.py --format-only`; args: records, typed-mode fields option.
 */
public class FormatMicroBench {
    public static void main(String[] args) throws Exception {
        final int n = Integer.parseInt(args[0]);
        final String fields = args[1];
        final String[] hosts = {"doc", "grumpy", "happy", "sleepy"};
        final byte[][] msgs = new byte[n][];
        final Random r = new Random(7);
        for (int i = 0; i < n; i++) {
            msgs[i] = String.format("{\"hostname\": \"%s\", \"cpu\": \"cpu%d\", \"usage\": %.1f, \"occurred_at\": %d}",
                    hosts[i % 4], i % 4 + 1, r.nextInt(1000) / 10.0, 1700000000000L + i * 1000L)
                    .getBytes(StandardCharsets.UTF_8);
        }
        final DataType plainType = DataTypes.ROW(DataTypes.FIELD("hostname", DataTypes.STRING()),
                DataTypes.FIELD("cpu", DataTypes.STRING()), DataTypes.FIELD("usage", DataTypes.DOUBLE()),
                DataTypes.FIELD("occurred_at", DataTypes.BIGINT()));
        final RowType rt = (RowType) plainType.getLogicalType();
        final DeserializationSchema<RowData> plain = new JsonParserRowDataDeserializationSchema(
                rt, InternalTypeInfo.of(rt), false, false, TimestampFormat.ISO_8601);
        plain.open(null);
        final DataType checkedType = DataTypes.ROW(DataTypes.FIELD("__value", DataTypes.BYTES()),
                DataTypes.FIELD("hostname", DataTypes.STRING()), DataTypes.FIELD("cpu", DataTypes.STRING()),
                DataTypes.FIELD("usage", DataTypes.DOUBLE()), DataTypes.FIELD("occurred_at", DataTypes.BIGINT()),
                DataTypes.FIELD("__error", DataTypes.STRING()));
        final DeserializationSchema<RowData> checked = Checked.create(checkedType, fields);
        final long[] best = {Long.MAX_VALUE, Long.MAX_VALUE};
        long sink = 0;
        for (int round = 0; round < 15; round++) { // interleaved, best of 15: the machine is shared
            final long t0 = System.nanoTime();
            for (byte[] m : msgs) {
                sink += plain.deserialize(m).getLong(3);
            }
            final long t1 = System.nanoTime();
            for (byte[] m : msgs) {
                final RowData row = checked.deserialize(m);
                if (!row.isNullAt(5)) {
                    throw new IllegalStateException(row.getString(5).toString());
                }
                sink += row.getLong(4);
            }
            final long t2 = System.nanoTime();
            best[0] = Math.min(best[0], t1 - t0);
            best[1] = Math.min(best[1], t2 - t1);
        }
        System.out.printf("{\"plain_ns\": %.1f, \"checked_ns\": %.1f, \"sink\": %d}%n",
                best[0] / (double) n, best[1] / (double) n, sink % 7);
    }

    /** The format as the planner builds it: factory, options, runtime decoder. */
    static final class Checked {
        static DeserializationSchema<RowData> create(DataType type, String fields) throws Exception {
            final java.util.Map<String, String> options = new java.util.HashMap<>();
            options.put("raw-column", "__value");
            options.put("error-column", "__error");
            options.put("fields", fields);
            final org.apache.flink.table.factories.DeserializationFormatFactory factory =
                    new org.flinksqlgen.format.CheckedJsonFormatFactory();
            final org.apache.flink.configuration.Configuration conf =
                    org.apache.flink.configuration.Configuration.fromMap(options);
            final org.apache.flink.table.connector.format.DecodingFormat<DeserializationSchema<RowData>> format =
                    factory.createDecodingFormat(null, conf);
            final DeserializationSchema<RowData> schema = format.createRuntimeDecoder(new Context(), type);
            schema.open(null);
            return schema;
        }
    }

    static final class Context implements org.apache.flink.table.connector.source.DynamicTableSource.Context {
        @Override
        @SuppressWarnings("unchecked")
        public <T> org.apache.flink.api.common.typeinfo.TypeInformation<T> createTypeInformation(DataType t) {
            return (org.apache.flink.api.common.typeinfo.TypeInformation<T>) InternalTypeInfo.of(t.getLogicalType());
        }

        @Override
        @SuppressWarnings("unchecked")
        public <T> org.apache.flink.api.common.typeinfo.TypeInformation<T> createTypeInformation(
                org.apache.flink.table.types.logical.LogicalType t) {
            return (org.apache.flink.api.common.typeinfo.TypeInformation<T>) InternalTypeInfo.of(t);
        }

        @Override
        public org.apache.flink.table.connector.source.DynamicTableSource.DataStructureConverter
                createDataStructureConverter(DataType t) {
            throw new UnsupportedOperationException();
        }
    }
}
