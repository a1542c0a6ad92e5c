/* mhd_ceiling.c - the ceiling of posture's own stack: libmicrohttpd over GnuTLS, with the daemon
 * options posture serve uses, reading each request's whole body and answering a fixed response
 * without parsing anything.
 *
 * usage: mhd_ceiling --port PORT --cert FILE --key FILE --response FILE [--threads N]
 * Binds 127.0.0.1:PORT, prints "ready" on stdout once listening, runs until SIGTERM or SIGINT. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Must match webhook/server.c (TLS_PRIORITIES, start_tls_daemon): what posture serve runs with. */
#define TLS_PRIORITIES                                                                          \
	"SECURE256:+SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-RSA:-DHE-RSA:-AES-128-CBC:"   \
	"-AES-256-CBC:-CAMELLIA-128-CBC:-CAMELLIA-256-CBC:-3DES-CBC:-ARCFOUR-128:-SHA1:"        \
	"%SAFE_RENEGOTIATION"
#define BODY_MAX ((size_t)8 << 20)   /* posture's default body limit */
#define IDLE_TIMEOUT_S 120u
#define CONNECTION_LIMIT 4096u

static char *response_body;
static size_t response_len;

/* One request's body, accumulated as posture does (one buffer, sized from Content-Length). */
struct body {
	char *data;
	size_t len, cap;
	bool too_big;
};

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "mhd_ceiling: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);
	size_t got;
	while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			char *bigger = realloc(buf, cap * 2 + 1);
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
	if (!buf) {
		fprintf(stderr, "mhd_ceiling: %s: out of memory\n", path);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > max)
		return false;
	*out = v;
	return true;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_size, void **req_cls)
{
	(void)cls;
	(void)url;
	(void)version;
	struct body *b = *req_cls;
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b)
			return MHD_NO;
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
		unsigned long want;
		if (cl && parse_uint(cl, BODY_MAX, &want) && want > 0) {
			b->data = malloc(want + 1);
			b->cap = b->data ? want : 0;
		}
		*req_cls = b;
		return MHD_YES;
	}
	if (*upload_size) {
		size_t n = *upload_size;
		if (b->len + n > BODY_MAX) {
			b->too_big = true;
		} else if (!b->too_big) {
			if (b->len + n > b->cap) {
				size_t cap = b->cap ? b->cap * 2 : 16384;
				while (cap < b->len + n)
					cap *= 2;
				char *bigger = realloc(b->data, cap + 1);
				if (!bigger)
					return MHD_NO;
				b->data = bigger;
				b->cap = cap;
			}
			memcpy(b->data + b->len, upload_data, n);
			b->len += n;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	unsigned status = MHD_HTTP_OK;
	if (strcmp(method, "POST") != 0)
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
	else if (b->too_big)
		status = MHD_HTTP_CONTENT_TOO_LARGE;
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		response_len, response_body, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	enum MHD_Result r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

static void completed(void *cls, struct MHD_Connection *conn, void **req_cls,
		      enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	struct body *b = *req_cls;
	if (b) {
		free(b->data);
		free(b);
		*req_cls = NULL;
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: mhd_ceiling --port PORT --cert FILE --key FILE --response FILE "
			"[--threads N]\n");
}

int main(int argc, char **argv)
{
	const char *cert_file = NULL, *key_file = NULL, *resp_file = NULL;
	unsigned long port = 0, threads = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (i + 1 >= argc) {
			usage();
			return 2;
		}
		const char *v = argv[++i];
		if (strcmp(a, "--port") == 0 && parse_uint(v, 65535, &port))
			continue;
		if (strcmp(a, "--threads") == 0 && parse_uint(v, 256, &threads))
			continue;
		if (strcmp(a, "--cert") == 0)
			cert_file = v;
		else if (strcmp(a, "--key") == 0)
			key_file = v;
		else if (strcmp(a, "--response") == 0)
			resp_file = v;
		else {
			usage();
			return 2;
		}
	}
	if (!port || !cert_file || !key_file || !resp_file) {
		usage();
		return 2;
	}
	if (!threads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (unsigned long)n : 1;
	}
	size_t cert_len, key_len;
	char *cert = read_file(cert_file, &cert_len);
	char *key = read_file(key_file, &key_len);
	response_body = read_file(resp_file, &response_len);
	if (!cert || !key || !response_body)
		return 1;

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);   /* the daemon's threads inherit the mask */

	struct MHD_OptionItem extra[2] = {
		{ MHD_OPTION_END, 0, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};
	if (threads > 1)
		extra[0] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)threads, NULL };
	struct sockaddr_in addr;
	memset(&addr, 0, sizeof addr);
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TLS | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	struct MHD_Daemon *d = MHD_start_daemon(
		flags, (uint16_t)port, NULL, NULL, answer, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
		MHD_OPTION_HTTPS_MEM_CERT, cert,
		MHD_OPTION_HTTPS_MEM_KEY, key,
		MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES,
		MHD_OPTION_CONNECTION_LIMIT, CONNECTION_LIMIT,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, 0u,
		MHD_OPTION_CONNECTION_TIMEOUT, IDLE_TIMEOUT_S,
		MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
		MHD_OPTION_ARRAY, extra,
		MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "mhd_ceiling: cannot start the daemon on 127.0.0.1:%lu\n", port);
		return 1;
	}
	printf("ready 127.0.0.1:%lu threads=%lu\n", port, threads);
	fflush(stdout);
	int sig = 0;
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	free(cert);
	free(key);
	free(response_body);
	return 0;
}
