package org.flinksqlgen.model;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

/**
 * The `model_service` detector's settings, read from the JSON the planner passes as the function's
 * first argument (ModelServiceConfig.model_dump, see flinksql_gen/detectors/model_service_config.py).
 * The Python model validated it when the pipeline was rendered; here it is only read.
 */
final class ServiceConfig {
    private static final Pattern REFERENCE =
            Pattern.compile("\\$\\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\\}");

    final String url;
    final Map<String, String> headers = new LinkedHashMap<>();
    final String reqRecords, reqKey, reqTs, reqValue;
    final String resResults, resExpected, resLower, resUpper, resScore, resIsAnomaly;
    final double timeout, backoff, linger, openFor;
    final int retries, maxConcurrency, batchSize, breakerFailures;
    final boolean failJob;
    /** Why no call can be made with these settings (e.g. an unset variable), or null. */
    final String problem;

    ServiceConfig(String json) {
        JsonNode c;
        try {
            c = new ObjectMapper().readTree(json);
        } catch (Exception e) {
            throw new IllegalArgumentException("the model service's settings are not JSON", e);
        }
        String why = null;
        String resolvedUrl = c.path("url").asText();
        c.path("headers").fields().forEachRemaining(h -> headers.put(h.getKey(), h.getValue().asText()));
        try {
            resolvedUrl = resolve(resolvedUrl, "url");
            for (Map.Entry<String, String> h : headers.entrySet()) {
                h.setValue(resolve(h.getValue(), "header " + h.getKey()));
            }
        } catch (ScoringException e) {
            why = e.getMessage();
        }
        url = resolvedUrl;
        JsonNode rq = c.path("request"), rs = c.path("response"), cb = c.path("circuit_breaker");
        reqRecords = rq.path("records").asText("records");
        reqKey = rq.path("key").asText("key");
        reqTs = rq.path("ts").asText("ts");
        reqValue = rq.path("value").asText("value");
        resResults = rs.path("results").asText("results");
        resExpected = rs.path("expected").asText("expected");
        resLower = rs.path("lower").asText("lower");
        resUpper = rs.path("upper").asText("upper");
        resScore = rs.path("score").asText("score");
        resIsAnomaly = rs.path("is_anomaly").asText("is_anomaly");
        timeout = c.path("timeout").asDouble(2.0);
        retries = c.path("retries").asInt(2);
        backoff = c.path("backoff").asDouble(0.1);
        linger = c.path("linger").asDouble(0.05);
        maxConcurrency = Math.max(1, c.path("max_concurrency").asInt(4));
        batchSize = Math.max(1, c.path("batch_size").asInt(500));
        breakerFailures = Math.max(1, cb.path("failures").asInt(5));
        openFor = cb.path("open_for").asDouble(5.0);
        JsonNode fallback = c.path("fallback");
        if (fallback.isObject()) {  // refused when the pipeline is planned
            why = "a detector fallback needs the Python path (engine: python)";
        }
        failJob = "fail".equals(fallback.asText("unscored"));
        problem = why;
    }

    /** `${env:NAME}` / `${env:NAME:-default}` from the TaskManager's environment (the runner has
     * usually put the values in already). */
    private static String resolve(String text, String what) throws ScoringException {
        Matcher m = REFERENCE.matcher(text);
        StringBuffer out = new StringBuffer();
        while (m.find()) {
            String got = System.getenv(m.group(1));
            if (got == null) {
                got = m.group(2);
            }
            if (got == null) {
                throw new ScoringException("environment variable " + m.group(1) + " (in the model service's "
                        + what + ") is not set where the job runs");
            }
            m.appendReplacement(out, Matcher.quoteReplacement(got));
        }
        m.appendTail(out);
        return out.toString();
    }
}
