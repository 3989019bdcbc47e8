package org.flinksqlgen.model;

/** The service gave no usable answer for a batch; the message says why (one line, no header value). */
class ScoringException extends Exception {
    private static final long serialVersionUID = 1L;
    final boolean retryable;

    ScoringException(String reason) {
        this(reason, false);
    }

    /** retryable: a timeout, a connection error, HTTP 5xx or 429. */
    ScoringException(String reason, boolean retryable) {
        super(reason, null, false, false);
        this.retryable = retryable;
    }
}
