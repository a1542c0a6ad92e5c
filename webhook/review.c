/* review.c - decode an AdmissionReview (admission.k8s.io v1, v1beta1) into borrowed views, and
 * write the response by hand (no JSON tree): uid echo, status, warnings, audit annotations. */
#include "review.h"

#include <stdio.h>

#define API_V1 "admission.k8s.io/v1"
#define API_V1BETA1 "admission.k8s.io/v1beta1"
#define WARNINGS_MAX 4096   /* bytes of warning text the apiserver keeps */
#define WARNINGS_TAIL 64
#define UID_MAX 256         /* bytes of request.uid (the apiserver's are 36-byte UUIDs) */

static int bad(char *err, size_t errlen, const char *path, const char *expected,
	       const struct jnode *got)
{
	if (!got)
		fmt_buf(err, errlen, "%s: missing (expected %s)", path, expected);
	else
		fmt_buf(err, errlen, "%s: expected %s, got %s", path, expected, jn_type_name(got));
	return -1;
}

/* A string member; required ones must be present. null counts as absent. */
static int get_str(const struct jnode *obj, const char *key, bool required, const char *path,
		   struct sv *out, char *err, size_t errlen)
{
	const struct jnode *v = jn_get(obj, key);
	*out = sv_null;
	if (v && v->type == JT_STRING) {
		*out = jn_sv(v);
		return 0;
	}
	if ((!v || v->type == JT_NULL) && !required)
		return 0;
	char p[96];
	fmt_buf(p, sizeof p, "%s%s", path, key);
	return bad(err, errlen, p, "string", v && v->type != JT_NULL ? v : NULL);
}

/* An object member (or NULL when absent/null and not required). */
static int get_obj(const struct jnode *obj, const char *key, bool required, const char *path,
		   const struct jnode **out, char *err, size_t errlen)
{
	const struct jnode *v = jn_get(obj, key);
	*out = NULL;
	if (v && v->type == JT_OBJECT) {
		*out = v;
		return 0;
	}
	if ((!v || v->type == JT_NULL) && !required)
		return 0;
	char p[96];
	fmt_buf(p, sizeof p, "%s%s", path, key);
	return bad(err, errlen, p, "object", v && v->type != JT_NULL ? v : NULL);
}

int review_decode(struct review *r, char *body, size_t len, struct nsmode mode,
		  struct sv own_namespace, char *err, size_t errlen)
{
	memset(r, 0, sizeof *r);
	jdoc_init(&r->doc);
	if (json_parse(&r->doc, body, len, NULL, err, errlen) < 0)
		return -1;
	const struct jnode *root = jdoc_root(&r->doc);
	if (root->type != JT_OBJECT)
		return bad(err, errlen, "body", "an AdmissionReview object", root);

	struct sv api, kind;
	if (get_str(root, "apiVersion", true, "", &api, err, errlen) < 0 ||
	    get_str(root, "kind", true, "", &kind, err, errlen) < 0)
		return -1;
	if (sv_eq(api, API_V1BETA1)) {
		r->v1beta1 = true;
	} else if (!sv_eq(api, API_V1)) {
		char a[64];
		sv_to_buf(api, a, sizeof a);
		fmt_buf(err, errlen, "apiVersion: expected %s or %s, got \"%s\"", API_V1, API_V1BETA1, a);
		return -1;
	}
	if (!sv_eq(kind, "AdmissionReview")) {
		char k[64];
		sv_to_buf(kind, k, sizeof k);
		fmt_buf(err, errlen, "kind: expected \"AdmissionReview\", got \"%s\"", k);
		return -1;
	}

	const struct jnode *req, *rkind, *user, *obj, *old;
	if (get_obj(root, "request", true, "", &req, err, errlen) < 0)
		return -1;
	struct sv group, version, kname, op;
	struct admission *adm = &r->adm;
	if (get_str(req, "uid", true, "request.", &r->uid, err, errlen) < 0 ||
	    get_obj(req, "kind", true, "request.", &rkind, err, errlen) < 0 ||
	    get_str(rkind, "group", false, "request.kind.", &group, err, errlen) < 0 ||
	    get_str(rkind, "version", false, "request.kind.", &version, err, errlen) < 0 ||
	    get_str(rkind, "kind", true, "request.kind.", &kname, err, errlen) < 0 ||
	    get_str(req, "operation", true, "request.", &op, err, errlen) < 0 ||
	    get_str(req, "namespace", false, "request.", &adm->namespace, err, errlen) < 0 ||
	    get_str(req, "name", false, "request.", &adm->name, err, errlen) < 0 ||
	    get_obj(req, "userInfo", false, "request.", &user, err, errlen) < 0 ||
	    get_str(user, "username", false, "request.userInfo.", &adm->username, err, errlen) < 0 ||
	    get_obj(req, "object", false, "request.", &obj, err, errlen) < 0 ||
	    get_obj(req, "oldObject", false, "request.", &old, err, errlen) < 0)
		return -1;
	if (r->uid.n == 0) {
		fmt_buf(err, errlen, "request.uid: must not be empty");
		return -1;
	}
	/* echoed in the response: a megabyte of uid would make the answer too large to send */
	if (r->uid.n > UID_MAX) {
		fmt_buf(err, errlen, "request.uid: longer than %d bytes (the apiserver sends a UUID)", UID_MAX);
		return -1;
	}
	const struct jnode *dry = jn_get(req, "dryRun");
	if (dry && dry->type != JT_TRUE && dry->type != JT_FALSE && dry->type != JT_NULL)
		return bad(err, errlen, "request.dryRun", "boolean", dry);
	adm->dry_run = dry && dry->type == JT_TRUE;
	adm->op = operation_parse(op);
	adm->kind = kind_lookup(group, version, kname);
	adm->mode = mode;
	adm->own_namespace = own_namespace;

	if (adm->kind == K_UNKNOWN || (adm->op != OP_CREATE && adm->op != OP_UPDATE))
		return 0;
	if (!obj)
		return bad(err, errlen, "request.object", "object", NULL);
	char derr[200];
	if (subject_decode(&r->object, adm->kind, obj, &r->doc.arena, derr, sizeof derr) < 0) {
		fmt_buf(err, errlen, "request.object.%s", derr);
		return -1;
	}
	adm->object = &r->object;
	if (adm->op == OP_UPDATE && old) {
		if (subject_decode(&r->old_object, adm->kind, old, &r->doc.arena, derr, sizeof derr) < 0) {
			fmt_buf(err, errlen, "request.oldObject.%s", derr);
			return -1;
		}
		adm->old_object = &r->old_object;
	}
	/* the request's namespace is authoritative; the object's name is the one users wrote */
	if (!sv_set(adm->namespace))
		adm->namespace = r->object.meta.namespace;
	if (sv_set(r->object.meta.name))
		adm->name = r->object.meta.name;
	else if (!sv_set(adm->name))
		adm->name = r->object.meta.generate_name;
	return 0;
}

void review_release(struct review *r)
{
	jdoc_release(&r->doc);
}

void review_encode(const struct review *r, const struct verdict *v, struct buf *out)
{
	buf_adds(out, r->v1beta1 ? "{\"apiVersion\":\"" API_V1BETA1 "\"" : "{\"apiVersion\":\"" API_V1 "\"");
	buf_adds(out, ",\"kind\":\"AdmissionReview\",\"response\":{\"uid\":");
	buf_add_json_str(out, r->uid.p, r->uid.n);
	buf_adds(out, v->allowed ? ",\"allowed\":true" : ",\"allowed\":false");
	if (!v->allowed) {
		struct buf msg;
		buf_init(&msg, 4096);
		verdict_format_denial(v, &r->adm, &msg);
		buf_adds(out, ",\"status\":{\"status\":\"Failure\",\"code\":403,\"reason\":\"Forbidden\",\"message\":");
		buf_add_json_str(out, msg.data ? msg.data : "", msg.len);
		buf_addc(out, '}');
		if (msg.failed)
			out->failed = true;
		buf_release(&msg);
	}
	char line[300];
	if (v->n_warn) {
		/* the apiserver keeps at most 4 KiB of warnings: stop early and say how many more */
		buf_adds(out, ",\"warnings\":[");
		size_t k = 0, total = 0;
		for (size_t i = 0; i < v->n; i++) {
			if (v->f[i].outcome != OUT_WARN)
				continue;
			size_t n = finding_format_warning(&v->f[i], &r->adm, line, sizeof line);
			/* the last warning may use the room kept for the "... and N more" line; any
			 * other must leave it */
			size_t keep = k + 1 < v->n_warn ? WARNINGS_TAIL : 0;
			if (total + n > WARNINGS_MAX - keep)
				break;
			if (k++)
				buf_addc(out, ',');
			buf_add_json_str(out, line, n);
			total += n;
		}
		if (k < v->n_warn) {
			size_t n = fmt_buf(line, sizeof line, "... and %zu more warnings (posture check shows all)",
					   v->n_warn - k);
			buf_addc(out, ',');
			buf_add_json_str(out, line, n);
		}
		buf_addc(out, ']');
	}
	if (v->n_audit) {
		/* one annotation per rule: "<rule-id>": "<path>: <what>; ..." */
		buf_adds(out, ",\"auditAnnotations\":{");
		bool first_rule = true;
		for (size_t rule = 0; rule < RULE_COUNT; rule++) {
			struct buf val;
			buf_init(&val, 1024);
			for (size_t i = 0; i < v->n; i++) {
				const struct finding *f = &v->f[i];
				if (f->outcome != OUT_AUDIT || f->v.rule != rule)
					continue;
				if (val.len)
					buf_adds(&val, "; ");
				buf_printf(&val, "%s: %s", f->v.path, f->v.what);
			}
			if (val.len || val.failed) {
				if (!first_rule)
					buf_addc(out, ',');
				first_rule = false;
				buf_add_json_str(out, rule_name((enum rule_id)rule), strlen(rule_name((enum rule_id)rule)));
				buf_addc(out, ':');
				/* a capped value is cut, not lost: the log line has every finding */
				buf_add_json_str(out, val.data ? val.data : "", val.len);
			}
			buf_release(&val);
		}
		buf_addc(out, '}');
	}
	buf_adds(out, "}}");
}

static void copy_sv(char *dst, size_t size, struct sv s)
{
	sv_to_buf(s, dst, size);
}

void review_handle(const struct policy *pol, char *body, size_t len, struct nsmode mode,
		   struct sv own_namespace, struct buf *out, struct review_result *res)
{
	struct review r;
	struct verdict v;
	memset(res, 0, sizeof *res);
	verdict_init(&v);
	if (review_decode(&r, body, len, mode, own_namespace, res->error, sizeof res->error) < 0) {
		/* the parser and the decoders end an allocation failure's reason so: not the client's
		 * fault, so not a 400 (no reason that echoes input ends that way) */
		size_t el = strlen(res->error), ol = strlen("out of memory");
		res->http_status = el >= ol && strcmp(res->error + el - ol, "out of memory") == 0 ? 500 : 400;
		goto out_release;
	}
	if (engine_judge(pol, &r.adm, &v) < 0) {
		res->http_status = 500;
		fmt_buf(res->error, sizeof res->error, "out of memory");
		goto out_release;
	}
	size_t start = out->len;
	review_encode(&r, &v, out);
	if (out->failed) {
		out->len = start;
		res->http_status = 500;
		fmt_buf(res->error, sizeof res->error, "response too large or out of memory");
		goto out_release;
	}
	res->http_status = 200;
	copy_sv(res->uid, sizeof res->uid, r.uid);
	fmt_buf(res->kind, sizeof res->kind, "%s", r.adm.kind ? kind_name(r.adm.kind) : "other");
	copy_sv(res->namespace, sizeof res->namespace, r.adm.namespace);
	copy_sv(res->name, sizeof res->name, r.adm.name);
	fmt_buf(res->operation, sizeof res->operation, "%s", operation_name(r.adm.op));
	res->dry_run = r.adm.dry_run;
	res->allowed = v.allowed;
	res->skipped = v.skipped;
	res->n_deny = v.n_deny;
	res->n_warn = v.n_warn;
	res->n_audit = v.n_audit;
	res->n_exempt = v.n_exempt;
	size_t rl = 0, el = 0;
	for (size_t i = 0; i < v.n; i++) {
		const struct finding *f = &v.f[i];
		res->rule_counts[f->v.rule][f->outcome]++;
		const char *name = rule_name(f->v.rule);
		if (!strstr(res->rules, name) && rl + strlen(name) + 2 < sizeof res->rules)
			rl += fmt_buf(res->rules + rl, sizeof res->rules - rl, "%s%s", rl ? "," : "", name);
		if (f->exemption && el + 8 < sizeof res->exemptions)
			el += fmt_buf(res->exemptions + el, sizeof res->exemptions - el, "%s%s %s/%s/%s: %s",
				      el ? "; " : "", name, f->exemption->namespace, f->exemption->kind,
				      f->exemption->name, f->exemption->reason);
	}
out_release:
	verdict_release(&v);
	review_release(&r);
}
