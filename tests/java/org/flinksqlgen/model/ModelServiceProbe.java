package org.flinksqlgen.model;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ArrayNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * Test driver (tests/test_model_service_java.py): the connector's Lanes and ServiceClient without
 * Flink. args[0] is the detector's config JSON; stdin has one point per line ({"key", "ts", "value"}),
 * all submitted at once, as Flink's async operator would; stdout has one line per point, in input
 * order: {"result": [expected, lower, upper, score, is_anomaly, reason]} or {"error": message}.
 */
public final class ModelServiceProbe {
    public static void main(String[] args) throws Exception {
        ObjectMapper json = new ObjectMapper();
        ExecutorService io = Executors.newCachedThreadPool();
        ScheduledExecutorService timers = Executors.newSingleThreadScheduledExecutor();
        Lanes lanes = new Lanes(new ServiceClient(new ServiceConfig(args[0]), io, timers), timers, io);
        List<CompletableFuture<Object[]>> results = new ArrayList<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            JsonNode p = json.readTree(line);
            CompletableFuture<Object[]> f = new CompletableFuture<>();
            Double value = p.get("value").isNull() ? null : p.get("value").asDouble();
            lanes.submit(new ServiceClient.Point(p.get("key").asText(), p.get("ts").asLong(), value), f);
            results.add(f);
        }
        for (CompletableFuture<Object[]> f : results) {
            ObjectNode out = json.createObjectNode();
            try {
                Object[] r = f.get(60, TimeUnit.SECONDS);
                ArrayNode a = out.putArray("result");
                for (Object x : r) {
                    a.addPOJO(x);
                }
            } catch (ExecutionException e) {
                out.put("error", e.getCause().getMessage());
            }
            System.out.println(json.writeValueAsString(out));
        }
        io.shutdownNow();
        timers.shutdownNow();
    }
}
