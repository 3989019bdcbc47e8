package org.flinksqlgen.kafka;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.operators.ProcessOperator;
import org.apache.flink.streaming.connectors.kafka.config.BoundedMode;
import org.apache.flink.table.connector.ProviderContext;
import org.apache.flink.table.connector.source.DataStreamScanProvider;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.connector.source.abilities.SupportsProjectionPushDown;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.types.DataType;

import java.util.List;
import java.util.stream.IntStream;

/**
 * A checked source's valid rows ({@code scan.rows = valid}) or bad rows ({@code bad}), each with
 * the columns its query reads. The valid and the bad scans of a table in one job share one read of
 * the topic ({@link SharedReads}): the Kafka source's rows go, uncopied, to one split
 * ({@link SplitRows}) that hands each record to the scans of its kind only. So a valid record is
 * parsed once and copied once into the pipeline, as with Flink's plain {@code json} source, where
 * a table read whole would fan every row out to a valid and a bad-record filter, a copy each.
 */
final class CheckedRowsSource extends CheckedKafkaSource implements SupportsProjectionPushDown {

    private final boolean bad;
    private final int errorIndex;
    private final List<String> tableMetadata; // every metadata column of the table: the shared read's
    private final String table; // its name: the shared read's operators are named after it
    private final String readKey;
    private int[] physical; // the physical columns this scan reads, by index; null: all

    CheckedRowsSource(CheckedKafkaSource all, boolean bad, int errorIndex, List<String> tableMetadata,
            String table, String readKey) {
        super(all);
        this.bad = bad;
        this.errorIndex = errorIndex;
        this.tableMetadata = tableMetadata;
        this.table = table;
        this.readKey = readKey;
    }

    @Override
    public DynamicTableSource copy() {
        final CheckedRowsSource copy = new CheckedRowsSource(this, bad, errorIndex, tableMetadata, table, readKey);
        copy.physical = physical;
        return copy;
    }

    @Override
    public String asSummaryString() {
        return "flinksql-gen checked Kafka table source (" + (bad ? "bad" : "valid") + " rows)";
    }

    @Override
    public boolean supportsNestedProjection() {
        return false;
    }

    @Override
    public void applyProjection(int[][] projectedFields, DataType producedDataType) {
        physical = new int[projectedFields.length];
        for (int i = 0; i < projectedFields.length; i++) {
            physical[i] = projectedFields[i][0];
        }
        this.producedDataType = producedDataType;
    }

    @Override
    public boolean supportsMetadataProjection() {
        return true; // each scan reads the metadata its query uses; the shared read has all of the table's
    }

    /** Where this scan's columns are in the shared read's row (physical columns, then metadata). */
    private int[] fields() {
        final int physicalArity = DataType.getFieldCount(physicalDataType);
        final IntStream columns = physical == null ? IntStream.range(0, physicalArity) : IntStream.of(physical);
        final IntStream metadata = metadataKeys.stream().mapToInt(key -> physicalArity + tableMetadata.indexOf(key));
        return IntStream.concat(columns, metadata).toArray();
    }

    @Override
    public ScanRuntimeProvider getScanRuntimeProvider(ScanContext context) {
        final int[] fields = fields();
        final TypeInformation<RowData> type = context.createTypeInformation(producedDataType);
        return new DataStreamScanProvider() {
            @Override
            public DataStream<RowData> produceDataStream(ProviderContext provider, StreamExecutionEnvironment env) {
                return SharedReads.of(env, readKey, () -> read(context, provider, env, fields))
                        .scan(env, bad, fields, type);
            }

            @Override
            public boolean isBounded() {
                return boundedMode != BoundedMode.UNBOUNDED;
            }
        };
    }

    private SharedReads.Read read(ScanContext context, ProviderContext provider, StreamExecutionEnvironment env,
            int[] fields) {
        final CheckedKafkaSource whole = wholeRead(tableMetadata,
                watermarkStrategy == null ? null : new ProjectedWatermarks(watermarkStrategy, fields));
        final DataStream<RowData> rows = ((DataStreamScanProvider) whole.getScanRuntimeProvider(context))
                .produceDataStream(provider, env);
        // Flink prefixes "Source: "; observe.py reads its metrics by this name
        rows.getTransformation().setName(table + "[checked read]");
        final SplitRows split = new SplitRows(errorIndex);
        final DataStream<RowData> out = rows.transform("SplitRows: " + table + "[valid, bad]",
                context.createTypeInformation(whole.rowType()), new ProcessOperator<>(split));
        if (parallelism != null) { // scan.parallelism: the source and its split, so they stay chained
            rows.getTransformation().setParallelism(parallelism);
            out.getTransformation().setParallelism(parallelism);
        }
        return new SharedReads.Read(out.getTransformation(), split);
    }
}
