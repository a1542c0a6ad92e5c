/* test_rules.c - the table of rule cases: each JSON file in tests/fixtures/rules/ holds an array of
 * cases, each a review (or the request inside one) and the verdict expected from review_handle.
 *
 * A case: {"name": "...", "mode": "sidecar" (default "none"), "policy": "<policy YAML>" or
 * "policy_file": "policies/x.yaml" (under tests/fixtures/rules; default: the built-in policy),
 * "own_namespace": "...", and one of "review": {full AdmissionReview}, "request": {the request;
 * uid, operation, userInfo and kind filled in when absent}, "body": "raw request body, sent as it
 * is" (not JSON, duplicate keys, ...); "apiVersion": "admission.k8s.io/v1beta1" (for "request"),
 * "expect": {"allowed": bool, "findings": [["rule", "deny|warn|audit|exempt", "cause", "path"],
 * ...] (the exact set, any order), "http_status": 400, "error": "substring of the reason",
 * "message": "the whole denial message", "message_contains": [...], "warnings": [every warning,
 * exactly], "warning_contains": [...], "audit_contains": [...]}}
 *
 * Every response is also checked against the apiserver's contract: same apiVersion, uid echoed,
 * 403/Forbidden on denial with a message of at most 1 KiB, warnings of at most 256 bytes. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include "review.h"
#include "test.h"

#define FIXTURE_DIR "tests/fixtures/rules"

static int n_cases;

/* Build the AdmissionReview for a case. New reference. */
static json_t *case_review(json_t *c)
{
	json_t *review = json_object_get(c, "review");
	if (review)
		return json_incref(review);
	json_t *req = json_deep_copy(json_object_get(c, "request"));
	if (!req)
		return NULL;
	if (!json_object_get(req, "uid"))
		json_object_set_new(req, "uid", json_string("0b7e5c1e-case"));
	if (!json_object_get(req, "operation"))
		json_object_set_new(req, "operation", json_string("CREATE"));
	if (!json_object_get(req, "userInfo"))
		json_object_set_new(req, "userInfo", json_pack("{s:s}", "username", "alice"));
	json_t *obj = json_object_get(req, "object");
	if (!json_object_get(req, "kind") && obj) {
		/* from the object's apiVersion and kind */
		const char *api = json_string_value(json_object_get(obj, "apiVersion"));
		const char *kind = json_string_value(json_object_get(obj, "kind"));
		char group[64] = "", version[32] = "v1";
		if (api) {
			const char *slash = strchr(api, '/');
			if (slash) {
				snprintf(group, sizeof group, "%.*s", (int)(slash - api), api);
				snprintf(version, sizeof version, "%s", slash + 1);
			} else {
				snprintf(version, sizeof version, "%s", api);
			}
		}
		json_object_set_new(req, "kind", json_pack("{s:s,s:s,s:s}", "group", group, "version",
							   version, "kind", kind ? kind : ""));
	}
	const char *api = json_string_value(json_object_get(c, "apiVersion"));
	return json_pack("{s:s,s:s,s:o}", "apiVersion", api ? api : "admission.k8s.io/v1", "kind",
			 "AdmissionReview", "request", req);
}

static bool finding_listed(json_t *expected, const char *rule, const char *outcome,
			   const char *cause, const char *path, json_t *used)
{
	size_t i;
	json_t *e;
	json_array_foreach(expected, i, e) {
		if (json_is_true(json_array_get(used, i)))
			continue;
		if (strcmp(json_string_value(json_array_get(e, 0)), rule) == 0 &&
		    strcmp(json_string_value(json_array_get(e, 1)), outcome) == 0 &&
		    strcmp(json_string_value(json_array_get(e, 2)), cause) == 0 &&
		    (json_array_size(e) < 4 || strcmp(json_string_value(json_array_get(e, 3)), path) == 0)) {
			json_array_set(used, i, json_true());
			return true;
		}
	}
	return false;
}

/* The response obeys the apiserver's contract. */
static void check_contract(json_t *review, const char *body, size_t len)
{
	json_error_t jerr;
	json_t *resp = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	CHECK(resp != NULL);
	if (!resp)
		return;
	json_t *r = json_object_get(resp, "response");
	CHECK_STR(json_string_value(json_object_get(resp, "apiVersion")),
		  json_string_value(json_object_get(review, "apiVersion")));
	CHECK_STR(json_string_value(json_object_get(resp, "kind")), "AdmissionReview");
	CHECK_STR(json_string_value(json_object_get(r, "uid")),
		  json_string_value(json_object_get(json_object_get(review, "request"), "uid")));
	CHECK(json_is_boolean(json_object_get(r, "allowed")));
	CHECK(json_object_get(r, "patch") == NULL);
	if (json_is_false(json_object_get(r, "allowed"))) {
		json_t *st = json_object_get(r, "status");
		CHECK_INT(json_integer_value(json_object_get(st, "code")), 403);
		CHECK_STR(json_string_value(json_object_get(st, "reason")), "Forbidden");
		const char *msg = json_string_value(json_object_get(st, "message"));
		CHECK(msg && strlen(msg) <= 1024 && strlen(msg) > 0);
	} else {
		CHECK(json_object_get(r, "status") == NULL);
	}
	size_t i, total = 0;
	json_t *w;
	json_array_foreach(json_object_get(r, "warnings"), i, w) {
		const char *s = json_string_value(w);
		CHECK(s && strlen(s) <= 256 && !strchr(s, '\n'));
		total += s ? strlen(s) : 0;
	}
	CHECK(total <= 4096);
	json_decref(resp);
}

static void run_case(const char *file, json_t *c)
{
	char name[512];
	fmt_buf(name, sizeof name, "%s: %s", file, json_string_value(json_object_get(c, "name")));
	test_begin(name);
	n_cases++;

	char err[1024] = "";
	const char *ptext = json_string_value(json_object_get(c, "policy"));
	const char *pfile = json_string_value(json_object_get(c, "policy_file"));
	char ppath[512];
	if (pfile)
		fmt_buf(ppath, sizeof ppath, "%s/%s", FIXTURE_DIR, pfile);
	struct policy *pol = ptext   ? policy_load_mem("case-policy.yaml", ptext, strlen(ptext), err, sizeof err)
			     : pfile ? policy_load(ppath, err, sizeof err)
				     : policy_defaults_new();
	CHECK(pol != NULL);
	if (!pol) {
		fprintf(stderr, "%s: policy: %s\n", name, err);
		test_end();
		return;
	}
	struct nsmode mode = { INJ_NONE, false };
	const char *m = json_string_value(json_object_get(c, "mode"));
	if (m)
		CHECK(nsmode_parse(m, strlen(m), &mode) == 0);
	const char *own = json_string_value(json_object_get(c, "own_namespace"));

	const char *raw = json_string_value(json_object_get(c, "body"));
	json_t *review = raw ? json_loads(raw, JSON_DECODE_ANY, NULL) : case_review(c);
	CHECK(raw || review != NULL);
	char *body = raw ? strdup(raw) : json_dumps(review, JSON_COMPACT);
	size_t blen = strlen(body);
	char *copy = xstrndup(body, blen);

	struct buf out;
	struct review_result res;
	buf_init(&out, 1 << 20);
	review_handle(pol, copy, blen, mode, own ? sv_cstr(own) : sv_null, &out, &res);

	json_t *expect = json_object_get(c, "expect");
	int want_status = json_is_integer(json_object_get(expect, "http_status"))
				  ? (int)json_integer_value(json_object_get(expect, "http_status"))
				  : 200;
	CHECK_INT(res.http_status, want_status);
	const char *want_err = json_string_value(json_object_get(expect, "error"));
	if (want_err)
		CHECK_CONTAINS(res.error, want_err);
	if (res.http_status == 200 && want_status == 200) {
		check_contract(review, out.data, out.len);
		json_t *resp = json_loadb(out.data, out.len, 0, NULL);
		json_t *r = json_object_get(resp, "response");
		size_t i;
		json_t *u;
		if (json_object_get(expect, "allowed"))
			CHECK(json_is_true(json_object_get(r, "allowed")) ==
			      json_is_true(json_object_get(expect, "allowed")));

		/* the findings, through a second run of the engine on the same review */
		json_t *want = json_object_get(expect, "findings");
		if (want) {
			struct review rv;
			struct verdict v;
			char *copy2 = xstrndup(body, blen);
			CHECK(review_decode(&rv, copy2, blen, mode, own ? sv_cstr(own) : sv_null, err,
					    sizeof err) == 0);
			verdict_init(&v);
			CHECK(engine_judge(pol, &rv.adm, &v) == 0);
			json_t *used = json_array();
			for (i = 0; i < json_array_size(want); i++)
				json_array_append_new(used, json_false());
			for (size_t k = 0; k < v.n; k++) {
				const struct finding *f = &v.f[k];
				bool ok = finding_listed(want, rule_name(f->v.rule), outcome_name(f->outcome),
							 f->v.cause, f->v.path, used);
				if (!ok)
					fprintf(stderr, "%s: unexpected finding [\"%s\", \"%s\", \"%s\", \"%s\"]: %s\n",
						name, rule_name(f->v.rule), outcome_name(f->outcome),
						f->v.cause, f->v.path, f->v.what);
				CHECK(ok);
			}
			json_array_foreach(used, i, u) {
				if (!json_is_true(u)) {
					char *e = json_dumps(json_array_get(want, i), JSON_COMPACT);
					fprintf(stderr, "%s: missing finding %s\n", name, e);
					free(e);
					CHECK(json_is_true(u));
				}
			}
			json_decref(used);
			verdict_release(&v);
			review_release(&rv);
			xfree(copy2);
		}
		const char *msg = json_string_value(json_object_get(json_object_get(r, "status"), "message"));
		const char *want_msg = json_string_value(json_object_get(expect, "message"));
		if (want_msg)
			CHECK_STR(msg, want_msg);
		json_array_foreach(json_object_get(expect, "message_contains"), i, u)
			CHECK_CONTAINS(msg, json_string_value(u));
		char *warnings = json_dumps(json_object_get(r, "warnings"), JSON_COMPACT | JSON_ENCODE_ANY);
		json_t *want_w = json_object_get(expect, "warnings");
		if (want_w) {
			json_t *got_w = json_object_get(r, "warnings");
			bool same = got_w ? json_equal(got_w, want_w) : json_array_size(want_w) == 0;
			if (!same)
				fprintf(stderr, "%s: warnings %s\n", name, warnings ? warnings : "(none)");
			CHECK(same);
		}
		json_array_foreach(json_object_get(expect, "warning_contains"), i, u)
			CHECK_CONTAINS(warnings, json_string_value(u));
		char *audit = json_dumps(json_object_get(r, "auditAnnotations"), JSON_COMPACT | JSON_ENCODE_ANY);
		json_array_foreach(json_object_get(expect, "audit_contains"), i, u)
			CHECK_CONTAINS(audit, json_string_value(u));
		free(audit);
		free(warnings);
		json_decref(resp);
	}
	buf_release(&out);
	xfree(copy);
	free(body);
	json_decref(review);
	policy_unref(pol);
	test_end();
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int main(void)
{
	struct dirent **list;
	int n = scandir(FIXTURE_DIR, &list, NULL, by_name);
	if (n < 0) {
		perror(FIXTURE_DIR);
		return test_summary("rules");
	}
	for (int i = 0; i < n; i++) {
		const char *f = list[i]->d_name;
		size_t l = strlen(f);
		if (l > 5 && strcmp(f + l - 5, ".json") == 0) {
			char path[512];
			snprintf(path, sizeof path, "%s/%s", FIXTURE_DIR, f);
			json_error_t jerr;
			json_t *cases = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
			test_begin(f);
			CHECK(json_is_array(cases));
			if (!cases)
				fprintf(stderr, "%s:%d: %s\n", path, jerr.line, jerr.text);
			test_end();
			size_t k;
			json_t *c;
			json_array_foreach(cases, k, c)
				run_case(f, c);
			json_decref(cases);
		}
		free(list[i]);
	}
	free(list);
	test_begin("at least 100 rule cases");
	CHECK(n_cases >= 100);
	test_end();
	return test_summary("rules");
}
