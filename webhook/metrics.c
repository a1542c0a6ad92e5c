/* metrics.c - lock-free counters and a latency histogram in the Prometheus text format 0.0.4. */
#include "metrics.h"

#include <stdatomic.h>

#ifndef POSTURE_VERSION
#define POSTURE_VERSION "dev"
#endif

#define N_OPS 5   /* other, CREATE, UPDATE, DELETE, CONNECT */
static const char *const op_names[N_OPS] = { "other", "CREATE", "UPDATE", "DELETE", "CONNECT" };

static const char *const outcome_names[4] = { "deny", "warn", "audit", "exempt" };

static const int http_codes[] = { 400, 403, 404, 405, 408, 413, 415, 500, 503 };
#define N_CODES (ARRAY_LEN(http_codes) + 1)   /* last slot: other */

/* Upper bounds in microseconds: 50us .. 1s. */
static const uint64_t bucket_us[] = { 50,    100,    250,    500,    1000,   2500,   5000,
				      10000, 25000,  50000,  100000, 250000, 500000, 1000000 };
static const char *const bucket_le[] = { "5e-05", "0.0001", "0.00025", "0.0005", "0.001",
					 "0.0025", "0.005", "0.01", "0.025", "0.05",
					 "0.1",   "0.25",  "0.5",   "1" };
#define N_BUCKETS ARRAY_LEN(bucket_us)

static struct {
	atomic_ulong reviews[K_COUNT][N_OPS][2];   /* [kind][op][allowed] */
	atomic_ulong violations[RULE_COUNT][4];
	atomic_ulong http_errors[N_CODES];
	atomic_ulong buckets[N_BUCKETS];           /* non-cumulative; summed when rendered */
	atomic_ulong duration_count;
	atomic_ullong duration_sum_us;
	atomic_llong cert_expiry;
	atomic_ulong reloads[2];                   /* [ok] */
	atomic_ulong timeouts;
	atomic_long connections;
} m;

static int op_index(const char *op)
{
	for (int i = 1; i < N_OPS; i++)
		if (strcmp(op, op_names[i]) == 0)
			return i;
	return 0;
}

void metrics_review(const char *kind, const char *operation, bool allowed,
		    const uint32_t counts[RULE_COUNT][4], uint64_t latency_us)
{
	enum kind_id k = kind_by_name(kind);
	if ((int)k < 0 || k >= K_COUNT)
		k = K_UNKNOWN;
	atomic_fetch_add_explicit(&m.reviews[k][op_index(operation)][allowed ? 1 : 0], 1,
				  memory_order_relaxed);
	for (int r = 0; r < RULE_COUNT; r++)
		for (int o = 0; o < 4; o++)
			if (counts[r][o])
				atomic_fetch_add_explicit(&m.violations[r][o], counts[r][o],
							  memory_order_relaxed);
	size_t b = 0;
	while (b < N_BUCKETS && latency_us > bucket_us[b])
		b++;
	if (b < N_BUCKETS)
		atomic_fetch_add_explicit(&m.buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m.duration_sum_us, latency_us, memory_order_relaxed);
	atomic_fetch_add_explicit(&m.duration_count, 1, memory_order_relaxed);
}

void metrics_http_error(int code)
{
	size_t i = 0;
	while (i < ARRAY_LEN(http_codes) && http_codes[i] != code)
		i++;
	atomic_fetch_add_explicit(&m.http_errors[i], 1, memory_order_relaxed);
}

void metrics_set_cert_expiry(int64_t not_after)
{
	atomic_store(&m.cert_expiry, not_after);
}

void metrics_policy_reload(bool ok)
{
	atomic_fetch_add_explicit(&m.reloads[ok ? 1 : 0], 1, memory_order_relaxed);
}

void metrics_request_timeout(void)
{
	atomic_fetch_add_explicit(&m.timeouts, 1, memory_order_relaxed);
}

void metrics_connections_add(int delta)
{
	atomic_fetch_add_explicit(&m.connections, delta, memory_order_relaxed);
}

static unsigned long ld(atomic_ulong *a)
{
	return atomic_load_explicit(a, memory_order_relaxed);
}

static void header(struct buf *out, const char *name, const char *type, const char *help)
{
	buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped. */
static void label(struct buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			buf_addc(out, '\\');
		if (*s == '\n') {
			buf_adds(out, "\\n");
			continue;
		}
		buf_addc(out, *s);
	}
}

void metrics_render(struct buf *out)
{
	header(out, "posture_build_info", "gauge", "Build information.");
	buf_adds(out, "posture_build_info{version=\"");
	label(out, POSTURE_VERSION);
	buf_adds(out, "\"} 1\n");

	header(out, "posture_admission_reviews_total", "counter",
	       "Admission reviews judged, by kind, operation and decision.");
	for (int k = 0; k < K_COUNT; k++)
		for (int o = 0; o < N_OPS; o++)
			for (int a = 0; a < 2; a++) {
				unsigned long v = ld(&m.reviews[k][o][a]);
				if (!v)
					continue;
				const char *kn = k == K_UNKNOWN ? "other" : kind_name((enum kind_id)k);
				buf_adds(out, "posture_admission_reviews_total{kind=\"");
				label(out, kn && *kn ? kn : "other");
				buf_printf(out, "\",operation=\"%s\",decision=\"%s\"} %lu\n",
					   op_names[o], a ? "allow" : "deny", v);
			}

	header(out, "posture_rule_violations_total", "counter",
	       "Rule findings by rule and outcome (deny, warn, audit, exempt).");
	for (int r = 0; r < RULE_COUNT; r++)
		for (int o = 0; o < 4; o++) {
			unsigned long v = ld(&m.violations[r][o]);
			if (!v)
				continue;
			buf_adds(out, "posture_rule_violations_total{rule=\"");
			label(out, rule_name((enum rule_id)r));
			buf_printf(out, "\",action=\"%s\"} %lu\n", outcome_names[o], v);
		}

	header(out, "posture_admission_duration_seconds", "histogram",
	       "Time from a review's headers to its response.");
	unsigned long cum = 0;
	for (size_t b = 0; b < N_BUCKETS; b++) {
		cum += ld(&m.buckets[b]);
		buf_printf(out, "posture_admission_duration_seconds_bucket{le=\"%s\"} %lu\n",
			   bucket_le[b], cum);
	}
	unsigned long count = ld(&m.duration_count);
	unsigned long long sum_us = atomic_load_explicit(&m.duration_sum_us, memory_order_relaxed);
	buf_printf(out, "posture_admission_duration_seconds_bucket{le=\"+Inf\"} %lu\n", count);
	buf_printf(out, "posture_admission_duration_seconds_sum %llu.%06llu\n", sum_us / 1000000,
		   sum_us % 1000000);
	buf_printf(out, "posture_admission_duration_seconds_count %lu\n", count);

	header(out, "posture_http_errors_total", "counter",
	       "Responses with an error status, by code.");
	for (size_t i = 0; i < N_CODES; i++) {
		unsigned long v = ld(&m.http_errors[i]);
		if (!v)
			continue;
		if (i < ARRAY_LEN(http_codes))
			buf_printf(out, "posture_http_errors_total{code=\"%d\"} %lu\n", http_codes[i],
				   v);
		else
			buf_printf(out, "posture_http_errors_total{code=\"other\"} %lu\n", v);
	}

	header(out, "posture_tls_certificate_expiry_timestamp_seconds", "gauge",
	       "notAfter of the serving certificate in use, in Unix seconds.");
	buf_printf(out, "posture_tls_certificate_expiry_timestamp_seconds %lld\n",
		   (long long)atomic_load(&m.cert_expiry));

	header(out, "posture_policy_reloads_total", "counter",
	       "Policy reload attempts by result (success, failure).");
	buf_printf(out, "posture_policy_reloads_total{result=\"success\"} %lu\n", ld(&m.reloads[1]));
	buf_printf(out, "posture_policy_reloads_total{result=\"failure\"} %lu\n", ld(&m.reloads[0]));

	header(out, "posture_request_timeouts_total", "counter",
	       "Connections closed because a request's headers and body did not arrive in time.");
	buf_printf(out, "posture_request_timeouts_total %lu\n", ld(&m.timeouts));

	header(out, "posture_http_connections", "gauge", "Open connections on the TLS listener.");
	buf_printf(out, "posture_http_connections %ld\n",
		   atomic_load_explicit(&m.connections, memory_order_relaxed));
}
