/* cli_certs.c - `posture certs generate|inspect|check`: flags, help and output around certs.c. */
#include "certs.h"
#include "cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#define WARN_DAYS 30          /* inspect and check warn when a certificate expires this soon */
#define MAX_EXTRA 64          /* --dns and --ip, each */
#define ERRLEN 512

static const char usage_certs[] =
	"usage: posture certs <command> [flags]\n"
	"\n"
	"Certificates for the webhook's TLS listener (OpenSSL). The apiserver verifies the serving\n"
	"certificate against the webhook configuration's caBundle, by the DNS name\n"
	"<service>.<namespace>.svc (a subjectAltName; the CN is ignored).\n"
	"\n"
	"commands:\n"
	"  generate   create a CA (or reuse one) and a serving certificate for a Service\n"
	"  inspect    show a certificate's names and validity; fail on an expired or unusable one\n"
	"  check      check that a private key matches a certificate that is valid now\n"
	"\n"
	"Run 'posture certs <command> --help' for a command's flags.\n";

static const char usage_generate[] =
	"usage: posture certs generate --service NAME --namespace NS --out DIR [flags]\n"
	"\n"
	"Creates an ECDSA P-256 CA (or reuses the one given) and a serving certificate signed by it,\n"
	"for the DNS names NAME, NAME.NS, NAME.NS.svc and NAME.NS.svc.cluster.local (the apiserver\n"
	"verifies NAME.NS.svc), with CN NAME.NS.svc, extendedKeyUsage serverAuth and a random 128-bit\n"
	"serial. It writes, in DIR:\n"
	"  ca.crt    the CA certificate: the webhook configuration's caBundle   mode 0644\n"
	"  ca.key    the CA's private key (only when the CA is generated here)  mode 0600\n"
	"  tls.crt   the serving certificate                                     mode 0644\n"
	"  tls.key   its private key (PKCS#8 PEM)                                mode 0600\n"
	"Keys are never readable by others, not even while being written. Existing files are left\n"
	"alone (and nothing is written) unless --force is given. Both certificates start 5 minutes in\n"
	"the past, to tolerate clock skew.\n"
	"\n"
	"flags:\n"
	"  --service NAME   the webhook's Service (a DNS label)                        required\n"
	"  --namespace NS   the Service's namespace (a DNS label)                       required\n"
	"  --out DIR        where to write; created (mode 0700) when missing            required\n"
	"  --days N         validity of the serving certificate in days, 1..36500 (default 365);\n"
	"                   it may not outlive the CA\n"
	"  --ca-days N      validity of a generated CA in days, 1..36500 (default 3650)\n"
	"  --ca-cert FILE   reuse this CA certificate (PEM; the first in FILE) instead of generating\n"
	"                   one; it is copied to DIR/ca.crt. Needs --ca-key\n"
	"  --ca-key FILE    the reused CA's private key (PEM, EC or RSA, PKCS#8 or traditional,\n"
	"                   unencrypted); it is not copied\n"
	"  --dns NAME       add a DNS name to the serving certificate, e.g. localhost (repeatable)\n"
	"  --ip ADDR        add an IPv4 or IPv6 address, e.g. 127.0.0.1 (repeatable)\n"
	"  --force          replace existing files (each atomically, by rename)\n"
	"  -h, --help       show this help\n"
	"\n"
	"exit status: 0 written, 2 bad flags, unusable CA or a file that could not be written\n"
	"\n"
	"example:\n"
	"  posture certs generate --service posture --namespace posture-system --out certs/prod\n"
	"  posture certs generate --service posture --namespace posture-system --out certs/prod \\\n"
	"      --ca-cert certs/prod/ca.crt --ca-key certs/prod/ca.key --force     # rotate tls.*\n";

static const char usage_inspect[] =
	"usage: posture certs inspect FILE [--service NAME --namespace NS]\n"
	"\n"
	"Prints the first certificate in FILE (PEM or DER; '-' reads standard input): subject,\n"
	"issuer, serial, SHA-256 fingerprint, key, DNS and IP names, key usages, validity (RFC 3339,\n"
	"UTC) and days left. Warns when it expires within 30 days. Errors (exit 1) when it is expired\n"
	"or not yet valid, has no DNS name (clients ignore the CN), does not allow serverAuth, or -\n"
	"with --service and --namespace - has no name covering NAME.NS.svc.\n"
	"\n"
	"flags:\n"
	"  --service NAME   expect the certificate to serve this Service (needs --namespace)\n"
	"  --namespace NS   the Service's namespace (needs --service)\n"
	"  -h, --help       show this help\n"
	"\n"
	"exit status: 0 usable, 1 an error line was printed, 2 bad flags or FILE unreadable or not a\n"
	"certificate\n";

static const char usage_check[] =
	"usage: posture certs check --cert FILE --key FILE\n"
	"\n"
	"Checks what the server checks before it uses a pair: both parse (the key may be EC or RSA,\n"
	"PKCS#8 or traditional, not encrypted), the key matches the certificate (the first one in\n"
	"FILE), and the certificate is valid now. Prints 'ok: ...' or 'error: <reason>'.\n"
	"\n"
	"flags:\n"
	"  --cert FILE      the certificate (PEM), e.g. tls.crt                          required\n"
	"  --key FILE       its private key (PEM), e.g. tls.key                          required\n"
	"  -h, --help       show this help\n"
	"\n"
	"exit status: 0 the pair is usable, 1 it is not (the reason is printed), 2 bad flags or a\n"
	"file that cannot be read\n";

/* ---- flags ---- */

struct flag {
	const char *name;    /* "--days" */
	bool takes_value;
};

struct args {
	const char *cmd;     /* "generate", for messages */
	int argc;
	char **argv;
	int i;
	bool flags_done;     /* after "--" */
};

enum { ARG_END, ARG_FLAG, ARG_POS, ARG_ERR, ARG_HELP };

static int usage_error(const char *cmd, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* One line on stderr naming the problem; returns exit status 2. */
static int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "posture certs%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'posture certs%s%s --help')\n", cmd ? " " : "", cmd ? cmd : "");
	return 2;
}

/* The next argument: ARG_FLAG with *which (index in flags) and *val (NULL for a boolean flag),
 * ARG_POS with *val, ARG_HELP, ARG_END, or ARG_ERR after printing a one-line error. Accepts
 * "--name value" and "--name=value"; "--" ends the flags; "-" is a positional argument. */
static int next_arg(struct args *a, const struct flag *flags, size_t n, size_t *which,
		    const char **val)
{
	for (;;) {
		if (a->i >= a->argc)
			return ARG_END;
		const char *arg = a->argv[a->i++];
		if (a->flags_done || arg[0] != '-' || arg[1] == '\0') {
			*val = arg;
			return ARG_POS;
		}
		if (strcmp(arg, "--") == 0) {
			a->flags_done = true;
			continue;
		}
		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)
			return ARG_HELP;
		const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
		size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
		for (size_t k = 0; k < n; k++) {
			if (strlen(flags[k].name) != len || strncmp(flags[k].name, arg, len) != 0)
				continue;
			*which = k;
			if (!flags[k].takes_value) {
				if (eq) {
					usage_error(a->cmd, "%s takes no value", flags[k].name);
					return ARG_ERR;
				}
				*val = NULL;
			} else if (eq) {
				*val = eq + 1;
			} else if (a->i < a->argc) {
				*val = a->argv[a->i++];
			} else {
				usage_error(a->cmd, "%s needs a value", flags[k].name);
				return ARG_ERR;
			}
			return ARG_FLAG;
		}
		usage_error(a->cmd, "unknown flag '%.*s'", (int)(len > 64 ? 64 : len), arg);
		return ARG_ERR;
	}
}

/* Parse a whole number in lo..hi; -1 when it is not one. */
static int parse_int(const char *s, long lo, long hi, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

/* Set a single-valued flag once; a second time is an error. */
static bool set_once(const char *cmd, const char *flag, const char **slot, const char *val)
{
	if (*slot) {
		usage_error(cmd, "%s given twice", flag);
		return false;
	}
	*slot = val;
	return true;
}

static bool ip_ok(const char *s)
{
	unsigned char b[16];
	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

/* Whole days from now to t, rounded towards minus infinity. */
static long long days_until(int64_t t, int64_t now)
{
	int64_t d = t - now;
	return d >= 0 ? d / 86400 : -((-d + 86399) / 86400);
}

/* ---- generate ---- */

static int certs_cli_generate(int argc, char **argv)
{
	static const char cmd[] = "generate";
	enum { F_SERVICE, F_NAMESPACE, F_OUT, F_DAYS, F_CA_DAYS, F_CA_CERT, F_CA_KEY, F_DNS, F_IP,
	       F_FORCE };
	static const struct flag flags[] = {
		[F_SERVICE] = { "--service", true },   [F_NAMESPACE] = { "--namespace", true },
		[F_OUT] = { "--out", true },           [F_DAYS] = { "--days", true },
		[F_CA_DAYS] = { "--ca-days", true },   [F_CA_CERT] = { "--ca-cert", true },
		[F_CA_KEY] = { "--ca-key", true },     [F_DNS] = { "--dns", true },
		[F_IP] = { "--ip", true },             [F_FORCE] = { "--force", false },
	};
	struct args a = { cmd, argc, argv, 1, false };
	const char *days_s = NULL, *ca_days_s = NULL;
	const char *dns[MAX_EXTRA], *ips[MAX_EXTRA];
	struct certs_gen_opts o;
	memset(&o, 0, sizeof(o));
	o.days = 365;
	o.ca_days = 3650;
	o.dns = dns;
	o.ips = ips;

	for (;;) {
		size_t which = 0;
		const char *val = NULL;
		int r = next_arg(&a, flags, ARRAY_LEN(flags), &which, &val);
		if (r == ARG_END)
			break;
		if (r == ARG_ERR)
			return 2;
		if (r == ARG_HELP) {
			fputs(usage_generate, stdout);
			return 0;
		}
		if (r == ARG_POS)
			return usage_error(cmd, "unexpected argument '%s'", val);
		const char *name = flags[which].name;
		bool ok = true;
		switch (which) {
		case F_SERVICE: ok = set_once(cmd, name, &o.service, val); break;
		case F_NAMESPACE: ok = set_once(cmd, name, &o.namespace_, val); break;
		case F_OUT: ok = set_once(cmd, name, &o.out_dir, val); break;
		case F_DAYS: ok = set_once(cmd, name, &days_s, val); break;
		case F_CA_DAYS: ok = set_once(cmd, name, &ca_days_s, val); break;
		case F_CA_CERT: ok = set_once(cmd, name, &o.ca_cert_path, val); break;
		case F_CA_KEY: ok = set_once(cmd, name, &o.ca_key_path, val); break;
		case F_FORCE: o.force = true; break;
		case F_DNS:
			if (!certs_dns_name_ok(val))
				return usage_error(cmd, "--dns: '%s' is not a DNS name", val);
			if (o.n_dns == MAX_EXTRA)
				return usage_error(cmd, "--dns: at most %d of them", MAX_EXTRA);
			dns[o.n_dns++] = val;
			break;
		case F_IP:
			if (!ip_ok(val))
				return usage_error(cmd, "--ip: '%s' is not an IPv4 or IPv6 address", val);
			if (o.n_ips == MAX_EXTRA)
				return usage_error(cmd, "--ip: at most %d of them", MAX_EXTRA);
			ips[o.n_ips++] = val;
			break;
		default: break;
		}
		if (!ok)
			return 2;
	}
	if (!o.service)
		return usage_error(cmd, "missing --service NAME");
	if (!o.namespace_)
		return usage_error(cmd, "missing --namespace NS");
	if (!o.out_dir || !o.out_dir[0])
		return usage_error(cmd, "missing --out DIR");
	if (!certs_dns_label_ok(o.service))
		return usage_error(cmd, "--service: '%s' is not a DNS label (a-z, 0-9 and '-', at most 63)",
				   o.service);
	if (!certs_dns_label_ok(o.namespace_))
		return usage_error(cmd, "--namespace: '%s' is not a DNS label (a-z, 0-9 and '-', at most 63)",
				   o.namespace_);
	if (days_s && parse_int(days_s, 1, 36500, &o.days) < 0)
		return usage_error(cmd, "--days: '%s' is not a whole number in 1..36500", days_s);
	if (ca_days_s && parse_int(ca_days_s, 1, 36500, &o.ca_days) < 0)
		return usage_error(cmd, "--ca-days: '%s' is not a whole number in 1..36500", ca_days_s);
	if (!o.ca_cert_path != !o.ca_key_path)
		return usage_error(cmd, "%s needs %s", o.ca_cert_path ? "--ca-cert" : "--ca-key",
				   o.ca_cert_path ? "--ca-key" : "--ca-cert");
	if (o.ca_cert_path && ca_days_s)
		return usage_error(cmd, "--ca-days applies to a generated CA, not with --ca-cert");

	struct certs_gen_result res;
	char err[ERRLEN], when[40];
	if (certs_generate(&o, &res, err, sizeof(err)) < 0) {
		fprintf(stderr, "posture certs generate: %s\n", err);
		return 2;
	}
	const char *d = o.out_dir;
	if (res.wrote_ca_key)
		printf("wrote %s/ca.key (the CA's private key, mode 0600)\n", d);
	certs_format_time(res.ca_not_after, when, sizeof(when));
	if (res.wrote_ca_cert)
		printf("wrote %s/ca.crt (CA %s, valid until %s: the caBundle)\n", d, res.ca_subject, when);
	else
		printf("kept  %s/ca.crt (CA %s, valid until %s: the caBundle)\n", d, res.ca_subject, when);
	printf("wrote %s/tls.key (mode 0600)\n", d);
	certs_format_time(res.not_after, when, sizeof(when));
	printf("wrote %s/tls.crt (%s, serial %s, valid until %s)\n", d, res.subject, res.serial, when);
	printf("names: %s, %s.%s, %s.%s.svc, %s.%s.svc.cluster.local", o.service, o.service,
	       o.namespace_, o.service, o.namespace_, o.service, o.namespace_);
	for (size_t i = 0; i < o.n_dns; i++)
		printf(", %s", dns[i]);
	for (size_t i = 0; i < o.n_ips; i++)
		printf(", %s", ips[i]);
	printf("\n");
	return 0;
}

/* ---- inspect ---- */

static void print_list(const char *label, const char **items, size_t n)
{
	printf("%-14s ", label);
	for (size_t i = 0; i < n; i++)
		printf("%s%s", i ? ", " : "", items[i]);
	printf("%s\n", n ? "" : "(none)");
}

static int certs_cli_inspect(int argc, char **argv)
{
	static const char cmd[] = "inspect";
	enum { F_SERVICE, F_NAMESPACE };
	static const struct flag flags[] = {
		[F_SERVICE] = { "--service", true },
		[F_NAMESPACE] = { "--namespace", true },
	};
	struct args a = { cmd, argc, argv, 1, false };
	const char *file = NULL, *service = NULL, *ns = NULL;
	for (;;) {
		size_t which = 0;
		const char *val = NULL;
		int r = next_arg(&a, flags, ARRAY_LEN(flags), &which, &val);
		if (r == ARG_END)
			break;
		if (r == ARG_ERR)
			return 2;
		if (r == ARG_HELP) {
			fputs(usage_inspect, stdout);
			return 0;
		}
		if (r == ARG_POS) {
			if (file)
				return usage_error(cmd, "unexpected argument '%s' (one FILE only)", val);
			file = val;
		} else if (!set_once(cmd, flags[which].name, which == F_SERVICE ? &service : &ns, val)) {
			return 2;
		}
	}
	if (!file)
		return usage_error(cmd, "missing FILE");
	if (!service != !ns)
		return usage_error(cmd, "%s needs %s", service ? "--service" : "--namespace",
				   service ? "--namespace" : "--service");
	if (service && !certs_dns_label_ok(service))
		return usage_error(cmd, "--service: '%s' is not a DNS label", service);
	if (ns && !certs_dns_label_ok(ns))
		return usage_error(cmd, "--namespace: '%s' is not a DNS label", ns);

	char err[ERRLEN];
	char *data;
	size_t len;
	const char *path = strcmp(file, "-") == 0 ? "/dev/stdin" : file;
	if (certs_read_file(path, CERTS_MAX_INPUT, &data, &len, err, sizeof(err)) < 0) {
		fprintf(stderr, "posture certs inspect: %s\n", err);
		return 2;
	}
	struct certs_info info;
	int rc = certs_inspect(data, len, &info, err, sizeof(err));
	certs_free_secret(data, len);   /* a careless FILE may hold a key too */
	if (rc < 0) {
		fprintf(stderr, "posture certs inspect: '%s': %s\n", file, err);
		certs_info_release(&info);
		return 2;
	}

	int64_t now = (int64_t)time(NULL);
	char nb[40], na[40];
	certs_format_time(info.not_before, nb, sizeof(nb));
	certs_format_time(info.not_after, na, sizeof(na));
	long long left = days_until(info.not_after, now);
	printf("%-14s %s\n", "file:", file);
	if (info.n_certs > 1)
		printf("%-14s %u certificates; the first is shown\n", "chain:", info.n_certs);
	printf("%-14s %s\n", "subject:", info.subject);
	printf("%-14s %s\n", "issuer:", info.issuer);
	printf("%-14s %s\n", "serial:", info.serial);
	printf("%-14s %s\n", "sha256:", info.sha256);
	printf("%-14s %s\n", "key:", info.key_type);
	print_list("DNS names:", info.dns, info.n_dns);
	if (info.n_ips)
		print_list("IP addresses:", info.ips, info.n_ips);
	printf("%-14s %s\n", "key usage:", info.key_usage[0] ? info.key_usage : "(any)");
	printf("%-14s %s\n", "ext usage:", info.has_eku ? info.ext_key_usage : "(any)");
	printf("%-14s %s\n", "CA:", info.is_ca ? (info.self_signed ? "yes (self-signed)" : "yes") : "no");
	printf("%-14s %s\n", "not before:", nb);
	printf("%-14s %s\n", "not after:", na);
	printf("%-14s %lld\n", "days left:", left);

	bool bad = false;
	if (info.n_dropped)
		printf("warning: %zu more names are not shown\n", info.n_dropped);
	if (now < info.not_before) {
		printf("error: not valid before %s\n", nb);
		bad = true;
	}
	if (now > info.not_after) {
		printf("error: expired on %s\n", na);
		bad = true;
	} else if (info.not_after - now <= (int64_t)WARN_DAYS * 86400) {
		printf("warning: expires in %lld days, on %s: rotate it\n", left, na);
	}
	if (info.n_dns == 0) {
		printf("error: no DNS subjectAltName (clients, the apiserver among them, ignore the CN)%s\n",
		       info.is_ca ? "; this is a CA certificate, not a serving one" : "");
		bad = true;
	}
	if (service) {
		char host[200];
		fmt_buf(host, sizeof(host), "%s.%s.svc", service, ns);
		if (!certs_info_has_dns(&info, host)) {
			printf("error: no DNS name covers %s, the name the apiserver verifies\n", host);
			bad = true;
		}
	}
	if (!info.server_auth) {
		printf("error: its extendedKeyUsage (%s) does not allow serverAuth\n", info.ext_key_usage);
		bad = true;
	}
	if (info.bad_extensions) {
		printf("error: it has a malformed or duplicated extension\n");
		bad = true;
	}
	certs_info_release(&info);
	return bad ? 1 : 0;
}

/* ---- check ---- */

static int certs_cli_check(int argc, char **argv)
{
	static const char cmd[] = "check";
	enum { F_CERT, F_KEY };
	static const struct flag flags[] = {
		[F_CERT] = { "--cert", true },
		[F_KEY] = { "--key", true },
	};
	struct args a = { cmd, argc, argv, 1, false };
	const char *cert_path = NULL, *key_path = NULL;
	for (;;) {
		size_t which = 0;
		const char *val = NULL;
		int r = next_arg(&a, flags, ARRAY_LEN(flags), &which, &val);
		if (r == ARG_END)
			break;
		if (r == ARG_ERR)
			return 2;
		if (r == ARG_HELP) {
			fputs(usage_check, stdout);
			return 0;
		}
		if (r == ARG_POS)
			return usage_error(cmd, "unexpected argument '%s'", val);
		if (!set_once(cmd, flags[which].name, which == F_CERT ? &cert_path : &key_path, val))
			return 2;
	}
	if (!cert_path)
		return usage_error(cmd, "missing --cert FILE");
	if (!key_path)
		return usage_error(cmd, "missing --key FILE");

	char err[ERRLEN];
	char *cert = NULL, *key = NULL;
	size_t cert_len = 0, key_len = 0;
	if (certs_read_file(cert_path, CERTS_MAX_INPUT, &cert, &cert_len, err, sizeof(err)) < 0) {
		fprintf(stderr, "posture certs check: --cert: %s\n", err);
		return 2;
	}
	if (certs_read_file(key_path, CERTS_MAX_INPUT, &key, &key_len, err, sizeof(err)) < 0) {
		fprintf(stderr, "posture certs check: --key: %s\n", err);
		certs_free_secret(cert, cert_len);
		return 2;
	}
	int64_t now = (int64_t)time(NULL), not_after = 0;
	int rc = certs_check_pair(cert, cert_len, key, key_len, (time_t)now, &not_after, err,
				  sizeof(err));
	certs_free_secret(cert, cert_len);
	certs_free_secret(key, key_len);
	if (rc < 0) {
		printf("error: %s\n", err);
		return 1;
	}
	char when[40];
	long long left = days_until(not_after, now);
	certs_format_time(not_after, when, sizeof(when));
	printf("ok: the key matches the certificate, valid until %s (%lld days left)\n", when, left);
	if (not_after - now <= (int64_t)WARN_DAYS * 86400)
		printf("warning: expires in %lld days, on %s: rotate it\n", left, when);
	return 0;
}

int cmd_certs(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_certs, stderr);
		return 2;
	}
	const char *sub = argv[1];
	if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0) {
		fputs(usage_certs, stdout);
		return 0;
	}
	if (strcmp(sub, "generate") == 0)
		return certs_cli_generate(argc - 1, argv + 1);
	if (strcmp(sub, "inspect") == 0)
		return certs_cli_inspect(argc - 1, argv + 1);
	if (strcmp(sub, "check") == 0)
		return certs_cli_check(argc - 1, argv + 1);
	if (sub[0] == '-')
		return usage_error(NULL, "unknown flag '%s'", sub);
	return usage_error(NULL, "unknown command '%s'", sub);
}
