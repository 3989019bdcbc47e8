package org.flinksqlgen.format;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.format.DecodingFormat;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DeserializationFormatFactory;
import org.apache.flink.table.factories.DynamicTableFactory;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.LogicalTypeRoot;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The value format `flinksql-gen-json`: reads a Kafka record's value once and gives flinksql-gen's
 * checked source what its SQL checks need, without a JSON parse per column.
 *
 * <p>Options (all required; flinksql-gen renders them):
 *
 * <ul>
 *   <li>{@code raw-column}: a BYTES column that receives the value bytes unchanged (for dead letters);
 *   <li>{@code error-column}: a STRING column that names why the value is not a JSON object
 *       (no value, empty, not UTF-8, malformed JSON, not a JSON object), NULL otherwise;
 *   <li>{@code fields}: a JSON array of {@code [column, json field, kind, ...]}: each STRING column
 *       receives that top-level field of the object, NULL when it is missing or null. Kind
 *       {@code text} is what Flink's {@code COALESCE(JSON_VALUE(v, p RETURNING STRING),
 *       JSON_QUERY(v, p))} returns; kind {@code json} is the field's JSON text (for ARRAY columns,
 *       which SQL reads with {@code JSON_QUERY(text, '$' RETURNING ARRAY<STRING>)}).
 *       Kind {@code value} (typed mode) is a column of its declared type (STRING, BOOLEAN, TINYINT,
 *       SMALLINT, INT, BIGINT, FLOAT, DOUBLE, DECIMAL) that receives {@code TRY_CAST(text AS type)};
 *       such an entry carries three more items, each a reason or null: the field is required
 *       (missing or null), its value must convert, its value must be finite. The error column then
 *       names the first check a record fails, structural ones included. The event-time column's
 *       entry (epoch numbers) has two more: the reason when {@code TO_TIMESTAMP_LTZ(value, precision)}
 *       is NULL, and that precision (0 or 3).
 * </ul>
 *
 * <p>Optional:
 *
 * <ul>
 *   <li>{@code topic-column}: a STRING column that receives the table's topic (its {@code topic}
 *       option, which must name one topic): what the {@code topic} metadata column gives, without
 *       a string per record;
 *   <li>{@code record-columns}: {@code all} (the default) sets the raw and topic columns on every
 *       row; {@code bad} on rows with an error only (valid rows leave them NULL, so that the
 *       valid and the bad-record branch do not copy the value bytes per record). Only for typed
 *       mode, where the error column names every reason.
 * </ul>
 */
public class CheckedJsonFormatFactory implements DeserializationFormatFactory {

    public static final String IDENTIFIER = "flinksql-gen-json";

    static final ConfigOption<String> RAW_COLUMN =
            ConfigOptions.key("raw-column").stringType().noDefaultValue()
                    .withDescription("BYTES column that receives the value bytes.");
    static final ConfigOption<String> ERROR_COLUMN =
            ConfigOptions.key("error-column").stringType().noDefaultValue()
                    .withDescription("STRING column that receives the structural error, if any.");
    static final ConfigOption<String> FIELDS =
            ConfigOptions.key("fields").stringType().noDefaultValue()
                    .withDescription("JSON array of [column, json field, kind (text|json|value), reasons...].");
    static final ConfigOption<String> TOPIC_COLUMN =
            ConfigOptions.key("topic-column").stringType().noDefaultValue()
                    .withDescription("STRING column that receives the table's (one) topic.");
    static final ConfigOption<String> RECORD_COLUMNS =
            ConfigOptions.key("record-columns").stringType().defaultValue("all")
                    .withDescription("all: the raw and topic columns on every row; bad: on bad rows only.");

    @Override
    public DecodingFormat<DeserializationSchema<RowData>> createDecodingFormat(
            DynamicTableFactory.Context context, ReadableConfig formatOptions) {
        FactoryUtil.validateFactoryOptions(this, formatOptions);
        final String raw = formatOptions.get(RAW_COLUMN);
        final String error = formatOptions.get(ERROR_COLUMN);
        final Map<String, String[]> fields = parseFields(formatOptions.get(FIELDS));
        final String table = context == null ? "(no table)" : context.getObjectIdentifier().asSummaryString();
        final String topicColumn = formatOptions.getOptional(TOPIC_COLUMN).orElse(null);
        final String topic = topicColumn == null ? null : singleTopic(context, table);
        final String recordColumns = formatOptions.get(RECORD_COLUMNS);
        if (!recordColumns.equals("all") && !recordColumns.equals("bad")) {
            throw new IllegalArgumentException(IDENTIFIER + " of table " + table + ": option 'record-columns' must "
                    + "be 'all' or 'bad', not '" + recordColumns + "'");
        }
        final boolean badOnly = recordColumns.equals("bad");
        return new DecodingFormat<DeserializationSchema<RowData>>() {
            @Override
            public DeserializationSchema<RowData> createRuntimeDecoder(
                    DynamicTableSource.Context ctx, DataType physicalDataType) {
                final List<String> names = DataType.getFieldNames(physicalDataType);
                final List<DataType> types = DataType.getFieldDataTypes(physicalDataType);
                final int n = names.size();
                final int[] roles = new int[n];
                final String[] jsonFields = new String[n];
                final TypedValue[] converters = new TypedValue[n];
                final String[] missing = new String[n];
                final String[] notType = new String[n];
                final String[] notFinite = new String[n];
                final String[] outOfRange = new String[n];
                final int[] precisions = new int[n];
                for (int i = 0; i < n; i++) {
                    final String name = names.get(i);
                    final LogicalTypeRoot root = types.get(i).getLogicalType().getTypeRoot();
                    if (name.equals(raw)) {
                        expect(root, LogicalTypeRoot.VARBINARY, name);
                        roles[i] = CheckedJsonDeserializationSchema.RAW;
                    } else if (name.equals(topicColumn)) {
                        expect(root, LogicalTypeRoot.VARCHAR, name);
                        roles[i] = CheckedJsonDeserializationSchema.TOPIC;
                    } else if (name.equals(error)) {
                        expect(root, LogicalTypeRoot.VARCHAR, name);
                        roles[i] = CheckedJsonDeserializationSchema.ERROR;
                    } else if (fields.containsKey(name) && "value".equals(fields.get(name)[1])) {
                        final String[] spec = fields.get(name);
                        if (!TypedValue.supported(types.get(i).getLogicalType())) {
                            throw new IllegalArgumentException(IDENTIFIER + ": column '" + name + "' of kind "
                                    + "value has a type the format does not convert: " + types.get(i));
                        }
                        jsonFields[i] = spec[0];
                        roles[i] = CheckedJsonDeserializationSchema.VALUE;
                        converters[i] = new TypedValue(types.get(i).getLogicalType());
                        missing[i] = spec[2];
                        notType[i] = spec[3];
                        notFinite[i] = spec[4];
                        outOfRange[i] = spec[5];
                        precisions[i] = spec[6] == null ? 0 : Integer.parseInt(spec[6]);
                    } else if (fields.containsKey(name)) {
                        expect(root, LogicalTypeRoot.VARCHAR, name);
                        final String[] spec = fields.get(name);
                        jsonFields[i] = spec[0];
                        roles[i] = "json".equals(spec[1])
                                ? CheckedJsonDeserializationSchema.JSON
                                : CheckedJsonDeserializationSchema.TEXT;
                    } else {
                        throw new IllegalArgumentException(
                                IDENTIFIER + ": column '" + name + "' is neither the raw, the error, the topic "
                                        + "nor one of the fields columns");
                    }
                }
                boolean typedMode = false;
                for (int role : roles) {
                    typedMode |= role == CheckedJsonDeserializationSchema.VALUE;
                }
                if (badOnly && !typedMode) { // in text mode SQL finds further reasons: every row needs its bytes
                    throw new IllegalArgumentException(IDENTIFIER + " of table " + table + ": 'record-columns' = "
                            + "'bad' needs typed mode (columns of kind value), where the format names every reason");
                }
                final TypeInformation<RowData> info = ctx.createTypeInformation(physicalDataType);
                return new CheckedJsonDeserializationSchema(roles, jsonFields, info, converters, missing,
                        notType, notFinite, outOfRange, precisions, topic, badOnly);
            }

            @Override
            public ChangelogMode getChangelogMode() {
                return ChangelogMode.insertOnly();
            }
        };
    }

    /** The table's one topic (its 'topic' option): a topic list or pattern has no single value. */
    private static String singleTopic(DynamicTableFactory.Context context, String table) {
        final String topic = context.getCatalogTable().getOptions().get("topic");
        if (topic == null || topic.isEmpty() || topic.contains(";")) {
            throw new IllegalArgumentException(IDENTIFIER + " of table " + table + ": option 'topic-column' needs "
                    + "the table's 'topic' option to name one topic, not " + (topic == null ? "none" : "'" + topic + "'"));
        }
        return topic;
    }

    private static void expect(LogicalTypeRoot actual, LogicalTypeRoot wanted, String column) {
        if (actual != wanted) {
            throw new IllegalArgumentException(
                    IDENTIFIER + ": column '" + column + "' must be " + wanted + ", not " + actual);
        }
    }

    static Map<String, String[]> parseFields(String text) {
        final Map<String, String[]> out = new HashMap<>();
        try {
            final JsonNode array = new ObjectMapper().readTree(text);
            for (JsonNode item : array) {
                final String kind = item.get(2).asText();
                if (kind.equals("value")) {
                    final boolean epoch = item.size() > 6; // the event time: [..., range reason, precision]
                    out.put(item.get(0).asText(), new String[] {item.get(1).asText(), kind,
                            reason(item.get(3)), reason(item.get(4)), reason(item.get(5)),
                            epoch ? reason(item.get(6)) : null, epoch ? item.get(7).asText() : null});
                    continue;
                }
                if (!kind.equals("text") && !kind.equals("json")) {
                    throw new IllegalArgumentException("unknown kind " + kind);
                }
                out.put(item.get(0).asText(), new String[] {item.get(1).asText(), kind});
            }
        } catch (Exception e) {
            throw new IllegalArgumentException(
                    IDENTIFIER + ": option 'fields' must be a JSON array of [column, field, kind]: "
                            + e.getMessage(), e);
        }
        return out;
    }

    private static String reason(JsonNode node) {
        if (node == null) {
            throw new IllegalArgumentException("an entry of kind value needs three reasons (or nulls)");
        }
        return node.isNull() ? null : node.asText();
    }

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        final Set<ConfigOption<?>> options = new HashSet<>();
        options.add(RAW_COLUMN);
        options.add(ERROR_COLUMN);
        options.add(FIELDS);
        return options;
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        final Set<ConfigOption<?>> options = new HashSet<>();
        options.add(TOPIC_COLUMN);
        options.add(RECORD_COLUMNS);
        return options;
    }
}
