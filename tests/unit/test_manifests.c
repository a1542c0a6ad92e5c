/* test_manifests.c - `posture manifests` in-process: output shape, flags, and every allocation
 * failing once without a crash, a leak or a half-written configuration. The selector partition
 * itself is proved by tests/suites/vwc_partition.py. */
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"
#include "test.h"
#include "util.h"

static char dir[] = "/tmp/posture-test-manifests.XXXXXX";
static char out_path[128], err_path[128], ca_path[128];

/* Run cmd_manifests with stdout and stderr sent to files; returns its exit status. */
static int run(int argc, const char *const *argv)
{
	fflush(stdout);
	fflush(stderr);
	int saved_out = dup(1), saved_err = dup(2);
	int fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (saved_out < 0 || saved_err < 0 || fo < 0 || fe < 0) {
		perror("test_manifests: redirect");
		exit(1);
	}
	dup2(fo, 1);
	dup2(fe, 2);
	int rc = cmd_manifests(argc, (char **)argv);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(fo);
	close(fe);
	close(saved_out);
	close(saved_err);
	return rc;
}

/* New contents of a file written by run(). */
static char *slurp(const char *path)
{
	char err[256];
	size_t len;
	char *s = file_read(path, 64u << 20, &len, err, sizeof err);
	return s ? s : xstrdup("");
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void test_default_render(void)
{
	const char *argv[] = { "manifests" };
	CHECK_INT(run(1, argv), 0);
	char *out = slurp(out_path);
	CHECK(strncmp(out, "# ", 2) == 0);
	CHECK_CONTAINS(out, "\nkind: ValidatingWebhookConfiguration\n");
	/* built-in defaults: the workload and authorization rules deny, the mesh posture rules warn,
	 * no revisions: 4 workload kind groups x 8 entries, 3 of them with controller twins (8 more
	 * each), the AuthorizationPolicy, PeerAuthentication, DestinationRule and Namespace entries,
	 * and 6 Service entries (the enrolled rows only) */
	CHECK_INT(count(out, "\n- name: "), 4 * 8 + 3 * 8 + 4 + 6);
	CHECK_INT(count(out, "\n- name: controller-"), 3 * 8);
	CHECK_INT(count(out, "\n- name: services-"), 6);
	CHECK_CONTAINS(out, "\n- name: authorizationpolicies.posture.dev\n");
	CHECK_CONTAINS(out, "\n- name: peerauthentications.posture.dev\n");
	CHECK_CONTAINS(out, "\n- name: destinationrules.posture.dev\n");
	CHECK_CONTAINS(out, "\n- name: namespaces.posture.dev\n");
	CHECK_CONTAINS(out, "\n- name: services-none-ambient.posture.dev\n");
	CHECK(!strstr(out, "\n- name: services-none.posture.dev\n"));   /* not enrolled: no entry */
	CHECK(!strstr(out, "\n- name: services-disabled.posture.dev\n"));
	CHECK_INT(count(out, "    scope: Cluster\n"), 1);
	CHECK_CONTAINS(out, "    apiVersions: [v1, v1beta1, v1alpha3]\n    operations: [CREATE, UPDATE]\n"
			    "    resources: [destinationrules]\n");
	CHECK_CONTAINS(out, "      path: /validate/namespace/none/ambient\n");
	CHECK_CONTAINS(out, "      values: [\"true\"]\n");   /* YAML 1.1 would read true a bool */
	CHECK_INT(count(out, "sideEffects: None\n"), 66);
	CHECK_INT(count(out, "timeoutSeconds: 5\n"), 66);
	CHECK_INT(count(out, "matchPolicy: Equivalent\n"), 66);
	CHECK_INT(count(out, "admissionReviewVersions: [v1, v1beta1]\n"), 66);
	/* the controller twins, and the entries of the rules that only warn */
	CHECK_INT(count(out, "failurePolicy: Ignore\n"), 3 * 8 + 3 + 6);
	CHECK(!strstr(out, "caBundle"));
	CHECK(!strstr(out, "\t"));
	xfree(out);

	/* the same document as JSON */
	const char *argv_json[] = { "manifests", "-o", "json" };
	CHECK_INT(run(3, argv_json), 0);
	out = slurp(out_path);
	json_error_t jerr;
	json_t *doc = json_loads(out, 0, &jerr);
	CHECK(doc != NULL);
	CHECK_INT(json_array_size(json_object_get(doc, "webhooks")), 66);
	json_decref(doc);
	xfree(out);
}

static void test_flags(void)
{
	const char *names[] = { "manifests", "--namespace=mesh-guard", "--service", "guard", "--name",
				"guard.example.com", "--ca-bundle-file", ca_path };
	CHECK_INT(run(8, names), 0);
	char *out = slurp(out_path);
	CHECK_CONTAINS(out, "\n- name: pods-none-ambient.guard.example.com\n");
	CHECK_CONTAINS(out, "      namespace: mesh-guard\n      name: guard\n");
	CHECK_CONTAINS(out, ", mesh-guard]\n");
	/* base64 of the PEM: "-----BEGIN CERTIFICATE-----\n..." starts "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t" */
	CHECK_INT(count(out, "    caBundle: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"), 66);
	xfree(out);

	static const struct {
		int argc;
		const char *argv[4];
		const char *err;
	} bad[] = {
		{ 2, { "manifests", "--bogus" }, "unknown flag \"--bogus\"" },
		{ 2, { "manifests", "--policy" }, "--policy needs a value" },
		{ 3, { "manifests", "-o", "xml" }, "--output: \"xml\" is not yaml or json" },
		{ 3, { "manifests", "--name", "posture" }, "--name: \"posture\"" },
		{ 3, { "manifests", "--name", "a..b" }, "--name: \"a..b\"" },
		{ 3, { "manifests", "--namespace", "Posture" }, "--namespace: \"Posture\"" },
		{ 3, { "manifests", "--service", "-x" }, "--service: \"-x\"" },
		{ 2, { "manifests", "stray" }, "unexpected argument \"stray\"" },
		{ 3, { "manifests", "--ca-bundle-file", "/nonexistent/ca.crt" }, "/nonexistent/ca.crt" },
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		CHECK_INT(run(bad[i].argc, bad[i].argv), 2);
		char *err = slurp(err_path), *o = slurp(out_path);
		CHECK_CONTAINS(err, bad[i].err);
		CHECK_INT(count(err, "\n"), 1);
		CHECK_STR(o, "");
		xfree(err);
		xfree(o);
	}
	const char *help[] = { "manifests", "--help" };
	CHECK_INT(run(2, help), 0);
	out = slurp(out_path);
	CHECK_CONTAINS(out, "--ca-bundle-file FILE");
	xfree(out);
}

/* Allocations fail one at a time: the command reports it (exit 2, nothing on stdout) or, when
 * the failure hit nothing that matters, succeeds with the full document. A render makes ~10,000
 * allocations in a repeating pattern (one per entry), so every one of the first 1,500 (the
 * policy, the first entries of each kind) and of the last 300 (the last Service entries, the
 * output) fails, and every 13th in between. */
static void test_alloc_failures(void)
{
	const char *argv[] = { "manifests", "--ca-bundle-file", ca_path };
	xalloc_fail_at(0);
	CHECK_INT(run(3, argv), 0);
	long total = xalloc_count();
	char *want = slurp(out_path);
	CHECK(total > 100);
	long tried = 0, reported = 0;
	for (long nth = 1; nth <= total + 1; nth += (nth < 1500 || nth > total - 300) ? 1 : 13) {
		xalloc_fail_at(nth);
		int rc = run(3, argv);
		bool failed = xalloc_failed();
		xalloc_fail_at(0);
		char *got = slurp(out_path);
		tried++;
		if (rc == 0) {
			if (strcmp(got, want) != 0) {
				fprintf(stderr, "allocation %ld failed: exit 0 with a different document\n", nth);
				CHECK(false);
			}
		} else {
			reported++;
			CHECK_INT(rc, 2);
			CHECK_STR(got, "");
			CHECK(failed);
		}
		if (nth == total + 1)
			CHECK(!failed && rc == 0);   /* past the last allocation: a clean run */
		xfree(got);
	}
	xfree(want);
	CHECK(reported > 0);
	fprintf(stderr, "test_manifests: %ld of %ld allocations failed in turn, %ld reported\n", tried,
		total, reported);
}

int main(void)
{
	xalloc_install_jansson();
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	fmt_buf(out_path, sizeof out_path, "%s/out", dir);
	fmt_buf(err_path, sizeof err_path, "%s/err", dir);
	fmt_buf(ca_path, sizeof ca_path, "%s/ca.crt", dir);
	FILE *f = fopen(ca_path, "w");
	if (!f)
		return 1;
	fputs("-----BEGIN CERTIFICATE-----\nMIIBfakefake\n-----END CERTIFICATE-----\n", f);
	fclose(f);

	RUN(test_default_render);
	RUN(test_flags);
	RUN(test_alloc_failures);

	unlink(out_path);
	unlink(err_path);
	unlink(ca_path);
	rmdir(dir);
	return test_summary("manifests_render");
}
