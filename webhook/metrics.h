/* metrics.h - the server's counters, gauges and latency histogram, rendered in the Prometheus text
 * format 0.0.4. Every update is a relaxed atomic add on a fixed slot (labels come from closed sets:
 * known kinds and operations, rule ids, outcomes, a short list of HTTP codes), so request threads
 * never take a lock and a hostile request cannot grow the label space. */
#ifndef POSTURE_METRICS_H
#define POSTURE_METRICS_H

#include "buf.h"
#include "engine.h"

/* One judged review: kind and operation as review_result spells them ("Deployment", "CREATE";
 * anything else is counted as "other"), the decision, the findings by rule and outcome
 * (review_result.rule_counts) and the time it took. */
void metrics_review(const char *kind, const char *operation, bool allowed,
		    const uint32_t counts[RULE_COUNT][4], uint64_t latency_us);
/* A response with an error status (400, 403, 404, 405, 408, 413, 415, 500, 503; others count as
 * "other"). */
void metrics_http_error(int code);
/* The serving certificate's notAfter (Unix seconds). */
void metrics_set_cert_expiry(int64_t not_after);
/* A policy reload attempt. */
void metrics_policy_reload(bool ok);
/* A request cut by the request deadline (slowloris). */
void metrics_request_timeout(void);
/* Open TLS connections: +1 / -1. */
void metrics_connections_add(int delta);

/* Append the whole exposition to out. */
void metrics_render(struct buf *out);

#endif
