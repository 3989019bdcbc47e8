package org.flinksqlgen.model;

import java.util.Collections;
import java.util.Set;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.factories.DynamicTableSourceFactory;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.types.DataType;

/**
 * The `flinksql-gen-model-service` connector: a lookup-only table whose rows are the judgements of
 * the user's model service. The planner renders one per `model_service` detector (java engine) and
 * joins the metric's records to it with FOR SYSTEM_TIME AS OF (see ModelServiceLookup).
 */
public class ModelServiceTableFactory implements DynamicTableSourceFactory {
    public static final String IDENTIFIER = "flinksql-gen-model-service";
    static final ConfigOption<String> CONFIG = ConfigOptions.key("config").stringType().noDefaultValue()
            .withDescription("the detector's settings as JSON (ModelServiceConfig)");

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return Collections.singleton(CONFIG);
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        return Collections.emptySet();
    }

    @Override
    public DynamicTableSource createDynamicTableSource(Context context) {
        FactoryUtil.TableFactoryHelper helper = FactoryUtil.createTableFactoryHelper(this, context);
        helper.validate();
        return new ModelServiceTableSource(helper.getOptions().get(CONFIG),
                DataType.getFieldNames(context.getPhysicalRowDataType()).toArray(new String[0]));
    }
}
