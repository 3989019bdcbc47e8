package org.flinksqlgen.model;

/**
 * Closed until `failures` calls in a row fail; then open (no calls) for `openFor` seconds; then
 * half-open: one trial call closes it again or reopens it. As service_client.CircuitBreaker, except
 * that a call asked for while the trial call runs waits for its outcome (beforeCall returns false)
 * instead of failing: lanes run calls concurrently, and a recovered service should get them all.
 */
final class CircuitBreaker {
    private final int failures;
    private final double openFor;
    private int failed;
    private long openedAt = -1;
    private boolean trialRunning;

    CircuitBreaker(int failures, double openFor) {
        this.failures = failures;
        this.openFor = openFor;
    }

    /** True: call now; false: a trial call is running, ask again later; throws while open. */
    synchronized boolean beforeCall() throws ScoringException {
        if (openedAt < 0) {
            return true;
        }
        if (trialRunning) {
            return false;
        }
        double waited = (System.nanoTime() - openedAt) / 1e9;
        if (waited < openFor) {
            throw new ScoringException(String.format(java.util.Locale.ROOT,
                    "circuit open after %d failed calls in a row (next trial call in %.1f s)",
                    failed, Math.max(0.0, openFor - waited)));
        }
        trialRunning = true;
        return true;
    }

    synchronized void record(boolean ok) {
        trialRunning = false;
        if (ok) {
            failed = 0;
            openedAt = -1;
            return;
        }
        failed++;
        if (failed >= failures) {
            openedAt = System.nanoTime();
        }
    }
}
