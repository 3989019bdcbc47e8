package org.flinksqlgen.kafka;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.streaming.connectors.kafka.config.BoundedMode;
import org.apache.flink.streaming.connectors.kafka.config.StartupMode;
import org.apache.flink.streaming.connectors.kafka.table.KafkaDynamicSource;
import org.apache.flink.streaming.connectors.kafka.table.KafkaDynamicTableFactory;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.connector.format.DecodingFormat;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DynamicTableFactory;
import org.apache.flink.table.types.DataType;

import org.apache.flink.kafka.shaded.org.apache.kafka.common.TopicPartition;

import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.regex.Pattern;

/**
 * The source connector `flinksql-gen-kafka`: Flink's `kafka` connector (the same options, the same
 * offsets, splits, watermarks and checkpoints) for flinksql-gen's checked sources, whose value format
 * is `flinksql-gen-json`. It differs in one thing: how a consumed record becomes a row (see
 * {@link CheckedRecordDeserializer}): with the format's {@code record-columns = bad}, a valid
 * record's raw key and its metadata other than the timestamp stay NULL, so that the valid and the
 * bad-record branch of the scan do not copy them per record. It never writes: sinks use `kafka`.
 */
public class CheckedKafkaTableFactory extends KafkaDynamicTableFactory {

    public static final String IDENTIFIER = "flinksql-gen-kafka";

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
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
