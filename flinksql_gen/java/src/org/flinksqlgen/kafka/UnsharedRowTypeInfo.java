package org.flinksqlgen.kafka;

import org.apache.flink.api.common.serialization.SerializerConfig;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;
import org.apache.flink.table.data.RowData;

import java.io.IOException;
import java.util.Objects;

/**
 * The rows of a shared checked read on their way to its split ({@link SplitRows}), and nowhere
 * else. Without object reuse Flink copies a row on every chained edge, because an operator might
 * keep or change its input while the one before reuses it. Neither happens here: the record
 * deserializer builds a new row per record and forgets it, and the split only reads it. So this
 * one edge hands the row on as it is; anything else (serialising across a network edge, when the
 * chain is broken) is Flink's RowDataSerializer.
 */
final class UnsharedRowTypeInfo extends TypeInformation<RowData> {

    private static final long serialVersionUID = 1L;

    private final TypeInformation<RowData> rows;

    UnsharedRowTypeInfo(TypeInformation<RowData> rows) {
        this.rows = rows;
    }

    @Override
    public boolean isBasicType() {
        return false;
    }

    @Override
    public boolean isTupleType() {
        return false;
    }

    @Override
    public int getArity() {
        return rows.getArity();
    }

    @Override
    public int getTotalFields() {
        return rows.getTotalFields();
    }

    @Override
    public Class<RowData> getTypeClass() {
        return rows.getTypeClass();
    }

    @Override
    public boolean isKeyType() {
        return false;
    }

    @Override
    public TypeSerializer<RowData> createSerializer(SerializerConfig config) {
        return new Serializer(rows.createSerializer(config));
    }

    @Override
    public String toString() {
        return "Unshared(" + rows + ")";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof UnsharedRowTypeInfo && ((UnsharedRowTypeInfo) o).rows.equals(rows);
    }

    @Override
    public int hashCode() {
        return Objects.hash(UnsharedRowTypeInfo.class, rows);
    }

    @Override
    public boolean canEqual(Object o) {
        return o instanceof UnsharedRowTypeInfo;
    }

    /** Flink's row serializer, whose copy is the row itself. */
    static final class Serializer extends TypeSerializer<RowData> {

        private static final long serialVersionUID = 1L;

        private final TypeSerializer<RowData> rows;

        Serializer(TypeSerializer<RowData> rows) {
            this.rows = rows;
        }

        @Override
        public RowData copy(RowData from) {
            return from;
        }

        @Override
        public RowData copy(RowData from, RowData reuse) {
            return from;
        }

        @Override
        public boolean isImmutableType() {
            return false;
        }

        @Override
        public TypeSerializer<RowData> duplicate() {
            final TypeSerializer<RowData> duplicate = rows.duplicate();
            return duplicate == rows ? this : new Serializer(duplicate);
        }

        @Override
        public RowData createInstance() {
            return rows.createInstance();
        }

        @Override
        public int getLength() {
            return rows.getLength();
        }

        @Override
        public void serialize(RowData record, DataOutputView target) throws IOException {
            rows.serialize(record, target);
        }

        @Override
        public RowData deserialize(DataInputView source) throws IOException {
            return rows.deserialize(source);
        }

        @Override
        public RowData deserialize(RowData reuse, DataInputView source) throws IOException {
            return rows.deserialize(reuse, source);
        }

        @Override
        public void copy(DataInputView source, DataOutputView target) throws IOException {
            rows.copy(source, target);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Serializer && ((Serializer) o).rows.equals(rows);
        }

        @Override
        public int hashCode() {
            return rows.hashCode();
        }

        @Override
        public TypeSerializerSnapshot<RowData> snapshotConfiguration() {
            return rows.snapshotConfiguration(); // never in state: only on the edge to the split
        }
    }
}
