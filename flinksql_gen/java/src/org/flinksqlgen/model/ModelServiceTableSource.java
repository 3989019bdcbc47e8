package org.flinksqlgen.model;

import java.util.Arrays;
import java.util.List;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.connector.source.LookupTableSource;
import org.apache.flink.table.connector.source.lookup.AsyncLookupFunctionProvider;

/**
 * The lookup side of the `flinksql-gen-model-service` table. Its columns are
 * (key STRING, ts TIMESTAMP(3), value DOUBLE, expected DOUBLE, lower DOUBLE, upper DOUBLE,
 * score DOUBLE, is_anomaly BOOLEAN, reason STRING), and it is joined on exactly key, ts and value.
 */
final class ModelServiceTableSource implements LookupTableSource {
    static final List<String> COLUMNS = Arrays.asList(
            "key", "ts", "value", "expected", "lower", "upper", "score", "is_anomaly", "reason");
    static final List<String> KEYS = Arrays.asList("key", "ts", "value");

    private final String config;
    private final String[] names;

    ModelServiceTableSource(String config, String[] names) {
        this.config = config;
        this.names = names;
        if (!Arrays.asList(names).equals(COLUMNS)) {
            throw new ValidationException(ModelServiceTableFactory.IDENTIFIER + " needs the columns " + COLUMNS
                    + ", not " + Arrays.asList(names));
        }
    }

    @Override
    public LookupRuntimeProvider getLookupRuntimeProvider(LookupContext context) {
        int[][] keys = context.getKeys();
        int[] positions = new int[KEYS.size()];  // where key, ts and value are in the key row
        Arrays.fill(positions, -1);
        for (int i = 0; i < keys.length; i++) {
            if (keys[i].length != 1) {
                throw new ValidationException(ModelServiceTableFactory.IDENTIFIER + " joins on top-level columns only");
            }
            int k = KEYS.indexOf(names[keys[i][0]]);
            if (k < 0) {
                throw new ValidationException(ModelServiceTableFactory.IDENTIFIER + " joins on " + KEYS + " only, not "
                        + names[keys[i][0]]);
            }
            positions[k] = i;
        }
        for (int p : positions) {
            if (p < 0) {
                throw new ValidationException(ModelServiceTableFactory.IDENTIFIER + " joins on all of " + KEYS);
            }
        }
        return AsyncLookupFunctionProvider.of(new ModelServiceLookup(config, positions));
    }

    @Override
    public DynamicTableSource copy() {
        return new ModelServiceTableSource(config, names);
    }

    @Override
    public String asSummaryString() {
        return ModelServiceTableFactory.IDENTIFIER;
    }
}
