/* certs.h - certificates with OpenSSL's libcrypto: generate a CA and a serving certificate,
 * inspect one, and check a certificate/key pair before the server uses it. */
#ifndef POSTURE_CERTS_H
#define POSTURE_CERTS_H

#include <time.h>

#include "util.h"

/* Check PEM cert and key: both parse, the key matches the certificate, and now is within its
 * validity. On success returns 0 and sets *not_after (Unix seconds). Else -1 and a one-line reason
 * in err ("certificate expired on 2026-01-02T00:00:00Z", "private key does not match the
 * certificate"). */
int certs_check_pair(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len,
		     time_t now, int64_t *not_after, char *err, size_t errlen);

/* ---- additions (certs.c) ---- */

/* Cap on any certificate or key input, PEM or DER. */
#define CERTS_MAX_INPUT ((size_t)1 << 20)
/* SANs of one kind kept by certs_inspect (the rest are counted in n_dropped). */
#define CERTS_MAX_NAMES 256

/* What certs_inspect learned about a certificate (the first one in the input). Every string is
 * made safe for a terminal: bytes outside printable ASCII become '?'. The struct owns its strings;
 * certs_info_release frees them. */
struct certs_info {
	char subject[512];        /* RFC 2253 form, "CN=posture.posture-system.svc" */
	char issuer[512];
	char serial[80];          /* upper-case hex */
	char sha256[100];         /* fingerprint, "AB:CD:..." */
	char key_type[40];        /* "EC P-256", "RSA 2048", "ED25519" */
	char key_usage[160];      /* "digitalSignature, keyCertSign"; "" when absent */
	char ext_key_usage[160];  /* "serverAuth, clientAuth"; "" when absent */
	const char **dns;         /* DNS subjectAltNames, n_dns of them */
	size_t n_dns;
	const char **ips;         /* IP subjectAltNames as text */
	size_t n_ips;
	size_t n_dropped;         /* SANs past CERTS_MAX_NAMES, not kept */
	int64_t not_before;       /* Unix seconds */
	int64_t not_after;
	bool has_eku;             /* an extendedKeyUsage extension is present */
	bool server_auth;         /* no EKU at all, or one allowing serverAuth (or any usage) */
	bool is_ca;               /* basicConstraints CA:TRUE */
	bool self_signed;
	bool bad_extensions;      /* OpenSSL found an extension malformed or duplicated */
	unsigned n_certs;         /* certificates in the input (a chain); the first is described */
	struct arena arena;       /* owns dns, ips and their strings */
};

/* Parse the first certificate of a PEM input (or a DER one) of at most CERTS_MAX_INPUT bytes and
 * describe it in *info (initialised here; release it with certs_info_release even on failure).
 * Returns 0, or -1 with a one-line reason in err. Never judges validity: see the fields. */
int certs_inspect(const char *data, size_t len, struct certs_info *info, char *err, size_t errlen);
void certs_info_release(struct certs_info *info);

/* true when one of info's DNS SANs covers host (case-insensitive; a "*." SAN covers exactly one
 * leftmost label, as Go's crypto/tls verifies). */
bool certs_info_has_dns(const struct certs_info *info, const char *host);

/* true when s is a DNS label (RFC 1123: 1..63 of [a-z0-9-], alphanumeric at both ends; lower case
 * only, as Kubernetes names are). */
bool certs_dns_label_ok(const char *s);
/* true when s is a DNS name of such labels joined by dots (at most 253 bytes; upper case allowed;
 * a leading "*." wildcard allowed). */
bool certs_dns_name_ok(const char *s);

/* Format Unix seconds t as RFC 3339 UTC ("2026-01-02T03:04:05Z") into buf (21 bytes suffice). */
void certs_format_time(int64_t t, char *buf, size_t size);

/* Read a whole regular file of at most max bytes into a new NUL-terminated allocation (*data,
 * *len without the NUL; free with certs_free_secret when it may hold a key). Returns 0, or -1 with
 * "cannot read 'path': reason" / "'path' is larger than N bytes" in err. */
int certs_read_file(const char *path, size_t max, char **data, size_t *len, char *err,
		    size_t errlen);
/* Wipe (OPENSSL_cleanse) and free a buffer from certs_read_file; NULL is fine. */
void certs_free_secret(char *data, size_t len);

/* What certs_generate makes. All strings borrowed; service and namespace must pass
 * certs_dns_label_ok, extra DNS names certs_dns_name_ok, IPs be IPv4 or IPv6 literals. */
struct certs_gen_opts {
	const char *service;
	const char *namespace_;
	const char *out_dir;        /* created (mode 0700, with parents) when missing */
	int days;                   /* serving certificate validity, 1..36500 (CLI default 365) */
	int ca_days;                /* generated CA validity, 1..36500 (CLI default 3650) */
	const char *ca_cert_path;   /* both set: reuse this CA (its key stays where it is); */
	const char *ca_key_path;    /* both NULL: generate one and write ca.key */
	const char *const *dns;     /* extra DNS SANs */
	size_t n_dns;
	const char *const *ips;     /* IP SANs */
	size_t n_ips;
	bool force;                 /* replace existing files (by rename) instead of refusing */
	time_t now;                 /* 0: the current time */
};

/* What certs_generate wrote. */
struct certs_gen_result {
	bool wrote_ca_cert;         /* false when ca_cert_path already is out_dir/ca.crt */
	bool wrote_ca_key;          /* true when the CA was generated */
	int64_t ca_not_after;
	int64_t not_after;          /* of tls.crt */
	char ca_subject[128];
	char subject[128];
	char serial[80];            /* of tls.crt, hex */
};

/* Make a CA (or load the given one, which must be a valid CA whose key matches) and a serving
 * certificate for service.namespace_, and write ca.crt, ca.key (when generated), tls.crt and
 * tls.key into out_dir: keys 0600 from creation on, certificates 0644. Without force, refuses
 * before writing anything when one of them exists. Returns 0, or -1 with a one-line reason in
 * err; *res (may be NULL) says what was written. */
int certs_generate(const struct certs_gen_opts *o, struct certs_gen_result *res, char *err,
		   size_t errlen);

#endif
