/* server.c - the HTTPS admission endpoint on libmicrohttpd: routes, body caps, TLS settings,
 * deadlines, certificate rotation, policy reloads, the metrics listener and the SIGTERM drain.
 *
 * Threads. libmicrohttpd runs the TLS listener on an epoll thread pool (one per core); every
 * callback below marked "worker" runs there. The main thread owns signals (signalfd), the file
 * polls (certificate pair, policy), the request-deadline watchdog and the drain. The metrics
 * listener has its own single internal thread.
 *
 * Deadlines. libmicrohttpd has one inactivity timeout per connection, reset by every byte; a
 * client sending one byte every few seconds would hold a connection and a request open forever.
 * So the inactivity timeout is the idle timeout (120 s, above the apiserver's 90 s), and a
 * watchdog enforces absolute deadlines from a per-connection record (socket context): the first
 * request of a connection (TLS handshake, headers and body) must be answered within
 * request_timeout_s of the accept, each later one within request_timeout_s of its request line,
 * and an idle connection is closed idle_timeout_s after its last response even if bytes trickle
 * in. The watchdog cuts a late connection with shutdown(2) under the registry lock; the record
 * leaves the registry in MHD's "closed" notification, which runs before MHD closes the socket, so
 * the descriptor is never a recycled one. Body chunks also check the deadline as they arrive.
 * The metrics listener's connections get the same deadlines (a kubelet probe must get through).
 *
 * Client certificates (--client-ca). MHD_OPTION_HTTPS_MEM_TRUST only asks for a certificate. At
 * accept each session is set to require one and to verify it in the handshake (chain to the CA,
 * clientAuth purpose): a client with none, a self-signed one or another CA's fails the handshake.
 * The first request of a connection checks the session again and answers 403 if it is not
 * verified.
 *
 * Certificate rotation. MHD_OPTION_HTTPS_CERT_CALLBACK: GnuTLS asks for the certificate on each
 * handshake, and the callback returns the current pair (an atomic pointer). The main thread
 * polls the files, compares contents, validates a changed pair with certs_check_pair and loads
 * it before publishing it; until then the old pair keeps serving. GnuTLS keeps pointers to the
 * pair in a session, so a replaced pair is retired, not freed: each connection records the
 * generation current when it was accepted (handshakes happen after that), and a retired pair is
 * freed once every connection accepted while it could still be handed out has closed (MHD
 * deinitialises the session before the "closed" notification).
 *
 * Policy swap. The current policy is a pointer guarded by a mutex held only to copy the pointer
 * and take a reference (policy_ref) - or, for a reload, to replace the pointer. The reloader drops
 * the old pointer's reference after the swap, so a reader can never take a reference on a policy
 * whose count already reached zero; each request releases its reference once its response is
 * built. (An atomic pointer alone is not enough: load-then-increment races with the last unref.) */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "certs.h"
#include "log.h"
#include "metrics.h"
#include "nsmode.h"
#include "policy.h"
#include "review.h"

#ifndef POSTURE_VERSION
#define POSTURE_VERSION "dev"
#endif

/* TLS 1.2 and 1.3 only; ECDHE key exchange; AEAD ciphers only (no CBC, no SHA-1, no static RSA). */
#define TLS_PRIORITIES                                                                          \
	"SECURE256:+SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-RSA:-DHE-RSA:-AES-128-CBC:"   \
	"-AES-256-CBC:-CAMELLIA-128-CBC:-CAMELLIA-256-CBC:-3DES-CBC:-ARCFOUR-128:-SHA1:"        \
	"%SAFE_RENEGOTIATION"

#define PEM_MAX ((size_t)1 << 20)      /* certificate, key, CA files */
#define POLICY_MAX ((size_t)4 << 20)   /* policy file */
#define TICK_MS 100                    /* main loop: watchdog and drain checks */

/* ---- state ---- */

enum conn_state {
	CS_NEW = 0,     /* accepted: handshake and first request under way */
	CS_REQUEST,     /* a later request's line has arrived */
	CS_RESPONDED,   /* response queued, being sent */
	CS_IDLE,        /* between requests (keep-alive) */
};

/* One connection (MHD socket context), on either listener. Allocated in the "started"
 * notification, freed in "closed"; state and since are written by its worker and read by the
 * watchdog. */
struct conn {
	struct conn *prev, *next;   /* registry, under S.conns_lock */
	int fd;
	uint64_t gen;               /* TLS pair generation at accept */
	atomic_int state;
	atomic_uint_fast64_t since_us;   /* when the current state's deadline started */
	bool cut;                   /* the watchdog shut it down (under S.conns_lock) */
	bool plain;                 /* on the metrics listener (no TLS; not waited for at stop) */
	int peer;                   /* client certificate: 0 not checked, 1 good, -1 refused */
	char peer_why[160];
};

/* A loaded serving pair. Immutable once published. */
struct tls_pair {
	gnutls_pcert_st pcerts[8];
	unsigned n_pcerts;
	gnutls_privkey_t key;
	uint64_t gen;
	int64_t not_after;
	char serial[96];
	char *cert_pem, *key_pem;   /* owned; what the files held (key wiped when freed) */
	size_t cert_len, key_len;
	struct tls_pair *next;      /* retired list (main thread only) */
};

enum route { RT_NONE = 0, RT_VALIDATE, RT_HEALTHZ, RT_READYZ, RT_METRICS };

/* One request (MHD request context): created on the first callback, freed in the completed
 * notification. */
struct req {
	struct conn *conn;          /* borrowed; NULL when the record could not be allocated */
	enum route route;
	struct nsmode mode;
	int status;                 /* an error decided before the body: 0 none */
	char reason[256];
	const char *allow;          /* Allow header for a 405 */
	bool discard;               /* read and drop the body */
	uint64_t received;          /* body bytes seen, kept or dropped */
	uint64_t start_us;
	char path[96];              /* for logs */
	struct buf body;
};

static struct {
	const struct server_config *cfg;
	struct MHD_Daemon *tls, *metrics;
	int tls_fd, metrics_fd;
	struct sv own_ns;

	pthread_mutex_t policy_lock;
	struct policy *policy;          /* guarded by policy_lock */
	char *policy_seen;              /* main thread: the file contents last tried */
	size_t policy_seen_len;
	bool policy_unreadable;         /* main thread: logged once per streak */

	_Atomic(struct tls_pair *) pair;
	struct tls_pair *retired;       /* main thread */
	uint64_t rejected_hash;         /* main thread: last refused pair's contents */
	bool pair_unreadable;
	atomic_bool cert_expired;
	char *trust_pem;                /* --client-ca contents */

	atomic_bool draining;
	pthread_mutex_t conns_lock;
	struct conn *conns;             /* guarded by conns_lock */
	atomic_ulong started_total;
	atomic_uint untracked;          /* connections without a record (allocation failed) */
} S = {
	.policy_lock = PTHREAD_MUTEX_INITIALIZER,
	.conns_lock = PTHREAD_MUTEX_INITIALIZER,
	.tls_fd = -1,
	.metrics_fd = -1,
};

/* ---- configuration ---- */

void server_config_defaults(struct server_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->listen = "0.0.0.0:8443";
	cfg->tls_cert = "/etc/posture/tls/tls.crt";
	cfg->tls_key = "/etc/posture/tls/tls.key";
	cfg->metrics_listen = "0.0.0.0:9090";
	cfg->shutdown_delay_s = 5;
	cfg->max_body = (size_t)8 << 20;
	cfg->request_timeout_s = 10;
	cfg->idle_timeout_s = 120;
	cfg->connection_limit = 4096;
	cfg->poll_ms = 2000;
}

int server_addr_split(const char *s, char *host, size_t hostlen, uint16_t *port, char *err,
		      size_t errlen)
{
	const char *colon, *h = s;
	size_t hn;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':') {
			fmt_buf(err, errlen, "expected [IPV6]:PORT, got '%s'", s);
			return -1;
		}
		h = s + 1;
		hn = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon) {
			fmt_buf(err, errlen, "expected HOST:PORT, got '%s'", s);
			return -1;
		}
		hn = (size_t)(colon - s);
		if (memchr(s, ':', hn)) {
			fmt_buf(err, errlen, "write an IPv6 address as [ADDR]:PORT, got '%s'", s);
			return -1;
		}
	}
	if (hn + 1 > hostlen) {
		fmt_buf(err, errlen, "host too long in '%s'", s);
		return -1;
	}
	memcpy(host, h, hn);
	host[hn] = '\0';
	const char *p = colon + 1;
	char *end;
	errno = 0;
	unsigned long v = strtoul(p, &end, 10);
	if (!*p || *end || errno || v > 65535 || *p == '-' || *p == '+' || *p == ' ') {
		fmt_buf(err, errlen, "bad port in '%s'", s);
		return -1;
	}
	*port = (uint16_t)v;
	return 0;
}

/* ---- small helpers ---- */

/* Read a whole file (at most max bytes) into a new NUL-terminated buffer. */
static char *slurp(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fmt_buf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	struct buf b;
	buf_init(&b, max);
	char chunk[16384];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fmt_buf(err, errlen, "%s: %s", path, strerror(errno));
			goto out_release;
		}
		if (n == 0)
			break;
		buf_add(&b, chunk, (size_t)n);
		if (b.failed) {
			fmt_buf(err, errlen, "%s: larger than %zu bytes", path, max);
			goto out_release;
		}
	}
	close(fd);
	if (!buf_cstr(&b)) {
		fmt_buf(err, errlen, "%s: out of memory", path);
		buf_release(&b);
		return NULL;
	}
	if (b.len == 0 && !buf_reserve(&b, 1)) {
		fmt_buf(err, errlen, "%s: out of memory", path);
		buf_release(&b);
		return NULL;
	}
	b.data[b.len] = '\0';
	return buf_steal(&b, len);
out_release:
	close(fd);
	buf_release(&b);
	return NULL;
}

static void wipe_free(char *p, size_t n)
{
	if (p) {
		explicit_bzero(p, n);
		xfree(p);
	}
}

static bool same_bytes(const char *a, size_t an, const char *b, size_t bn)
{
	return a && b && an == bn && memcmp(a, b, an) == 0;
}

static uint64_t fnv1a(uint64_t h, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* ---- TLS pairs ---- */

static void tls_pair_free(struct tls_pair *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->n_pcerts; i++)
		gnutls_pcert_deinit(&p->pcerts[i]);
	if (p->key)
		gnutls_privkey_deinit(p->key);
	xfree(p->cert_pem);
	wipe_free(p->key_pem, p->key_len);
	xfree(p);
}

/* Validate (certs_check_pair) and load a pair from PEM. Steals cert_pem and key_pem (freed on
 * failure too). New pair, or NULL with a reason. */
static struct tls_pair *tls_pair_load(char *cert_pem, size_t cert_len, char *key_pem,
				      size_t key_len, char *err, size_t errlen)
{
	struct tls_pair *p = xcalloc(1, sizeof(*p));
	if (!p) {
		fmt_buf(err, errlen, "out of memory");
		xfree(cert_pem);
		wipe_free(key_pem, key_len);
		return NULL;
	}
	p->cert_pem = cert_pem;
	p->cert_len = cert_len;
	p->key_pem = key_pem;
	p->key_len = key_len;
	if (certs_check_pair(cert_pem, cert_len, key_pem, key_len, time(NULL), &p->not_after, err,
			     errlen) != 0)
		goto out_free;
	if (cert_len > UINT_MAX || key_len > UINT_MAX) {
		fmt_buf(err, errlen, "certificate or key too large");
		goto out_free;
	}
	gnutls_datum_t cd = { (unsigned char *)cert_pem, (unsigned)cert_len };
	gnutls_datum_t kd = { (unsigned char *)key_pem, (unsigned)key_len };
	unsigned n = ARRAY_LEN(p->pcerts);
	int rc = gnutls_pcert_list_import_x509_raw(p->pcerts, &n, &cd, GNUTLS_X509_FMT_PEM, 0);
	if (rc < 0) {
		fmt_buf(err, errlen, "certificate: %s", gnutls_strerror(rc));
		goto out_free;
	}
	p->n_pcerts = n;
	rc = gnutls_privkey_init(&p->key);
	if (rc < 0) {
		p->key = NULL;
		fmt_buf(err, errlen, "private key: %s", gnutls_strerror(rc));
		goto out_free;
	}
	rc = gnutls_privkey_import_x509_raw(p->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (rc < 0) {
		fmt_buf(err, errlen, "private key: %s", gnutls_strerror(rc));
		goto out_free;
	}
	gnutls_x509_crt_t crt;
	if (gnutls_pcert_export_x509(&p->pcerts[0], &crt) == 0) {
		unsigned char ser[40];
		size_t sn = sizeof(ser);
		if (gnutls_x509_crt_get_serial(crt, ser, &sn) == 0) {
			size_t o = 0;
			for (size_t i = 0; i < sn && o + 3 < sizeof(p->serial); i++)
				o += fmt_buf(p->serial + o, sizeof(p->serial) - o, "%02X", ser[i]);
		}
		gnutls_x509_crt_deinit(crt);
	}
	return p;
out_free:
	tls_pair_free(p);
	return NULL;
}

/* Worker (GnuTLS, during a handshake): the current pair. */
static int cert_callback(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
			 const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
			 gnutls_pcert_st **pcert, unsigned int *pcert_length,
			 gnutls_privkey_t *privkey)
{
	(void)session;
	(void)req_ca_rdn;
	(void)nreqs;
	(void)pk_algos;
	(void)pk_algos_length;
	struct tls_pair *p = atomic_load(&S.pair);
	if (!p)
		return -1;
	*pcert = p->pcerts;
	*pcert_length = p->n_pcerts;
	*privkey = p->key;
	return 0;
}

static void log_pair(enum log_level level, const char *msg, const struct tls_pair *p)
{
	char exp[40];
	log_format_time(exp, sizeof(exp), p->not_after);
	struct log_line l;
	log_begin(&l, level, "%s", msg);
	log_str(&l, "cert", S.cfg->tls_cert);
	log_str(&l, "serial", p->serial);
	log_str(&l, "notAfter", exp);
	log_int(&l, "daysLeft", (long long)((p->not_after - (int64_t)time(NULL)) / 86400));
	log_emit(&l);
}

/* Main thread: compare the files with the pair in use; load, validate and publish a changed
 * pair. Returns 0 when the current pair stays or was replaced, -1 when there is no usable pair
 * (start-up only). */
static int cert_poll(bool startup)
{
	char err[512];
	size_t cl, kl, cl2;
	char *cert = slurp(S.cfg->tls_cert, PEM_MAX, &cl, err, sizeof(err));
	char *key = cert ? slurp(S.cfg->tls_key, PEM_MAX, &kl, err, sizeof(err)) : NULL;
	char *again = key ? slurp(S.cfg->tls_cert, PEM_MAX, &cl2, err, sizeof(err)) : NULL;
	struct tls_pair *cur = atomic_load(&S.pair);
	if (!again) {
		xfree(cert);
		if (key)
			wipe_free(key, kl);
		if (startup) {
			log_error("cannot read the TLS certificate or key: %s", err);
			return -1;
		}
		if (!S.pair_unreadable)
			log_warn("cannot read the TLS certificate or key, keeping the current pair: %s",
				 err);
		S.pair_unreadable = true;
		return 0;
	}
	S.pair_unreadable = false;
	bool moving = !same_bytes(cert, cl, again, cl2);   /* swapped while we read: next poll */
	xfree(again);
	if (moving || (cur && same_bytes(cert, cl, cur->cert_pem, cur->cert_len) &&
		       same_bytes(key, kl, cur->key_pem, cur->key_len))) {
		xfree(cert);
		wipe_free(key, kl);
		return 0;
	}
	uint64_t h = fnv1a(fnv1a(14695981039346656037ull, cert, cl), key, kl);
	if (!startup && h == S.rejected_hash) {
		xfree(cert);
		wipe_free(key, kl);
		return 0;
	}
	struct tls_pair *p = tls_pair_load(cert, cl, key, kl, err, sizeof(err));
	if (!p) {
		S.rejected_hash = h;
		struct log_line l;
		log_begin(&l, startup ? LOG_ERROR : LOG_WARN, "%s",
			  startup ? "TLS certificate refused"
				  : "new TLS certificate refused, keeping the current one");
		log_str(&l, "cert", S.cfg->tls_cert);
		log_str(&l, "key", S.cfg->tls_key);
		log_str(&l, "reason", err);
		log_emit(&l);
		return startup ? -1 : 0;
	}
	S.rejected_hash = 0;
	p->gen = cur ? cur->gen + 1 : 1;
	atomic_store(&S.pair, p);
	atomic_store(&S.cert_expired, false);
	metrics_set_cert_expiry(p->not_after);
	if (cur) {
		cur->next = S.retired;
		S.retired = cur;
		log_pair(LOG_INFO, "TLS certificate rotated", p);
	} else {
		log_pair(LOG_INFO, "TLS certificate loaded", p);
	}
	return 0;
}

/* Main thread: free retired pairs no live connection can still hold. */
static void pairs_collect(void)
{
	if (!S.retired || atomic_load(&S.untracked))
		return;
	uint64_t min_gen = UINT64_MAX;
	pthread_mutex_lock(&S.conns_lock);
	for (struct conn *c = S.conns; c; c = c->next)
		if (c->gen < min_gen)
			min_gen = c->gen;
	pthread_mutex_unlock(&S.conns_lock);
	struct tls_pair **pp = &S.retired;
	while (*pp) {
		struct tls_pair *p = *pp;
		if (p->gen < min_gen) {
			*pp = p->next;
			tls_pair_free(p);
		} else {
			pp = &p->next;
		}
	}
}

static void cert_check_expiry(void)
{
	struct tls_pair *p = atomic_load(&S.pair);
	bool expired = p && (int64_t)time(NULL) >= p->not_after;
	if (expired && !atomic_exchange(&S.cert_expired, true))
		log_pair(LOG_ERROR, "TLS certificate expired: not ready until it is replaced", p);
}

/* ---- policy ---- */

static struct policy *policy_current_ref(void)
{
	pthread_mutex_lock(&S.policy_lock);
	struct policy *p = S.policy ? policy_ref(S.policy) : NULL;
	pthread_mutex_unlock(&S.policy_lock);
	return p;
}

/* Steals p. */
static void policy_swap(struct policy *p)
{
	pthread_mutex_lock(&S.policy_lock);
	struct policy *old = S.policy;
	S.policy = p;
	pthread_mutex_unlock(&S.policy_lock);
	if (old)
		policy_unref(old);
}

/* Join the loader's error lines into one log field. */
static void one_line(char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
	for (char *p = s; *p; p++)
		if (*p == '\n')
			*p = ';';
}

/* Main thread: reload the policy file when it changed (or when forced by SIGHUP). At start-up a
 * failure is fatal (-1); later the old policy keeps serving. */
static int policy_poll(bool startup, bool forced)
{
	const char *path = S.cfg->policy_path;
	if (!path) {
		if (forced)
			log_info("SIGHUP: no policy file in use, the built-in defaults stay");
		return 0;
	}
	char err[2048];
	size_t len;
	char *data = slurp(path, POLICY_MAX, &len, err, sizeof(err));
	if (!data) {
		if (startup) {
			log_error("cannot read the policy: %s", err);
			return -1;
		}
		if (!S.policy_unreadable || forced) {
			struct log_line l;
			log_begin(&l, LOG_ERROR, "policy reload failed, keeping the current policy");
			log_str(&l, "policy", path);
			log_str(&l, "reason", err);
			log_emit(&l);
			metrics_policy_reload(false);
		}
		S.policy_unreadable = true;
		return 0;
	}
	S.policy_unreadable = false;
	if (!startup && !forced && same_bytes(data, len, S.policy_seen, S.policy_seen_len)) {
		xfree(data);
		return 0;
	}
	err[0] = '\0';
	struct policy *p = policy_load_mem(path, data, len, err, sizeof(err));
	xfree(S.policy_seen);
	S.policy_seen = data;
	S.policy_seen_len = len;
	if (!p) {
		one_line(err);
		struct log_line l;
		log_begin(&l, LOG_ERROR, "%s",
			  startup ? "policy refused" : "policy reload refused, keeping the current policy");
		log_str(&l, "policy", path);
		log_str(&l, "errors", err[0] ? err : "invalid policy");
		log_emit(&l);
		if (!startup)
			metrics_policy_reload(false);
		return startup ? -1 : 0;
	}
	policy_swap(p);
	if (!startup) {
		metrics_policy_reload(true);
		struct log_line l;
		log_begin(&l, LOG_INFO, "policy reloaded");
		log_str(&l, "policy", path);
		log_str(&l, "trigger", forced ? "SIGHUP" : "file change");
		log_emit(&l);
	}
	return 0;
}

/* ---- connections, deadlines ---- */

static struct conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? (struct conn *)ci->socket_context : NULL;
}

static void conn_set(struct conn *c, enum conn_state st)
{
	if (!c)
		return;
	atomic_store(&c->since_us, now_us());
	atomic_store(&c->state, (int)st);
}

/* Marks the metrics listener's callbacks (cls). */
static int metrics_listener;

/* Worker: a connection was accepted (before its TLS handshake) or closed (after its session was
 * deinitialised, before its socket is closed). cls is &metrics_listener on the metrics listener. */
static void on_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	bool plain = cls == &metrics_listener;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		if (!plain) {
			atomic_fetch_add(&S.started_total, 1);
			metrics_connections_add(1);
		}
		if (!plain && S.trust_pem) {
			/* MHD only asks for a certificate: require one and verify it in the handshake.
			 * The request path checks again (peer_check). */
			static gnutls_typed_vdata_st purpose = { GNUTLS_DT_KEY_PURPOSE_OID,
								 (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT,
								 0 };
			const union MHD_ConnectionInfo *ci =
				MHD_get_connection_info(connection, MHD_CONNECTION_INFO_GNUTLS_SESSION);
			if (ci && ci->tls_session) {
				gnutls_session_t s = (gnutls_session_t)ci->tls_session;
				gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
				gnutls_session_set_verify_cert2(s, &purpose, 1, 0);
			}
		}
		struct conn *c = xcalloc(1, sizeof(*c));
		*socket_context = c;
		if (!c) {
			/* served without deadline tracking; retired TLS pairs are kept meanwhile */
			atomic_fetch_add(&S.untracked, 1);
			return;
		}
		const union MHD_ConnectionInfo *fi =
			MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
		c->fd = fi ? fi->connect_fd : -1;
		c->plain = plain;
		atomic_init(&c->state, CS_NEW);
		atomic_init(&c->since_us, now_us());
		pthread_mutex_lock(&S.conns_lock);
		struct tls_pair *p = atomic_load(&S.pair);
		c->gen = p ? p->gen : 0;
		c->next = S.conns;
		if (S.conns)
			S.conns->prev = c;
		S.conns = c;
		pthread_mutex_unlock(&S.conns_lock);
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (!plain)
			metrics_connections_add(-1);
		struct conn *c = *socket_context;
		if (!c) {
			atomic_fetch_sub(&S.untracked, 1);
			return;
		}
		pthread_mutex_lock(&S.conns_lock);
		if (c->prev)
			c->prev->next = c->next;
		else
			S.conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		pthread_mutex_unlock(&S.conns_lock);
		xfree(c);
		*socket_context = NULL;
	}
}

/* Worker: a request line has arrived. Returning NULL keeps the request context empty for the
 * access handler's first call. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *connection)
{
	(void)cls;
	(void)uri;
	struct conn *c = conn_of(connection);
	if (c && atomic_load(&c->state) != CS_NEW)
		conn_set(c, CS_REQUEST);   /* a new connection's deadline runs from its accept */
	return NULL;
}

/* When a connection in state since since must be gone; 0: no deadline. */
static uint64_t conn_deadline_us(int state, uint64_t since)
{
	uint64_t req = (uint64_t)S.cfg->request_timeout_s * 1000000u;
	uint64_t idle = (uint64_t)S.cfg->idle_timeout_s * 1000000u;
	switch (state) {
	case CS_NEW:
	case CS_REQUEST:
		return req ? since + req : 0;
	case CS_IDLE:
		return idle ? since + idle : 0;
	default:
		return 0;   /* responding: MHD's inactivity timeout covers a client that stops reading */
	}
}

/* Main thread: shut down connections past their deadline. */
static void watchdog(void)
{
	uint64_t now = now_us();
	unsigned cut_req = 0, cut_idle = 0;
	pthread_mutex_lock(&S.conns_lock);
	for (struct conn *c = S.conns; c; c = c->next) {
		if (c->cut || c->fd < 0)
			continue;
		int st = atomic_load(&c->state);
		uint64_t since = atomic_load(&c->since_us);
		uint64_t dl = conn_deadline_us(st, since);
		if (!dl || now < dl || since > now)
			continue;
		/* the socket is still MHD's: "closed" takes this lock before MHD closes it */
		shutdown(c->fd, SHUT_RDWR);
		c->cut = true;
		if (st == CS_IDLE)
			cut_idle++;
		else
			cut_req++;
	}
	pthread_mutex_unlock(&S.conns_lock);
	for (unsigned i = 0; i < cut_req; i++)
		metrics_request_timeout();
	if (cut_req) {
		struct log_line l;
		log_begin(&l, LOG_WARN, "request deadline exceeded, connections closed");
		log_uint(&l, "connections", cut_req);
		log_uint(&l, "request_timeout_s", S.cfg->request_timeout_s);
		log_emit(&l);
	}
	if (cut_idle)
		log_debug("closed %u idle connections", cut_idle);
}

/* Connections with a request under way (or not yet begun on a fresh connection). */
static unsigned conns_busy(void)
{
	unsigned n = 0;
	pthread_mutex_lock(&S.conns_lock);
	for (struct conn *c = S.conns; c; c = c->next)
		if (!c->cut && !c->plain && atomic_load(&c->state) != CS_IDLE)
			n++;
	pthread_mutex_unlock(&S.conns_lock);
	return n;
}

/* Worker: is the client certificate present and signed by --client-ca? Checked once per
 * connection (a session cannot change its peer without a new handshake, which GnuTLS verifies
 * again). */
static bool peer_check(struct MHD_Connection *connection, struct conn *c, char *why, size_t n)
{
	if (c && c->peer) {
		fmt_buf(why, n, "%s", c->peer_why);
		return c->peer > 0;
	}
	bool ok = false;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(connection, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	gnutls_session_t s = ci ? (gnutls_session_t)ci->tls_session : NULL;
	unsigned count = 0;
	if (!s) {
		fmt_buf(why, n, "no TLS session");
	} else if (gnutls_certificate_type_get(s) != GNUTLS_CRT_X509 ||
		   !gnutls_certificate_get_peers(s, &count) || count == 0) {
		fmt_buf(why, n, "client certificate required");
	} else {
		gnutls_typed_vdata_st purpose = { GNUTLS_DT_KEY_PURPOSE_OID,
						  (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT, 0 };
		unsigned status = 0;
		int rc = gnutls_certificate_verify_peers(s, &purpose, 1, &status);
		if (rc < 0) {
			fmt_buf(why, n, "client certificate: %s", gnutls_strerror(rc));
		} else if (status) {
			gnutls_datum_t out = { NULL, 0 };
			if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out,
									 0) == 0) {
				fmt_buf(why, n, "client certificate: %s", (const char *)out.data);
				gnutls_free(out.data);
			} else {
				fmt_buf(why, n, "client certificate not trusted");
			}
		} else {
			ok = true;
			why[0] = '\0';
		}
	}
	if (c) {
		c->peer = ok ? 1 : -1;
		fmt_buf(c->peer_why, sizeof(c->peer_why), "%s", why);
	}
	return ok;
}

/* ---- responses ---- */

static void free_body(void *p)
{
	xfree(p);
}

/* Queue body (steals data; NULL with len 0 for none). */
static enum MHD_Result respond(struct MHD_Connection *connection, struct req *r, int status,
			       const char *ctype, char *data, size_t len, const char *allow)
{
	struct MHD_Response *resp =
		data ? MHD_create_response_from_buffer_with_free_callback(len, data, free_body)
		     : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		xfree(data);
		return MHD_NO;
	}
	if (ctype)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	if (atomic_load(&S.draining))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	enum MHD_Result rc = MHD_queue_response(connection, (unsigned)status, resp);
	MHD_destroy_response(resp);
	conn_set(r ? r->conn : conn_of(connection), CS_RESPONDED);
	return rc;
}

static enum MHD_Result respond_text(struct MHD_Connection *connection, struct req *r, int status,
				    const char *text)
{
	size_t n = strlen(text);
	char *d = xstrndup(text, n);
	if (!d)
		return MHD_NO;
	return respond(connection, r, status, "text/plain; charset=utf-8", d, n, NULL);
}

/* Errors: {"code":N,"error":"reason"} with Content-Type application/json. */
static enum MHD_Result respond_error(struct MHD_Connection *connection, struct req *r, int status,
				     const char *reason, const char *allow, const char *method)
{
	struct buf b;
	buf_init(&b, 4096);
	buf_printf(&b, "{\"code\":%d,\"error\":", status);
	buf_add_json_str(&b, reason, strlen(reason));
	buf_adds(&b, "}\n");
	metrics_http_error(status);
	struct log_line l;
	log_begin(&l, status >= 500 ? LOG_ERROR : LOG_WARN, "request refused");
	log_int(&l, "status", status);
	log_str(&l, "method", method);
	log_str(&l, "path", r ? r->path : "");
	log_str(&l, "reason", reason);
	log_emit(&l);
	if (!buf_cstr(&b)) {
		buf_release(&b);
		return MHD_NO;
	}
	size_t len;
	char *d = buf_steal(&b, &len);
	return respond(connection, r, status, "application/json", d, len, allow);
}

/* ---- routes ---- */

static bool content_type_json(const char *ct)
{
	if (!ct)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, "application/json", 16) != 0)
		return false;
	ct += 16;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (!*ct)
		return true;
	if (*ct != ';')
		return false;
	/* parameters: only charset matters, and it must be UTF-8 */
	while (*ct == ';') {
		ct++;
		while (*ct == ' ' || *ct == '\t')
			ct++;
		const char *name = ct;
		while (*ct && *ct != '=' && *ct != ';')
			ct++;
		size_t nn = (size_t)(ct - name);
		while (nn && (name[nn - 1] == ' ' || name[nn - 1] == '\t'))
			nn--;
		if (*ct != '=')
			continue;
		ct++;
		while (*ct == ' ' || *ct == '\t')
			ct++;
		const char *val = ct;
		bool quoted = *ct == '"';
		if (quoted) {
			val = ++ct;
			while (*ct && *ct != '"')
				ct++;
		} else {
			while (*ct && *ct != ';' && *ct != ' ' && *ct != '\t')
				ct++;
		}
		size_t vn = (size_t)(ct - val);
		if (quoted && *ct == '"')
			ct++;
		while (*ct == ' ' || *ct == '\t')
			ct++;
		if (nn == 7 && strncasecmp(name, "charset", 7) == 0 &&
		    !(vn == 5 && strncasecmp(val, "utf-8", 5) == 0) &&
		    !(vn == 4 && strncasecmp(val, "utf8", 4) == 0))
			return false;
		if (*ct && *ct != ';')
			return false;
	}
	return true;
}

static enum MHD_Result count_content_type(void *cls, enum MHD_ValueKind kind, const char *key,
					  const char *value)
{
	(void)kind;
	(void)value;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_TYPE) == 0)
		(*(unsigned *)cls)++;
	return MHD_YES;
}

/* Decide the route and any error knowable from the headers. */
static void route_request(struct MHD_Connection *connection, struct req *r, const char *url,
			  const char *method)
{
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	bool post = strcmp(method, "POST") == 0;
	static const char ns_prefix[] = "/validate/namespace/";
	if (strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0) {
		r->route = url[1] == 'h' ? RT_HEALTHZ : RT_READYZ;
		if (!get) {
			r->status = 405;
			r->allow = "GET, HEAD";
		}
		return;
	}
	if (strcmp(url, "/validate") == 0) {
		r->mode.injection = INJ_NONE;
		r->mode.ambient = false;
		r->route = RT_VALIDATE;
	} else if (strncmp(url, ns_prefix, sizeof(ns_prefix) - 1) == 0) {
		const char *m = url + sizeof(ns_prefix) - 1;
		if (nsmode_parse(m, strlen(m), &r->mode) != 0) {
			r->status = 404;
			return;
		}
		r->route = RT_VALIDATE;
	} else {
		r->status = 404;
		return;
	}
	if (!post) {
		r->status = 405;
		r->allow = "POST";
		return;
	}
	const char *te = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_TRANSFER_ENCODING);
	const char *cl = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	unsigned long long cl_value = 0;
	bool have_cl = false;
	if (!te && cl) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(cl, &end, 10);
		if (errno == 0 && end != cl && *end == '\0') {
			if (v > S.cfg->max_body) {
				r->status = 413;
				fmt_buf(r->reason, sizeof(r->reason),
					"request body of %llu bytes is over the limit of %zu", v,
					S.cfg->max_body);
				return;
			}
			cl_value = v;
			have_cl = true;
		}
	}
	const char *ct = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_TYPE);
	unsigned n_ct = 0;
	MHD_get_connection_values(connection, MHD_HEADER_KIND, count_content_type, &n_ct);
	if (n_ct != 1 || !content_type_json(ct)) {
		r->status = 415;
		fmt_buf(r->reason, sizeof(r->reason), "%s",
			n_ct > 1 ? "one Content-Type header, application/json, expected"
				 : "Content-Type must be application/json");
		return;
	}
	/* one allocation, sized from Content-Length (buf_add then never reallocates) */
	if (have_cl) {
		r->body.data = xmalloc((size_t)cl_value + 1);
		if (!r->body.data) {
			r->status = 500;
			fmt_buf(r->reason, sizeof(r->reason), "out of memory");
			return;
		}
		r->body.cap = (size_t)cl_value + 1;
		r->body.data[0] = '\0';
	}
}

static enum MHD_Result serve_probe(struct MHD_Connection *connection, struct req *r, bool ready)
{
	if (!ready)
		return respond_text(connection, r, 200, "ok\n");
	const char *why = NULL;
	struct policy *p = policy_current_ref();
	if (!p)
		why = "no policy loaded";
	else
		policy_unref(p);
	if (!why && atomic_load(&S.cert_expired))
		why = "TLS certificate expired";
	if (!why && !atomic_load(&S.pair))
		why = "no TLS certificate";
	if (!why && atomic_load(&S.draining))
		why = "shutting down";
	if (why) {
		char msg[96];
		fmt_buf(msg, sizeof(msg), "not ready: %s\n", why);
		metrics_http_error(503);
		return respond_text(connection, r, 503, msg);
	}
	return respond_text(connection, r, 200, "ok\n");
}

static enum MHD_Result serve_review(struct MHD_Connection *connection, struct req *r,
				    const char *method)
{
	struct policy *pol = policy_current_ref();
	if (!pol)
		return respond_error(connection, r, 503, "no policy loaded", NULL, method);
	if (!buf_reserve(&r->body, 0)) {
		policy_unref(pol);
		return respond_error(connection, r, 500, "out of memory", NULL, method);
	}
	r->body.data[r->body.len] = '\0';
	struct buf out;
	buf_init(&out, (size_t)1 << 20);
	struct review_result res;
	memset(&res, 0, sizeof(res));
	review_handle(pol, r->body.data, r->body.len, r->mode, S.own_ns, &out, &res);
	policy_unref(pol);
	uint64_t latency = now_us() - r->start_us;
	if (res.http_status != 200 || out.failed) {
		buf_release(&out);
		int st = res.http_status == 200 ? 500 : res.http_status;
		const char *why = res.error[0] ? res.error : "internal error";
		return respond_error(connection, r, st == 400 ? 400 : st, why, NULL, method);
	}
	metrics_review(res.kind, res.operation, res.allowed, res.rule_counts, latency);
	log_review(&res, r->path, latency);
	size_t len;
	char *d = buf_steal(&out, &len);
	if (!d)
		d = xstrdup("");
	return respond(connection, r, 200, "application/json", d, len, NULL);
}

/* Worker: the TLS listener's access handler. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **req_cls)
{
	(void)cls;
	(void)version;
	struct req *r = *req_cls;
	if (!r) {
		r = xcalloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		*req_cls = r;
		r->start_us = now_us();
		r->conn = conn_of(connection);
		buf_init(&r->body, S.cfg->max_body);
		fmt_buf(r->path, sizeof(r->path), "%s", url);
		if (S.trust_pem && !peer_check(connection, r->conn, r->reason, sizeof(r->reason))) {
			/* answered at once: the connection closes after it */
			return respond_error(connection, r, 403, r->reason, NULL, method);
		}
		route_request(connection, r, url, method);
		if (r->status == 413)
			return respond_error(connection, r, 413, r->reason, NULL, method);
		if (r->status || r->route != RT_VALIDATE)
			r->discard = true;
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		r->received += n;
		uint64_t dl = S.cfg->request_timeout_s ? (uint64_t)S.cfg->request_timeout_s * 1000000u
						       : 0;
		struct conn *c = r->conn;
		if (dl && c && now_us() > atomic_load(&c->since_us) + dl) {
			metrics_request_timeout();
			log_warn("request body too slow, connection closed");
			return MHD_NO;
		}
		if (r->discard) {
			/* a refused body is drained to keep the connection, up to a point */
			if (r->received > 4 * (uint64_t)S.cfg->max_body + 65536)
				return MHD_NO;
			return MHD_YES;
		}
		buf_add(&r->body, upload_data, n);
		if (r->body.failed) {
			r->discard = true;
			buf_release(&r->body);
			if (r->received > S.cfg->max_body) {
				r->status = 413;
				fmt_buf(r->reason, sizeof(r->reason),
					"request body is over the limit of %zu bytes", S.cfg->max_body);
			} else {
				r->status = 500;
				fmt_buf(r->reason, sizeof(r->reason), "out of memory");
			}
		}
		return MHD_YES;
	}
	/* the whole request is in */
	if (r->status) {
		const char *reason = r->reason;
		char tmp[160];
		if (!reason[0]) {
			if (r->status == 404)
				fmt_buf(tmp, sizeof(tmp), "no route for %s", r->path);
			else if (r->status == 405)
				fmt_buf(tmp, sizeof(tmp), "method %s not allowed (allowed: %s)", method,
					r->allow ? r->allow : "");
			else
				fmt_buf(tmp, sizeof(tmp), "request refused");
			reason = tmp;
		}
		return respond_error(connection, r, r->status, reason, r->allow, method);
	}
	switch (r->route) {
	case RT_HEALTHZ:
		return serve_probe(connection, r, false);
	case RT_READYZ:
		return serve_probe(connection, r, true);
	case RT_VALIDATE:
		return serve_review(connection, r, method);
	default:
		return respond_error(connection, r, 404, "no route", NULL, method);
	}
}

/* Worker: a request ended (answered or aborted): free it; the connection is idle again. */
static void on_completed(void *cls, struct MHD_Connection *connection, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)toe;
	struct req *r = *req_cls;
	struct conn *c = r ? r->conn : conn_of(connection);
	conn_set(c, CS_IDLE);
	if (r) {
		buf_release(&r->body);
		xfree(r);
		*req_cls = NULL;
	}
}

/* ---- metrics listener (plain HTTP) ---- */

/* Worker (metrics): a request ended; its context is a static marker. */
static void on_metrics_completed(void *cls, struct MHD_Connection *connection, void **req_cls,
				 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)toe;
	conn_set(conn_of(connection), CS_IDLE);
	*req_cls = NULL;
}

static enum MHD_Result on_metrics_request(void *cls, struct MHD_Connection *connection,
					  const char *url, const char *method, const char *version,
					  const char *upload_data, size_t *upload_data_size,
					  void **req_cls)
{
	(void)cls;
	(void)version;
	(void)upload_data;
	static int first_call_marker;
	if (!*req_cls) {
		*req_cls = &first_call_marker;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0;   /* bodies are ignored */
		return MHD_YES;
	}
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	enum route rt = strcmp(url, "/metrics") == 0   ? RT_METRICS
			: strcmp(url, "/healthz") == 0 ? RT_HEALTHZ
			: strcmp(url, "/readyz") == 0  ? RT_READYZ
						       : RT_NONE;
	if (rt == RT_NONE)
		return respond_text(connection, NULL, 404, "not found\n");
	if (!get) {
		char *d = xstrdup("method not allowed\n");
		if (!d)
			return MHD_NO;
		return respond(connection, NULL, 405, "text/plain; charset=utf-8", d, strlen(d),
			       "GET, HEAD");
	}
	if (rt != RT_METRICS)
		return serve_probe(connection, NULL, rt == RT_READYZ);
	struct buf b;
	buf_init(&b, (size_t)1 << 20);
	metrics_render(&b);
	if (!buf_cstr(&b)) {
		buf_release(&b);
		return MHD_NO;
	}
	size_t len;
	char *d = buf_steal(&b, &len);
	return respond(connection, NULL, 200, "text/plain; version=0.0.4; charset=utf-8", d, len,
		       NULL);
}

/* ---- start-up ---- */

/* libmicrohttpd's own messages (handshake failures, protocol errors) as log lines. */
static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[512];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
#pragma GCC diagnostic pop
	if (n < 0)
		return;
	one_line(msg);
	struct log_line l;
	log_begin(&l, LOG_WARN, "libmicrohttpd");
	log_str(&l, "detail", msg);
	log_emit(&l);
}

/* Bind and listen on "HOST:PORT"; the address actually bound goes to bound. Returns the socket
 * or -1 with a reason. */
static int listen_on(const char *hostport, char *bound, size_t boundlen, char *err, size_t errlen)
{
	char host[256];
	uint16_t port;
	if (server_addr_split(hostport, host, sizeof(host), &port, err, errlen) != 0)
		return -1;
	char portstr[8];
	fmt_buf(portstr, sizeof(portstr), "%u", port);
	struct addrinfo hints, *ai = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	int rc = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &ai);
	if (rc != 0 || !ai) {
		fmt_buf(err, errlen, "%s: %s", hostport, gai_strerror(rc));
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		fmt_buf(err, errlen, "%s: socket: %s", hostport, strerror(errno));
		goto out_free_ai;
	}
	int one = 1, zero = 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
		fmt_buf(err, errlen, "%s: %s", hostport, strerror(errno));
		goto out_close;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char addr[INET6_ADDRSTRLEN] = "?";
	unsigned p = 0;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &s4->sin_addr, addr, sizeof(addr));
			p = ntohs(s4->sin_port);
			fmt_buf(bound, boundlen, "%s:%u", addr, p);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof(addr));
			p = ntohs(s6->sin6_port);
			fmt_buf(bound, boundlen, "[%s]:%u", addr, p);
		}
	}
	freeaddrinfo(ai);
	return fd;
out_close:
	close(fd);
out_free_ai:
	freeaddrinfo(ai);
	return -1;
}

/* Raise the open-files soft limit to the hard limit; returns the soft limit now in force. */
static rlim_t raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t want = rl.rlim_max;
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur;
}

static struct MHD_Daemon *start_tls_daemon(unsigned threads, unsigned limit)
{
	struct MHD_OptionItem extra[4];
	size_t n = 0;
	if (threads > 1)
		extra[n++] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_POOL_SIZE, threads, NULL };
	if (S.trust_pem)
		extra[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_TRUST, 0, S.trust_pem };
	extra[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TLS | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	return MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, NULL,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
		MHD_OPTION_LISTEN_SOCKET, S.tls_fd,
		MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES,
		MHD_OPTION_HTTPS_CERT_CALLBACK, cert_callback,
		MHD_OPTION_CONNECTION_LIMIT, limit,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, 0u,
		MHD_OPTION_CONNECTION_TIMEOUT, S.cfg->idle_timeout_s,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
		MHD_OPTION_ARRAY, extra,
		MHD_OPTION_END);
}

static struct MHD_Daemon *start_metrics_daemon(void)
{
	unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	return MHD_start_daemon(flags, 0, NULL, NULL, on_metrics_request, NULL,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
				MHD_OPTION_LISTEN_SOCKET, S.metrics_fd,
				MHD_OPTION_CONNECTION_LIMIT, 128u,
				MHD_OPTION_CONNECTION_TIMEOUT, 30u,
				MHD_OPTION_NOTIFY_COMPLETED, on_metrics_completed, NULL,
				MHD_OPTION_NOTIFY_CONNECTION, on_connection, &metrics_listener,
				MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
				MHD_OPTION_END);
}

/* ---- the drain ---- */

/* Stop accepting, hand connections already queued in the kernel's backlog to the daemon (so a
 * client that connected just before is answered, not reset), then wait for in-flight requests. */
static void drain_and_stop(void)
{
	int lfd = MHD_quiesce_daemon(S.tls);
	unsigned long s0 = atomic_load(&S.started_total);
	unsigned added = 0;
	if (lfd >= 0) {
		for (;;) {
			struct sockaddr_storage ss;
			socklen_t sl = sizeof(ss);
			int s = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (s < 0) {
				if (errno == EINTR || errno == ECONNABORTED)
					continue;
				break;
			}
			if (MHD_add_connection(S.tls, s, (struct sockaddr *)&ss, sl) == MHD_YES)
				added++;
		}
		close(lfd);
		S.tls_fd = -1;
	}
	log_info("listener closed, finishing in-flight requests");
	uint64_t start = now_us();
	uint64_t limit = ((uint64_t)S.cfg->request_timeout_s + 2) * 1000000u;
	while (now_us() - start < 1000000u && atomic_load(&S.started_total) - s0 < added)
		usleep(5000);
	unsigned busy;
	while ((busy = conns_busy()) > 0 && now_us() - start < limit) {
		watchdog();
		usleep(10000);
	}
	if (busy)
		log_warn("%u requests still in flight at stop", busy);
	MHD_stop_daemon(S.tls);
	S.tls = NULL;
}

/* ---- run ---- */

static void free_all(void)
{
	if (S.metrics)
		MHD_stop_daemon(S.metrics);
	S.metrics = NULL;
	if (S.tls)
		MHD_stop_daemon(S.tls);
	S.tls = NULL;
	if (S.tls_fd >= 0)
		close(S.tls_fd);
	if (S.metrics_fd >= 0)
		close(S.metrics_fd);
	S.tls_fd = S.metrics_fd = -1;
	tls_pair_free(atomic_exchange(&S.pair, NULL));
	while (S.retired) {
		struct tls_pair *p = S.retired;
		S.retired = p->next;
		tls_pair_free(p);
	}
	if (S.policy)
		policy_unref(S.policy);
	S.policy = NULL;
	xfree(S.policy_seen);
	S.policy_seen = NULL;
	xfree(S.trust_pem);
	S.trust_pem = NULL;
}

int server_run(const struct server_config *cfg)
{
	S.cfg = cfg;
	S.own_ns = cfg->own_namespace && cfg->own_namespace[0] ? sv_cstr(cfg->own_namespace)
								: sv_null;
	char err[512];
	int status = 2;

	/* Signals: blocked in every thread (the daemons' threads inherit the mask) and read from a
	 * signalfd by this thread only. */
	signal(SIGPIPE, SIG_IGN);
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	if (pthread_sigmask(SIG_BLOCK, &sigs, NULL) != 0) {
		log_error("cannot block signals");
		return 2;
	}
	int sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		log_error("signalfd: %s", strerror(errno));
		return 2;
	}

	if (cert_poll(true) != 0)
		goto out_free;
	if (cfg->client_ca) {
		size_t n;
		S.trust_pem = slurp(cfg->client_ca, PEM_MAX, &n, err, sizeof(err));
		if (!S.trust_pem) {
			log_error("cannot read --client-ca: %s", err);
			goto out_free;
		}
		gnutls_x509_crt_t *cas = NULL;
		unsigned ncas = 0;
		gnutls_datum_t d = { (unsigned char *)S.trust_pem, (unsigned)n };
		int rc = gnutls_x509_crt_list_import2(&cas, &ncas, &d, GNUTLS_X509_FMT_PEM, 0);
		if (rc < 0 || ncas == 0) {
			log_error("--client-ca %s: no usable certificate (%s)", cfg->client_ca,
				  rc < 0 ? gnutls_strerror(rc) : "empty");
			goto out_free;
		}
		for (unsigned i = 0; i < ncas; i++)
			gnutls_x509_crt_deinit(cas[i]);
		gnutls_free(cas);
	}
	if (cfg->policy_path) {
		if (policy_poll(true, false) != 0)
			goto out_free;
	} else {
		struct policy *p = policy_defaults_new();
		if (!p) {
			log_error("out of memory loading the built-in policy");
			goto out_free;
		}
		policy_swap(p);
	}

	char tls_addr[96] = "?", metrics_addr[96] = "off";
	S.tls_fd = listen_on(cfg->listen, tls_addr, sizeof(tls_addr), err, sizeof(err));
	if (S.tls_fd < 0) {
		log_error("cannot listen on --listen %s", err);
		goto out_free;
	}
	if (cfg->metrics_listen) {
		S.metrics_fd = listen_on(cfg->metrics_listen, metrics_addr, sizeof(metrics_addr), err,
					 sizeof(err));
		if (S.metrics_fd < 0) {
			log_error("cannot listen on --metrics-listen %s", err);
			goto out_free;
		}
	}

	rlim_t nofile = raise_nofile();
	unsigned limit = cfg->connection_limit;
	if (nofile < (rlim_t)limit + 64) {
		limit = nofile > 128 ? (unsigned)(nofile - 64) : 64;
		log_warn("open-files limit %llu: connection limit lowered to %u",
			 (unsigned long long)nofile, limit);
	}
	unsigned threads = cfg->threads;
	if (!threads) {
		long nc = sysconf(_SC_NPROCESSORS_ONLN);
		threads = nc > 0 ? (unsigned)nc : 1;
	}
	if (threads > 256)
		threads = 256;

	S.tls = start_tls_daemon(threads, limit);
	if (!S.tls) {
		log_error("cannot start the TLS listener on %s", tls_addr);
		goto out_free;
	}
	if (S.metrics_fd >= 0) {
		S.metrics = start_metrics_daemon();
		if (!S.metrics) {
			log_error("cannot start the metrics listener on %s", metrics_addr);
			goto out_free;
		}
	}

	{
		struct policy *p = policy_current_ref();
		struct tls_pair *pair = atomic_load(&S.pair);
		char exp[40];
		log_format_time(exp, sizeof(exp), pair->not_after);
		struct log_line l;
		log_begin(&l, LOG_INFO, "serving");
		log_str(&l, "listen", tls_addr);
		log_str(&l, "metrics", metrics_addr);
		log_str(&l, "policy", p && p->source ? p->source : (cfg->policy_path ? cfg->policy_path
										    : "built-in defaults"));
		log_str(&l, "cert", cfg->tls_cert);
		log_str(&l, "certNotAfter", exp);
		log_str(&l, "clientCA", cfg->client_ca);
		log_str(&l, "namespace", cfg->own_namespace);
		log_uint(&l, "threads", threads);
		log_uint(&l, "connectionLimit", limit);
		log_uint(&l, "maxBodyBytes", cfg->max_body);
		log_uint(&l, "requestTimeoutSeconds", cfg->request_timeout_s);
		log_uint(&l, "idleTimeoutSeconds", cfg->idle_timeout_s);
		log_str(&l, "version", POSTURE_VERSION);
		log_str(&l, "libmicrohttpd", MHD_get_version());
		log_str(&l, "gnutls", gnutls_check_version(NULL));
		log_emit(&l);
		if (p)
			policy_unref(p);
	}

	uint64_t last_poll = now_us(), drain_at = 0;
	for (;;) {
		struct pollfd pfd = { sfd, POLLIN, 0 };
		int pr = poll(&pfd, 1, TICK_MS);
		bool hup = false;
		if (pr > 0) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				if (si.ssi_signo == SIGHUP) {
					hup = true;
				} else if (!atomic_load(&S.draining)) {
					atomic_store(&S.draining, true);
					drain_at = now_us() + (uint64_t)(cfg->shutdown_delay_s * 1e6);
					struct log_line l;
					log_begin(&l, LOG_INFO, "%s: draining",
						  si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
					log_strf(&l, "shutdownDelaySeconds", "%g", cfg->shutdown_delay_s);
					log_emit(&l);
				} else {
					log_info("second signal: stopping now");
					drain_at = now_us();
				}
			}
		}
		watchdog();
		uint64_t now = now_us();
		if (hup) {
			log_info("SIGHUP: reloading the policy and the certificate");
			policy_poll(false, true);
			cert_poll(false);
			last_poll = now;
		} else if (now - last_poll >= (uint64_t)cfg->poll_ms * 1000u) {
			policy_poll(false, false);
			cert_poll(false);
			last_poll = now;
		}
		cert_check_expiry();
		pairs_collect();
		if (atomic_load(&S.draining) && now >= drain_at)
			break;
	}
	drain_and_stop();
	status = 0;
	log_info("stopped");
out_free:
	free_all();
	close(sfd);
	return status;
}
