/* server.h - `posture serve`: the HTTPS admission endpoint (libmicrohttpd over GnuTLS), its
 * plain-HTTP metrics listener, certificate and policy reloads, and the drain on SIGTERM. */
#ifndef POSTURE_SERVER_H
#define POSTURE_SERVER_H

#include <stddef.h>
#include <stdint.h>

/* Everything `posture serve` was told (strings borrowed; they outlive server_run). */
struct server_config {
	const char *listen;             /* "HOST:PORT"; port 0 picks a free one (logged) */
	const char *tls_cert, *tls_key; /* PEM files, polled for rotation */
	const char *client_ca;          /* PEM file: require client certificates it signed; NULL: none */
	const char *policy_path;        /* policy file, polled for changes; NULL: built-in defaults */
	const char *metrics_listen;     /* "HOST:PORT" for /metrics, /healthz, /readyz; NULL: none */
	const char *own_namespace;      /* POD_NAMESPACE; NULL or "" when unknown */
	double shutdown_delay_s;        /* after SIGTERM: keep answering with Connection: close */
	size_t max_body;                /* request body cap (413 above it) */
	unsigned request_timeout_s;     /* a request's headers and body must arrive within this */
	unsigned idle_timeout_s;        /* a keep-alive connection may idle this long */
	unsigned threads;               /* worker threads; 0: one per core */
	unsigned connection_limit;      /* concurrent TLS connections */
	unsigned poll_ms;               /* how often certificate and policy files are compared */
};

/* Defaults for every field (the container's: 0.0.0.0:8443, /etc/posture/..., 8 MiB, ...). */
void server_config_defaults(struct server_config *cfg);

/* Split "HOST:PORT" / "[V6]:PORT" (HOST may be empty: all addresses). 0, or -1 with a reason. */
int server_addr_split(const char *s, char *host, size_t hostlen, uint16_t *port, char *err,
		      size_t errlen);

/* Run until SIGTERM or SIGINT (then drain: /readyz fails, answers carry Connection: close for
 * shutdown_delay_s, the listener stops, in-flight requests finish). SIGHUP reloads the policy and
 * the certificate. Returns the exit status: 0 after a clean drain, 2 when start-up failed (bad
 * certificate, policy or address; the reason is logged). */
int server_run(const struct server_config *cfg);

#endif
