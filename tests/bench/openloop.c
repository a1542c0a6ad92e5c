/* openloop.c - an open-loop HTTPS load client (GnuTLS): sends requests on a fixed schedule and
 * measures each latency from its scheduled send time, so a stalled server cannot hide its stall
 * (no coordinated omission).
 *
 * usage: openloop --port PORT --body FILE [--host 127.0.0.1] [--path /validate/namespace/sidecar]
 *                 [--rate 1000] [--duration 10] [--conns 4] [--warmup 1] [--cafile FILE]
 *                 [--servername NAME] [--late-us 1000] [--drain 5] [--over-us U]
 *
 * Request i is due at start + i/rate. Due requests wait in one FIFO; an idle keep-alive connection
 * takes the oldest (HTTP/1.1, one request in flight per connection). When every connection is busy,
 * requests queue and their wait counts in their latency, as it would for a client that needs the
 * answer. Two latencies are kept per request: from the scheduled time (the one that matters) and
 * from the actual send (what a closed-loop tool such as wrk reports; printed for comparison). All
 * samples are kept and sorted (rate x duration is small), so the percentiles are exact.
 *
 * Output: a human summary on stderr and one line on stdout:
 *   OPENLOOP_RESULT {"sent":N,"ok":N,"errors":N,...,"p50_us":X,...}
 * Exit status 0 when the run completed (errors are counted, not fatal), 2 on a usage error, 1 when
 * no connection could be made. */
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 256
#define MAX_REQUESTS 20000000u
#define HDR_MAX 16384
#define RBUF 65536

enum cstate { C_DEAD = 0, C_IDLE, C_SENDING, C_RECEIVING };

struct conn {
	int fd;
	gnutls_session_t tls;
	enum cstate state;
	uint32_t req;            /* index of the request in flight */
	size_t sent;             /* bytes of the request written */
	char hdr[HDR_MAX];       /* response head collected so far */
	size_t hdr_len;
	bool in_body;
	long status;
	uint64_t body_left;
	bool close_after;
};

struct opts {
	const char *host, *port, *path, *body_file, *cafile, *servername;
	double rate, duration, warmup, drain;
	unsigned conns;
	uint64_t late_ns;
	uint64_t over_ns;   /* count the requests slower than this (0: off) */
};

static struct opts O = {
	.host = "127.0.0.1", .path = "/validate/namespace/sidecar", .rate = 1000, .duration = 10,
	.warmup = 1, .drain = 5, .conns = 4, .late_ns = 1000000,
};

static gnutls_certificate_credentials_t creds;
static char *request;
static size_t request_len;

/* per request: when it was due, sent, answered (ns since start; answered 0 = not yet) */
static uint64_t *t_due, *t_sent, *t_done;
static uint32_t n_total;
static uint64_t t_start;   /* CLOCK_MONOTONIC ns of request 0's due time */

static struct {
	uint64_t ok, status_err, conn_err, reconnects, late, unfinished, queued_max;
	uint64_t max_send_lag;
} st;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		return false;
	*out = v;
	return true;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "openloop: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	size_t cap = 65536, n = 0, got;
	char *buf = malloc(cap);
	while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			char *bigger = realloc(buf, cap * 2);
			if (!bigger) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = bigger;
			cap *= 2;
		}
	}
	fclose(f);
	if (!buf)
		fprintf(stderr, "openloop: %s: out of memory\n", path);
	*len = n;
	return buf;
}

/* ---- connections ---- */

static void conn_close(struct conn *c)
{
	if (c->tls) {
		gnutls_deinit(c->tls);
		c->tls = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = C_DEAD;
}

/* Connect and handshake (blocking, then switch to non-blocking). 0 or -1 (reason on stderr). */
static int conn_open(struct conn *c)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai;
	int rc = getaddrinfo(O.host, O.port, &hints, &ai);
	if (rc) {
		fprintf(stderr, "openloop: %s:%s: %s\n", O.host, O.port, gai_strerror(rc));
		return -1;
	}
	c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		fprintf(stderr, "openloop: connect %s:%s: %s\n", O.host, O.port, strerror(errno));
		freeaddrinfo(ai);
		conn_close(c);
		return -1;
	}
	freeaddrinfo(ai);
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (gnutls_init(&c->tls, GNUTLS_CLIENT) < 0) {
		conn_close(c);
		return -1;
	}
	gnutls_set_default_priority(c->tls);
	gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, creds);
	if (O.servername)
		gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, O.servername, strlen(O.servername));
	if (O.cafile)
		gnutls_session_set_verify_cert(c->tls, O.servername ? O.servername : O.host, 0);
	gnutls_transport_set_int(c->tls, c->fd);
	gnutls_handshake_set_timeout(c->tls, 5000);
	do
		rc = gnutls_handshake(c->tls);
	while (rc < 0 && !gnutls_error_is_fatal(rc));
	if (rc < 0) {
		fprintf(stderr, "openloop: TLS handshake with %s:%s: %s\n", O.host, O.port,
			gnutls_strerror(rc));
		conn_close(c);
		return -1;
	}
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	c->state = C_IDLE;
	return 0;
}

static void conn_fail(struct conn *c)
{
	if (c->state == C_SENDING || c->state == C_RECEIVING)
		st.conn_err++;
	conn_close(c);
	st.reconnects++;
	conn_open(c);   /* on failure the connection stays dead; the next loop retries */
}

/* Write as much of the request as the socket takes. */
static void conn_send(struct conn *c)
{
	while (c->sent < request_len) {
		ssize_t n = gnutls_record_send(c->tls, request + c->sent, request_len - c->sent);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			return;
		if (n < 0) {
			conn_fail(c);
			return;
		}
		c->sent += (size_t)n;
	}
	c->state = C_RECEIVING;
	c->hdr_len = 0;
	c->in_body = false;
}

/* The head is complete in c->hdr[0..end): status, Content-Length, Connection. 0 or -1. */
static int parse_head(struct conn *c, size_t end)
{
	c->hdr[end - 1] = '\0';
	if (strncmp(c->hdr, "HTTP/1.", 7) != 0 || end < 12)
		return -1;
	char *sp = strchr(c->hdr, ' ');
	if (!sp)
		return -1;
	c->status = strtol(sp + 1, NULL, 10);
	bool have_len = false;
	c->close_after = strncmp(c->hdr, "HTTP/1.0", 8) == 0;
	for (char *line = strstr(c->hdr, "\r\n"); line; line = strstr(line, "\r\n")) {
		line += 2;
		if (strncasecmp(line, "Content-Length:", 15) == 0) {
			char *e;
			errno = 0;
			unsigned long long v = strtoull(line + 15, &e, 10);
			if (errno)
				return -1;
			c->body_left = v;
			have_len = true;
		} else if (strncasecmp(line, "Connection:", 11) == 0) {
			const char *v = line + 11;
			while (*v == ' ')
				v++;
			if (strncasecmp(v, "close", 5) == 0)
				c->close_after = true;
		} else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0) {
			return -1;   /* not needed by any server benchmarked here */
		}
	}
	return have_len ? 0 : -1;
}

static void request_done(struct conn *c, uint64_t t)
{
	t_done[c->req] = t;
	if (c->status == 200)
		st.ok++;
	else
		st.status_err++;
	c->state = C_IDLE;
	if (c->close_after) {
		conn_close(c);
		st.reconnects++;
		conn_open(c);
	}
}

/* Read what is there; finish the response when complete. */
static void conn_recv(struct conn *c)
{
	char buf[RBUF];
	for (;;) {
		ssize_t n = gnutls_record_recv(c->tls, buf, sizeof buf);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			return;
		if (n <= 0) {
			conn_fail(c);
			return;
		}
		size_t off = 0, len = (size_t)n;
		if (!c->in_body) {
			size_t room = sizeof c->hdr - c->hdr_len;
			size_t take = len < room ? len : room;
			memcpy(c->hdr + c->hdr_len, buf, take);
			size_t from = c->hdr_len > 3 ? c->hdr_len - 3 : 0;
			c->hdr_len += take;
			char *e = memmem(c->hdr + from, c->hdr_len - from, "\r\n\r\n", 4);
			if (!e) {
				if (c->hdr_len == sizeof c->hdr)
					conn_fail(c);
				continue;
			}
			size_t head = (size_t)(e - c->hdr) + 4;
			if (parse_head(c, head) < 0) {
				conn_fail(c);
				return;
			}
			c->in_body = true;
			off = head - (c->hdr_len - take);   /* body bytes begin here in buf */
		}
		uint64_t got = len - off;
		if (got > c->body_left) {   /* extra bytes: a response we did not ask for */
			conn_fail(c);
			return;
		}
		c->body_left -= got;
		if (c->body_left == 0) {
			request_done(c, now_ns() - t_start);
			return;
		}
	}
}

/* ---- the run ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* nearest-rank percentile of sorted v[0..n) */
static double pct(const uint64_t *v, size_t n, double p)
{
	if (!n)
		return 0;
	double rank = p / 100.0 * (double)n;
	size_t i = (size_t)rank;
	if ((double)i < rank)
		i++;
	if (i == 0)
		i = 1;
	if (i > n)
		i = n;
	return (double)v[i - 1] / 1000.0;
}

static void run(uint64_t start, uint32_t first_measured, struct conn *conns)
{
	uint32_t next = 0;   /* next request to send (all before it were sent) */
	uint64_t end_sched = t_due[n_total - 1];
	uint64_t deadline = start + end_sched + (uint64_t)(O.drain * 1e9);
	struct pollfd pfd[MAX_CONNS];
	int idx[MAX_CONNS];
	uint64_t outstanding = 0;
	for (;;) {
		uint64_t t = now_ns() - start;
		/* hand due requests to idle connections, oldest first */
		for (unsigned k = 0; k < O.conns && next < n_total && t_due[next] <= t; k++) {
			struct conn *c = &conns[k];
			if (c->state == C_DEAD && t_due[next] + 1000000u <= t)
				conn_open(c);   /* rare: a connection failed earlier */
			if (c->state != C_IDLE)
				continue;
			c->req = next++;
			c->sent = 0;
			c->state = C_SENDING;
			t_sent[c->req] = t;
			uint64_t lag = t - t_due[c->req];
			if (c->req >= first_measured) {
				if (lag > st.max_send_lag)
					st.max_send_lag = lag;
				if (lag > O.late_ns)
					st.late++;
			}
			conn_send(c);
			k = (unsigned)-1;   /* rescan from the first connection */
			t = now_ns() - start;
		}
		uint64_t queued = 0;
		for (uint32_t i = next; i < n_total && t_due[i] <= t; i++)
			queued++;
		if (queued > st.queued_max)
			st.queued_max = queued;
		outstanding = n_total - next;
		unsigned busy = 0, idle = 0;
		for (unsigned k = 0; k < O.conns; k++) {
			busy += conns[k].state == C_SENDING || conns[k].state == C_RECEIVING;
			idle += conns[k].state == C_IDLE;
		}
		if (outstanding == 0 && busy == 0)
			break;
		if (start + t >= deadline)
			break;
		/* records GnuTLS already decrypted do not wake poll */
		bool pending = false;
		for (unsigned k = 0; k < O.conns; k++)
			if (conns[k].state == C_RECEIVING && gnutls_record_check_pending(conns[k].tls)) {
				conn_recv(&conns[k]);
				pending = true;
			}
		if (pending)
			continue;
		int n = 0;
		for (unsigned k = 0; k < O.conns; k++) {
			struct conn *c = &conns[k];
			if (c->state != C_SENDING && c->state != C_RECEIVING)
				continue;
			short ev = POLLIN;
			if (c->state == C_SENDING)
				ev = gnutls_record_get_direction(c->tls) ? POLLOUT : POLLIN;
			pfd[n] = (struct pollfd){ .fd = c->fd, .events = ev };
			idx[n++] = (int)k;
		}
		uint64_t wait = 10000000;   /* 10 ms at most, to check the deadline */
		if (next < n_total && idle > 0)
			wait = t_due[next] > t ? t_due[next] - t : 0;
		struct timespec ts = { (time_t)(wait / 1000000000u), (long)(wait % 1000000000u) };
		int r = ppoll(pfd, (nfds_t)n, &ts, NULL);
		if (r < 0 && errno != EINTR) {
			perror("openloop: ppoll");
			break;
		}
		for (int i = 0; r > 0 && i < n; i++) {
			if (!pfd[i].revents)
				continue;
			struct conn *c = &conns[idx[i]];
			if (c->state == C_SENDING)
				conn_send(c);
			if (c->state == C_RECEIVING)
				conn_recv(c);
		}
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: openloop --port PORT --body FILE [--host H] [--path P] [--rate R] [--duration S]\n"
		"                [--conns N] [--warmup S] [--cafile F] [--servername N] [--late-us U]\n"
		"                [--drain S] [--over-us U]\n");
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage();
			return 0;
		}
		if (i + 1 >= argc) {
			usage();
			return 2;
		}
		const char *v = argv[++i];
		double d;
		bool ok = true;
		if (strcmp(a, "--host") == 0)
			O.host = v;
		else if (strcmp(a, "--port") == 0)
			O.port = v;
		else if (strcmp(a, "--path") == 0)
			O.path = v;
		else if (strcmp(a, "--body") == 0)
			O.body_file = v;
		else if (strcmp(a, "--cafile") == 0)
			O.cafile = v;
		else if (strcmp(a, "--servername") == 0)
			O.servername = v;
		else if (strcmp(a, "--rate") == 0)
			ok = parse_double(v, 1, 1e6, &O.rate);
		else if (strcmp(a, "--duration") == 0)
			ok = parse_double(v, 0.1, 3600, &O.duration);
		else if (strcmp(a, "--warmup") == 0)
			ok = parse_double(v, 0, 600, &O.warmup);
		else if (strcmp(a, "--drain") == 0)
			ok = parse_double(v, 0.1, 600, &O.drain);
		else if (strcmp(a, "--conns") == 0 && parse_double(v, 1, MAX_CONNS, &d))
			O.conns = (unsigned)d;
		else if (strcmp(a, "--late-us") == 0 && parse_double(v, 1, 1e9, &d))
			O.late_ns = (uint64_t)(d * 1000);
		else if (strcmp(a, "--over-us") == 0 && parse_double(v, 1, 1e9, &d))
			O.over_ns = (uint64_t)(d * 1000);
		else
			ok = false;
		if (!ok) {
			fprintf(stderr, "openloop: bad value for %s: %s\n", a, v);
			usage();
			return 2;
		}
	}
	if (!O.port || !O.body_file) {
		usage();
		return 2;
	}
	double total = O.rate * (O.duration + O.warmup);
	if (total > MAX_REQUESTS || total < 1) {
		fprintf(stderr, "openloop: rate x (duration + warmup) must be 1..%u requests\n", MAX_REQUESTS);
		return 2;
	}
	n_total = (uint32_t)total;
	uint32_t first_measured = (uint32_t)(O.rate * O.warmup);
	if (first_measured >= n_total)
		first_measured = 0;

	size_t body_len;
	char *body = read_file(O.body_file, &body_len);
	if (!body)
		return 2;
	char head[512];
	int hn = snprintf(head, sizeof head,
			  "POST %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: application/json\r\n"
			  "Accept: application/json, */*\r\nContent-Length: %zu\r\n\r\n",
			  O.path, O.servername ? O.servername : O.host, O.port, body_len);
	if (hn < 0 || (size_t)hn >= sizeof head) {
		fprintf(stderr, "openloop: --path too long\n");
		return 2;
	}
	request_len = (size_t)hn + body_len;
	request = malloc(request_len);
	t_due = calloc(n_total, sizeof *t_due);
	t_sent = calloc(n_total, sizeof *t_sent);
	t_done = calloc(n_total, sizeof *t_done);
	if (!request || !t_due || !t_sent || !t_done) {
		fprintf(stderr, "openloop: out of memory\n");
		return 1;
	}
	memcpy(request, head, (size_t)hn);
	memcpy(request + hn, body, body_len);
	free(body);

	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);   /* wake up on schedule, not up to 50 us late */
	gnutls_global_init();
	gnutls_certificate_allocate_credentials(&creds);
	if (O.cafile && gnutls_certificate_set_x509_trust_file(creds, O.cafile, GNUTLS_X509_FMT_PEM) <= 0) {
		fprintf(stderr, "openloop: %s: no CA certificate read\n", O.cafile);
		return 2;
	}
	static struct conn conns[MAX_CONNS];
	for (unsigned k = 0; k < O.conns; k++) {
		conns[k].fd = -1;
		if (conn_open(&conns[k]) < 0)
			return 1;
	}
	for (uint32_t i = 0; i < n_total; i++)
		t_due[i] = (uint64_t)((double)i * 1e9 / O.rate);

	t_start = now_ns() + 1000000;   /* 1 ms from now */
	while (now_ns() < t_start)
		;
	run(t_start, first_measured, conns);

	/* collect the measured requests (after warm-up) */
	uint32_t n_meas = n_total - first_measured;
	uint64_t *lat = malloc(n_meas * sizeof *lat), *svc = malloc(n_meas * sizeof *svc);
	if (!lat || !svc) {
		fprintf(stderr, "openloop: out of memory\n");
		return 1;
	}
	size_t n_ok = 0;
	for (uint32_t i = first_measured; i < n_total; i++) {
		if (!t_done[i]) {
			st.unfinished++;
			continue;
		}
		lat[n_ok] = t_done[i] - t_due[i];
		svc[n_ok] = t_done[i] - t_sent[i];
		n_ok++;
	}
	qsort(lat, n_ok, sizeof *lat, cmp_u64);
	qsort(svc, n_ok, sizeof *svc, cmp_u64);
	double sum = 0;
	size_t over = 0, svc_over = 0;
	for (size_t i = 0; i < n_ok; i++) {
		sum += (double)lat[i];
		over += O.over_ns && lat[i] > O.over_ns;
		svc_over += O.over_ns && svc[i] > O.over_ns;
	}
	/* a request lost with its connection is unanswered: counted once, there */
	uint64_t errors = st.status_err + st.unfinished;
	double achieved = n_ok / O.duration;
	fprintf(stderr,
		"openloop: %u requests at %.0f/s over %.1f s (+%.1f s warm-up), %u conns: %zu answered, "
		"%llu errors (status %llu, connection %llu, unanswered %llu)\n"
		"  latency from schedule: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f us\n"
		"  latency from send    : p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f us\n"
		"  late sends (> %.0f us after schedule): %llu, max send lag %.1f us, max queue %llu\n",
		n_meas, O.rate, O.duration, O.warmup, O.conns, n_ok, (unsigned long long)errors,
		(unsigned long long)st.status_err, (unsigned long long)st.conn_err,
		(unsigned long long)st.unfinished, pct(lat, n_ok, 50), pct(lat, n_ok, 90),
		pct(lat, n_ok, 99), pct(lat, n_ok, 99.9), pct(lat, n_ok, 100), pct(svc, n_ok, 50),
		pct(svc, n_ok, 90), pct(svc, n_ok, 99), pct(svc, n_ok, 99.9), pct(svc, n_ok, 100),
		(double)O.late_ns / 1000.0, (unsigned long long)st.late, (double)st.max_send_lag / 1000.0,
		(unsigned long long)st.queued_max);
	if (O.over_ns)
		fprintf(stderr, "  slower than %.0f us: %zu from schedule, %zu from send\n",
			(double)O.over_ns / 1000.0, over, svc_over);
	printf("OPENLOOP_RESULT {\"rate\":%.1f,\"duration_s\":%.3f,\"conns\":%u,\"scheduled\":%u,"
	       "\"answered\":%zu,\"achieved_rps\":%.1f,\"ok_total\":%llu,\"errors\":%llu,"
	       "\"status_errors\":%llu,\"conn_errors\":%llu,\"unanswered\":%llu,\"reconnects\":%llu,"
	       "\"late_sends\":%llu,\"late_us\":%.0f,\"max_send_lag_us\":%.1f,\"max_queue\":%llu,"
	       "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,"
	       "\"mean_us\":%.1f,\"svc_p50_us\":%.1f,\"svc_p90_us\":%.1f,\"svc_p99_us\":%.1f,"
	       "\"svc_p999_us\":%.1f,\"svc_max_us\":%.1f,\"over_us\":%.0f,\"over\":%zu,"
	       "\"svc_over\":%zu}\n",
	       O.rate, O.duration, O.conns, n_meas, n_ok, achieved, (unsigned long long)st.ok,
	       (unsigned long long)errors, (unsigned long long)st.status_err,
	       (unsigned long long)st.conn_err, (unsigned long long)st.unfinished,
	       (unsigned long long)st.reconnects, (unsigned long long)st.late,
	       (double)O.late_ns / 1000.0, (double)st.max_send_lag / 1000.0,
	       (unsigned long long)st.queued_max, pct(lat, n_ok, 50), pct(lat, n_ok, 90),
	       pct(lat, n_ok, 99), pct(lat, n_ok, 99.9), pct(lat, n_ok, 100),
	       n_ok ? sum / (double)n_ok / 1000.0 : 0.0, pct(svc, n_ok, 50), pct(svc, n_ok, 90),
	       pct(svc, n_ok, 99), pct(svc, n_ok, 99.9), pct(svc, n_ok, 100),
	       (double)O.over_ns / 1000.0, over, svc_over);
	for (unsigned k = 0; k < O.conns; k++)
		conn_close(&conns[k]);
	gnutls_certificate_free_credentials(creds);
	gnutls_global_deinit();
	free(lat);
	free(svc);
	free(request);
	free(t_due);
	free(t_sent);
	free(t_done);
	return 0;
}
