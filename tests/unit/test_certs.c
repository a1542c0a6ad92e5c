/* test_certs.c - certs.c: pair checks, inspection, names, files, generation, failed allocations.
 *
 * Run from the repository root: fixtures come from tests/fixtures/certs/gen.sh (the openssl CLI)
 * in a temporary directory. OpenSSL's allocations go through xmalloc, so the sweep fails each one
 * in turn (a sample; POSTURE_CERTS_FULL_SWEEP=1 for all, POSTURE_CERTS_NO_SWEEP=1 for none). */
#include "certs.h"
#include "test.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Fixture dates (tests/fixtures/certs/gen.sh). */
#define T_2020 1577836800LL         /* 2020-01-01T00:00:00Z: good certs start */
#define T_2099_END 4102444799LL     /* 2099-12-31T23:59:59Z: good certs end */

static char tmp_root[512];   /* removed at the end */
static char fx[600];         /* fixtures made by gen.sh */

struct file {
	char *p;
	size_t n;
};

static struct file load(const char *name)
{
	struct file f = { NULL, 0 };
	char path[800], err[256];
	fmt_buf(path, sizeof(path), "%s/%s", fx, name);
	if (certs_read_file(path, CERTS_MAX_INPUT, &f.p, &f.n, err, sizeof(err)) < 0)
		fprintf(stderr, "fixture: %s\n", err);
	return f;
}

static void drop(struct file *f)
{
	certs_free_secret(f->p, f->n);
	f->p = NULL;
	f->n = 0;
}

/* certs_check_pair on two fixtures; err gets the reason. */
static int pair_at(const char *crt, const char *key, time_t now, int64_t *na, char *err,
		   size_t errlen)
{
	struct file c = load(crt), k = load(key);
	err[0] = '\0';
	int rc = -2;
	if (c.p && k.p)
		rc = certs_check_pair(c.p, c.n, k.p, k.n, now, na, err, errlen);
	drop(&c);
	drop(&k);
	return rc;
}

static int pair(const char *crt, const char *key, char *err, size_t errlen)
{
	int64_t na;
	return pair_at(crt, key, time(NULL), &na, err, errlen);
}

/* ---- certs_check_pair ---- */

static void test_good_pair(void)
{
	char err[256];
	int64_t na = 0;
	CHECK_INT(pair_at("good.crt", "good.key", time(NULL), &na, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_INT(na, T_2099_END);
	CHECK_INT(pair("good.crt", "good-trad.key", err, sizeof(err)), 0);   /* EC PRIVATE KEY */
	CHECK_INT(pair("chain.crt", "good.key", err, sizeof(err)), 0);       /* leaf first */
}

static void test_rsa_pair(void)
{
	char err[256];
	CHECK_INT(pair("rsa.crt", "rsa.key", err, sizeof(err)), 0);          /* RSA PRIVATE KEY */
	CHECK_INT(pair("rsa.crt", "rsa-pkcs8.key", err, sizeof(err)), 0);
}

static void test_mismatched_key(void)
{
	char err[256];
	CHECK_INT(pair("good.crt", "other.key", err, sizeof(err)), -1);
	CHECK_STR(err, "private key does not match the certificate");
	CHECK_INT(pair("good.crt", "rsa.key", err, sizeof(err)), -1);
	CHECK_STR(err, "private key does not match the certificate");
	CHECK_INT(pair("rsa.crt", "good.key", err, sizeof(err)), -1);
	CHECK_STR(err, "private key does not match the certificate");
	CHECK_INT(pair("expired.crt", "good.key", err, sizeof(err)), -1);   /* match checked first */
	CHECK_STR(err, "private key does not match the certificate");
}

static void test_expired(void)
{
	char err[256];
	CHECK_INT(pair("expired.crt", "expired.key", err, sizeof(err)), -1);
	CHECK_STR(err, "certificate expired on 2020-12-31T23:59:59Z");
}

static void test_not_yet_valid(void)
{
	char err[256];
	CHECK_INT(pair("future.crt", "future.key", err, sizeof(err)), -1);
	CHECK_STR(err, "certificate is not valid before 2090-01-01T00:00:00Z");
}

static void test_validity_edges(void)
{
	char err[256];
	int64_t na = 0;
	CHECK_INT(pair_at("good.crt", "good.key", (time_t)(T_2020 - 1), &na, err, sizeof(err)), -1);
	CHECK_STR(err, "certificate is not valid before 2020-01-01T00:00:00Z");
	CHECK_INT(pair_at("good.crt", "good.key", (time_t)T_2020, &na, err, sizeof(err)), 0);
	CHECK_INT(pair_at("good.crt", "good.key", (time_t)T_2099_END, &na, err, sizeof(err)), 0);
	CHECK_INT(pair_at("good.crt", "good.key", (time_t)(T_2099_END + 1), &na, err, sizeof(err)),
		  -1);
	CHECK_STR(err, "certificate expired on 2099-12-31T23:59:59Z");
}

static void test_garbage(void)
{
	char err[256];
	CHECK_INT(pair("garbage.pem", "good.key", err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "no certificate found");
	CHECK_INT(pair("truncated.crt", "good.key", err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "malformed PEM certificate");
	CHECK_INT(pair("badb64.crt", "good.key", err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "malformed PEM certificate");
	CHECK_INT(pair("good.der", "good.key", err, sizeof(err)), -1);      /* the server wants PEM */
	CHECK_CONTAINS(err, "no certificate found");
	CHECK_INT(pair("good.crt", "garbage.pem", err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "no private key found");
	CHECK_INT(pair("good.crt", "good.crt", err, sizeof(err)), -1);      /* a cert is no key */
	CHECK_CONTAINS(err, "no private key found");
	CHECK_INT(pair("good.key", "good.key", err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "no certificate found");

	/* a truncated key, and a PEM key whose body is cut */
	struct file c = load("good.crt"), k = load("good.key");
	if (c.p && k.p) {
		CHECK_INT(certs_check_pair(c.p, c.n, k.p, k.n / 2, 0, NULL, err, sizeof(err)), -1);
		CHECK_CONTAINS(err, "private key");
		CHECK_INT(certs_check_pair(c.p, c.n - 40, k.p, k.n, 0, NULL, err, sizeof(err)), -1);
		CHECK_CONTAINS(err, "malformed PEM certificate");
	}

	/* random bytes and random mutations of a good pair: -1 with a reason, never a crash */
	unsigned seed = 12345;
	char junk[2048];
	for (int i = 0; i < 300 && c.p && k.p; i++) {
		size_t n = 1 + (size_t)(rand_r(&seed) % (int)sizeof(junk));
		for (size_t j = 0; j < n; j++)
			junk[j] = (char)rand_r(&seed);
		if (i % 3 == 0)
			junk[0] = 0x30;
		CHECK_INT(certs_check_pair(junk, n, k.p, k.n, time(NULL), NULL, err, sizeof(err)), -1);
		CHECK(err[0] != '\0');
		CHECK_INT(certs_check_pair(c.p, c.n, junk, n, time(NULL), NULL, err, sizeof(err)), -1);
		CHECK(err[0] != '\0');

		char *mc = xmalloc(c.n), *mk = xmalloc(k.n);
		memcpy(mc, c.p, c.n);
		memcpy(mk, k.p, k.n);
		for (int m = 0; m < 3; m++) {
			mc[(size_t)rand_r(&seed) % c.n] = (char)rand_r(&seed);
			mk[(size_t)rand_r(&seed) % k.n] = (char)rand_r(&seed);
		}
		int rc = certs_check_pair(mc, c.n, mk, k.n, time(NULL), NULL, err, sizeof(err));
		CHECK(rc == 0 || (rc == -1 && err[0] != '\0'));
		struct certs_info info;
		rc = certs_inspect(mc, c.n, &info, err, sizeof(err));
		CHECK(rc == 0 || (rc == -1 && err[0] != '\0'));
		certs_info_release(&info);
		rc = certs_inspect(junk, n, &info, err, sizeof(err));
		CHECK(rc == -1 && err[0] != '\0');
		certs_info_release(&info);
		xfree(mc);
		xfree(mk);
	}
	drop(&c);
	drop(&k);
}

static void test_empty_and_huge(void)
{
	char err[256];
	struct file c = load("good.crt"), k = load("good.key");
	if (!c.p || !k.p) {
		CHECK(!"fixtures");
		return;
	}
	CHECK_INT(certs_check_pair("", 0, k.p, k.n, 0, NULL, err, sizeof(err)), -1);
	CHECK_STR(err, "certificate is empty");
	CHECK_INT(certs_check_pair(c.p, c.n, "", 0, 0, NULL, err, sizeof(err)), -1);
	CHECK_STR(err, "private key is empty");
	size_t big = CERTS_MAX_INPUT + 1;
	char *huge = xmalloc(big);
	memset(huge, 'A', big);
	memcpy(huge, c.p, c.n);   /* a valid PEM at the front does not help */
	CHECK_INT(certs_check_pair(huge, big, k.p, k.n, 0, NULL, err, sizeof(err)), -1);
	CHECK_STR(err, "certificate is larger than 1048576 bytes");
	CHECK_INT(certs_check_pair(c.p, c.n, huge, big, 0, NULL, err, sizeof(err)), -1);
	CHECK_STR(err, "private key is larger than 1048576 bytes");
	struct certs_info info;
	CHECK_INT(certs_inspect(huge, big, &info, err, sizeof(err)), -1);
	certs_info_release(&info);
	/* NUL bytes inside the input, and an err buffer too small for the message */
	char nul[64] = "-----BEGIN CERTIFICATE-----\n\0\0\0";
	CHECK_INT(certs_check_pair(nul, sizeof(nul), k.p, k.n, 0, NULL, err, 8), -1);
	CHECK_INT((long)strlen(err), 7);
	xfree(huge);
	drop(&c);
	drop(&k);
}

static void test_encrypted_key(void)
{
	char err[256];
	/* must refuse without prompting on a terminal */
	CHECK_INT(pair("good.crt", "encrypted.key", err, sizeof(err)), -1);
	CHECK_STR(err, "private key is encrypted (posture needs it unencrypted)");
}

static void test_bundle_in_one_buffer(void)
{
	char err[256];
	struct file c = load("good.crt"), k = load("good.key");
	if (c.p && k.p) {
		size_t n = c.n + k.n;
		char *both = xmalloc(n);
		memcpy(both, k.p, k.n);   /* key first: the certificate is still found */
		memcpy(both + k.n, c.p, c.n);
		CHECK_INT(certs_check_pair(both, n, both, n, time(NULL), NULL, err, sizeof(err)), 0);
		xfree(both);
	}
	drop(&c);
	drop(&k);
}

/* ---- certs_inspect ---- */

static int inspect(const char *name, struct certs_info *info, char *err, size_t errlen)
{
	struct file f = load(name);
	int rc = certs_inspect(f.p ? f.p : "", f.n, info, err, errlen);
	drop(&f);
	return rc;
}

static void test_inspect_good(void)
{
	struct certs_info in;
	char err[256];
	CHECK_INT(inspect("good.crt", &in, err, sizeof(err)), 0);
	CHECK_STR(in.subject, "CN=svc.ns.svc");
	CHECK_STR(in.issuer, "CN=posture test CA");
	CHECK_INT(in.n_dns, 4);
	if (in.n_dns == 4) {
		CHECK_STR(in.dns[0], "svc");
		CHECK_STR(in.dns[1], "svc.ns");
		CHECK_STR(in.dns[2], "svc.ns.svc");
		CHECK_STR(in.dns[3], "svc.ns.svc.cluster.local");
	}
	CHECK_INT(in.n_ips, 0);
	CHECK_INT(in.not_before, T_2020);
	CHECK_INT(in.not_after, T_2099_END);
	CHECK_STR(in.key_type, "EC P-256");
	CHECK_STR(in.key_usage, "digitalSignature, keyEncipherment");
	CHECK_STR(in.ext_key_usage, "serverAuth");
	CHECK(in.has_eku && in.server_auth);
	CHECK(!in.is_ca && !in.self_signed && !in.bad_extensions);
	CHECK_INT(in.n_certs, 1);
	CHECK_INT((long)strlen(in.sha256), 95);
	CHECK(strlen(in.serial) > 0);
	CHECK(certs_info_has_dns(&in, "svc.ns.svc"));
	CHECK(certs_info_has_dns(&in, "SVC.NS.SVC"));
	CHECK(!certs_info_has_dns(&in, "other.ns.svc"));
	certs_info_release(&in);
}

static void test_inspect_others(void)
{
	struct certs_info in;
	char err[256];

	CHECK_INT(inspect("nosan.crt", &in, err, sizeof(err)), 0);
	CHECK_INT(in.n_dns, 0);
	CHECK(!certs_info_has_dns(&in, "nosan.ns.svc"));   /* the CN does not count */
	certs_info_release(&in);

	CHECK_INT(inspect("ca.crt", &in, err, sizeof(err)), 0);
	CHECK(in.is_ca && in.self_signed);
	CHECK_STR(in.key_usage, "keyCertSign, cRLSign");
	CHECK(!in.has_eku && in.server_auth);
	certs_info_release(&in);

	CHECK_INT(inspect("clientonly.crt", &in, err, sizeof(err)), 0);
	CHECK(in.has_eku && !in.server_auth);
	CHECK_STR(in.ext_key_usage, "clientAuth");
	certs_info_release(&in);

	CHECK_INT(inspect("rsa.crt", &in, err, sizeof(err)), 0);
	CHECK_STR(in.key_type, "RSA 2048");
	certs_info_release(&in);

	CHECK_INT(inspect("good.der", &in, err, sizeof(err)), 0);
	CHECK_STR(in.subject, "CN=svc.ns.svc");
	CHECK_INT(in.n_dns, 4);
	certs_info_release(&in);

	CHECK_INT(inspect("chain.crt", &in, err, sizeof(err)), 0);
	CHECK_INT(in.n_certs, 2);
	CHECK_STR(in.subject, "CN=svc.ns.svc");
	certs_info_release(&in);

	CHECK_INT(inspect("wild.crt", &in, err, sizeof(err)), 0);
	CHECK(certs_info_has_dns(&in, "svc.ns.svc"));
	CHECK(certs_info_has_dns(&in, "other.ns.svc"));
	CHECK(!certs_info_has_dns(&in, "a.b.ns.svc"));   /* one label only */
	CHECK(!certs_info_has_dns(&in, "ns.svc"));
	CHECK(!certs_info_has_dns(&in, ".ns.svc"));
	certs_info_release(&in);

	CHECK_INT(inspect("expired.crt", &in, err, sizeof(err)), 0);   /* inspect does not judge */
	CHECK_INT(in.not_after, 1609459199);
	certs_info_release(&in);

	CHECK_INT(inspect("garbage.pem", &in, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "no certificate found");
	certs_info_release(&in);
	CHECK_INT(inspect("empty.pem", &in, err, sizeof(err)), -1);
	CHECK_STR(err, "certificate is empty");
	certs_info_release(&in);
	CHECK_INT(inspect("truncated.crt", &in, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "malformed PEM certificate");
	certs_info_release(&in);
	CHECK_INT(inspect("good.key", &in, err, sizeof(err)), -1);
	certs_info_release(&in);
}

static void test_has_dns(void)
{
	const char *names[] = { "a.example.com", "*.ns.svc", "*." };
	struct certs_info in;
	memset(&in, 0, sizeof(in));
	in.dns = names;
	in.n_dns = ARRAY_LEN(names);
	CHECK(certs_info_has_dns(&in, "a.example.com"));
	CHECK(certs_info_has_dns(&in, "A.Example.COM"));
	CHECK(!certs_info_has_dns(&in, "b.example.com"));
	CHECK(certs_info_has_dns(&in, "posture.ns.svc"));
	CHECK(!certs_info_has_dns(&in, "x.posture.ns.svc"));
	CHECK(!certs_info_has_dns(&in, "nsx.svc"));
	CHECK(!certs_info_has_dns(&in, ""));
	CHECK(!certs_info_has_dns(&in, "x"));
}

static void test_names(void)
{
	CHECK(certs_dns_label_ok("posture"));
	CHECK(certs_dns_label_ok("posture-system"));
	CHECK(certs_dns_label_ok("a"));
	CHECK(certs_dns_label_ok("0abc"));
	CHECK(!certs_dns_label_ok(""));
	CHECK(!certs_dns_label_ok("-a"));
	CHECK(!certs_dns_label_ok("a-"));
	CHECK(!certs_dns_label_ok("Posture"));
	CHECK(!certs_dns_label_ok("a.b"));
	CHECK(!certs_dns_label_ok("a_b"));
	CHECK(!certs_dns_label_ok("a,DNS:evil"));
	CHECK(certs_dns_label_ok("abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij123"));
	CHECK(!certs_dns_label_ok("abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234"));

	CHECK(certs_dns_name_ok("localhost"));
	CHECK(certs_dns_name_ok("posture.example.COM"));
	CHECK(certs_dns_name_ok("*.example.com"));
	CHECK(!certs_dns_name_ok("*"));
	CHECK(!certs_dns_name_ok("*."));
	CHECK(!certs_dns_name_ok("a.*.com"));
	CHECK(!certs_dns_name_ok("a..b"));
	CHECK(!certs_dns_name_ok(".a"));
	CHECK(!certs_dns_name_ok("a."));
	CHECK(!certs_dns_name_ok(""));
	CHECK(!certs_dns_name_ok("a b"));
	CHECK(!certs_dns_name_ok("127.0.0.1,IP:1.2.3.4"));
	char longname[300];
	memset(longname, 'a', sizeof(longname));
	for (size_t i = 63; i < sizeof(longname); i += 64)
		longname[i] = '.';
	longname[253] = '\0';
	CHECK(longname[252] != '.' && certs_dns_name_ok(longname));
	longname[253] = 'a';
	longname[254] = '\0';
	CHECK(!certs_dns_name_ok(longname));
}

static void test_format_time(void)
{
	char b[40];
	certs_format_time(0, b, sizeof(b));
	CHECK_STR(b, "1970-01-01T00:00:00Z");
	certs_format_time(T_2099_END, b, sizeof(b));
	CHECK_STR(b, "2099-12-31T23:59:59Z");
	certs_format_time(1582934400, b, sizeof(b));
	CHECK_STR(b, "2020-02-29T00:00:00Z");
	certs_format_time(253402300799LL, b, sizeof(b));
	CHECK_STR(b, "9999-12-31T23:59:59Z");
}

static void test_read_file(void)
{
	char path[800], err[256], *data;
	size_t len;
	fmt_buf(path, sizeof(path), "%s/missing", tmp_root);
	CHECK_INT(certs_read_file(path, 100, &data, &len, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "No such file or directory");
	CHECK(data == NULL);
	CHECK_INT(certs_read_file(tmp_root, 100, &data, &len, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "is a directory");
	fmt_buf(path, sizeof(path), "%s/good.crt", fx);
	CHECK_INT(certs_read_file(path, 10, &data, &len, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "is larger than 10 bytes");
	CHECK_INT(certs_read_file(path, CERTS_MAX_INPUT, &data, &len, err, sizeof(err)), 0);
	CHECK(len > 500 && data[len] == '\0' && strncmp(data, "-----BEGIN CERTIFICATE-----", 27) == 0);
	certs_free_secret(data, len);
	certs_free_secret(NULL, 0);
	/* a pipe: no size known in advance, grows in steps, still capped */
	int fds[2];
	if (pipe(fds) == 0) {
		char blob[5000];
		memset(blob, 'x', sizeof(blob));
		CHECK_INT(write(fds[1], blob, sizeof(blob)), (long)sizeof(blob));
		close(fds[1]);
		fmt_buf(path, sizeof(path), "/proc/self/fd/%d", fds[0]);
		CHECK_INT(certs_read_file(path, 4500, &data, &len, err, sizeof(err)), -1);
		CHECK_CONTAINS(err, "larger than 4500");
		close(fds[0]);
	}
}

/* ---- certs_generate ---- */

static X509 *read_cert(const char *dir, const char *name)
{
	char path[800];
	fmt_buf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

static int file_mode(const char *dir, const char *name)
{
	char path[800];
	struct stat st;
	fmt_buf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

static bool exists(const char *dir, const char *name)
{
	return file_mode(dir, name) >= 0;
}

/* The contents of dir/name, new; NULL when unreadable. */
static char *slurp(const char *dir, const char *name, size_t *len)
{
	char path[800], err[256], *data;
	fmt_buf(path, sizeof(path), "%s/%s", dir, name);
	return certs_read_file(path, CERTS_MAX_INPUT, &data, len, err, sizeof(err)) == 0 ? data : NULL;
}

static bool same_contents(const char *dir_a, const char *a, const char *dir_b, const char *b)
{
	size_t na = 0, nb = 0;
	char *pa = slurp(dir_a, a, &na), *pb = slurp(dir_b, b, &nb);
	bool same = pa && pb && na == nb && memcmp(pa, pb, na) == 0;
	certs_free_secret(pa, na);
	certs_free_secret(pb, nb);
	return same;
}

/* leaf verifies against ca as a TLS server certificate for host. */
static bool verifies(X509 *ca, X509 *leaf, const char *host)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	bool ok = false;
	if (st && ctx && X509_STORE_add_cert(st, ca) == 1 &&
	    X509_STORE_CTX_init(ctx, st, leaf, NULL) == 1) {
		X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(ctx);
		X509_VERIFY_PARAM_set1_host(vp, host, 0);
		X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
		ok = X509_verify_cert(ctx) == 1;
		if (!ok && getenv("POSTURE_TEST_VERBOSE"))
			fprintf(stderr, "verify %s: %s\n", host,
				X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	}
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	return ok;
}

static struct certs_gen_opts gen_opts(const char *dir)
{
	struct certs_gen_opts o;
	memset(&o, 0, sizeof(o));
	o.service = "posture";
	o.namespace_ = "posture-system";
	o.out_dir = dir;
	o.days = 365;
	o.ca_days = 3650;
	return o;
}

static void test_generate(void)
{
	char dir[800], err[512];
	fmt_buf(dir, sizeof(dir), "%s/gen/a/b", tmp_root);   /* parents are created */
	struct certs_gen_opts o = gen_opts(dir);
	const char *dns[] = { "localhost", "posture" /* a duplicate, dropped */ };
	const char *ips[] = { "127.0.0.1", "::1" };
	o.dns = dns;
	o.n_dns = 2;
	o.ips = ips;
	o.n_ips = 2;
	struct certs_gen_result res;
	time_t now = time(NULL);
	CHECK_INT(certs_generate(&o, &res, err, sizeof(err)), 0);
	if (!exists(dir, "tls.crt")) {
		fprintf(stderr, "generate: %s\n", err);
		CHECK(!"generated");
		return;
	}
	CHECK(res.wrote_ca_key && res.wrote_ca_cert);
	CHECK_STR(res.subject, "CN=posture.posture-system.svc");
	CHECK_INT(file_mode(dir, "ca.key"), 0600);
	CHECK_INT(file_mode(dir, "tls.key"), 0600);
	CHECK_INT(file_mode(dir, "ca.crt"), 0644);
	CHECK_INT(file_mode(dir, "tls.crt"), 0644);
	CHECK_INT(file_mode(dir, ".."), 0700);
	CHECK(res.not_after >= (int64_t)now + 365 * 86400 &&
	      res.not_after <= (int64_t)now + 365 * 86400 + 5);
	CHECK(res.ca_not_after >= (int64_t)now + 3650 * 86400);

	/* the pair is usable, and what inspect sees is what was asked */
	size_t cn = 0, kn = 0;
	char *c = slurp(dir, "tls.crt", &cn), *k = slurp(dir, "tls.key", &kn);
	int64_t na = 0;
	CHECK(c && k && strncmp(k, "-----BEGIN PRIVATE KEY-----", 27) == 0);
	CHECK_INT(certs_check_pair(c ? c : "", cn, k ? k : "", kn, now, &na, err, sizeof(err)), 0);
	CHECK_INT(na, res.not_after);
	struct certs_info in;
	CHECK_INT(certs_inspect(c ? c : "", cn, &in, err, sizeof(err)), 0);
	CHECK_INT(in.n_dns, 5);
	if (in.n_dns == 5) {
		CHECK_STR(in.dns[0], "posture");
		CHECK_STR(in.dns[1], "posture.posture-system");
		CHECK_STR(in.dns[2], "posture.posture-system.svc");
		CHECK_STR(in.dns[3], "posture.posture-system.svc.cluster.local");
		CHECK_STR(in.dns[4], "localhost");
	}
	CHECK_INT(in.n_ips, 2);
	if (in.n_ips == 2) {
		CHECK_STR(in.ips[0], "127.0.0.1");
		CHECK_STR(in.ips[1], "::1");
	}
	CHECK_STR(in.key_type, "EC P-256");
	CHECK_STR(in.key_usage, "digitalSignature");
	CHECK_STR(in.ext_key_usage, "serverAuth");
	CHECK(in.server_auth && !in.is_ca && !in.self_signed && !in.bad_extensions);
	CHECK(in.not_before <= (int64_t)now - 300 && in.not_before >= (int64_t)now - 305);
	CHECK(strlen(in.serial) >= 16 && strlen(in.serial) <= 32 && in.serial[0] != '-');
	CHECK_STR(in.serial, res.serial);
	certs_info_release(&in);
	certs_free_secret(c, cn);
	certs_free_secret(k, kn);

	size_t an = 0;
	char *a = slurp(dir, "ca.crt", &an);
	CHECK_INT(certs_inspect(a ? a : "", an, &in, err, sizeof(err)), 0);
	CHECK(in.is_ca && in.self_signed);
	CHECK_STR(in.key_usage, "keyCertSign, cRLSign");
	CHECK_STR(in.key_type, "EC P-256");
	CHECK_STR(in.subject, res.ca_subject);
	CHECK_CONTAINS(in.subject, "CN=posture-ca@");
	certs_info_release(&in);
	certs_free_secret(a, an);
	size_t cakn = 0;
	char *cak = slurp(dir, "ca.key", &cakn);
	a = slurp(dir, "ca.crt", &an);
	CHECK_INT(certs_check_pair(a ? a : "", an, cak ? cak : "", cakn, now, NULL, err, sizeof(err)),
		  0);
	certs_free_secret(a, an);
	certs_free_secret(cak, cakn);

	/* signed by the CA; verifies as a TLS server by every name; extensions as specified */
	X509 *ca = read_cert(dir, "ca.crt"), *leaf = read_cert(dir, "tls.crt");
	CHECK(ca && leaf);
	if (ca && leaf) {
		CHECK(verifies(ca, leaf, "posture.posture-system.svc"));
		CHECK(verifies(ca, leaf, "posture"));
		CHECK(verifies(ca, leaf, "localhost"));
		CHECK(!verifies(ca, leaf, "other.posture-system.svc"));
		CHECK_INT(X509_get_version(leaf), X509_VERSION_3);
		int crit = -1;
		BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(ca, NID_basic_constraints, &crit, NULL);
		CHECK(bc && bc->ca && crit == 1);
		BASIC_CONSTRAINTS_free(bc);
		bc = X509_get_ext_d2i(leaf, NID_basic_constraints, &crit, NULL);
		CHECK(bc && !bc->ca && crit == 1);
		BASIC_CONSTRAINTS_free(bc);
		CHECK(X509_get0_subject_key_id(ca) != NULL);
		CHECK(X509_get0_subject_key_id(leaf) != NULL);
		const ASN1_OCTET_STRING *akid = X509_get0_authority_key_id(leaf);
		CHECK(akid && ASN1_OCTET_STRING_cmp(akid, X509_get0_subject_key_id(ca)) == 0);
		int ku = X509_get_ext_by_NID(leaf, NID_key_usage, -1);
		CHECK(ku >= 0 && X509_EXTENSION_get_critical(X509_get_ext(leaf, ku)) == 1);
		CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(ca), X509_get0_serialNumber(leaf)) != 0);
	}
	X509_free(ca);
	X509_free(leaf);
}

static void test_generate_refuses_then_forces(void)
{
	char dir[800], err[512];
	fmt_buf(dir, sizeof(dir), "%s/gen2", tmp_root);
	struct certs_gen_opts o = gen_opts(dir);
	CHECK_INT(certs_generate(&o, NULL, err, sizeof(err)), 0);
	size_t n0 = 0;
	char *before = slurp(dir, "tls.crt", &n0);

	CHECK_INT(certs_generate(&o, NULL, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "already exists (use --force to replace it)");
	CHECK_CONTAINS(err, "ca.key");
	size_t n1 = 0;
	char *after = slurp(dir, "tls.crt", &n1);
	CHECK(before && after && n0 == n1 && memcmp(before, after, n0) == 0);
	certs_free_secret(after, n1);

	/* a single existing file blocks everything, and nothing new is written */
	char path[900];
	fmt_buf(path, sizeof(path), "%s/gen3", tmp_root);
	mkdir(path, 0700);
	fmt_buf(path, sizeof(path), "%s/gen3/tls.key", tmp_root);
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	if (fd >= 0)
		close(fd);
	fmt_buf(path, sizeof(path), "%s/gen3", tmp_root);
	struct certs_gen_opts o3 = gen_opts(path);
	CHECK_INT(certs_generate(&o3, NULL, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "tls.key' already exists");
	CHECK(!exists(path, "ca.key") && !exists(path, "ca.crt") && !exists(path, "tls.crt"));

	/* --force replaces every file, modes stay exact even over a world-readable old key */
	fmt_buf(path, sizeof(path), "%s/tls.key", dir);
	chmod(path, 0666);
	o.force = true;
	CHECK_INT(certs_generate(&o, NULL, err, sizeof(err)), 0);
	after = slurp(dir, "tls.crt", &n1);
	CHECK(before && after && !(n0 == n1 && memcmp(before, after, n0) == 0));
	CHECK_INT(file_mode(dir, "tls.key"), 0600);
	CHECK_INT(file_mode(dir, "ca.key"), 0600);
	CHECK_INT(file_mode(dir, "tls.crt"), 0644);
	certs_free_secret(before, n0);
	certs_free_secret(after, n1);
	/* no temporary files left behind */
	DIR *d = opendir(dir);
	int entries = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		entries += e->d_name[0] != '.';
	if (d)
		closedir(d);
	CHECK_INT(entries, 4);
}

static void test_generate_reuses_ca(void)
{
	char ca_dir[800], dir[800], ca_crt[900], ca_key[900], err[512];
	fmt_buf(ca_dir, sizeof(ca_dir), "%s/gen/a/b", tmp_root);   /* made by test_generate */
	fmt_buf(ca_crt, sizeof(ca_crt), "%s/ca.crt", ca_dir);
	fmt_buf(ca_key, sizeof(ca_key), "%s/ca.key", ca_dir);
	fmt_buf(dir, sizeof(dir), "%s/reuse", tmp_root);
	struct certs_gen_opts o = gen_opts(dir);
	o.ca_cert_path = ca_crt;
	o.ca_key_path = ca_key;
	o.service = "web";
	o.namespace_ = "default";
	struct certs_gen_result res;
	CHECK_INT(certs_generate(&o, &res, err, sizeof(err)), 0);
	CHECK(!res.wrote_ca_key && res.wrote_ca_cert);
	CHECK(!exists(dir, "ca.key"));
	CHECK(same_contents(dir, "ca.crt", ca_dir, "ca.crt"));
	X509 *ca = read_cert(ca_dir, "ca.crt"), *leaf = read_cert(dir, "tls.crt");
	CHECK(ca && leaf && verifies(ca, leaf, "web.default.svc"));
	X509_free(ca);
	X509_free(leaf);

	/* in place: rotate tls.* next to the CA; ca.crt is kept, not rewritten */
	struct certs_gen_opts p = gen_opts(ca_dir);
	p.ca_cert_path = ca_crt;
	p.ca_key_path = ca_key;
	p.force = true;
	size_t n0 = 0;
	char *before = slurp(ca_dir, "ca.crt", &n0);
	CHECK_INT(certs_generate(&p, &res, err, sizeof(err)), 0);
	CHECK(!res.wrote_ca_cert && !res.wrote_ca_key);
	CHECK(same_contents(ca_dir, "ca.crt", dir, "ca.crt"));
	certs_free_secret(before, n0);

	/* a leaf certificate offered as the CA is refused */
	char fx_crt[900], fx_key[900];
	fmt_buf(fx_crt, sizeof(fx_crt), "%s/rsa.crt", fx);
	fmt_buf(fx_key, sizeof(fx_key), "%s/rsa.key", fx);
	p.ca_cert_path = fx_crt;
	p.ca_key_path = fx_key;
	CHECK_INT(certs_generate(&p, NULL, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "is not a CA certificate");

	/* the fixture CA (EC, until 2099) signs a leaf for --days 1000 */
	fmt_buf(fx_crt, sizeof(fx_crt), "%s/ca.crt", fx);
	fmt_buf(fx_key, sizeof(fx_key), "%s/ca.key", fx);
	p.ca_cert_path = fx_crt;
	p.ca_key_path = fx_key;
	p.days = 1000;
	fmt_buf(dir, sizeof(dir), "%s/reuse-fx", tmp_root);
	p.out_dir = dir;
	CHECK_INT(certs_generate(&p, &res, err, sizeof(err)), 0);
	CHECK_STR(res.ca_subject, "CN=posture test CA");
	/* ... but not beyond the CA's end */
	p.days = 36500;
	CHECK_INT(certs_generate(&p, NULL, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "would outlive the CA (valid until 2099-12-31T23:59:59Z)");
}

static void test_generate_errors(void)
{
	char dir[800], other[900], err[512], a[900], b[900];
	fmt_buf(dir, sizeof(dir), "%s/bad", tmp_root);
	struct certs_gen_opts o = gen_opts(dir);

	o.service = "Bad_Name";
	CHECK_INT(certs_generate(&o, NULL, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "service name 'Bad_Name' is not a DNS label");
	o.service = "posture";
	o.namespace_ = "a.b";
	CHECK_INT(certs_generate(&o, NULL, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "namespace 'a.b'");
	o.namespace_ = "ns";
	o.days = 0;
	CHECK_INT(certs_generate(&o, NULL, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "days 0 is not in 1..36500");
	o.days = 10;
	o.ca_days = 5;   /* a generated CA shorter than the leaf */
	CHECK_INT(certs_generate(&o, NULL, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "would outlive the CA");
	o.ca_days = 3650;
	const char *bad_dns[] = { "a,DNS:evil" };
	o.dns = bad_dns;
	o.n_dns = 1;
	CHECK_INT(certs_generate(&o, NULL, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "is not a DNS name");
	o.n_dns = 0;
	const char *bad_ip[] = { "300.1.1.1" };
	o.ips = bad_ip;
	o.n_ips = 1;
	CHECK_INT(certs_generate(&o, NULL, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "is not an IPv4 or IPv6 address");
	o.n_ips = 0;
	fmt_buf(a, sizeof(a), "%s/ca.crt", fx);
	o.ca_cert_path = a;
	CHECK_INT(certs_generate(&o, NULL, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "needs both");

	/* a CA whose key does not match */
	fmt_buf(b, sizeof(b), "%s/other.key", fx);
	o.ca_key_path = b;
	CHECK_INT(certs_generate(&o, NULL, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "private key does not match the CA certificate");
	/* unreadable and garbage CA files */
	fmt_buf(b, sizeof(b), "%s/nope.key", fx);
	CHECK_INT(certs_generate(&o, NULL, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "cannot read");
	fmt_buf(b, sizeof(b), "%s/encrypted.key", fx);
	CHECK_INT(certs_generate(&o, NULL, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "encrypted");
	fmt_buf(a, sizeof(a), "%s/garbage.pem", fx);
	CHECK_INT(certs_generate(&o, NULL, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "no certificate found");

	/* an expired CA: made in 2001 for one day, reused now */
	fmt_buf(other, sizeof(other), "%s/oldca", tmp_root);
	struct certs_gen_opts old = gen_opts(other);
	old.now = 978307200;   /* 2001-01-01 */
	old.ca_days = 1;
	old.days = 1;
	CHECK_INT(certs_generate(&old, NULL, err, sizeof(err)), 0);
	fmt_buf(a, sizeof(a), "%s/ca.crt", other);
	fmt_buf(b, sizeof(b), "%s/ca.key", other);
	o.ca_cert_path = a;
	o.ca_key_path = b;
	CHECK_INT(certs_generate(&o, NULL, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "CA certificate expired on 2001-01-02T00:00:00Z");
	CHECK(!exists(dir, "tls.crt"));

	/* out_dir below a regular file */
	fmt_buf(other, sizeof(other), "%s/good.crt/sub", fx);
	struct certs_gen_opts f = gen_opts(other);
	CHECK_INT(certs_generate(&f, NULL, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "is not a directory");
}

/* ---- every allocation failed in turn (OpenSSL's too: main points it at xmalloc) ---- */

/* Run fn with its nth allocation failed, for n over every allocation it makes (a sample of about
 * `samples` of them unless POSTURE_CERTS_FULL_SWEEP is set): it must return 0 or -1 and leak
 * nothing (the sanitizer pass and valgrind check that), and succeed when nothing fails. */
static void alloc_fail_sweep(const char *what, int (*fn)(void *), void *arg, long samples)
{
	xalloc_fail_at(0);
	CHECK_INT(fn(arg), 0);
	long total = xalloc_count();
	long stride = getenv("POSTURE_CERTS_FULL_SWEEP") ? 1 : total / samples + 1;
	long tried = 0;
	for (long n = 1; n <= total + 1; n += stride) {
		xalloc_fail_at(n);
		int rc = fn(arg);
		bool failed = xalloc_failed();
		xalloc_fail_at(0);
		tried++;
		if (!failed) {   /* fewer allocations this time (caches): done */
			CHECK_INT(rc, 0);
			break;
		}
		CHECK(rc == 0 || rc == -1);
	}
	fprintf(stderr, "%s: failed %ld of %ld allocations in turn\n", what, tried, total);
}

struct sweep_pair {
	struct file c, k;
	char err[256];
};

static int sweep_check_pair(void *arg)
{
	struct sweep_pair *s = arg;
	return certs_check_pair(s->c.p, s->c.n, s->k.p, s->k.n, time(NULL), NULL, s->err,
				sizeof(s->err));
}

static int sweep_inspect(void *arg)
{
	struct sweep_pair *s = arg;
	struct certs_info in;
	int rc = certs_inspect(s->c.p, s->c.n, &in, s->err, sizeof(s->err));
	if (rc == 0 && in.n_dns != 4 && in.n_dns != 0)
		rc = -3;
	certs_info_release(&in);
	return rc;
}

static int sweep_generate(void *arg)
{
	struct certs_gen_opts *o = arg;
	char err[512];
	return certs_generate(o, NULL, err, sizeof(err));
}

static void test_alloc_failures(void)
{
	struct sweep_pair s;
	s.c = load("chain.crt");
	s.k = load("good.key");
	if (!s.c.p || !s.k.p) {
		CHECK(!"fixtures");
		return;
	}
	alloc_fail_sweep("check_pair", sweep_check_pair, &s, 1500);
	alloc_fail_sweep("inspect", sweep_inspect, &s, 1500);
	drop(&s.c);
	drop(&s.k);

	char dir[800], ca_crt[900], ca_key[900];
	fmt_buf(dir, sizeof(dir), "%s/sweep", tmp_root);
	struct certs_gen_opts o = gen_opts(dir);
	const char *dns[] = { "localhost" };
	const char *ips[] = { "127.0.0.1" };
	o.dns = dns;
	o.n_dns = 1;
	o.ips = ips;
	o.n_ips = 1;
	o.force = true;
	alloc_fail_sweep("generate", sweep_generate, &o, 300);
	fmt_buf(ca_crt, sizeof(ca_crt), "%s/ca.crt", fx);
	fmt_buf(ca_key, sizeof(ca_key), "%s/ca.key", fx);
	o.ca_cert_path = ca_crt;
	o.ca_key_path = ca_key;
	alloc_fail_sweep("generate with a CA", sweep_generate, &o, 300);

	/* afterwards everything still works */
	char err[256];
	CHECK_INT(pair("good.crt", "good.key", err, sizeof(err)), 0);
}

/* ---- set-up ---- */

static void *t_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return xmalloc(n);
}

static void *t_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	if (n == 0) {
		xfree(p);
		return NULL;
	}
	return xrealloc(p, n);
}

static void t_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	xfree(p);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

int main(void)
{
	/* before OpenSSL allocates anything: its allocations go through xmalloc too */
	if (!CRYPTO_set_mem_functions(t_malloc, t_realloc, t_free))
		fprintf(stderr, "note: OpenSSL allocations not hooked\n");

	const char *t = getenv("TMPDIR");
	fmt_buf(tmp_root, sizeof(tmp_root), "%s/posture-certs-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmp_root)) {
		perror("mkdtemp");
		test_failed++;
		return test_summary("certs");
	}
	fmt_buf(fx, sizeof(fx), "%s/fx", tmp_root);
	char cmd[1500];
	fmt_buf(cmd, sizeof(cmd), "sh tests/fixtures/certs/gen.sh '%s' >&2", fx);
	if (system(cmd) != 0) {
		fprintf(stderr, "test_certs: tests/fixtures/certs/gen.sh failed (run from the repo root, "
				"with the openssl CLI installed)\n");
		test_failed++;
	} else {
		RUN(test_good_pair);
		RUN(test_rsa_pair);
		RUN(test_mismatched_key);
		RUN(test_expired);
		RUN(test_not_yet_valid);
		RUN(test_validity_edges);
		RUN(test_garbage);
		RUN(test_empty_and_huge);
		RUN(test_encrypted_key);
		RUN(test_bundle_in_one_buffer);
		RUN(test_inspect_good);
		RUN(test_inspect_others);
		RUN(test_has_dns);
		RUN(test_names);
		RUN(test_format_time);
		RUN(test_read_file);
		RUN(test_generate);
		RUN(test_generate_refuses_then_forces);
		RUN(test_generate_reuses_ca);
		RUN(test_generate_errors);
		if (!getenv("POSTURE_CERTS_NO_SWEEP"))
			RUN(test_alloc_failures);
	}
	nftw(tmp_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return test_summary("certs");
}
