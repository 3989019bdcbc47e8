package org.flinksqlgen.kafka;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.KafkaSourceBuilder;
import org.apache.flink.connector.kafka.source.enumerator.initializer.NoStoppingOffsetsInitializer;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.streaming.connectors.kafka.config.BoundedMode;
import org.apache.flink.streaming.connectors.kafka.config.StartupMode;
import org.apache.flink.streaming.connectors.kafka.table.KafkaDynamicSource;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.connector.format.DecodingFormat;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.LogicalType;

import org.apache.flink.kafka.shaded.org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.consumer.OffsetResetStrategy;
import org.apache.flink.kafka.shaded.org.apache.kafka.common.TopicPartition;

import org.flinksqlgen.format.CheckedJsonDeserializationSchema;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.regex.Pattern;

/** Flink's Kafka table source with {@link CheckedRecordDeserializer} in place of its own. */
public class CheckedKafkaSource extends KafkaDynamicSource {

    public CheckedKafkaSource(
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
            Map<TopicPartition, Long> specificBoundedOffsets,
            long boundedTimestampMillis,
            boolean upsertMode,
            String tableIdentifier,
            Integer parallelism) {
        super(physicalDataType, keyDecodingFormat, valueDecodingFormat, keyProjection, valueProjection,
                keyPrefix, topics, topicPattern, properties, startupMode, specificStartupOffsets,
                startupTimestampMillis, boundedMode, specificBoundedOffsets, boundedTimestampMillis,
                upsertMode, tableIdentifier, parallelism);
    }

    /** Set on the read that {@link CheckedRowsSource} scans share: only their split sees its rows. */
    private boolean splitOnly;

    protected CheckedKafkaSource(CheckedKafkaSource other) {
        this(other.physicalDataType, other.keyDecodingFormat, other.valueDecodingFormat, other.keyProjection,
                other.valueProjection, other.keyPrefix, other.topics, other.topicPattern, other.properties,
                other.startupMode, other.specificStartupOffsets, other.startupTimestampMillis, other.boundedMode,
                other.specificBoundedOffsets, other.boundedTimestampMillis, other.upsertMode, other.tableIdentifier,
                other.parallelism);
        producedDataType = other.producedDataType;
        metadataKeys = other.metadataKeys;
        watermarkStrategy = other.watermarkStrategy;
    }

    @Override
    public DynamicTableSource copy() {
        // the planner copies sources while it optimises: the copy must stay this class
        return new CheckedKafkaSource(this);
    }

    /**
     * This table read whole: every physical column, then the given metadata columns, with the given
     * watermarks; its rows go to a split that never changes them, so they are not copied on the way.
     */
    CheckedKafkaSource wholeRead(List<String> metadata, WatermarkStrategy<RowData> watermarks) {
        final CheckedKafkaSource whole = new CheckedKafkaSource(this);
        final Map<String, DataType> readable = listReadableMetadata();
        final List<DataTypes.Field> fields = new ArrayList<>(DataType.getFields(physicalDataType));
        for (int m = 0; m < metadata.size(); m++) {
            fields.add(DataTypes.FIELD("__metadata" + m, readable.get(metadata.get(m))));
        }
        whole.metadataKeys = metadata;
        whole.producedDataType = DataTypes.ROW(fields).notNull();
        whole.watermarkStrategy = watermarks;
        whole.splitOnly = true;
        return whole;
    }

    DataType rowType() {
        return producedDataType;
    }

    @Override
    public String asSummaryString() {
        return "flinksql-gen checked Kafka table source";
    }

    /** As KafkaDynamicSource#createKafkaSource (Flink Kafka connector 4.0), with our deserializer. */
    @Override
    protected KafkaSource<RowData> createKafkaSource(
            DeserializationSchema<RowData> keyDeserialization,
            DeserializationSchema<RowData> valueDeserialization,
            TypeInformation<RowData> producedTypeInfo) {
        if (!(valueDeserialization instanceof CheckedJsonDeserializationSchema)) {
            throw new ValidationException("The connector '" + CheckedKafkaTableFactory.IDENTIFIER
                    + "' reads values with the 'flinksql-gen-json' format only ('value.format').");
        }
        final List<LogicalType> fields = producedDataType.getLogicalType().getChildren();
        final CheckedRecordDeserializer deserializer = new CheckedRecordDeserializer(
                keyDeserialization, (CheckedJsonDeserializationSchema) valueDeserialization,
                keyProjection, valueProjection, physicalDataType.getLogicalType().getChildren().size(),
                metadataKeys, fields.toArray(new LogicalType[0]),
                splitOnly ? new UnsharedRowTypeInfo(producedTypeInfo) : producedTypeInfo);

        final KafkaSourceBuilder<RowData> builder = KafkaSource.builder();
        if (topics != null) {
            builder.setTopics(topics);
        } else {
            builder.setTopicPattern(topicPattern);
        }
        switch (startupMode) {
            case EARLIEST:
                builder.setStartingOffsets(OffsetsInitializer.earliest());
                break;
            case LATEST:
                builder.setStartingOffsets(OffsetsInitializer.latest());
                break;
            case GROUP_OFFSETS:
                final String reset = properties.getProperty(
                        ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, OffsetResetStrategy.NONE.name());
                builder.setStartingOffsets(OffsetsInitializer.committedOffsets(resetStrategy(reset)));
                break;
            case SPECIFIC_OFFSETS:
                builder.setStartingOffsets(OffsetsInitializer.offsets(new HashMap<>(specificStartupOffsets)));
                break;
            case TIMESTAMP:
                builder.setStartingOffsets(OffsetsInitializer.timestamp(startupTimestampMillis));
                break;
            default:
                break;
        }
        switch (boundedMode) {
            case UNBOUNDED:
                builder.setUnbounded(new NoStoppingOffsetsInitializer());
                break;
            case LATEST:
                builder.setBounded(OffsetsInitializer.latest());
                break;
            case GROUP_OFFSETS:
                builder.setBounded(OffsetsInitializer.committedOffsets());
                break;
            case SPECIFIC_OFFSETS:
                builder.setBounded(OffsetsInitializer.offsets(new HashMap<>(specificBoundedOffsets)));
                break;
            case TIMESTAMP:
                builder.setBounded(OffsetsInitializer.timestamp(boundedTimestampMillis));
                break;
            default:
                break;
        }
        builder.setProperties(properties).setDeserializer(deserializer);
        return builder.build();
    }

    private static OffsetResetStrategy resetStrategy(String name) {
        for (OffsetResetStrategy s : OffsetResetStrategy.values()) {
            if (s.name().equals(name.toUpperCase(Locale.ROOT))) {
                return s;
            }
        }
        throw new IllegalArgumentException(String.format(
                "%s can not be set to %s. Valid values: [latest,earliest,none]",
                ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, name));
    }
}
