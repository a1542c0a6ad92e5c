/* certs.c - OpenSSL: check a cert/key pair, inspect a certificate, generate a CA and certs. */
#include "certs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define BACKDATE_SECONDS 300        /* notBefore this far in the past: tolerate clock skew */
#define MAX_DAYS 36500
#define MAX_EXTRA_SANS 64
#define MAX_SAN_TEXT 256             /* a SAN longer than this is shown cut ("...") */

static int fail(char *err, size_t errlen, const char *fmt, ...) PRINTF_LIKE(3, 4);

/* Write a one-line reason into err, drop OpenSSL's error queue, return -1. */
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
		if (n < 0)
			err[0] = '\0';
		else if ((size_t)n >= errlen && errlen > 4)
			memcpy(err + errlen - 4, "...", 4);
	}
	ERR_clear_error();
	return -1;
}

/* The reason of OpenSSL's last queued error, for "malformed ..." messages. */
static const char *ossl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	return r ? r : "unknown error";
}

static bool ossl_no_start_line(void)
{
	unsigned long e = ERR_peek_last_error();
	return ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

/* Copy n bytes into buf (size > 0) with bytes outside printable ASCII as '?', cut with "...". */
static void copy_printable(char *buf, size_t size, const unsigned char *p, size_t n)
{
	size_t k = 0;
	bool cut = false;
	if (n > size - 1) {
		n = size > 4 ? size - 4 : size - 1;
		cut = true;
	}
	for (size_t i = 0; i < n; i++)
		buf[k++] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
	if (cut && size > 4) {
		memcpy(buf + k, "...", 3);
		k += 3;
	}
	buf[k] = '\0';
}

/* ---- time ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int asn1_to_unix(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;
	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return -1;
	int64_t days = days_from_civil((int64_t)tm.tm_year + 1900, (unsigned)tm.tm_mon + 1,
				       (unsigned)tm.tm_mday);
	*out = days * 86400 + tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
	return 0;
}

static int cert_times(const X509 *x, int64_t *not_before, int64_t *not_after)
{
	if (asn1_to_unix(X509_get0_notBefore(x), not_before) < 0 ||
	    asn1_to_unix(X509_get0_notAfter(x), not_after) < 0)
		return -1;
	return 0;
}

void certs_format_time(int64_t t, char *buf, size_t size)
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (size == 0)
		return;
	if ((int64_t)tt != t || !gmtime_r(&tt, &tm) ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		fmt_buf(buf, size, "@%lld", (long long)t);
}

/* ---- parsing untrusted PEM ---- */

/* Never prompt on a terminal for a passphrase: note that one was asked for, and refuse. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	*(bool *)u = true;
	return -1;
}

static int check_size(size_t len, const char *what, char *err, size_t errlen)
{
	if (len == 0)
		return fail(err, errlen, "%s is empty", what);
	if (len > CERTS_MAX_INPUT)
		return fail(err, errlen, "%s is larger than %zu bytes", what, CERTS_MAX_INPUT);
	return 0;
}

/* The first certificate of data: PEM, or DER when allow_der and there is no PEM header. When
 * count is set, counts the certificates that follow too (PEM only). New reference, or NULL. */
static X509 *parse_cert(const char *data, size_t len, bool allow_der, unsigned *count, char *err,
			size_t errlen)
{
	if (count)
		*count = 0;
	if (check_size(len, "certificate", err, errlen) < 0)
		return NULL;
	if (!memmem(data, len, "-----BEGIN", 10)) {
		/* DER starts with a SEQUENCE; anything else is text that holds no PEM block */
		if (!allow_der || (unsigned char)data[0] != 0x30) {
			fail(err, errlen, "no certificate found (expected PEM \"-----BEGIN CERTIFICATE-----\"%s)",
			     allow_der ? " or DER" : "");
			return NULL;
		}
		const unsigned char *p = (const unsigned char *)data;
		X509 *x = d2i_X509(NULL, &p, (long)len);
		if (!x) {
			fail(err, errlen, "malformed DER certificate (%s)", ossl_reason());
			return NULL;
		}
		if (count)
			*count = 1;
		ERR_clear_error();
		return x;
	}
	BIO *b = BIO_new_mem_buf(data, (int)len);
	if (!b) {
		fail(err, errlen, "out of memory");
		return NULL;
	}
	bool asked = false;
	X509 *x = PEM_read_bio_X509(b, NULL, no_passphrase, &asked);
	if (!x) {
		if (ossl_no_start_line())
			fail(err, errlen, "no certificate found (expected PEM \"-----BEGIN CERTIFICATE-----\")");
		else
			fail(err, errlen, "malformed PEM certificate (%s)", ossl_reason());
		BIO_free(b);
		return NULL;
	}
	if (count) {
		*count = 1;
		X509 *next;
		while (*count < 1000 && (next = PEM_read_bio_X509(b, NULL, no_passphrase, &asked))) {
			X509_free(next);
			(*count)++;
		}
	}
	BIO_free(b);
	ERR_clear_error();
	return x;
}

/* The first private key of a PEM input (PKCS#8 or traditional, any type OpenSSL knows), never
 * asking for a passphrase. New reference, or NULL. */
static EVP_PKEY *parse_key(const char *data, size_t len, char *err, size_t errlen)
{
	if (check_size(len, "private key", err, errlen) < 0)
		return NULL;
	if (!memmem(data, len, "PRIVATE KEY-----", 16)) {
		fail(err, errlen, "no private key found (expected PEM \"-----BEGIN PRIVATE KEY-----\")");
		return NULL;
	}
	BIO *b = BIO_new_mem_buf(data, (int)len);
	if (!b) {
		fail(err, errlen, "out of memory");
		return NULL;
	}
	bool asked = false;
	EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, &asked);
	BIO_free(b);
	if (!k) {
		if (asked) {
			fail(err, errlen, "private key is encrypted (posture needs it unencrypted)");
		} else if (ossl_no_start_line()) {
			fail(err, errlen, "no private key found (expected PEM \"-----BEGIN PRIVATE KEY-----\")");
		} else {   /* OpenSSL 3's decoders say "unsupported" for most damage: no news */
			const char *r = ossl_reason();
			bool plain = strcmp(r, "unsupported") == 0;
			fail(err, errlen, "malformed or unsupported PEM private key%s%s%s",
			     plain ? "" : " (", plain ? "" : r, plain ? "" : ")");
		}
		return NULL;
	}
	ERR_clear_error();
	return k;
}

/* 0 when key is the private half of cert's public key, else -1 and a reason. */
static int key_matches(X509 *cert, EVP_PKEY *key, const char *what, char *err, size_t errlen)
{
	EVP_PKEY *pub = X509_get0_pubkey(cert);
	if (!pub)
		return fail(err, errlen, "%s has an unsupported or malformed public key", what);
	if (EVP_PKEY_eq(pub, key) != 1)
		return fail(err, errlen, "private key does not match the %s", what);
	return 0;
}

/* 0 when now is within cert's validity, else -1 and a reason. */
static int valid_at(X509 *cert, int64_t now, const char *what, int64_t *not_after, char *err,
		    size_t errlen)
{
	int64_t nb, na;
	char when[40];
	if (cert_times(cert, &nb, &na) < 0)
		return fail(err, errlen, "%s has a malformed validity period", what);
	if (now < nb) {
		certs_format_time(nb, when, sizeof(when));
		return fail(err, errlen, "%s is not valid before %s", what, when);
	}
	if (now > na) {
		certs_format_time(na, when, sizeof(when));
		return fail(err, errlen, "%s expired on %s", what, when);
	}
	if (not_after)
		*not_after = na;
	return 0;
}

int certs_check_pair(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len,
		     time_t now, int64_t *not_after, char *err, size_t errlen)
{
	int rc = -1;
	EVP_PKEY *key = NULL;
	X509 *cert = parse_cert(cert_pem, cert_len, false, NULL, err, errlen);
	if (!cert)
		goto out;
	key = parse_key(key_pem, key_len, err, errlen);
	if (!key)
		goto out;
	if (key_matches(cert, key, "certificate", err, errlen) < 0)
		goto out;
	if (valid_at(cert, (int64_t)now, "certificate", not_after, err, errlen) < 0)
		goto out;
	rc = 0;
out:
	EVP_PKEY_free(key);
	X509_free(cert);
	ERR_clear_error();
	return rc;
}

/* ---- inspect ---- */

static int name_to_str(const X509_NAME *name, char *buf, size_t size)
{
	buf[0] = '\0';
	BIO *b = BIO_new(BIO_s_mem());
	if (!b)
		return -1;
	int rc = -1;
	if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0) {
		char *p;
		long n = BIO_get_mem_data(b, &p);
		if (n >= 0) {
			copy_printable(buf, size, (const unsigned char *)p, (size_t)n);
			rc = 0;
		}
	}
	BIO_free(b);
	return rc;
}

/* Append ", name" (or "name" first) to buf when bit is in flags. */
static void add_flag_name(char *buf, size_t size, uint32_t flags, uint32_t bit, const char *name)
{
	if (!(flags & bit))
		return;
	size_t n = strlen(buf);
	if (n < size)
		fmt_buf(buf + n, size - n, "%s%s", n ? ", " : "", name);
}

static void describe_key(EVP_PKEY *pk, char *buf, size_t size)
{
	if (!pk) {
		fmt_buf(buf, size, "unknown");
		return;
	}
	int id = EVP_PKEY_get_base_id(pk);
	if (id == EVP_PKEY_EC) {
		char group[64];
		size_t glen = 0;
		const char *g = "unknown curve";
		if (EVP_PKEY_get_group_name(pk, group, sizeof(group), &glen) == 1) {
			g = group;
			if (strcmp(group, "prime256v1") == 0)
				g = "P-256";
			else if (strcmp(group, "secp384r1") == 0)
				g = "P-384";
			else if (strcmp(group, "secp521r1") == 0)
				g = "P-521";
		}
		fmt_buf(buf, size, "EC %s", g);
	} else if (id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS) {
		fmt_buf(buf, size, "%s %d", id == EVP_PKEY_RSA ? "RSA" : "RSA-PSS", EVP_PKEY_get_bits(pk));
	} else {
		const char *t = EVP_PKEY_get0_type_name(pk);
		fmt_buf(buf, size, "%s", t ? t : "unknown");
	}
}

static const char *arena_printable(struct arena *a, const unsigned char *p, size_t n)
{
	size_t cap = n + 1 < MAX_SAN_TEXT ? n + 1 : MAX_SAN_TEXT;
	char *s = arena_alloc(a, cap);
	if (s)
		copy_printable(s, cap, p, n);
	return s;
}

static int collect_sans(X509 *x, struct certs_info *info)
{
	int crit = -1;
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	if (!gens) {
		if (crit != -1)   /* present but malformed (or twice) */
			info->bad_extensions = true;
		ERR_clear_error();
		return 0;
	}
	int rc = -1;
	int num = sk_GENERAL_NAME_num(gens);
	size_t cap = num < CERTS_MAX_NAMES ? (size_t)num : CERTS_MAX_NAMES;
	const char **dns = arena_calloc(&info->arena, cap ? cap : 1, sizeof(*dns));
	const char **ips = arena_calloc(&info->arena, cap ? cap : 1, sizeof(*ips));
	if (!dns || !ips)
		goto out;
	info->dns = dns;
	info->ips = ips;
	for (int i = 0; i < num; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		if (g->type == GEN_DNS) {
			if (info->n_dns == cap) {
				info->n_dropped++;
				continue;
			}
			const ASN1_STRING *s = g->d.dNSName;
			const char *v = arena_printable(&info->arena, ASN1_STRING_get0_data(s),
							(size_t)ASN1_STRING_length(s));
			if (!v)
				goto out;
			dns[info->n_dns++] = v;
		} else if (g->type == GEN_IPADD) {
			if (info->n_ips == cap) {
				info->n_dropped++;
				continue;
			}
			const ASN1_OCTET_STRING *s = g->d.iPAddress;
			int n = ASN1_STRING_length(s);
			char text[INET6_ADDRSTRLEN + 32];
			if (n == 4 || n == 16) {
				if (!inet_ntop(n == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(s), text,
					       sizeof(text)))
					fmt_buf(text, sizeof(text), "(malformed)");
			} else {
				fmt_buf(text, sizeof(text), "(malformed, %d bytes)", n);
			}
			const char *v = arena_strndup(&info->arena, text, strlen(text));
			if (!v)
				goto out;
			ips[info->n_ips++] = v;
		}
	}
	rc = 0;
out:
	GENERAL_NAMES_free(gens);
	return rc;
}

static int describe_cert(X509 *x, struct certs_info *info, char *err, size_t errlen)
{
	if (name_to_str(X509_get_subject_name(x), info->subject, sizeof(info->subject)) < 0 ||
	    name_to_str(X509_get_issuer_name(x), info->issuer, sizeof(info->issuer)) < 0)
		return fail(err, errlen, "out of memory");

	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	BN_free(bn);
	if (!hex)
		return fail(err, errlen, "certificate has a malformed serial number");
	copy_printable(info->serial, sizeof(info->serial), (const unsigned char *)hex, strlen(hex));
	OPENSSL_free(hex);

	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (X509_digest(x, EVP_sha256(), md, &mdlen) != 1)
		return fail(err, errlen, "cannot compute the certificate's fingerprint");
	static const char digits[] = "0123456789ABCDEF";
	size_t k = 0;
	for (unsigned i = 0; i < mdlen && k + 3 < sizeof(info->sha256); i++) {
		if (i)
			info->sha256[k++] = ':';
		info->sha256[k++] = digits[md[i] >> 4];
		info->sha256[k++] = digits[md[i] & 15];
	}
	info->sha256[k] = '\0';

	describe_key(X509_get0_pubkey(x), info->key_type, sizeof(info->key_type));

	uint32_t flags = X509_get_extension_flags(x);
	info->bad_extensions = (flags & EXFLAG_INVALID) != 0;
	info->is_ca = (flags & EXFLAG_CA) != 0;
	info->self_signed = X509_self_signed(x, 0) == 1;
	if (flags & EXFLAG_KUSAGE) {
		uint32_t ku = X509_get_key_usage(x);
		char *b = info->key_usage;
		size_t n = sizeof(info->key_usage);
		add_flag_name(b, n, ku, KU_DIGITAL_SIGNATURE, "digitalSignature");
		add_flag_name(b, n, ku, KU_NON_REPUDIATION, "nonRepudiation");
		add_flag_name(b, n, ku, KU_KEY_ENCIPHERMENT, "keyEncipherment");
		add_flag_name(b, n, ku, KU_DATA_ENCIPHERMENT, "dataEncipherment");
		add_flag_name(b, n, ku, KU_KEY_AGREEMENT, "keyAgreement");
		add_flag_name(b, n, ku, KU_KEY_CERT_SIGN, "keyCertSign");
		add_flag_name(b, n, ku, KU_CRL_SIGN, "cRLSign");
		add_flag_name(b, n, ku, KU_ENCIPHER_ONLY, "encipherOnly");
		add_flag_name(b, n, ku, KU_DECIPHER_ONLY, "decipherOnly");
	}
	info->has_eku = (flags & EXFLAG_XKUSAGE) != 0;
	info->server_auth = true;
	if (info->has_eku) {
		uint32_t xku = X509_get_extended_key_usage(x);
		char *b = info->ext_key_usage;
		size_t n = sizeof(info->ext_key_usage);
		info->server_auth = (xku & (XKU_SSL_SERVER | XKU_ANYEKU)) != 0;
		add_flag_name(b, n, xku, XKU_SSL_SERVER, "serverAuth");
		add_flag_name(b, n, xku, XKU_SSL_CLIENT, "clientAuth");
		add_flag_name(b, n, xku, XKU_SMIME, "emailProtection");
		add_flag_name(b, n, xku, XKU_CODE_SIGN, "codeSigning");
		add_flag_name(b, n, xku, XKU_OCSP_SIGN, "OCSPSigning");
		add_flag_name(b, n, xku, XKU_TIMESTAMP, "timeStamping");
		add_flag_name(b, n, xku, XKU_ANYEKU, "anyExtendedKeyUsage");
		if (!b[0])
			fmt_buf(b, n, "(other purposes only)");
	}

	if (cert_times(x, &info->not_before, &info->not_after) < 0)
		return fail(err, errlen, "certificate has a malformed validity period");
	if (collect_sans(x, info) < 0)
		return fail(err, errlen, "out of memory");
	return 0;
}

int certs_inspect(const char *data, size_t len, struct certs_info *info, char *err, size_t errlen)
{
	memset(info, 0, sizeof(*info));
	arena_init(&info->arena, 4u << 20);
	unsigned count = 0;
	X509 *x = parse_cert(data, len, true, &count, err, errlen);
	if (!x)
		return -1;
	info->n_certs = count;
	int rc = describe_cert(x, info, err, errlen);
	X509_free(x);
	ERR_clear_error();
	return rc;
}

void certs_info_release(struct certs_info *info)
{
	arena_release(&info->arena);
	info->dns = info->ips = NULL;
	info->n_dns = info->n_ips = 0;
}

bool certs_info_has_dns(const struct certs_info *info, const char *host)
{
	const char *dot = strchr(host, '.');
	for (size_t i = 0; i < info->n_dns; i++) {
		const char *san = info->dns[i];
		if (strcasecmp(san, host) == 0)
			return true;
		/* "*.ns.svc" covers "svc.ns.svc": exactly one non-empty leftmost label */
		if (san[0] == '*' && san[1] == '.' && dot && dot != host && strcasecmp(san + 1, dot) == 0)
			return true;
	}
	return false;
}

/* ---- names ---- */

static bool label_ok(const char *s, size_t n, bool upper)
{
	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			     (upper && c >= 'A' && c <= 'Z');
		if (!alnum && !(c == '-' && i > 0 && i < n - 1))
			return false;
	}
	return true;
}

bool certs_dns_label_ok(const char *s)
{
	return label_ok(s, strlen(s), false);
}

bool certs_dns_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253)
		return false;
	if (s[0] == '*' && s[1] == '.') {
		s += 2;
		n -= 2;
		if (n == 0)
			return false;
	}
	for (;;) {
		const char *dot = memchr(s, '.', n);
		size_t l = dot ? (size_t)(dot - s) : n;
		if (!label_ok(s, l, true))
			return false;
		if (!dot)
			return true;
		s += l + 1;
		n -= l + 1;
	}
}

/* ---- files ---- */

void certs_free_secret(char *data, size_t len)
{
	if (!data)
		return;
	OPENSSL_cleanse(data, len + 1);
	xfree(data);
}

int certs_read_file(const char *path, size_t max, char **data, size_t *len, char *err,
		    size_t errlen)
{
	*data = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return fail(err, errlen, "cannot read '%s': %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return fail(err, errlen, "cannot read '%s': %s", path, strerror(e));
	}
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		return fail(err, errlen, "cannot read '%s': it is a directory", path);
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max) {
		close(fd);
		return fail(err, errlen, "'%s' is larger than %zu bytes", path, max);
	}
	size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 4096;
	if (cap > max + 1)
		cap = max + 1;
	size_t n = 0;
	char *p = xmalloc(cap);
	if (!p) {
		close(fd);
		return fail(err, errlen, "cannot read '%s': out of memory", path);
	}
	for (;;) {
		if (n + 1 == cap) {   /* full: grow without leaving a copy of a key behind */
			if (n >= max) {
				certs_free_secret(p, n);
				close(fd);
				return fail(err, errlen, "'%s' is larger than %zu bytes", path, max);
			}
			size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			char *q = xmalloc(ncap);
			if (!q) {
				certs_free_secret(p, n);
				close(fd);
				return fail(err, errlen, "cannot read '%s': out of memory", path);
			}
			memcpy(q, p, n);
			certs_free_secret(p, n);
			p = q;
			cap = ncap;
		}
		ssize_t r = read(fd, p + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			certs_free_secret(p, n);
			close(fd);
			return fail(err, errlen, "cannot read '%s': %s", path, strerror(e));
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	p[n] = '\0';
	*data = p;
	*len = n;
	return 0;
}

/* Read and parse a PEM certificate file. New reference, or NULL. */
static X509 *load_cert_file(const char *path, char *err, size_t errlen)
{
	char *data;
	size_t len;
	char why[256];
	if (certs_read_file(path, CERTS_MAX_INPUT, &data, &len, err, errlen) < 0)
		return NULL;
	X509 *x = parse_cert(data, len, false, NULL, why, sizeof(why));
	certs_free_secret(data, len);
	if (!x)
		fail(err, errlen, "'%s': %s", path, why);
	return x;
}

static EVP_PKEY *load_key_file(const char *path, char *err, size_t errlen)
{
	char *data;
	size_t len;
	char why[256];
	if (certs_read_file(path, CERTS_MAX_INPUT, &data, &len, err, errlen) < 0)
		return NULL;
	EVP_PKEY *k = parse_key(data, len, why, sizeof(why));
	certs_free_secret(data, len);
	if (!k)
		fail(err, errlen, "'%s': %s", path, why);
	return k;
}

/* mkdir -p with mode for the directories it creates. */
static int make_dirs(const char *dir, mode_t mode, char *err, size_t errlen)
{
	char path[4096];
	size_t n = strlen(dir);
	if (n == 0 || n >= sizeof(path))
		return fail(err, errlen, "output directory name is empty or too long");
	memcpy(path, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		char c = path[i];
		path[i] = '\0';
		struct stat st;
		if (stat(path, &st) < 0) {
			if (errno != ENOENT || (mkdir(path, mode) < 0 && errno != EEXIST))
				return fail(err, errlen, "cannot create directory '%s': %s", path,
					    strerror(errno));
		} else if (!S_ISDIR(st.st_mode) && (c == '\0' || c == '/')) {
			return fail(err, errlen, "'%s' is not a directory", path);
		}
		path[i] = c;
	}
	return 0;
}

/* Write x (PEM) or key (PKCS#8 PEM) to dir/name with its mode from creation on. Without force the
 * file must not exist (O_EXCL); with force it is written beside and renamed over (atomic for
 * readers such as a running server). */
static int write_pem(const char *dir, const char *name, bool force, X509 *x, EVP_PKEY *key,
		     char *err, size_t errlen)
{
	char path[4200], tmp[4200];
	mode_t mode = key ? 0600 : 0644;
	int fd;
	fmt_buf(path, sizeof(path), "%s/%s", dir, name);
	if (force) {
		fmt_buf(tmp, sizeof(tmp), "%s/.%s.tmp-XXXXXX", dir, name);
		fd = mkostemp(tmp, O_CLOEXEC);   /* created 0600 */
	} else {
		tmp[0] = '\0';
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd < 0 && errno == EEXIST)
			return fail(err, errlen, "'%s' already exists (use --force to replace it)", path);
	}
	if (fd < 0)
		return fail(err, errlen, "cannot create '%s': %s", force ? tmp : path, strerror(errno));
	const char *target = force ? tmp : path;
	int e = 0;
	if (fchmod(fd, mode) < 0)   /* exact mode whatever the umask */
		e = errno;
	BIO *b = e ? NULL : BIO_new_fd(fd, BIO_NOCLOSE);
	if (!e) {
		errno = 0;
		int ok = b && (key ? PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL)
				   : PEM_write_bio_X509(b, x));
		if (!ok || BIO_flush(b) != 1)
			e = errno ? errno : EIO;
	}
	BIO_free(b);
	if (!e && fsync(fd) < 0)
		e = errno;
	if (close(fd) < 0 && !e)
		e = errno;
	if (!e && force && rename(tmp, path) < 0)
		e = errno;
	if (e) {
		unlink(target);
		return fail(err, errlen, "cannot write '%s': %s", path, strerror(e));
	}
	return 0;
}

static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/* ---- generate ---- */

static EVP_PKEY *new_p256_key(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

/* A random positive serial of 128 bits (RFC 5280: positive, at most 20 octets). */
static int set_random_serial(X509 *x)
{
	unsigned char r[16];
	bool zero;
	do {
		if (RAND_bytes(r, sizeof(r)) != 1)
			return -1;
		zero = true;
		for (size_t i = 0; i < sizeof(r); i++)
			zero = zero && r[i] == 0;
	} while (zero);
	BIGNUM *bn = BN_bin2bn(r, sizeof(r), NULL);
	int rc = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ? 0 : -1;
	BN_free(bn);
	return rc;
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
	if (!ext)
		return -1;
	int rc = X509_add_ext(x, ext, -1) == 1 ? 0 : -1;
	X509_EXTENSION_free(ext);
	return rc;
}

static const EVP_MD *sign_md(EVP_PKEY *key)
{
	int id = EVP_PKEY_get_base_id(key);
	return (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448) ? NULL : EVP_sha256();
}

/* A new certificate for pub named cn, valid from now - BACKDATE_SECONDS to now + days, signed by
 * issuer_key (issuer NULL: self-signed CA). sans (borrowed) only for a leaf. */
static X509 *build_cert(EVP_PKEY *pub, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
			time_t now, int days, GENERAL_NAMES *sans, char *err, size_t errlen)
{
	bool ca = issuer == NULL;
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	X509V3_CTX ctx;
	if (!x || !name)
		goto fail_oom;
	if (X509_set_version(x, X509_VERSION_3) != 1 || set_random_serial(x) < 0)
		goto fail_oom;
	if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
				       0) != 1)
		goto fail_ossl;
	if (X509_set_subject_name(x, name) != 1 ||
	    X509_set_issuer_name(x, ca ? name : X509_get_subject_name(issuer)) != 1)
		goto fail_oom;
	if (!ASN1_TIME_set(X509_getm_notBefore(x), now - BACKDATE_SECONDS) ||
	    !ASN1_TIME_adj(X509_getm_notAfter(x), now, days, 0))
		goto fail_ossl;
	if (X509_set_pubkey(x, pub) != 1)
		goto fail_oom;

	X509V3_set_ctx(&ctx, ca ? x : issuer, x, NULL, NULL, 0);
	if (ca) {
		if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE") < 0 ||
		    add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") < 0 ||
		    add_ext(x, &ctx, NID_subject_key_identifier, "hash") < 0 ||
		    add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") < 0)
			goto fail_ossl;
	} else {
		if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
		    add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") < 0 ||
		    add_ext(x, &ctx, NID_ext_key_usage, "serverAuth") < 0 ||
		    add_ext(x, &ctx, NID_subject_key_identifier, "hash") < 0 ||
		    add_ext(x, &ctx, NID_authority_key_identifier, "keyid,issuer") < 0 ||
		    X509_add1_ext_i2d(x, NID_subject_alt_name, sans, 0, X509V3_ADD_DEFAULT) != 1)
			goto fail_ossl;
	}
	if (X509_sign(x, issuer_key, sign_md(issuer_key)) <= 0)
		goto fail_ossl;
	X509_NAME_free(name);
	ERR_clear_error();
	return x;

fail_ossl:
	fail(err, errlen, "cannot build the %s certificate (%s)", ca ? "CA" : "serving",
	     ossl_reason());
	X509_NAME_free(name);
	X509_free(x);
	return NULL;
fail_oom:
	fail(err, errlen, "cannot build the %s certificate: out of memory", ca ? "CA" : "serving");
	X509_NAME_free(name);
	X509_free(x);
	return NULL;
}

static int add_san(GENERAL_NAMES *gens, int type, const char *value)
{
	GENERAL_NAME *g = NULL;
	if (type == GEN_DNS) {
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();
		if (!s || ASN1_STRING_set(s, value, (int)strlen(value)) != 1) {
			ASN1_IA5STRING_free(s);
			return -1;
		}
		g = GENERAL_NAME_new();
		if (!g) {
			ASN1_IA5STRING_free(s);
			return -1;
		}
		GENERAL_NAME_set0_value(g, GEN_DNS, s);
	} else {
		ASN1_OCTET_STRING *ip = a2i_IPADDRESS(value);
		if (!ip)
			return -1;
		g = GENERAL_NAME_new();
		if (!g) {
			ASN1_OCTET_STRING_free(ip);
			return -1;
		}
		GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
	}
	if (!sk_GENERAL_NAME_push(gens, g)) {
		GENERAL_NAME_free(g);
		return -1;
	}
	return 0;
}

/* The serving certificate's names: svc, svc.ns, svc.ns.svc, svc.ns.svc.cluster.local, then the
 * extra DNS names (duplicates dropped) and IPs. New, or NULL. */
static GENERAL_NAMES *serving_sans(const struct certs_gen_opts *o, char *err, size_t errlen)
{
	char names[4][300];
	fmt_buf(names[0], sizeof(names[0]), "%s", o->service);
	fmt_buf(names[1], sizeof(names[1]), "%s.%s", o->service, o->namespace_);
	fmt_buf(names[2], sizeof(names[2]), "%s.%s.svc", o->service, o->namespace_);
	fmt_buf(names[3], sizeof(names[3]), "%s.%s.svc.cluster.local", o->service, o->namespace_);
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	if (!gens)
		goto oom;
	for (size_t i = 0; i < 4; i++)
		if (add_san(gens, GEN_DNS, names[i]) < 0)
			goto oom;
	for (size_t i = 0; i < o->n_dns; i++) {
		bool dup = false;
		for (size_t j = 0; j < 4; j++)
			dup = dup || strcasecmp(names[j], o->dns[i]) == 0;
		for (size_t j = 0; j < i; j++)
			dup = dup || strcasecmp(o->dns[j], o->dns[i]) == 0;
		if (!dup && add_san(gens, GEN_DNS, o->dns[i]) < 0)
			goto oom;
	}
	for (size_t i = 0; i < o->n_ips; i++)
		if (add_san(gens, GEN_IPADD, o->ips[i]) < 0)
			goto oom;
	return gens;
oom:
	GENERAL_NAMES_free(gens);
	fail(err, errlen, "cannot build the subjectAltNames: out of memory");
	return NULL;
}

static int validate_opts(const struct certs_gen_opts *o, char *err, size_t errlen)
{
	if (!o->service || !certs_dns_label_ok(o->service))
		return fail(err, errlen, "service name '%s' is not a DNS label (a-z, 0-9, '-', at most 63)",
			    o->service ? o->service : "");
	if (!o->namespace_ || !certs_dns_label_ok(o->namespace_))
		return fail(err, errlen, "namespace '%s' is not a DNS label (a-z, 0-9, '-', at most 63)",
			    o->namespace_ ? o->namespace_ : "");
	if (!o->out_dir || !o->out_dir[0] || strlen(o->out_dir) > 4000)
		return fail(err, errlen, "output directory name is empty or too long");
	if (o->days < 1 || o->days > MAX_DAYS)
		return fail(err, errlen, "serving certificate days %d is not in 1..%d", o->days, MAX_DAYS);
	if (!o->ca_cert_path != !o->ca_key_path)
		return fail(err, errlen, "a CA to reuse needs both its certificate and its key");
	if (!o->ca_cert_path && (o->ca_days < 1 || o->ca_days > MAX_DAYS))
		return fail(err, errlen, "CA days %d is not in 1..%d", o->ca_days, MAX_DAYS);
	if (o->n_dns > MAX_EXTRA_SANS || o->n_ips > MAX_EXTRA_SANS)
		return fail(err, errlen, "too many extra names (at most %d DNS names and %d IPs)",
			    MAX_EXTRA_SANS, MAX_EXTRA_SANS);
	for (size_t i = 0; i < o->n_dns; i++)
		if (!certs_dns_name_ok(o->dns[i]))
			return fail(err, errlen, "'%s' is not a DNS name", o->dns[i]);
	for (size_t i = 0; i < o->n_ips; i++) {
		ASN1_OCTET_STRING *ip = a2i_IPADDRESS(o->ips[i]);
		if (!ip)
			return fail(err, errlen, "'%s' is not an IPv4 or IPv6 address", o->ips[i]);
		ASN1_OCTET_STRING_free(ip);
	}
	return 0;
}

/* Load and vet the CA to reuse: parses, key matches, is a CA allowed to sign certificates, valid
 * at now. */
static int load_ca(const struct certs_gen_opts *o, int64_t now, X509 **ca, EVP_PKEY **ca_key,
		   char *err, size_t errlen)
{
	char why[256];
	*ca = load_cert_file(o->ca_cert_path, err, errlen);
	if (!*ca)
		return -1;
	*ca_key = load_key_file(o->ca_key_path, err, errlen);
	if (!*ca_key)
		return -1;
	if (key_matches(*ca, *ca_key, "CA certificate", why, sizeof(why)) < 0)
		return fail(err, errlen, "'%s': %s '%s'", o->ca_key_path, why, o->ca_cert_path);
	if (X509_check_ca(*ca) != 1)
		return fail(err, errlen, "'%s' is not a CA certificate (no basicConstraints CA:TRUE)",
			    o->ca_cert_path);
	if ((X509_get_extension_flags(*ca) & EXFLAG_KUSAGE) &&
	    !(X509_get_key_usage(*ca) & KU_KEY_CERT_SIGN))
		return fail(err, errlen, "'%s': the CA's keyUsage does not allow keyCertSign",
			    o->ca_cert_path);
	if (valid_at(*ca, now, "CA certificate", NULL, why, sizeof(why)) < 0)
		return fail(err, errlen, "'%s': %s", o->ca_cert_path, why);
	return 0;
}

int certs_generate(const struct certs_gen_opts *o, struct certs_gen_result *res, char *err,
		   size_t errlen)
{
	struct certs_gen_result local;
	if (!res)
		res = &local;
	memset(res, 0, sizeof(*res));
	if (validate_opts(o, err, errlen) < 0)
		return -1;

	int rc = -1;
	X509 *ca = NULL, *leaf = NULL;
	EVP_PKEY *ca_key = NULL, *key = NULL;
	GENERAL_NAMES *sans = NULL;
	time_t now = o->now ? o->now : time(NULL);
	bool gen_ca = o->ca_cert_path == NULL;
	char ca_crt[4200];
	fmt_buf(ca_crt, sizeof(ca_crt), "%s/ca.crt", o->out_dir);

	/* Everything is made in memory first; nothing is written unless all of it worked. */
	if (gen_ca) {
		char cn[64];
		fmt_buf(cn, sizeof(cn), "posture-ca@%lld", (long long)now);
		ca_key = new_p256_key();
		if (!ca_key) {
			fail(err, errlen, "cannot generate the CA key (%s)", ossl_reason());
			goto out;
		}
		ca = build_cert(ca_key, cn, NULL, ca_key, now, o->ca_days, NULL, err, errlen);
		if (!ca)
			goto out;
	} else if (load_ca(o, (int64_t)now, &ca, &ca_key, err, errlen) < 0) {
		goto out;
	}
	int64_t ca_nb, ca_na;
	if (cert_times(ca, &ca_nb, &ca_na) < 0) {
		fail(err, errlen, "CA certificate has a malformed validity period");
		goto out;
	}
	int64_t leaf_na = (int64_t)now + (int64_t)o->days * 86400;
	if (leaf_na > ca_na) {
		char when[40];
		certs_format_time(ca_na, when, sizeof(when));
		int64_t max_days = (ca_na - (int64_t)now) / 86400;
		if (max_days < 1)
			fail(err, errlen, "the CA expires on %s: use a new CA", when);
		else
			fail(err, errlen,
			     "%d days would outlive the CA (valid until %s): pass --days %lld or fewer%s",
			     o->days, when, (long long)max_days,
			     gen_ca ? ", or more --ca-days" : ", or use a new CA");
		goto out;
	}

	/* CN svc.ns.svc (ignored by verifiers, but helpful to people); X.509 caps a CN at 64 */
	char cn[300];
	fmt_buf(cn, sizeof(cn), "%s.%s.svc", o->service, o->namespace_);
	if (strlen(cn) > 64)
		fmt_buf(cn, sizeof(cn), "%s", o->service);
	sans = serving_sans(o, err, errlen);
	if (!sans)
		goto out;
	key = new_p256_key();
	if (!key) {
		fail(err, errlen, "cannot generate the serving key (%s)", ossl_reason());
		goto out;
	}
	leaf = build_cert(key, cn, ca, ca_key, now, o->days, sans, err, errlen);
	if (!leaf)
		goto out;

	res->wrote_ca_key = gen_ca;
	res->wrote_ca_cert = gen_ca || !same_file(o->ca_cert_path, ca_crt);
	if (make_dirs(o->out_dir, 0700, err, errlen) < 0)
		goto out;
	if (!o->force) {   /* refuse before writing anything */
		const char *names[] = { "ca.key", "ca.crt", "tls.key", "tls.crt" };
		bool write[] = { res->wrote_ca_key, res->wrote_ca_cert, true, true };
		for (size_t i = 0; i < ARRAY_LEN(names); i++) {
			char p[4200];
			struct stat st;
			fmt_buf(p, sizeof(p), "%s/%s", o->out_dir, names[i]);
			if (write[i] && lstat(p, &st) == 0) {
				fail(err, errlen, "'%s' already exists (use --force to replace it)", p);
				goto out;
			}
		}
	}
	const char *dir = o->out_dir;
	if ((res->wrote_ca_key && write_pem(dir, "ca.key", o->force, NULL, ca_key, err, errlen) < 0) ||
	    (res->wrote_ca_cert && write_pem(dir, "ca.crt", o->force, ca, NULL, err, errlen) < 0) ||
	    write_pem(dir, "tls.key", o->force, NULL, key, err, errlen) < 0 ||
	    write_pem(dir, "tls.crt", o->force, leaf, NULL, err, errlen) < 0)
		goto out;
	sync_dir(o->out_dir);

	res->ca_not_after = ca_na;
	int64_t leaf_nb;
	if (cert_times(leaf, &leaf_nb, &res->not_after) < 0) {
		fail(err, errlen, "serving certificate has a malformed validity period");
		goto out;
	}
	if (name_to_str(X509_get_subject_name(ca), res->ca_subject, sizeof(res->ca_subject)) < 0 ||
	    name_to_str(X509_get_subject_name(leaf), res->subject, sizeof(res->subject)) < 0) {
		fail(err, errlen, "out of memory");
		goto out;
	}
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	if (hex)
		fmt_buf(res->serial, sizeof(res->serial), "%s", hex);
	OPENSSL_free(hex);
	BN_free(bn);
	rc = 0;
out:
	GENERAL_NAMES_free(sans);
	X509_free(leaf);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	ERR_clear_error();
	return rc;
}
