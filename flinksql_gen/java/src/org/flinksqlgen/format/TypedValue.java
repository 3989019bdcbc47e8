package org.flinksqlgen.format;

import org.apache.flink.table.data.DecimalData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.binary.BinaryStringData;
import org.apache.flink.table.data.binary.BinaryStringDataUtil;
import org.apache.flink.table.types.logical.DecimalType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.LogicalTypeRoot;
import org.apache.flink.table.types.logical.VarCharType;
import org.apache.flink.table.utils.DateTimeUtils;

import java.io.Serializable;

/**
 * A typed column's value from its field's text, exactly as Flink 2.0's {@code TRY_CAST(text AS type)}
 * computes it: the same runtime functions the planner's cast rules call (BinaryStringDataUtil on the
 * trimmed text for numbers, untrimmed for BOOLEAN and DECIMAL), NULL where the cast fails.
 */
final class TypedValue implements Serializable {

    private static final long serialVersionUID = 1L;

    /** The column types the format converts itself; others stay text columns cast in SQL. */
    static boolean supported(LogicalType type) {
        switch (type.getTypeRoot()) {
            case BOOLEAN:
            case TINYINT:
            case SMALLINT:
            case INTEGER:
            case BIGINT:
            case FLOAT:
            case DOUBLE:
            case DECIMAL:
                return true;
            case VARCHAR:
                return ((VarCharType) type).getLength() == VarCharType.MAX_LENGTH; // STRING: no cut
            default:
                return false;
        }
    }

    private final LogicalTypeRoot root;
    private final int precision;
    private final int scale;

    TypedValue(LogicalType type) {
        if (!supported(type)) {
            throw new IllegalArgumentException("unsupported column type " + type);
        }
        this.root = type.getTypeRoot();
        this.precision = root == LogicalTypeRoot.DECIMAL ? ((DecimalType) type).getPrecision() : 0;
        this.scale = root == LogicalTypeRoot.DECIMAL ? ((DecimalType) type).getScale() : 0;
    }

    boolean isString() {
        return root == LogicalTypeRoot.VARCHAR;
    }

    boolean isFloating() {
        return root == LogicalTypeRoot.FLOAT || root == LogicalTypeRoot.DOUBLE;
    }

    /** TRY_CAST(text AS type); never throws. */
    Object fromText(String text) {
        if (root != LogicalTypeRoot.VARCHAR && root != LogicalTypeRoot.BOOLEAN && root != LogicalTypeRoot.DECIMAL
                && cannotBeNumber(text)) {
            return null; // what the parse below would throw on: a thrown exception costs more than the record
        }
        try {
            switch (root) {
                case VARCHAR:
                    return StringData.fromString(text);
                case DOUBLE:
                    return Double.parseDouble(text); // = toDouble(trim(text)): parseDouble trims itself
                case FLOAT:
                    return Float.parseFloat(text);
                case DECIMAL:
                    return BinaryStringDataUtil.toDecimal(BinaryStringData.fromString(text), precision, scale);
                case BOOLEAN:
                    return BinaryStringDataUtil.toBoolean(BinaryStringData.fromString(text));
                default:
                    final BinaryStringData s = BinaryStringData.fromString(text).trim();
                    switch (root) {
                        case TINYINT:
                            return BinaryStringDataUtil.toByte(s);
                        case SMALLINT:
                            return BinaryStringDataUtil.toShort(s);
                        case INTEGER:
                            return BinaryStringDataUtil.toInt(s);
                        default:
                            return BinaryStringDataUtil.toLong(s);
                    }
            }
        } catch (Throwable e) { // TRY_CAST: NumberFormatException, TableException, ...
            return null;
        }
    }

    /** No digit, no NaN and no Infinity: every number the parsers below accept has one of them. */
    private static boolean cannotBeNumber(String text) {
        for (int i = 0; i < text.length(); i++) {
            final char c = text.charAt(i);
            if (c >= '0' && c <= '9') {
                return false;
            }
        }
        return !text.contains("NaN") && !text.contains("Infinity");
    }

    /**
     * The value of a JSON integer token that fits a long: {@link #fromText} of its text as JSON_VALUE
     * gives it (Long.toString: "-0" is "0"), with fast paths that give the same value: a long converts
     * to double and float with round-to-nearest, as parsing its decimal text does.
     */
    Object fromLong(long v) {
        switch (root) {
            case BIGINT:
                return v;
            case INTEGER:
                return v == (int) v ? (Object) (int) v : null; // toInt rejects what overflows an int
            case DOUBLE:
                return (double) v;
            case FLOAT:
                return (float) v;
            default:
                return fromText(Long.toString(v));
        }
    }

    /** The value of a JSON decimal token (text {@code token}) for FLOAT and DOUBLE columns: the token
     * parses to the same correctly rounded value as its BigDecimal's text, except that BigDecimal
     * has no negative zero. */
    Object fromDecimalToken(String token) {
        if (root == LogicalTypeRoot.DOUBLE) {
            final double d = Double.parseDouble(token);
            return d == 0.0d ? 0.0d : d;
        }
        final float f = Float.parseFloat(token);
        return f == 0.0f ? 0.0f : f;
    }

    /** Whether TO_TIMESTAMP_LTZ(value, precision) is NULL (out of range): the same calls as Flink's
     * ToTimestampLtzFunction (double for FLOAT/DOUBLE, DecimalData, else long). */
    static boolean outOfRange(Object value, int precision) {
        final Object ts;
        if (value instanceof Float || value instanceof Double) {
            ts = DateTimeUtils.toTimestampData(((Number) value).doubleValue(), precision);
        } else if (value instanceof DecimalData) {
            ts = DateTimeUtils.toTimestampData((DecimalData) value, precision);
        } else {
            ts = DateTimeUtils.toTimestampData(((Number) value).longValue(), precision);
        }
        return ts == null;
    }

    /** For the "not a finite FLOAT/DOUBLE" check (SQL: {@code x * 0 <> 0}, true for NaN and infinities). */
    static boolean isFinite(Object value) {
        if (value instanceof Double) {
            return Double.isFinite((Double) value);
        }
        if (value instanceof Float) {
            return Float.isFinite((Float) value);
        }
        return true;
    }
}
