package org.flinksqlgen.kafka;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.table.data.GenericMapData;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.util.Collector;

import org.apache.flink.kafka.shaded.org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.flink.kafka.shaded.org.apache.kafka.common.header.Header;

import org.flinksqlgen.format.CheckedJsonDeserializationSchema;

import java.io.IOException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A consumed record as one row of the checked source: the key's and the value's columns at their
 * places in the physical row, then the metadata columns, as Flink's own Kafka deserializer lays
 * them out (DynamicKafkaDeserializationSchema), with one difference that makes the scan's fan-out
 * cheaper without object reuse: when the value format sets its record columns on bad rows only
 * ({@code record-columns = bad}), so does this. A valid record's key columns and metadata columns
 * stay NULL, except the {@code timestamp} (event time may read it): only dead letters need the raw
 * key (not even decoded here), the partition and the offset, and Flink copies every row into each
 * branch of the scan (the valid and the bad-record path), a NULL for free. The row is built once,
 * with the value format's fields in place (no second row of the key, value and metadata joined).
 */
public final class CheckedRecordDeserializer implements KafkaRecordDeserializationSchema<RowData> {

    private static final long serialVersionUID = 1L;

    private static final String TIMESTAMP = "timestamp";

    private final DeserializationSchema<RowData> keyFormat;
    private final CheckedJsonDeserializationSchema valueFormat;
    private final int[] keyProjection;
    private final int[] valueProjection;
    private final int physicalArity;
    private final String[] metadataKeys;
    private final LogicalType[] types;
    private final TypeInformation<RowData> producedType;

    private transient RowData.FieldGetter[] keyGetters;
    private transient KeyCollector keys;
    private transient boolean[] onValidRows; // per metadata column: set on valid rows too (the timestamp)

    CheckedRecordDeserializer(DeserializationSchema<RowData> keyFormat, CheckedJsonDeserializationSchema valueFormat,
            int[] keyProjection, int[] valueProjection, int physicalArity, List<String> metadataKeys,
            LogicalType[] types, TypeInformation<RowData> producedType) {
        this.keyFormat = keyFormat;
        this.valueFormat = valueFormat;
        this.keyProjection = keyProjection;
        this.valueProjection = valueProjection;
        this.physicalArity = physicalArity;
        this.metadataKeys = metadataKeys.toArray(new String[0]);
        this.types = types;
        this.producedType = producedType;
    }

    @Override
    public void open(DeserializationSchema.InitializationContext context) throws Exception {
        if (keyFormat != null) {
            keyFormat.open(context);
        }
        valueFormat.open(context);
        keyGetters = new RowData.FieldGetter[keyProjection.length];
        for (int i = 0; i < keyProjection.length; i++) {
            keyGetters[i] = RowData.createFieldGetter(types[keyProjection[i]], i);
        }
        keys = new KeyCollector();
        onValidRows = new boolean[metadataKeys.length];
        for (int m = 0; m < metadataKeys.length; m++) {
            onValidRows[m] = TIMESTAMP.equals(metadataKeys[m]);
        }
    }

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<RowData> out) throws IOException {
        final GenericRowData value = valueFormat.deserialize(record.value());
        final boolean whole = valueFormat.hasRecordColumns(value);
        final GenericRowData row = new GenericRowData(types.length);
        for (int i = 0; i < valueProjection.length; i++) {
            row.setField(valueProjection[i], value.getField(i));
        }
        if (whole && keyFormat != null) {
            keys.row = null;
            keyFormat.deserialize(record.key(), keys); // a format may reuse its row: read it right away
            for (int i = 0; keys.row != null && i < keyProjection.length; i++) {
                row.setField(keyProjection[i], keyGetters[i].getFieldOrNull(keys.row));
            }
        }
        for (int m = 0; m < metadataKeys.length; m++) {
            if (whole || onValidRows[m]) {
                row.setField(physicalArity + m, metadata(metadataKeys[m], record));
            }
        }
        out.collect(row);
    }

    /** The value Flink's Kafka connector gives a metadata column (KafkaDynamicSource.ReadableMetadata). */
    private static Object metadata(String key, ConsumerRecord<byte[], byte[]> record) {
        switch (key) {
            case "topic":
                return StringData.fromString(record.topic());
            case "partition":
                return record.partition();
            case "headers":
                final Map<StringData, byte[]> map = new HashMap<>();
                for (Header header : record.headers()) {
                    map.put(StringData.fromString(header.key()), header.value());
                }
                return new GenericMapData(map);
            case "leader-epoch":
                return record.leaderEpoch().orElse(null);
            case "offset":
                return record.offset();
            case TIMESTAMP:
                return TimestampData.fromEpochMillis(record.timestamp());
            case "timestamp-type":
                return StringData.fromString(record.timestampType().toString());
            default:
                throw new IllegalArgumentException("unknown Kafka metadata key: " + key);
        }
    }

    @Override
    public TypeInformation<RowData> getProducedType() {
        return producedType;
    }

    /** Keeps the key format's one row. */
    private static final class KeyCollector implements Collector<RowData> {
        RowData row;

        @Override
        public void collect(RowData record) {
            row = record;
        }

        @Override
        public void close() {}
    }
}
