package org.flinksqlgen.model;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.math.BigDecimal;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonGenerator;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.json.JsonReadFeature;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.json.JsonMapper;

/**
 * One call of the service with its retries, non-blocking (java.net.http sendAsync): the same
 * contract, reasons and retry rules as flinksql_gen/detectors/service_client.py. A batch keeps one
 * batch_id across its retries; timeouts, connection errors, HTTP 5xx and 429 are retried after
 * `backoff` seconds, doubled each time; every other failure is final at once.
 */
final class ServiceClient {
    /** One record of a request. */
    static final class Point {
        final String key;
        final long ts;
        final Double value;

        Point(String key, long ts, Double value) {
            this.key = key;
            this.ts = ts;
            this.value = value;
        }
    }

    /** One result: expected, lower, upper, score (null when absent or not finite) and the verdict. */
    static final class Scored {
        final Double expected, lower, upper, score;
        final boolean isAnomaly;

        Scored(Double expected, Double lower, Double upper, Double score, boolean isAnomaly) {
            this.expected = expected;
            this.lower = lower;
            this.upper = upper;
            this.score = score;
            this.isAnomaly = isAnomaly;
        }
    }

    private static final JsonFactory JSON = new JsonFactory();
    private static final ObjectMapper READER =
            JsonMapper.builder().enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();

    final ServiceConfig config;
    final CircuitBreaker breaker;
    private final HttpClient http;
    private final URI uri;
    private final ScheduledExecutorService timers;

    private final String problem;

    ServiceClient(ServiceConfig config, ExecutorService io, ScheduledExecutorService timers) {
        this.config = config;
        this.timers = timers;
        this.breaker = new CircuitBreaker(config.breakerFailures, config.openFor);
        URI parsed = null;
        String why = config.problem;
        try {
            parsed = URI.create(config.url);
        } catch (IllegalArgumentException e) {
            why = why != null ? why : "request failed: the url is not valid";
        }
        this.uri = parsed;
        this.problem = why;
        // HTTP/1.1 keep-alive: one connection per lane in practice (at most one call each).
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).executor(io)
                .connectTimeout(Duration.ofMillis(millis(config.timeout))).build();
    }

    /** The points' results, in order, or a ScoringException (the cause of the CompletionException). */
    CompletableFuture<List<Scored>> score(List<Point> points) {
        CompletableFuture<List<Scored>> out = new CompletableFuture<>();
        if (problem != null) {
            out.completeExceptionally(new ScoringException(problem));
            return out;
        }
        byte[] body;
        try {
            body = request(points);
        } catch (IOException e) {
            out.completeExceptionally(new ScoringException("request failed: " + e.getClass().getSimpleName()));
            return out;
        }
        start(body, points.size(), out);
        return out;
    }

    private void start(byte[] body, int count, CompletableFuture<List<Scored>> out) {
        try {
            if (!breaker.beforeCall()) {  // the breaker's trial call is running: wait for its outcome
                timers.schedule(() -> start(body, count, out), 20, TimeUnit.MILLISECONDS);
                return;
            }
        } catch (ScoringException e) {
            out.completeExceptionally(e);
            return;
        }
        attempt(body, count, 0, config.backoff, out);
    }

    private void attempt(byte[] body, int count, int attempt, double delay, CompletableFuture<List<Scored>> out) {
        HttpRequest.Builder req = HttpRequest.newBuilder(uri).timeout(Duration.ofMillis(millis(config.timeout)))
                .header("content-type", "application/json").POST(HttpRequest.BodyPublishers.ofByteArray(body));
        for (Map.Entry<String, String> h : config.headers.entrySet()) {
            req.header(h.getKey(), h.getValue());
        }
        CompletableFuture<HttpResponse<byte[]>> call;
        try {
            call = http.sendAsync(req.build(), HttpResponse.BodyHandlers.ofByteArray());
        } catch (RuntimeException e) {
            call = CompletableFuture.failedFuture(e);
        }
        call.handle((resp, err) -> {
            try {
                List<Scored> results = outcome(resp, err, count);
                breaker.record(true);
                out.complete(results);
            } catch (ScoringException e) {
                if (e.retryable && attempt < config.retries) {
                    timers.schedule(() -> attempt(body, count, attempt + 1, delay * 2, out),
                            millis(delay), TimeUnit.MILLISECONDS);
                    return null;
                }
                breaker.record(false);
                String why = e.retryable ? e.getMessage() + " (after " + (attempt + 1) + " attempts)" : e.getMessage();
                out.completeExceptionally(new ScoringException(why));
            } catch (RuntimeException e) {
                breaker.record(false);
                out.completeExceptionally(new ScoringException("request failed: " + e.getClass().getSimpleName()));
            }
            return null;
        });
    }

    private List<Scored> outcome(HttpResponse<byte[]> resp, Throwable err, int count) throws ScoringException {
        if (err != null) {
            Throwable t = err instanceof CompletionException && err.getCause() != null ? err.getCause() : err;
            if (t instanceof HttpTimeoutException) {
                throw new ScoringException("timeout after " + seconds(config.timeout) + " s", true);
            }
            if (t instanceof IOException) {
                throw new ScoringException("service unreachable: " + t.getClass().getSimpleName(), true);
            }
            throw new ScoringException("request failed: " + t.getClass().getSimpleName());
        }
        int status = resp.statusCode();
        if (status >= 500 || status == 429) {
            throw new ScoringException("HTTP " + status, true);
        }
        if (status != 200) {
            throw new ScoringException("HTTP " + status + ": " + snippet(new String(resp.body(), StandardCharsets.UTF_8)));
        }
        return parse(resp.body(), count);
    }

    private byte[] request(List<Point> points) throws IOException {
        ByteArrayOutputStream buf = new ByteArrayOutputStream(64 + 48 * points.size());
        try (JsonGenerator g = JSON.createGenerator(buf)) {
            g.writeStartObject();
            // The same for every retry: a service may answer a repeat from a cache.
            g.writeStringField("batch_id", UUID.randomUUID().toString().replace("-", ""));
            g.writeArrayFieldStart(config.reqRecords);
            for (Point p : points) {
                g.writeStartObject();
                g.writeStringField(config.reqKey, p.key);
                g.writeNumberField(config.reqTs, p.ts);
                if (p.value == null || p.value.isNaN() || p.value.isInfinite()) {
                    g.writeNullField(config.reqValue);
                } else {
                    g.writeNumberField(config.reqValue, p.value);
                }
                g.writeEndObject();
            }
            g.writeEndArray();
            g.writeEndObject();
        }
        return buf.toByteArray();
    }

    /** The response body -> `count` results, or ScoringException("malformed response: ..."). */
    List<Scored> parse(byte[] content, int count) throws ScoringException {
        JsonNode data;
        try {
            data = READER.readTree(content);
        } catch (IOException e) {
            data = null;
        }
        if (data == null || data.isMissingNode()) {
            throw new ScoringException("malformed response: not JSON: "
                    + snippet(new String(content, StandardCharsets.UTF_8)));
        }
        JsonNode results = data.isObject() ? data.get(config.resResults) : null;
        if (results == null || !results.isArray()) {
            throw new ScoringException("malformed response: no list '" + config.resResults + "'");
        }
        if (results.size() != count) {
            throw new ScoringException("malformed response: " + results.size() + " results for " + count + " records");
        }
        List<Scored> out = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            JsonNode r = results.get(i);
            if (!r.isObject()) {
                throw new ScoringException("malformed response: result " + i + " is not an object");
            }
            JsonNode flag = r.get(config.resIsAnomaly);
            Double expected = number(r, config.resExpected, i), lower = number(r, config.resLower, i);
            Double upper = number(r, config.resUpper, i), score = number(r, config.resScore, i);
            if (flag == null || !flag.isBoolean()) {
                throw new ScoringException("malformed response: result " + i + ": '" + config.resIsAnomaly
                        + "' is not true or false");
            }
            out.add(new Scored(expected, lower, upper, score, flag.booleanValue()));
        }
        return out;
    }

    private static Double number(JsonNode r, String field, int i) throws ScoringException {
        JsonNode x = r.get(field);
        if (x == null || x.isNull()) {
            return null;
        }
        if (!x.isNumber()) {
            throw new ScoringException("malformed response: result " + i + ": '" + field + "' is not a number or null");
        }
        double d = x.doubleValue();
        return Double.isFinite(d) ? d : null;
    }

    static String snippet(String text) {
        String t = text.trim().replaceAll("\\s+", " ");
        return t.length() > 120 ? t.substring(0, 120) + "..." : t;
    }

    /** As Python's `{x:g}` for the usual settings: 2.0 -> "2", 0.5 -> "0.5". */
    static String seconds(double x) {
        return BigDecimal.valueOf(x).stripTrailingZeros().toPlainString();
    }

    static long millis(double seconds) {
        return Math.max(1, Math.round(seconds * 1000));
    }
}
