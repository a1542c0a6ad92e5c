/* fuzz_review.c - libFuzzer target for the request path: AdmissionReview decoding, the engine and
 * every rule, and the response encoding, all through review_handle as the server calls it.
 *
 * Each input is judged twice (the built-in policy and a policy with every option turned, under
 * namespace modes and own namespaces picked from the input's hash), then once more with one
 * allocation failed, which must give the unfailed answer byte for byte or a 500. Invariants
 * checked on every answer:
 *   200: the body is JSON that jansson parses (strictly: duplicates refused); apiVersion is the
 *        request's, kind AdmissionReview, response.uid the request's uid byte for byte,
 *        response.allowed a boolean that agrees with the result; a denial is a 403 whose message
 *        is a non-empty string of at most 1024 bytes, one line per violation; warnings are
 *        strings of at most 256 bytes without a newline, 4 KiB in all; the result names a kind
 *        and an operation.
 *   400: a non-empty reason, nothing written to the response buffer.
 *   500: only when an allocation was failed on purpose, and with a reason.
 *
 * Build and run: `make fuzz` (all targets, FUZZ_SECONDS each), or by hand from the repository's
 * root after `make fuzz-build` (tests/fuzz/run.sh shows the exact commands):
 *   build-fuzz/fuzz_review -dict=tests/fuzz/review.dict -max_len=65536 tests/fuzz/work/review \
 *     tests/fuzz/corpus/review
 */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "nsmode.h"
#include "policy.h"
#include "review.h"

#define DENIAL_MAX 1024
#define WARNING_MAX 256
#define WARNINGS_TOTAL 4096

/* Every option away from its default, an exemption of each shape, mixed actions. */
static const char policy_text[] =
	"apiVersion: posture.dev/v1alpha1\n"
	"kind: PosturePolicy\n"
	"spec:\n"
	"  rootNamespace: mesh-root\n"
	"  exemptNamespaces: [kube-system, legacy]\n"
	"  enforceOnControllerObjects: true\n"
	"  revisions: [stable, canary]\n"
	"  rules:\n"
	"    default-service-account: {action: warn}\n"
	"    mesh-injection: {action: deny, allowPodAmbient: true, allowManualInjection: true}\n"
	"    authorization-policy-wildcard: {action: audit, requireSource: true}\n"
	"  exemptions:\n"
	"    - {rule: mesh-injection, namespace: monitoring, kind: DaemonSet, name: node-exporter,\n"
	"       reason: hostNetwork exporter}\n"
	"    - {rule: default-service-account, namespace: data, kind: StatefulSet, name: db,\n"
	"       serviceAccount: default, reason: vendor chart}\n"
	"    - {rule: mesh-injection, namespace: batch, kind: CronJob, name: report, reason: batch}\n"
	"    - {rule: default-service-account, namespace: tools, kind: Pod, name: debug,\n"
	"       reason: break-glass}\n"
	"    - {rule: authorization-policy-wildcard, namespace: public, kind: AuthorizationPolicy,\n"
	"       name: allow-ingress, reason: public ingress}\n";

static struct policy *policies[2];

static const char *const mode_names[] = {
	"none", "sidecar", "disabled", "none/ambient", "sidecar/ambient", "disabled/ambient",
};

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 14695981039346656037ull;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* A NUL-terminated copy of the input (the parsers rewrite their buffer in place). */
static char *copy_input(const uint8_t *data, size_t size)
{
	char *c = malloc(size + 1);
	if (!c)
		abort();
	memcpy(c, data, size);
	c[size] = '\0';
	return c;
}

/* The request's uid as the parser sees it (bytes, may hold NUL), or false when the input has no
 * string request.uid. Parsed from a copy: review_handle rewrites its buffer. */
static bool request_uid(const uint8_t *data, size_t size, char **uid, size_t *n, char **api)
{
	char *copy = copy_input(data, size);
	struct jdoc d;
	char err[160];
	bool ok = false;
	jdoc_init(&d);
	if (json_parse(&d, copy, size, NULL, err, sizeof err) == 0) {
		const struct jnode *req = jn_get(jdoc_root(&d), "request");
		const struct jnode *u = jn_get(req, "uid");
		const struct jnode *a = jn_get(jdoc_root(&d), "apiVersion");
		if (jn_is(u, JT_STRING) && jn_is(a, JT_STRING)) {
			*uid = malloc(u->len + 1);
			*api = malloc(a->len + 1);
			if (!*uid || !*api)
				abort();
			memcpy(*uid, u->s, u->len + 1);
			memcpy(*api, a->s, a->len + 1);
			*n = u->len;
			ok = true;
		}
	}
	jdoc_release(&d);
	free(copy);
	return ok;
}

static void check_200(const struct buf *out, const struct review_result *res, const uint8_t *data,
		      size_t size)
{
	json_error_t e;
	json_t *j = json_loadb(out->data, out->len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
	if (!j) {
		fprintf(stderr, "200 answer is not JSON: %s\n%.*s\n", e.text, (int)out->len, out->data);
		abort();
	}
	char *uid = NULL, *api = NULL;
	size_t uid_len = 0;
	if (!request_uid(data, size, &uid, &uid_len, &api))
		abort();   /* judged, yet the request has no string uid or apiVersion */
	const json_t *r = json_object_get(j, "response");
	const json_t *ju = json_object_get(r, "uid");
	const json_t *allowed = json_object_get(r, "allowed");
	if (!json_is_string(json_object_get(j, "apiVersion")) ||
	    strcmp(json_string_value(json_object_get(j, "apiVersion")), api) != 0 ||
	    !json_is_string(json_object_get(j, "kind")) ||
	    strcmp(json_string_value(json_object_get(j, "kind")), "AdmissionReview") != 0 ||
	    !json_is_object(r) || !json_is_string(ju) || json_string_length(ju) != uid_len ||
	    memcmp(json_string_value(ju), uid, uid_len) != 0 || !json_is_boolean(allowed) ||
	    json_is_true(allowed) != res->allowed || !res->kind[0] || !res->operation[0]) {
		fprintf(stderr, "200 answer breaks the contract:\n%.*s\n", (int)out->len, out->data);
		abort();
	}
	if (!res->allowed) {
		const json_t *st = json_object_get(r, "status");
		const json_t *msg = json_object_get(st, "message");
		size_t lines = 1;
		for (size_t i = 0; json_is_string(msg) && i < json_string_length(msg); i++)
			lines += json_string_value(msg)[i] == '\n';
		/* one line per violation shown, and maybe "... and N more" */
		if (json_integer_value(json_object_get(st, "code")) != 403 || !json_is_string(msg) ||
		    json_string_length(msg) == 0 || json_string_length(msg) > DENIAL_MAX ||
		    lines > res->n_deny + 1) {
			fprintf(stderr, "denial breaks the contract:\n%.*s\n", (int)out->len, out->data);
			abort();
		}
	}
	const json_t *w = json_object_get(r, "warnings");
	if (w) {
		size_t i, total = 0;
		const json_t *s;
		if (!json_is_array(w) || json_array_size(w) == 0)
			abort();
		json_array_foreach(w, i, s) {
			if (!json_is_string(s) || json_string_length(s) > WARNING_MAX ||
			    memchr(json_string_value(s), '\n', json_string_length(s)))
				abort();
			total += json_string_length(s);
		}
		if (total > WARNINGS_TOTAL)
			abort();
	}
	const json_t *aa = json_object_get(r, "auditAnnotations");
	if (aa) {
		const char *k;
		const json_t *v;
		if (!json_is_object(aa))
			abort();
		json_object_foreach((json_t *)aa, k, v)
			if (!json_is_string(v))
				abort();
	}
	json_decref(j);
	free(uid);
	free(api);
}

struct answer {
	int status;
	char *body;   /* malloc'd copy of a 200's body */
	size_t len;
};

/* One review_handle call on a fresh copy of the input, its answer checked and kept in a.
 * fail_at > 0 fails that allocation. */
static void judge(const uint8_t *data, size_t size, const struct policy *pol, struct nsmode mode,
		  struct sv own, long fail_at, struct answer *a)
{
	char *body = copy_input(data, size);
	struct buf out;
	buf_init(&out, (size_t)1 << 20);
	struct review_result res;
	if (fail_at)
		xalloc_fail_at(fail_at);
	review_handle(pol, body, size, mode, own, &out, &res);
	bool failed = fail_at && xalloc_failed();
	xalloc_fail_at(0);
	switch (res.http_status) {
	case 200:
		if (out.failed || !out.data)
			abort();
		check_200(&out, &res, data, size);
		break;
	case 400:
		if (!res.error[0] || out.len != 0)
			abort();
		break;
	case 500:
		if (!failed || !res.error[0] || out.len != 0)
			abort();   /* 500 only when memory ran out */
		break;
	default:
		abort();
	}
	a->status = res.http_status;
	a->len = out.len;
	a->body = malloc(out.len + 1);
	if (!a->body)
		abort();
	memcpy(a->body, out.data ? out.data : "", out.len);
	buf_release(&out);
	free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!policies[0]) {
		char err[1024];
		xalloc_install_jansson();
		policies[0] = policy_defaults_new();
		policies[1] = policy_load_mem("fuzz-policy.yaml", policy_text, sizeof policy_text - 1,
					      err, sizeof err);
		if (!policies[0] || !policies[1]) {
			fprintf(stderr, "fuzz_review: policy: %s\n", err);
			abort();
		}
	}
	uint64_t h = fnv1a(data, size);
	struct nsmode m1, m2;
	const char *n1 = mode_names[h % ARRAY_LEN(mode_names)];
	const char *n2 = mode_names[(h >> 8) % ARRAY_LEN(mode_names)];
	if (nsmode_parse(n1, strlen(n1), &m1) != 0 || nsmode_parse(n2, strlen(n2), &m2) != 0)
		abort();
	struct sv own = (h >> 16) % 3 == 0 ? sv_null : sv_cstr((h >> 16) % 3 == 1 ? "posture-system" : "shop");
	struct answer ref, other, oom;
	judge(data, size, policies[0], m1, own, 0, &ref);
	judge(data, size, policies[1], m2, sv_cstr("posture-system"), 0, &other);
	/* one allocation fails somewhere along the way: the same answer byte for byte, or a 500 (an
	 * allocation failure is never the client's fault: no 400 unless the input is bad anyway) */
	judge(data, size, policies[0], m1, own, (long)((h >> 32) % 64) + 1, &oom);
	if (oom.status != 500 &&
	    (oom.status != ref.status || oom.len != ref.len || memcmp(oom.body, ref.body, ref.len) != 0)) {
		fprintf(stderr, "with an allocation failed: HTTP %d, %zu bytes; unfailed: HTTP %d, %zu bytes\n",
			oom.status, oom.len, ref.status, ref.len);
		abort();
	}
	free(ref.body);
	free(other.body);
	free(oom.body);
	return 0;
}
