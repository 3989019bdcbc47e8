package org.flinksqlgen.format;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.util.Collector;

import org.apache.flink.shaded.com.jayway.jsonpath.spi.json.JacksonJsonProvider;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.DeserializationFeature;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.SerializationFeature;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Collection;
import java.util.Map;

/**
 * One parse per record, with the parser and the value conversions of Flink's own JSON functions
 * (a Jackson mapper with USE_BIG_DECIMAL_FOR_FLOATS and sorted map keys behind a JsonPath Jackson
 * provider, as in Flink 2.0's SqlJsonUtils), so that the columns equal what the pure-SQL checked
 * path computes with JSON_VALUE / JSON_QUERY / IS JSON: the two paths split records the same way.
 * Never throws on bad input: every record becomes a row, bad ones carry their reason.
 */
public class CheckedJsonDeserializationSchema implements DeserializationSchema<RowData> {

    private static final long serialVersionUID = 1L;

    static final int RAW = 0;
    static final int ERROR = 1;
    static final int TEXT = 2;
    static final int JSON = 3;

    private final int[] roles;
    private final String[] jsonFields;
    private final TypeInformation<RowData> producedType;

    private transient JacksonJsonProvider provider;
    private transient CharsetDecoder utf8;

    CheckedJsonDeserializationSchema(int[] roles, String[] jsonFields, TypeInformation<RowData> producedType) {
        this.roles = roles;
        this.jsonFields = jsonFields;
        this.producedType = producedType;
    }

    @Override
    public void open(InitializationContext context) {
        init();
    }

    private void init() {
        final ObjectMapper mapper =
                new ObjectMapper(new JsonFactory())
                        .configure(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS, true)
                        .configure(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS, true);
        provider = new JacksonJsonProvider(mapper);
        utf8 = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
    }

    @Override
    public RowData deserialize(byte[] message) {
        if (provider == null) {
            init();
        }
        final GenericRowData row = new GenericRowData(roles.length);
        final String error = fill(message, row);
        for (int i = 0; i < roles.length; i++) {
            if (roles[i] == RAW) {
                row.setField(i, message);
            } else if (roles[i] == ERROR && error != null) {
                row.setField(i, StringData.fromString(error));
            }
        }
        return row;
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
        final String text;
        try {
            text = utf8.decode(ByteBuffer.wrap(message)).toString();
        } catch (CharacterCodingException e) {
            return "not UTF-8 text";
        }
        final Object doc;
        try {
            doc = provider.parse(text);
        } catch (Exception e) {
            return "malformed JSON";
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

    @Override
    public boolean isEndOfStream(RowData nextElement) {
        return false;
    }

    @Override
    public TypeInformation<RowData> getProducedType() {
        return producedType;
    }
}
