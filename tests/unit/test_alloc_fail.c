/* test_alloc_fail.c - every allocation a request reaches, failed in turn: review_handle (with
 * jansson's allocator hooked too), policy_load_mem and posture check's input path must answer
 * cleanly whichever allocation fails.
 *
 * For each fixture: one unfailed run gives the reference answer and the number of allocations it
 * makes (xalloc_count); then for every N from 1 to that number the same input runs with the Nth
 * allocation failed (xalloc_fail_at). Clean means: exactly the reference answer (byte for byte),
 * or an error with a reason - HTTP 500 for a review, NULL plus a message for a policy, exit status
 * 2 for check - and never a crash or a malformed answer. Leaks: the ASan pass's LeakSanitizer sees
 * every one; the normal pass compares glibc's bytes in use before and after each run. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "nsmode.h"
#include "policy.h"
#include "review.h"
#include "test.h"
#include "yaml.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#ifndef UNDER_ASAN
/* valgrind replaces malloc (and counts leaks itself): its preload library is in LD_PRELOAD */
static bool under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");
	return p && strstr(p, "vgpreload");
}
#endif

/* glibc's bytes in use, mmapped blocks included; 0 under ASan or valgrind (they count leaks
 * there). The normal pass runs with glibc's per-thread cache off (see main): cached chunks count
 * as in use. */
static size_t in_use(void)
{
#ifdef UNDER_ASAN
	return 0;
#else
	if (under_valgrind())
		return 0;
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
#endif
}

#define REVIEW_HEAD "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"af-1\","

static const char deployment_update[] = REVIEW_HEAD
	"\"kind\":{\"group\":\"apps\",\"version\":\"v1\",\"kind\":\"Deployment\"},\"operation\":\"UPDATE\","
	"\"namespace\":\"shop\",\"userInfo\":{\"username\":\"alice\"},"
	"\"object\":{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\"},"
	"\"spec\":{\"replicas\":3,\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\","
	"\"sidecar.istio.io/inject\":\"maybe\"}},\"spec\":{\"hostNetwork\":true,\"containers\":[{\"name\":\"app\"}]}}}},"
	"\"oldObject\":{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\"},"
	"\"spec\":{\"replicas\":2,\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},"
	"\"spec\":{\"containers\":[{\"name\":\"app\"}]}}}}}}";

static const char exempt_daemonset[] = REVIEW_HEAD
	"\"kind\":{\"group\":\"apps\",\"version\":\"v1\",\"kind\":\"DaemonSet\"},\"operation\":\"CREATE\","
	"\"namespace\":\"monitoring\",\"userInfo\":{\"username\":\"alice\"},"
	"\"object\":{\"apiVersion\":\"apps/v1\",\"kind\":\"DaemonSet\",\"metadata\":{\"name\":\"node-exporter\"},"
	"\"spec\":{\"template\":{\"metadata\":{\"labels\":{\"app\":\"node-exporter\"}},"
	"\"spec\":{\"hostNetwork\":true,\"containers\":[{\"name\":\"app\"}]}}}}}}";

static const char authz_principals[] = REVIEW_HEAD
	"\"kind\":{\"group\":\"security.istio.io\",\"version\":\"v1\",\"kind\":\"AuthorizationPolicy\"},"
	"\"operation\":\"CREATE\",\"namespace\":\"shop\",\"userInfo\":{\"username\":\"alice\"},"
	"\"object\":{\"apiVersion\":\"security.istio.io/v1\",\"kind\":\"AuthorizationPolicy\","
	"\"metadata\":{\"name\":\"many\"},\"spec\":{\"rules\":["
	"{\"from\":[{\"source\":{\"principals\":[\"cluster.local/ns/a/sa/x\",\"cluster.local/ns/*\","
	"\"*/sa/y\",\"cluster.local/ns/b/sa/z\",\"*\"]}},{\"source\":{\"namespaces\":[\"*\"]}},"
	"{\"source\":{\"trustDomains\":[\"cluster.local\"]}},{\"source\":{\"ipBlocks\":[\"0.0.0.0/0\"]}}],"
	"\"to\":[{\"operation\":{\"paths\":[\"/api\"],\"methods\":[\"GET\"]}}]},"
	"{\"to\":[{\"operation\":{\"paths\":[\"/*\"]}}]},{}]}}}}";

static const char bad_type[] = REVIEW_HEAD
	"\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},\"operation\":\"CREATE\","
	"\"namespace\":\"shop\",\"object\":{\"metadata\":{\"name\":\"p\",\"labels\":[1,2]},\"spec\":{}}}}";

struct fixture {
	const char *name;
	const char *file;      /* a review file, or NULL for text */
	const char *text;
	const char *mode;
	int policy;            /* 0: built-in, 1: tests/fixtures/rules/policies/exemptions.yaml */
	int status;            /* expected unfailed status */
};

static const struct fixture fixtures[] = {
	{ "allowed pod", "tests/fixtures/e2e/pod-meshed.json", NULL, "sidecar", 0, 200 },
	{ "denied pod", "tests/fixtures/e2e/pod-default-sa.json", NULL, "none", 0, 200 },
	{ "deployment UPDATE, ratcheting", NULL, deployment_update, "none", 0, 200 },
	{ "controller-made pod", "tests/corpus/admission-reviews/kubewarden-pod-by-replicaset-controller.json",
	  NULL, "none", 0, 200 },
	{ "exemption hit", NULL, exempt_daemonset, "none", 1, 200 },
	{ "authz allow-all", "tests/fixtures/e2e/authz-allow-all.json", NULL, "none", 0, 200 },
	{ "authz many principals", NULL, authz_principals, "none", 0, 200 },
	{ "a 400", NULL, bad_type, "none", 0, 400 },
};

static struct policy *policies[2];

struct answer {
	int status;
	char error[256];
	char *body;   /* owned */
	size_t len;
};

static void run_review(const char *input, size_t len, struct nsmode mode, const struct policy *pol,
		       struct answer *a)
{
	char *body = malloc(len + 1);
	memcpy(body, input, len);
	body[len] = '\0';
	struct buf out;
	buf_init(&out, (size_t)1 << 20);
	struct review_result res;
	review_handle(pol, body, len, mode, sv_cstr("posture-system"), &out, &res);
	a->status = res.http_status;
	snprintf(a->error, sizeof a->error, "%s", res.error);
	a->body = out.len ? malloc(out.len) : NULL;
	if (out.len)
		memcpy(a->body, out.data, out.len);
	a->len = out.len;
	buf_release(&out);
	free(body);
}

static void test_reviews(void)
{
	for (size_t i = 0; i < ARRAY_LEN(fixtures); i++) {
		const struct fixture *fx = &fixtures[i];
		char name[128];
		snprintf(name, sizeof name, "review: %s", fx->name);
		test_begin(name);
		char err[256];
		size_t len;
		char *file = fx->file ? file_read(fx->file, 1 << 20, &len, err, sizeof err) : NULL;
		const char *input = fx->file ? file : fx->text;
		if (fx->file && !file) {
			fprintf(stderr, "%s: %s\n", name, err);
			CHECK(file != NULL);
			test_end();
			continue;
		}
		if (!fx->file)
			len = strlen(fx->text);
		struct nsmode mode;
		CHECK(nsmode_parse(fx->mode, strlen(fx->mode), &mode) == 0);
		const struct policy *pol = policies[fx->policy];

		struct answer ref;
		run_review(input, len, mode, pol, &ref);   /* warm-up: one-time allocations */
		free(ref.body);
		xalloc_fail_at(0);
		run_review(input, len, mode, pol, &ref);
		long total = xalloc_count();
		CHECK_INT(ref.status, fx->status);
		CHECK(total > 0);
		long n_ok = 0, n_500 = 0, bad = 0;
		for (long n = 1; n <= total && bad < 5; n++) {
			struct answer a;
			size_t before = in_use();
			xalloc_fail_at(n);
			run_review(input, len, mode, pol, &a);
			bool failed = xalloc_failed();
			xalloc_fail_at(0);
			bool same = a.status == ref.status && a.len == ref.len &&
				    (a.len == 0 || memcmp(a.body, ref.body, a.len) == 0) &&
				    strcmp(a.error, ref.error) == 0;
			bool clean = same || (a.status == 500 && a.error[0] && a.len == 0);
			free(a.body);
			if (!failed) {
				fprintf(stderr, "%s: allocation %ld of %ld was never reached\n", name, n, total);
				bad++;
			} else if (!clean) {
				fprintf(stderr, "%s: allocation %ld of %ld failed: HTTP %d (%s), %zu bytes; "
					"expected the reference HTTP %d or a 500 with a reason\n",
					name, n, total, a.status, a.error, a.len, ref.status);
				bad++;
			}
			if (before && in_use() != before) {
				fprintf(stderr, "%s: allocation %ld failed: %zd bytes leaked\n", name, n,
					(ssize_t)(in_use() - before));
				bad++;
			}
			n_ok += same;
			n_500 += !same;
		}
		CHECK_INT(bad, 0);
		fprintf(stderr, "%s: %ld allocations failed in turn: %ld same answer, %ld HTTP 500\n", name,
			total, n_ok, n_500);
		free(ref.body);
		free(file);
		test_end();
	}
}

static void test_policy_load(void)
{
	static const char *const files[] = { "policies/example.yaml",
					     "tests/fixtures/rules/policies/exemptions.yaml" };
	for (size_t i = 0; i < ARRAY_LEN(files); i++) {
		char name[128], err[4096];
		snprintf(name, sizeof name, "policy_load_mem: %s", files[i]);
		test_begin(name);
		size_t len;
		char *data = file_read(files[i], 1 << 20, &len, err, sizeof err);
		CHECK(data != NULL);
		if (!data) {
			test_end();
			continue;
		}
		xalloc_fail_at(0);
		struct policy *ref = policy_load_mem(files[i], data, len, err, sizeof err);
		long total = xalloc_count();
		CHECK(ref != NULL);
		long bad = 0, n_err = 0;
		for (long n = 1; n <= total && bad < 5; n++) {
			size_t before = in_use();
			err[0] = '\0';
			xalloc_fail_at(n);
			struct policy *p = policy_load_mem(files[i], data, len, err, sizeof err);
			bool failed = xalloc_failed();
			xalloc_fail_at(0);
			if (!failed) {
				bad++;
			} else if (p) {
				/* loaded despite the failure: it must be the same policy */
				if (p->n_exemptions != ref->n_exemptions ||
				    p->n_exempt_namespaces != ref->n_exempt_namespaces ||
				    p->n_revisions != ref->n_revisions ||
				    memcmp(p->actions, ref->actions, sizeof p->actions) != 0 ||
				    strcmp(p->root_namespace, ref->root_namespace) != 0) {
					fprintf(stderr, "%s: allocation %ld failed: a different policy\n", name, n);
					bad++;
				}
				policy_unref(p);
			} else if (!err[0]) {
				fprintf(stderr, "%s: allocation %ld failed: NULL without a reason\n", name, n);
				bad++;
			} else {
				n_err++;
			}
			if (before && in_use() != before) {
				fprintf(stderr, "%s: allocation %ld failed: %zd bytes leaked\n", name, n,
					(ssize_t)(in_use() - before));
				bad++;
			}
		}
		CHECK_INT(bad, 0);
		CHECK_INT(ydoc_live(), 0);
		fprintf(stderr, "%s: %ld allocations failed in turn, %ld refused with a reason\n", name,
			total, n_err);
		policy_unref(ref);
		free(data);
		test_end();
	}
}

/* posture check on a small multi-document stream: a List, a Namespace, broken YAML. */
static const char manifests[] =
	"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels: {istio-injection: enabled}\n"
	"---\napiVersion: v1\nkind: List\nitems:\n"
	"- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: web, namespace: shop}\n"
	"  spec:\n    template:\n      metadata: {labels: {app: web}}\n"
	"      spec: {containers: [{name: app}]}\n"
	"- apiVersion: security.istio.io/v1\n  kind: AuthorizationPolicy\n"
	"  metadata: {name: all, namespace: shop}\n  spec: {rules: [{}]}\n"
	"---\napiVersion: v1\nkind: Pod\nmetadata:\n\tname: broken\n";

static int run_check(const struct policy *pol, enum check_format fmt, char **out, size_t *len)
{
	struct check_options o;
	memset(&o, 0, sizeof o);
	o.policy = pol;
	o.format = fmt;
	o.own_namespace = "posture-system";
	FILE *f = open_memstream(out, len);
	if (!f)
		return -1;
	int rc = -1;
	struct check *c = check_new(&o, f);
	if (c) {
		check_mem(c, "m.yaml", manifests, sizeof manifests - 1);
		rc = check_finish(c);
		check_free(c);
	}
	fclose(f);
	return rc;
}

static void test_check(void)
{
	for (int fmt = CHECK_TEXT; fmt <= CHECK_SARIF; fmt++) {
		char name[64];
		snprintf(name, sizeof name, "check input path (format %d)", fmt);
		test_begin(name);
		char *ref = NULL, *out = NULL;
		size_t ref_len = 0, len = 0;
		xalloc_fail_at(0);
		int ref_rc = run_check(policies[0], (enum check_format)fmt, &ref, &ref_len);
		long total = xalloc_count();
		CHECK_INT(ref_rc, 2);   /* the broken document */
		long bad = 0, n_err = 0;
		for (long n = 1; n <= total && bad < 5; n++) {
			xalloc_fail_at(n);
			int rc = run_check(policies[0], (enum check_format)fmt, &out, &len);
			bool failed = xalloc_failed();
			xalloc_fail_at(0);
			bool same = rc == ref_rc && len == ref_len && memcmp(out, ref, len) == 0;
			/* check_new's own allocations: NULL (-1 here), as documented */
			if (!failed || (!same && rc != 2 && rc != -1)) {
				fprintf(stderr, "%s: allocation %ld of %ld failed: exit %d, expected %d (same "
					"output) or 2 (or no checker)\n", name, n, total, rc, ref_rc);
				bad++;
			}
			n_err += !same;
			free(out);
			out = NULL;
		}
		CHECK_INT(bad, 0);
		CHECK_INT(ydoc_live(), 0);
		fprintf(stderr, "%s: %ld allocations failed in turn, %ld reported an error\n", name, total,
			n_err);
		free(ref);
		test_end();
	}
}

int main(int argc, char **argv)
{
	char err[1024];
#ifndef UNDER_ASAN
	/* glibc's tcache keeps freed chunks counted as in use: start again without it */
	const char *tun = getenv("GLIBC_TUNABLES");
	if (argc >= 1 && !under_valgrind() && (!tun || !strstr(tun, "glibc.malloc.tcache_count=0"))) {
		setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0", 1);
		execv("/proc/self/exe", argv);
		fprintf(stderr, "test_alloc_fail: cannot re-execute without the tcache: leaks unchecked\n");
	}
#else
	(void)argc;
	(void)argv;
#endif
	xalloc_install_jansson();
	policies[0] = policy_defaults_new();
	policies[1] = policy_load("tests/fixtures/rules/policies/exemptions.yaml", err, sizeof err);
	if (!policies[0] || !policies[1]) {
		fprintf(stderr, "test_alloc_fail: policy: %s\n", err);
		printf("SUITE alloc-fail: 0 passed, 1 failed\n");
		return 1;
	}
	test_reviews();
	test_policy_load();
	test_check();
	policy_unref(policies[0]);
	policy_unref(policies[1]);
	return test_summary("alloc-fail");
}
