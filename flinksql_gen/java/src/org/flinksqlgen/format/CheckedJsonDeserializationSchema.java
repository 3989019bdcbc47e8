package org.flinksqlgen.format;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.util.Collector;

import org.apache.flink.shaded.com.jayway.jsonpath.spi.json.JacksonJsonProvider;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.DeserializationFeature;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.SerializationFeature;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;

/**
 * One parse per record, with the parser and the value conversions of Flink's own JSON functions
 * (a Jackson mapper with USE_BIG_DECIMAL_FOR_FLOATS and sorted map keys behind a JsonPath Jackson
 * provider, as in Flink 2.0's SqlJsonUtils), so that the columns equal what the pure-SQL checked
 * path computes with JSON_VALUE / JSON_QUERY / IS JSON: the two paths split records the same way.
 * Never throws on bad input: every record becomes a row, bad ones carry their reason.
 *
 * <p>Two modes. With TEXT/JSON columns, each field's text is emitted and SQL casts and checks it.
 * With VALUE columns (typed mode: every declared column of a type {@link TypedValue} converts), the
 * format emits the typed values itself, cast from the same text with the runtime functions of
 * Flink's CAST, and names the first failing check in the error column, in the order the SQL form
 * checks: structure, then missing required fields, then per column "not a TYPE" and "not a finite
 * TYPE", then the epoch event time's range. Typed mode streams through the top-level object with the same Jackson parser instead of
 * building a map, so a valid record costs one tokenisation and one parse per typed field.
 */
public class CheckedJsonDeserializationSchema implements DeserializationSchema<RowData> {

    private static final long serialVersionUID = 1L;

    static final int RAW = 0;
    static final int ERROR = 1;
    static final int TEXT = 2;
    static final int JSON = 3;
    static final int VALUE = 4;
    static final int TOPIC = 5;

    private static final String MALFORMED = "malformed JSON";

    private final int[] roles;
    private final String[] jsonFields;
    private final TypeInformation<RowData> producedType;
    // typed mode, per physical column (null elsewhere): the conversion and the reasons of its checks
    private final TypedValue[] converters;
    private final String[] missingReasons;
    private final String[] typeReasons;
    private final String[] finiteReasons;
    // the event-time column (epoch numbers): reason when TO_TIMESTAMP_LTZ(value, precision) is NULL
    private final String[] rangeReasons;
    private final int[] rangePrecisions;
    private final boolean typed;
    // the topic column's value (the table's one topic), and whether the raw and topic columns are set
    // for bad records only: a valid row then carries no value bytes, so the branches copy nothing wide
    private final String topic;
    private final boolean badOnly;
    private final int errorIndex;

    private transient StringData topicData;
    private transient JacksonJsonProvider provider;
    private transient ObjectMapper mapper;
    private transient CharsetDecoder utf8;
    private transient Map<String, Integer> columnOf;
    private transient boolean[] present;

    CheckedJsonDeserializationSchema(int[] roles, String[] jsonFields, TypeInformation<RowData> producedType) {
        this(roles, jsonFields, producedType, new TypedValue[roles.length], new String[roles.length],
                new String[roles.length], new String[roles.length], new String[roles.length], new int[roles.length],
                null, false);
    }

    CheckedJsonDeserializationSchema(int[] roles, String[] jsonFields, TypeInformation<RowData> producedType,
            TypedValue[] converters, String[] missingReasons, String[] typeReasons, String[] finiteReasons,
            String[] rangeReasons, int[] rangePrecisions, String topic, boolean badOnly) {
        this.topic = topic;
        this.badOnly = badOnly;
        this.rangeReasons = rangeReasons;
        this.rangePrecisions = rangePrecisions;
        this.roles = roles;
        this.jsonFields = jsonFields;
        this.producedType = producedType;
        this.converters = converters;
        this.missingReasons = missingReasons;
        this.typeReasons = typeReasons;
        this.finiteReasons = finiteReasons;
        boolean anyValue = false;
        int error = -1;
        for (int i = 0; i < roles.length; i++) {
            anyValue |= roles[i] == VALUE;
            error = roles[i] == ERROR ? i : error;
        }
        this.errorIndex = error;
        this.typed = anyValue;
    }

    @Override
    public void open(InitializationContext context) {
        init();
    }

    private void init() {
        mapper =
                new ObjectMapper(new JsonFactory())
                        .configure(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS, true)
                        .configure(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS, true);
        provider = new JacksonJsonProvider(mapper);
        utf8 = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        columnOf = new HashMap<>();
        for (int i = 0; i < roles.length; i++) {
            if (roles[i] == VALUE) {
                columnOf.put(jsonFields[i], i);
            }
        }
        present = new boolean[roles.length];
        topicData = topic == null ? null : StringData.fromString(topic);
    }

    @Override
    public GenericRowData deserialize(byte[] message) {
        if (provider == null) {
            init();
        }
        final GenericRowData row = new GenericRowData(roles.length);
        final String error = typed ? fillTyped(message, row) : fill(message, row);
        final boolean record = error != null || !badOnly;
        for (int i = 0; i < roles.length; i++) {
            if (roles[i] == RAW && record) {
                row.setField(i, message);
            } else if (roles[i] == TOPIC && record) {
                row.setField(i, topicData); // immutable: one instance for every row
            } else if (roles[i] == ERROR && error != null) {
                row.setField(i, StringData.fromString(error));
            }
        }
        return row;
    }

    /** Whether a row this schema gave carries the record columns: every row, or with
     * {@code record-columns = bad} the bad ones (their error column is set). */
    public boolean hasRecordColumns(RowData row) {
        return !badOnly || (errorIndex >= 0 && !row.isNullAt(errorIndex));
    }

    @Override
    public void deserialize(byte[] message, Collector<RowData> out) {
        out.collect(deserialize(message)); // tombstones too: they are bad records
    }

    /** Sets the field columns of a JSON object and returns null, or returns the reason it is not one. */
    private String fill(byte[] message, GenericRowData row) {
        if (message == null) {
            return "no value (tombstone)";
        }
        if (message.length == 0) {
            return "empty message";
        }
        final String text = decode(message);
        if (text == null) {
            return "not UTF-8 text";
        }
        final Object doc;
        try {
            doc = provider.parse(text);
        } catch (Exception e) {
            return MALFORMED;
        }
        if (!(doc instanceof Map)) {
            return "not a JSON object";
        }
        final Map<?, ?> object = (Map<?, ?>) doc;
        for (int i = 0; i < roles.length; i++) {
            if (roles[i] < TEXT) {
                continue;
            }
            final Object value = object.get(jsonFields[i]);
            if (value == null) {
                continue; // missing or null: JSON_EXISTS is false, JSON_VALUE and JSON_QUERY are NULL
            }
            final boolean container = value instanceof Map || value instanceof Collection;
            final String s = roles[i] == TEXT && !container ? String.valueOf(value) : provider.toJson(value);
            row.setField(i, StringData.fromString(s));
        }
        return null;
    }

    /** The value as text, or null when it is not UTF-8 (the strict decoder; ASCII needs none). The
     * decoder reports through its result, not an exception: a thrown exception's stack trace costs more
     * than the record's parse, on every bad record. */
    private String decode(byte[] message) {
        for (byte b : message) {
            if (b < 0) {
                final CharBuffer out = CharBuffer.allocate(message.length); // UTF-8: at most a char per byte
                utf8.reset();
                if (utf8.decode(ByteBuffer.wrap(message), out, true).isError() || utf8.flush(out).isError()) {
                    return null;
                }
                return out.flip().toString();
            }
        }
        return new String(message, StandardCharsets.ISO_8859_1); // ASCII: a plain copy
    }

    private static final VarHandle LONGS = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final long ONES = 0x0101010101010101L;
    private static final long HIGHS = 0x8080808080808080L;

    /** Every byte in 1..127: eight at a time (a high bit, or a zero byte: (x - ONES) & ~x & HIGHS). */
    private static boolean plainAscii(byte[] message) {
        int i = 0;
        for (; i + 8 <= message.length; i += 8) {
            final long x = (long) LONGS.get(message, i);
            if (((x & HIGHS) | ((x - ONES) & ~x & HIGHS)) != 0) {
                return false;
            }
        }
        for (; i < message.length; i++) {
            if (message[i] <= 0) {
                return false;
            }
        }
        return true;
    }

    /** Typed mode: sets the VALUE columns and returns null, or returns the first check the record fails. */
    private String fillTyped(byte[] message, GenericRowData row) {
        if (message == null) {
            return "no value (tombstone)";
        }
        if (message.length == 0) {
            return "empty message";
        }
        // Plain ASCII without NUL (where Jackson's encoding detection can only find UTF-8) is parsed
        // from the bytes; anything else from the strictly decoded text, as the SQL functions do.
        final boolean ascii = plainAscii(message);
        final String text = ascii ? null : decode(message);
        if (!ascii && text == null) {
            return "not UTF-8 text";
        }
        Arrays.fill(present, false);
        try (JsonParser p = ascii ? mapper.getFactory().createParser(message) : mapper.getFactory().createParser(text)) {
            final JsonToken first = p.nextToken();
            if (first != JsonToken.START_OBJECT) {
                return rootIsNotObject(ascii ? new String(message, StandardCharsets.ISO_8859_1) : text);
            }
            // Like the untyped map the SQL functions read: a repeated key's last value wins, and
            // anything after the root object is ignored (Jackson's FAIL_ON_TRAILING_TOKENS is off).
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                final Integer column = columnOf.get(p.currentName());
                final JsonToken t = p.nextToken();
                if (column == null) {
                    consume(p, t);
                    continue;
                }
                final int i = column;
                final Object value = t == JsonToken.VALUE_NULL ? null : read(p, t, converters[i]);
                present[i] = t != JsonToken.VALUE_NULL;
                row.setField(i, value);
            }
        } catch (Exception e) {
            for (int i = 0; i < roles.length; i++) {
                if (roles[i] == VALUE) {
                    row.setField(i, null); // as JSON_VALUE of a malformed document: NULL
                }
            }
            return MALFORMED;
        }
        for (int i = 0; i < roles.length; i++) {
            if (roles[i] == VALUE && missingReasons[i] != null && !present[i]) {
                return missingReasons[i];
            }
        }
        for (int i = 0; i < roles.length; i++) {
            if (roles[i] != VALUE || !present[i]) {
                continue;
            }
            final Object value = row.getField(i);
            if (value == null && typeReasons[i] != null) {
                return typeReasons[i];
            }
            if (finiteReasons[i] != null && value != null && !TypedValue.isFinite(value)) {
                return finiteReasons[i];
            }
        }
        for (int i = 0; i < roles.length; i++) { // the last check (its column is required: never NULL here)
            final Object value = row.getField(i);
            if (rangeReasons[i] != null && value != null && TypedValue.outOfRange(value, rangePrecisions[i])) {
                return rangeReasons[i];
            }
        }
        return null;
    }

    /** A declared field's typed value, from the text JSON_VALUE / JSON_QUERY would give. */
    private Object read(JsonParser p, JsonToken t, TypedValue conv) throws Exception {
        switch (t) {
            case VALUE_STRING:
                return conv.isString() ? stringOf(p) : conv.fromText(p.getText());
            case VALUE_TRUE:
                return conv.fromText("true");
            case VALUE_FALSE:
                return conv.fromText("false");
            case VALUE_NUMBER_INT:
                if (p.getNumberType() != JsonParser.NumberType.BIG_INTEGER) {
                    return conv.fromLong(p.getLongValue());
                }
                return conv.fromText(p.getBigIntegerValue().toString());
            case VALUE_NUMBER_FLOAT: {
                final String token = p.getText();
                if (conv.isFloating()) {
                    if (hasExponent(token)) {
                        p.getDecimalValue(); // fails where the map's BigDecimal fails (exponent overflow)
                    }
                    return conv.fromDecimalToken(token);
                }
                return conv.fromText(p.getDecimalValue().toString()); // BigDecimal: USE_BIG_DECIMAL_FOR_FLOATS
            }
            default: // an object or array: its JSON text, as JSON_QUERY gives it (sorted keys)
                return conv.fromText(provider.toJson(mapper.readValue(p, Object.class)));
        }
    }

    /**
     * A STRING column's value from the token's characters: an ASCII text as its bytes (what
     * StringData.fromString would encode, without the String and without encoding it again when the
     * row is written or copied), anything else as StringData.fromString gives it.
     */
    private static StringData stringOf(JsonParser p) throws Exception {
        final char[] chars = p.getTextCharacters();
        final int offset = p.getTextOffset();
        final int length = p.getTextLength();
        final byte[] bytes = new byte[length];
        for (int i = 0; i < length; i++) {
            final char c = chars[offset + i];
            if (c >= 0x80) {
                return StringData.fromString(new String(chars, offset, length));
            }
            bytes[i] = (byte) c;
        }
        return StringData.fromBytes(bytes);
    }

    /** Reads past an unknown field's value, converting what the untyped map would convert (so that
     * it fails where the map fails). */
    private static void consume(JsonParser p, JsonToken t) throws Exception {
        int depth = 0;
        while (true) {
            if (t == JsonToken.START_OBJECT || t == JsonToken.START_ARRAY) {
                depth++;
            } else if (t == JsonToken.END_OBJECT || t == JsonToken.END_ARRAY) {
                depth--;
            } else if (t == JsonToken.VALUE_STRING) {
                p.getTextLength(); // decodes the string's escapes
            } else if (t == JsonToken.VALUE_NUMBER_FLOAT && hasExponent(p.getText())) {
                p.getDecimalValue();
            }
            if (depth == 0) {
                return;
            }
            t = p.nextToken();
            if (t == null) {
                throw new IllegalStateException("unexpected end of input");
            }
        }
    }

    private static boolean hasExponent(String number) {
        return number.indexOf('e') >= 0 || number.indexOf('E') >= 0;
    }

    /** Valid JSON that is not an object, or no JSON at all (decided by the full parse, as IS JSON does). */
    private String rootIsNotObject(String text) {
        try {
            provider.parse(text);
        } catch (Exception e) {
            return MALFORMED;
        }
        return "not a JSON object";
    }

    @Override
    public boolean isEndOfStream(RowData nextElement) {
        return false;
    }

    @Override
    public TypeInformation<RowData> getProducedType() {
        return producedType;
    }
}
