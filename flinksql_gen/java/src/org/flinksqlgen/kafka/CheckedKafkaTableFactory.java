package org.flinksqlgen.kafka;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.streaming.connectors.kafka.config.BoundedMode;
import org.apache.flink.streaming.connectors.kafka.config.StartupMode;
import org.apache.flink.streaming.connectors.kafka.table.KafkaDynamicSource;
import org.apache.flink.streaming.connectors.kafka.table.KafkaDynamicTableFactory;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.catalog.Column;
import org.apache.flink.table.connector.format.DecodingFormat;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DynamicTableFactory;
import org.apache.flink.table.types.DataType;

import org.apache.flink.kafka.shaded.org.apache.kafka.common.TopicPartition;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * The source connector `flinksql-gen-kafka`: Flink's `kafka` connector (the same options, the same
 * offsets, splits, watermarks and checkpoints) for flinksql-gen's checked sources, whose value format
 * is `flinksql-gen-json`. It differs in one thing: how a consumed record becomes a row (see
 * {@link CheckedRecordDeserializer}): with the format's {@code record-columns = bad}, a valid
 * record's raw key and its metadata other than the timestamp stay NULL, so that the valid and the
 * bad-record branch of the scan do not copy them per record. It never writes: sinks use `kafka`.
 *
 * <p>{@code scan.rows} ({@code all}, the default, {@code valid} or {@code bad}), given per query in an
 * OPTIONS hint, reads one kind of row (see {@link CheckedRowsSource}): the valid and the bad-record
 * path of a job then share one read of the topic, split once per record, instead of each filtering
 * a copy of every row.
 */
public class CheckedKafkaTableFactory extends KafkaDynamicTableFactory {

    public static final String IDENTIFIER = "flinksql-gen-kafka";

    static final ConfigOption<String> SCAN_ROWS = ConfigOptions.key("scan.rows").stringType().defaultValue("all")
            .withDescription("Which rows this scan reads: all, valid (no __error) or bad.");

    private static final String ERROR_COLUMN = "value.flinksql-gen-json.error-column";

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        final Set<ConfigOption<?>> options = new HashSet<>(super.optionalOptions());
        options.add(SCAN_ROWS);
        return options;
    }

    @Override
    public DynamicTableSource createDynamicTableSource(DynamicTableFactory.Context context) {
        final CheckedKafkaSource all = (CheckedKafkaSource) super.createDynamicTableSource(context);
        final Map<String, String> options = context.getCatalogTable().getOptions();
        final String rows = options.getOrDefault(SCAN_ROWS.key(), SCAN_ROWS.defaultValue());
        if ("all".equals(rows)) {
            return all;
        }
        if (!"valid".equals(rows) && !"bad".equals(rows)) {
            throw new ValidationException("Option '" + SCAN_ROWS.key() + "' of the connector '" + IDENTIFIER
                    + "' is '" + rows + "': use all, valid or bad.");
        }
        final String error = options.get(ERROR_COLUMN);
        final List<String> names = DataType.getFieldNames(context.getPhysicalRowDataType());
        if (error == null || !names.contains(error)) {
            throw new ValidationException("Option '" + SCAN_ROWS.key() + "' = '" + rows + "' needs the value "
                    + "format's error column ('" + ERROR_COLUMN + "'), a column of the table.");
        }
        final List<String> metadata = new ArrayList<>();
        for (Column column : context.getCatalogTable().getResolvedSchema().getColumns()) {
            if (column instanceof Column.MetadataColumn) {
                metadata.add(((Column.MetadataColumn) column).getMetadataKey().orElse(column.getName()));
            }
        }
        // one read per table and options: the valid and the bad scan differ in scan.rows only
        final Map<String, String> read = new TreeMap<>(options);
        read.remove(SCAN_ROWS.key());
        final String readKey = context.getObjectIdentifier().asSummaryString() + read;
        return new CheckedRowsSource(all, "bad".equals(rows), names.indexOf(error), metadata,
                context.getObjectIdentifier().getObjectName(), readKey);
    }

    @Override
    public DynamicTableSink createDynamicTableSink(DynamicTableFactory.Context context) {
        throw new ValidationException(
                "The connector '" + IDENTIFIER + "' only reads (flinksql-gen's checked sources); "
                        + "write to Kafka with the 'kafka' connector.");
    }

    @Override
    protected KafkaDynamicSource createKafkaTableSource(
            DataType physicalDataType,
            DecodingFormat<DeserializationSchema<RowData>> keyDecodingFormat,
            DecodingFormat<DeserializationSchema<RowData>> valueDecodingFormat,
            int[] keyProjection,
            int[] valueProjection,
            String keyPrefix,
            List<String> topics,
            Pattern topicPattern,
            Properties properties,
            StartupMode startupMode,
            Map<TopicPartition, Long> specificStartupOffsets,
            long startupTimestampMillis,
            BoundedMode boundedMode,
            Map<TopicPartition, Long> specificEndOffsets,
            long endTimestampMillis,
            String tableIdentifier,
            Integer parallelism) {
        return new CheckedKafkaSource(
                physicalDataType,
                keyDecodingFormat,
                valueDecodingFormat,
                keyProjection,
                valueProjection,
                keyPrefix,
                topics,
                topicPattern,
                properties,
                startupMode,
                specificStartupOffsets,
                startupTimestampMillis,
                boundedMode,
                specificEndOffsets,
                endTimestampMillis,
                false,
                tableIdentifier,
                parallelism);
    }
}
