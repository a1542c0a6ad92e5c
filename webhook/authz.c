/* authz.c - decode an Istio AuthorizationPolicy (v1, v1beta1) into a struct authz_view. */
#include "view.h"

#include <stdio.h>

/* A list of strings. Elements must be strings (null elements too are errors). */
static int ap_strlist(struct fdec *d, const struct jnode *n, const struct jpath *path,
		      struct strlist *out)
{
	memset(out, 0, sizeof(*out));
	int r = fdec_array(d, n, path);
	if (r <= 0)
		return r;
	out->present = true;
	out->line = n->line;
	if (n->len == 0)
		return 0;
	out->v = arena_calloc(d->arena, n->len, sizeof(*out->v));
	if (!out->v)
		return fdec_oom(d, path);
	const struct jnode *el = jn_first(n);
	for (uint32_t i = 0; i < n->len; i++, el = jn_next(el)) {
		if (el->type != JT_STRING) {
			struct jpath ep = jpath_index(path, i);
			return fdec_type_err(d, &ep, "string", el);
		}
		out->v[i] = sv_make(el->s, el->len, el->line);
	}
	out->n = n->len;
	return 0;
}

/* The list fields of a Source or an Operation: key, and offset into the struct. */
struct ap_field {
	const char *key;
	size_t off;
};

static const struct ap_field source_fields[] = {
	{ "principals", offsetof(struct ap_source, principals) },
	{ "notPrincipals", offsetof(struct ap_source, not_principals) },
	{ "requestPrincipals", offsetof(struct ap_source, request_principals) },
	{ "notRequestPrincipals", offsetof(struct ap_source, not_request_principals) },
	{ "namespaces", offsetof(struct ap_source, namespaces) },
	{ "notNamespaces", offsetof(struct ap_source, not_namespaces) },
	{ "ipBlocks", offsetof(struct ap_source, ip_blocks) },
	{ "notIpBlocks", offsetof(struct ap_source, not_ip_blocks) },
	{ "remoteIpBlocks", offsetof(struct ap_source, remote_ip_blocks) },
	{ "notRemoteIpBlocks", offsetof(struct ap_source, not_remote_ip_blocks) },
	{ "serviceAccounts", offsetof(struct ap_source, service_accounts) },
	{ "notServiceAccounts", offsetof(struct ap_source, not_service_accounts) },
	{ "trustDomains", offsetof(struct ap_source, trust_domains) },
	{ "notTrustDomains", offsetof(struct ap_source, not_trust_domains) },
};

static const struct ap_field operation_fields[] = {
	{ "hosts", offsetof(struct ap_operation, hosts) },
	{ "notHosts", offsetof(struct ap_operation, not_hosts) },
	{ "ports", offsetof(struct ap_operation, ports) },
	{ "notPorts", offsetof(struct ap_operation, not_ports) },
	{ "methods", offsetof(struct ap_operation, methods) },
	{ "notMethods", offsetof(struct ap_operation, not_methods) },
	{ "paths", offsetof(struct ap_operation, paths) },
	{ "notPaths", offsetof(struct ap_operation, not_paths) },
};

/* Decode the string-list members of obj named in fields into base (a struct ap_source or
 * ap_operation). One pass over the members: cost is linear in the object's size. */
static int ap_lists(struct fdec *d, const struct jnode *obj, const struct jpath *path,
		    const struct ap_field *fields, size_t nfields, void *base)
{
	const struct jnode *k = jn_first(obj);
	for (uint32_t m = 0; m < obj->len; m++, k = jn_next(k + 1)) {
		for (size_t f = 0; f < nfields; f++) {
			size_t kl = strlen(fields[f].key);
			if (k->len != kl || memcmp(k->s, fields[f].key, kl) != 0)
				continue;
			struct jpath p = jpath_key(path, fields[f].key);
			struct strlist *sl = (struct strlist *)((char *)base + fields[f].off);
			if (ap_strlist(d, k + 1, &p, sl) < 0)
				return -1;
			break;
		}
	}
	return 0;
}

/* rules[i].from: entries of {source: {...}}. */
static int ap_from(struct fdec *d, const struct jnode *arr, const struct jpath *rpath,
		   struct ap_rule *r)
{
	struct jpath pathv = jpath_key(rpath, "from"), *path = &pathv;
	int t = fdec_array(d, arr, path);
	if (t <= 0)
		return t;
	r->has_from = true;
	if (arr->len == 0)
		return 0;
	r->from = arena_calloc(d->arena, arr->len, sizeof(*r->from));
	if (!r->from)
		return fdec_oom(d, path);
	const struct jnode *el = jn_first(arr);
	for (uint32_t j = 0; j < arr->len; j++, el = jn_next(el)) {
		struct jpath ep = jpath_index(path, j), sp = jpath_key(&ep, "source");
		if (el->type != JT_OBJECT)
			return fdec_type_err(d, &ep, "object", el);
		struct ap_source *s = &r->from[j];
		s->line = el->line;
		const struct jnode *src = jn_get(el, "source");
		t = fdec_object(d, src, &sp);
		if (t < 0)
			return -1;
		if (t == 0)
			continue;
		s->present = true;
		s->line = src->line ? src->line : el->line;
		if (ap_lists(d, src, &sp, source_fields, ARRAY_LEN(source_fields), s) < 0)
			return -1;
	}
	r->n_from = arr->len;
	return 0;
}

/* rules[i].to: entries of {operation: {...}}. */
static int ap_to(struct fdec *d, const struct jnode *arr, const struct jpath *rpath,
		 struct ap_rule *r)
{
	struct jpath pathv = jpath_key(rpath, "to"), *path = &pathv;
	int t = fdec_array(d, arr, path);
	if (t <= 0)
		return t;
	r->has_to = true;
	if (arr->len == 0)
		return 0;
	r->to = arena_calloc(d->arena, arr->len, sizeof(*r->to));
	if (!r->to)
		return fdec_oom(d, path);
	const struct jnode *el = jn_first(arr);
	for (uint32_t j = 0; j < arr->len; j++, el = jn_next(el)) {
		struct jpath ep = jpath_index(path, j), op = jpath_key(&ep, "operation");
		if (el->type != JT_OBJECT)
			return fdec_type_err(d, &ep, "object", el);
		struct ap_operation *o = &r->to[j];
		o->line = el->line;
		const struct jnode *opn = jn_get(el, "operation");
		t = fdec_object(d, opn, &op);
		if (t < 0)
			return -1;
		if (t == 0)
			continue;
		o->present = true;
		o->line = opn->line ? opn->line : el->line;
		if (ap_lists(d, opn, &op, operation_fields, ARRAY_LEN(operation_fields), o) < 0)
			return -1;
	}
	r->n_to = arr->len;
	return 0;
}

/* rules[i].when: {key, values, notValues} conditions. */
static int ap_when(struct fdec *d, const struct jnode *arr, const struct jpath *rpath,
		   struct ap_rule *r)
{
	struct jpath pathv = jpath_key(rpath, "when"), *path = &pathv;
	int t = fdec_array(d, arr, path);
	if (t <= 0)
		return t;
	r->has_when = true;
	if (arr->len == 0)
		return 0;
	r->when = arena_calloc(d->arena, arr->len, sizeof(*r->when));
	if (!r->when)
		return fdec_oom(d, path);
	const struct jnode *el = jn_first(arr);
	for (uint32_t k = 0; k < arr->len; k++, el = jn_next(el)) {
		struct jpath ep = jpath_index(path, k), kp = jpath_key(&ep, "key"),
			     vp = jpath_key(&ep, "values"), np = jpath_key(&ep, "notValues");
		if (el->type != JT_OBJECT)
			return fdec_type_err(d, &ep, "object", el);
		struct ap_condition *c = &r->when[k];
		c->line = el->line;
		if (fdec_string(d, jn_get(el, "key"), &kp, &c->key) < 0 ||
		    ap_strlist(d, jn_get(el, "values"), &vp, &c->values) < 0 ||
		    ap_strlist(d, jn_get(el, "notValues"), &np, &c->not_values) < 0)
			return -1;
	}
	r->n_when = arr->len;
	return 0;
}

static const struct jpath path_spec = { NULL, "spec", 0, NULL };

static int ap_rules(struct fdec *d, const struct jnode *arr, struct authz_view *out)
{
	struct jpath rules = jpath_key(&path_spec, "rules");
	int t = fdec_array(d, arr, &rules);
	if (t <= 0)
		return t;
	out->has_rules = true;
	if (arr->len == 0)
		return 0;
	out->rules = arena_calloc(d->arena, arr->len, sizeof(*out->rules));
	if (!out->rules)
		return fdec_oom(d, &rules);
	const struct jnode *el = jn_first(arr);
	for (uint32_t i = 0; i < arr->len; i++, el = jn_next(el)) {
		struct jpath rp = jpath_index(&rules, i);
		if (el->type != JT_OBJECT)
			return fdec_type_err(d, &rp, "object", el);
		struct ap_rule *r = &out->rules[i];
		r->line = el->line;
		if (ap_from(d, jn_get(el, "from"), &rp, r) < 0 || ap_to(d, jn_get(el, "to"), &rp, r) < 0 ||
		    ap_when(d, jn_get(el, "when"), &rp, r) < 0)
			return -1;
	}
	out->n_rules = arr->len;
	return 0;
}

/* spec.selector.matchLabels: an object of strings. */
static int ap_selector(struct fdec *d, const struct jnode *sel, struct authz_view *out)
{
	struct jpath sp = jpath_key(&path_spec, "selector"), mp = jpath_key(&sp, "matchLabels");
	int t = fdec_object(d, sel, &sp);
	if (t <= 0)
		return t;
	const struct jnode *ml = jn_get(sel, "matchLabels");
	t = fdec_object(d, ml, &mp);
	if (t <= 0)
		return t;
	const struct jnode *k = jn_first(ml);
	for (uint32_t m = 0; m < ml->len; m++, k = jn_next(k + 1)) {
		if (k[1].type != JT_STRING) {
			char key[64];
			sv_to_buf(sv_make(k->s, k->len, 0), key, sizeof(key));
			struct jpath kp = jpath_key(&mp, key);
			return fdec_type_err(d, &kp, "string", k + 1);
		}
	}
	out->has_selector = true;
	out->match_labels.obj = ml;
	out->match_labels.line = ml->line;
	return 0;
}

/* Fill out from obj, the whole AuthorizationPolicy object (borrowed; out points into it and into
 * arena). Only spec is read; a missing spec means no rules. Wrong types are errors naming the path
 * relative to the object ("spec.rules[0].from[1].source.principals[2]: expected string, got
 * number"); null counts as absent. Returns 0, or -1 with err set. */
int authz_decode(struct authz_view *out, const struct jnode *obj, struct arena *arena, char *err,
		 size_t errlen)
{
	struct fdec d = { arena, err, errlen };
	memset(out, 0, sizeof(*out));
	out->action = sv_null;
	out->provider = sv_null;
	if (!obj || obj->type != JT_OBJECT) {
		fmt_buf(err, errlen, "expected object, got %s", jn_type_name(obj));
		return -1;
	}
	const struct jnode *spec = jn_get(obj, "spec");
	struct jpath action = jpath_key(&path_spec, "action"),
		     provider = jpath_key(&path_spec, "provider"),
		     provider_name = jpath_key(&provider, "name"),
		     target_ref = jpath_key(&path_spec, "targetRef"),
		     target_refs = jpath_key(&path_spec, "targetRefs");
	int t = fdec_object(&d, spec, &path_spec);
	if (t <= 0)
		return t;
	out->spec_line = spec->line;
	if (fdec_string(&d, jn_get(spec, "action"), &action, &out->action) < 0)
		return -1;
	const struct jnode *prov = jn_get(spec, "provider");
	t = fdec_object(&d, prov, &provider);
	if (t < 0)
		return -1;
	if (t > 0 && fdec_string(&d, jn_get(prov, "name"), &provider_name, &out->provider) < 0)
		return -1;
	if (ap_selector(&d, jn_get(spec, "selector"), out) < 0)
		return -1;
	const struct jnode *tr = jn_get(spec, "targetRef");
	t = fdec_object(&d, tr, &target_ref);
	if (t < 0)
		return -1;
	out->has_target_refs = t > 0;
	tr = jn_get(spec, "targetRefs");
	t = fdec_array(&d, tr, &target_refs);
	if (t < 0)
		return -1;
	if (t > 0)
		out->has_target_refs = true;
	return ap_rules(&d, jn_get(spec, "rules"), out);
}
