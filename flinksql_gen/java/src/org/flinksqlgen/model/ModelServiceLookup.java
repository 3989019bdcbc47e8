package org.flinksqlgen.model;

import java.util.Collection;
import java.util.Collections;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.functions.AsyncLookupFunction;
import org.apache.flink.table.functions.FunctionContext;

/**
 * The `model_service` detector as a Flink async lookup function: each looked-up (key, ts, value) is
 * one record to judge; its one result row comes from the user's HTTP service, batched per lane
 * (see Lanes), without blocking the task thread. Flink's async lookup operator (output mode
 * ORDERED) emits the results in input order and checkpoints the records still in flight.
 *
 * A NaN value stands for a missing one (a lookup key cannot be NULL: Flink would not look it up);
 * it is sent as JSON null.
 */
public class ModelServiceLookup extends AsyncLookupFunction {
    private static final long serialVersionUID = 1L;

    private final String configJson;
    private final int[] positions;  // key, ts, value: their places in the key row
    private transient Lanes lanes;
    private transient ExecutorService io;
    private transient ScheduledExecutorService timers;

    ModelServiceLookup(String configJson, int[] positions) {
        this.configJson = configJson;
        this.positions = positions;
    }

    @Override
    public void open(FunctionContext context) {
        io = Executors.newCachedThreadPool(daemon("fsg-model-service-io"));
        timers = Executors.newSingleThreadScheduledExecutor(daemon("fsg-model-service-timer"));
        lanes = new Lanes(new ServiceClient(new ServiceConfig(configJson), io, timers), timers, io);
    }

    @Override
    public CompletableFuture<Collection<RowData>> asyncLookup(RowData keyRow) {
        StringData key = keyRow.getString(positions[0]);
        TimestampData ts = keyRow.getTimestamp(positions[1], 3);
        Double value = keyRow.isNullAt(positions[2]) ? null : keyRow.getDouble(positions[2]);
        CompletableFuture<Object[]> judged = new CompletableFuture<>();
        ServiceClient.Point point = new ServiceClient.Point(key == null ? "" : key.toString(),
                ts == null ? 0L : ts.getMillisecond(), value);
        lanes.submit(point, judged);
        return judged.thenApply(r -> Collections.singletonList(GenericRowData.of(key, ts, value,
                r[0], r[1], r[2], r[3], r[4], r[5] == null ? null : StringData.fromString((String) r[5]))));
    }

    @Override
    public void close() {
        if (timers != null) {
            timers.shutdownNow();
        }
        if (io != null) {
            io.shutdownNow();
        }
    }

    private static ThreadFactory daemon(String name) {
        return r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        };
    }
}
