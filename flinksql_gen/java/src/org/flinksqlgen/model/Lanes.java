package org.flinksqlgen.model;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Batches records into calls, concurrent across keys and ordered within a key: each key hashes to
 * one of `max_concurrency` lanes; a lane has at most one call in flight, and sends the next batch
 * (up to `batch_size` records, several keys' records each in arrival order) when it is full, when
 * its oldest record has waited `linger` seconds, or at once when a call returns with records
 * already waiting. So a key's records reach the service in order, and never in two calls at once.
 * A record's result is {expected, lower, upper, score, is_anomaly, reason}: reason null when scored,
 * else `unscored: <why>` with the rest null; with `fallback: fail` the record's future fails.
 */
final class Lanes {
    private static final class Pending {
        final ServiceClient.Point point;
        final CompletableFuture<Object[]> result;
        final long since = System.nanoTime();

        Pending(ServiceClient.Point point, CompletableFuture<Object[]> result) {
            this.point = point;
            this.result = result;
        }
    }

    private final class Lane {
        private final ArrayDeque<Pending> queue = new ArrayDeque<>();
        private boolean inFlight;
        private boolean timerSet;

        synchronized void add(Pending p) {
            queue.add(p);
            maybeSend(false);
        }

        /** Called with the lock held. `returned`: a call just came back, so waiting records go now. */
        private void maybeSend(boolean returned) {
            if (inFlight || queue.isEmpty()) {
                return;
            }
            long waitedNanos = System.nanoTime() - queue.peekFirst().since;
            if (!returned && queue.size() < client.config.batchSize && waitedNanos < lingerNanos) {
                if (!timerSet) {
                    timerSet = true;
                    timers.schedule(this::lingered, lingerNanos - waitedNanos, TimeUnit.NANOSECONDS);
                }
                return;
            }
            List<Pending> batch = new ArrayList<>(Math.min(queue.size(), client.config.batchSize));
            while (!queue.isEmpty() && batch.size() < client.config.batchSize) {
                batch.add(queue.pollFirst());
            }
            inFlight = true;
            List<ServiceClient.Point> points = new ArrayList<>(batch.size());
            for (Pending p : batch) {
                points.add(p.point);
            }
            // Async: a call that fails at once (open breaker) must not recurse into the next batch.
            client.score(points).whenCompleteAsync((scored, err) -> {
                deliver(batch, scored, err);
                synchronized (this) {
                    inFlight = false;
                    maybeSend(true);
                }
            }, callbacks);
        }

        private synchronized void lingered() {
            timerSet = false;
            maybeSend(false);
        }
    }

    private final ServiceClient client;
    private final ScheduledExecutorService timers;
    private final Executor callbacks;
    private final long lingerNanos;
    private final Lane[] lanes;

    Lanes(ServiceClient client, ScheduledExecutorService timers, Executor callbacks) {
        this.client = client;
        this.timers = timers;
        this.callbacks = callbacks;
        this.lingerNanos = Math.round(client.config.linger * 1e9);
        this.lanes = new Lane[client.config.maxConcurrency];
        for (int i = 0; i < lanes.length; i++) {
            lanes[i] = new Lane();
        }
    }

    void submit(ServiceClient.Point point, CompletableFuture<Object[]> result) {
        lanes[Math.floorMod(point.key.hashCode(), lanes.length)].add(new Pending(point, result));
    }

    private void deliver(List<Pending> batch, List<ServiceClient.Scored> scored, Throwable err) {
        if (err == null) {
            for (int i = 0; i < batch.size(); i++) {
                ServiceClient.Scored s = scored.get(i);
                batch.get(i).result.complete(new Object[] {s.expected, s.lower, s.upper, s.score, s.isAnomaly, null});
            }
            return;
        }
        Throwable cause = err.getCause() != null && !(err instanceof ScoringException) ? err.getCause() : err;
        String reason = cause instanceof ScoringException ? cause.getMessage()
                : "request failed: " + cause.getClass().getSimpleName();
        for (Pending p : batch) {
            if (client.config.failJob) {
                p.result.completeExceptionally(new RuntimeException(
                        "model service " + client.config.url + ": " + reason + " (fallback: fail)"));
            } else {
                p.result.complete(new Object[] {null, null, null, null, null, "unscored: " + reason});
            }
        }
    }
}
