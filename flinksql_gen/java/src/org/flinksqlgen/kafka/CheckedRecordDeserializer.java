package org.flinksqlgen.kafka;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.table.data.DecimalData;
import org.apache.flink.table.data.GenericMapData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.data.binary.BinaryRowData;
import org.apache.flink.table.data.writer.BinaryRowWriter;
import org.apache.flink.table.data.writer.BinaryWriter;
import org.apache.flink.table.runtime.typeutils.InternalSerializers;
import org.apache.flink.table.types.logical.DecimalType;
import org.apache.flink.table.types.logical.LocalZonedTimestampType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.TimestampType;
import org.apache.flink.util.Collector;

import org.apache.flink.kafka.shaded.org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.flink.kafka.shaded.org.apache.kafka.common.header.Header;

import org.flinksqlgen.format.CheckedJsonDeserializationSchema;

import java.io.IOException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A consumed record as one row of the checked source: the key's and the value's columns at their
 * places in the physical row, then the metadata columns, as Flink's own Kafka deserializer lays
 * them out, with two differences that make the scan's fan-out cheap without object reuse:
 *
 * <ul>
 *   <li>When the value format sets its record columns on bad rows only ({@code record-columns =
 *       bad}), so does this: a valid record's key columns and metadata columns stay NULL, except
 *       the {@code timestamp} (event time may read it). Only dead letters need the raw key (it is
 *       not even decoded), the partition and the offset, and a NULL costs nothing downstream: the
 *       bad-record branch's Calc reads every column it uses from every row before its filter.
 *   <li>Every row is a {@link BinaryRowData}: Flink copies a row into each branch of the scan and
 *       again after a Calc, and a binary row copies with one array copy where a generic row copies
 *       each string and byte array on its own.
 * </ul>
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

    private transient BinaryRowData row;
    private transient BinaryRowWriter writer;
    private transient TypeSerializer<?>[] serializers;
    private transient RowData.FieldGetter[] keyGetters;
    private transient RowData.FieldGetter[] valueGetters;
    private transient KeyCollector keys;
    private transient Object[] fields;

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
        row = new BinaryRowData(types.length);
        writer = new BinaryRowWriter(row);
        serializers = new TypeSerializer<?>[types.length];
        for (int i = 0; i < types.length; i++) {
            serializers[i] = InternalSerializers.create(types[i]);
        }
        keyGetters = new RowData.FieldGetter[keyProjection.length];
        for (int i = 0; i < keyProjection.length; i++) {
            keyGetters[i] = RowData.createFieldGetter(types[keyProjection[i]], i);
        }
        valueGetters = new RowData.FieldGetter[valueProjection.length];
        for (int i = 0; i < valueProjection.length; i++) {
            valueGetters[i] = RowData.createFieldGetter(types[valueProjection[i]], i);
        }
        keys = new KeyCollector();
        fields = new Object[types.length];
    }

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<RowData> out) throws IOException {
        final RowData value = valueFormat.deserialize(record.value());
        final boolean whole = !valueFormat.recordColumnsOnBadRowsOnly() || valueFormat.isBad(value);
        Arrays.fill(fields, null);
        for (int i = 0; i < valueProjection.length; i++) {
            fields[valueProjection[i]] = valueGetters[i].getFieldOrNull(value);
        }
        if (whole && keyFormat != null) {
            keys.row = null;
            keyFormat.deserialize(record.key(), keys);
            for (int i = 0; keys.row != null && i < keyProjection.length; i++) {
                fields[keyProjection[i]] = keyGetters[i].getFieldOrNull(keys.row);
            }
        }
        for (int m = 0; m < metadataKeys.length; m++) {
            if (whole || TIMESTAMP.equals(metadataKeys[m])) {
                fields[physicalArity + m] = metadata(metadataKeys[m], record);
            }
        }
        writer.reset();
        for (int i = 0; i < fields.length; i++) { // each field once: var-length values go in order
            set(i, fields[i]);
        }
        writer.complete();
        out.collect(row.copy()); // a row of its own: the next record rewrites the buffer
    }

    private void set(int pos, Object value) {
        if (value != null) {
            BinaryWriter.write(writer, pos, value, types[pos], serializers[pos]);
            return;
        }
        final LogicalType type = types[pos];
        if (type instanceof DecimalType && !DecimalData.isCompact(((DecimalType) type).getPrecision())) {
            writer.writeDecimal(pos, null, ((DecimalType) type).getPrecision()); // reserves its room
        } else if (type instanceof TimestampType && !TimestampData.isCompact(((TimestampType) type).getPrecision())) {
            writer.writeTimestamp(pos, null, ((TimestampType) type).getPrecision());
        } else if (type instanceof LocalZonedTimestampType
                && !TimestampData.isCompact(((LocalZonedTimestampType) type).getPrecision())) {
            writer.writeTimestamp(pos, null, ((LocalZonedTimestampType) type).getPrecision());
        } else {
            writer.setNullAt(pos);
        }
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

    /** Keeps the key format's one row (a format may reuse its row object: read it before the next). */
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
