/* cli_serve.c - `posture serve`: flags, defaults and file checks, then server_run. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "server.h"

#define DEFAULT_POLICY "/etc/posture/policy/policy.yaml"

static const char serve_usage[] =
	"usage: posture serve [flags]\n"
	"\n"
	"Serve the validating admission webhook over HTTPS (HTTP/1.1, TLS 1.2 and 1.3).\n"
	"\n"
	"Routes (TLS listener):\n"
	"  POST /validate                                  a review; namespace enrolment unknown (none)\n"
	"  POST /validate/namespace/{sidecar,disabled,none}[/ambient]\n"
	"                                                  a review from a namespace so enrolled\n"
	"  GET  /healthz, /readyz                          alive; ready (policy, certificate, not draining)\n"
	"\n"
	"Flags:\n"
	"  --listen HOST:PORT          TLS listener (default 0.0.0.0:8443; port 0 picks a free one)\n"
	"  --tls-cert FILE             serving certificate chain, PEM (default /etc/posture/tls/tls.crt)\n"
	"  --tls-key FILE              its private key, PEM (default /etc/posture/tls/tls.key)\n"
	"                              both are polled: a rotated pair is served without a restart\n"
	"  --policy FILE               policy (default " DEFAULT_POLICY " if present,\n"
	"                              else the built-in defaults); polled, and reloaded on SIGHUP\n"
	"  --client-ca FILE            require a client certificate signed by this CA (PEM)\n"
	"  --metrics-listen HOST:PORT  plain-HTTP /metrics, /healthz, /readyz (default 0.0.0.0:9090;\n"
	"                              'off' disables it)\n"
	"  --shutdown-delay SECONDS    after SIGTERM, keep answering (with Connection: close) this long\n"
	"                              before closing the listener (default 5)\n"
	"  --max-body-bytes N          larger request bodies get 413 (default 8388608)\n"
	"  --request-timeout SECONDS   a request's headers and body must arrive within this (default 10)\n"
	"  --idle-timeout SECONDS      close keep-alive connections idle this long (default 120)\n"
	"  --threads N                 worker threads (default: one per core)\n"
	"  --connection-limit N        concurrent TLS connections (default 4096)\n"
	"  --reload-interval SECONDS   how often certificate and policy files are compared (default 2)\n"
	"  --log-level LEVEL           debug, info, warn or error (default info)\n"
	"  -h, --help                  this help\n"
	"\n"
	"Environment: POD_NAMESPACE is the webhook's own namespace (never judged).\n"
	"Signals: SIGTERM/SIGINT drain and exit 0 (a second one stops at once); SIGHUP reloads the\n"
	"policy and the certificate. Logs: one JSON object per line on stderr; a review is logged at\n"
	"info when denied or with a warning, audit finding or exemption, at debug when allowed clean.\n";

/* One line on stderr; returns the exit status for usage errors. */
static int usage_error(const char *fmt, ...) PRINTF_LIKE(1, 2);
static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "posture serve: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, " (see posture serve --help)\n");
	va_end(ap);
	return 2;
}

static bool parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

static bool parse_seconds(const char *s, double max, double *out)
{
	if (!s || !*s || *s == ' ')
		return false;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < 0 || v > max)
		return false;
	*out = v;
	return true;
}

/* A file the server will need: readable now. */
static int check_file(const char *flag, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "posture serve: %s %s: %s\n", flag, path, strerror(errno));
		return -1;
	}
	struct stat st;
	bool dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
	close(fd);
	if (dir) {
		fprintf(stderr, "posture serve: %s %s: is a directory\n", flag, path);
		return -1;
	}
	return 0;
}

static int check_addr(const char *flag, const char *v)
{
	char host[256], err[256];
	uint16_t port;
	if (server_addr_split(v, host, sizeof(host), &port, err, sizeof(err)) != 0) {
		fprintf(stderr, "posture serve: %s: %s\n", flag, err);
		return -1;
	}
	return 0;
}

int cmd_serve(int argc, char **argv)
{
	struct server_config cfg;
	server_config_defaults(&cfg);
	bool policy_given = false;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			fputs(serve_usage, stdout);
			return 0;
		}
		if (strncmp(arg, "--", 2) != 0)
			return usage_error("unexpected argument '%s'", arg);
		/* --flag VALUE or --flag=VALUE */
		char name[48];
		const char *val = NULL;
		const char *eq = strchr(arg, '=');
		size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
		if (nlen >= sizeof(name))
			return usage_error("unknown flag '%s'", arg);
		memcpy(name, arg, nlen);
		name[nlen] = '\0';
		static const char *const known[] = {
			"--listen",        "--tls-cert",        "--tls-key",         "--policy",
			"--client-ca",     "--metrics-listen",  "--shutdown-delay",  "--max-body-bytes",
			"--request-timeout", "--idle-timeout",  "--threads",         "--connection-limit",
			"--reload-interval", "--log-level",
		};
		bool ok = false;
		for (size_t k = 0; k < ARRAY_LEN(known); k++)
			ok = ok || strcmp(name, known[k]) == 0;
		if (!ok)
			return usage_error("unknown flag '%s'", name);
		if (eq) {
			val = eq + 1;
		} else {
			if (i + 1 >= argc)
				return usage_error("%s needs a value", name);
			val = argv[++i];
		}
		unsigned long long u;
		double d;
		if (strcmp(name, "--listen") == 0) {
			if (check_addr(name, val) != 0)
				return 2;
			cfg.listen = val;
		} else if (strcmp(name, "--tls-cert") == 0) {
			cfg.tls_cert = val;
		} else if (strcmp(name, "--tls-key") == 0) {
			cfg.tls_key = val;
		} else if (strcmp(name, "--policy") == 0) {
			cfg.policy_path = val;
			policy_given = true;
		} else if (strcmp(name, "--client-ca") == 0) {
			cfg.client_ca = val;
		} else if (strcmp(name, "--metrics-listen") == 0) {
			if (strcmp(val, "off") == 0) {
				cfg.metrics_listen = NULL;
			} else {
				if (check_addr(name, val) != 0)
					return 2;
				cfg.metrics_listen = val;
			}
		} else if (strcmp(name, "--shutdown-delay") == 0) {
			if (!parse_seconds(val, 3600, &d))
				return usage_error("%s: expected seconds (0-3600), got '%s'", name, val);
			cfg.shutdown_delay_s = d;
		} else if (strcmp(name, "--max-body-bytes") == 0) {
			if (!parse_uint(val, (unsigned long long)1 << 30, &u) || u < 1024)
				return usage_error("%s: expected bytes (1024-1073741824), got '%s'", name,
						   val);
			cfg.max_body = (size_t)u;
		} else if (strcmp(name, "--request-timeout") == 0) {
			if (!parse_uint(val, 3600, &u) || u == 0)
				return usage_error("%s: expected whole seconds (1-3600), got '%s'", name,
						   val);
			cfg.request_timeout_s = (unsigned)u;
		} else if (strcmp(name, "--idle-timeout") == 0) {
			if (!parse_uint(val, 86400, &u) || u == 0)
				return usage_error("%s: expected whole seconds (1-86400), got '%s'", name,
						   val);
			cfg.idle_timeout_s = (unsigned)u;
		} else if (strcmp(name, "--threads") == 0) {
			if (!parse_uint(val, 256, &u))
				return usage_error("%s: expected a count (0-256; 0: one per core), got '%s'",
						   name, val);
			cfg.threads = (unsigned)u;
		} else if (strcmp(name, "--connection-limit") == 0) {
			if (!parse_uint(val, 1000000, &u) || u < 16)
				return usage_error("%s: expected a count (16-1000000), got '%s'", name, val);
			cfg.connection_limit = (unsigned)u;
		} else if (strcmp(name, "--reload-interval") == 0) {
			if (!parse_seconds(val, 3600, &d) || d < 0.05)
				return usage_error("%s: expected seconds (0.05-3600), got '%s'", name, val);
			cfg.poll_ms = (unsigned)lround(d * 1000);
		} else if (strcmp(name, "--log-level") == 0) {
			enum log_level lv;
			if (log_level_parse(val, &lv) != 0)
				return usage_error("%s: expected debug, info, warn or error, got '%s'", name,
						   val);
			log_set_level(lv);
		}
	}
	if (check_file("--tls-cert", cfg.tls_cert) != 0 || check_file("--tls-key", cfg.tls_key) != 0)
		return 2;
	if (cfg.client_ca && check_file("--client-ca", cfg.client_ca) != 0)
		return 2;
	if (policy_given) {
		if (check_file("--policy", cfg.policy_path) != 0)
			return 2;
	} else if (access(DEFAULT_POLICY, F_OK) == 0) {
		if (check_file("--policy", DEFAULT_POLICY) != 0)
			return 2;
		cfg.policy_path = DEFAULT_POLICY;
	}
	const char *ns = getenv("POD_NAMESPACE");
	cfg.own_namespace = ns && *ns ? ns : NULL;
	return server_run(&cfg);
}
