/* policy.c - the policy file (YAML 1.2 core, through yaml.c) validated into an immutable,
 * reference-counted struct policy; every error reported at FILE:LINE:COL. */
#include "policy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "buf.h"
#include "rules.h"
#include "view.h"
#include "yaml.h"

#define POLICY_API_VERSION "posture.dev/v1alpha1"
#define POLICY_KIND "PosturePolicy"
#define MAX_ERRORS 100

static const char *const action_names[] = {
	[ACTION_OFF] = "off",
	[ACTION_AUDIT] = "audit",
	[ACTION_WARN] = "warn",
	[ACTION_DENY] = "deny",
};

static const char *const default_exempt_namespaces[] = { "kube-system", "kube-public",
							  "kube-node-lease", "istio-system" };

const char *action_name(enum action a)
{
	return (unsigned)a < ARRAY_LEN(action_names) ? action_names[a] : "?";
}

int action_parse(const char *s, enum action *out)
{
	for (size_t i = 0; s && i < ARRAY_LEN(action_names); i++)
		if (strcmp(s, action_names[i]) == 0) {
			*out = (enum action)i;
			return 0;
		}
	return -1;
}

/* ---- lifecycle ---- */

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		xfree(v[i]);
	xfree(v);
}

static void policy_free(struct policy *p)
{
	if (!p)
		return;
	xfree(p->source);
	xfree(p->root_namespace);
	free_strv(p->exempt_namespaces, p->n_exempt_namespaces);
	free_strv(p->revisions, p->n_revisions);
	for (size_t i = 0; i < p->n_exemptions; i++) {
		struct exemption *e = &p->exemptions[i];
		xfree(e->namespace);
		xfree(e->kind);
		xfree(e->name);
		xfree(e->service_account);
		xfree(e->reason);
	}
	xfree(p->exemptions);
	xfree(p);
}

/* A new policy holding the built-in defaults, with source as its name. NULL on OOM. */
static struct policy *policy_new(const char *source)
{
	struct policy *p = xcalloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->refs = 1;
	p->source = xstrdup(source);
	p->root_namespace = xstrdup("istio-system");
	p->exempt_namespaces = xcalloc(ARRAY_LEN(default_exempt_namespaces), sizeof(char *));
	if (!p->source || !p->root_namespace || !p->exempt_namespaces) {
		policy_free(p);
		return NULL;
	}
	for (size_t i = 0; i < ARRAY_LEN(default_exempt_namespaces); i++) {
		p->exempt_namespaces[i] = xstrdup(default_exempt_namespaces[i]);
		if (!p->exempt_namespaces[i]) {
			policy_free(p);
			return NULL;
		}
		p->n_exempt_namespaces++;
	}
	for (size_t i = 0; i < RULE_COUNT; i++)
		p->actions[i] = rule_table[i]->default_action;
	return p;
}

struct policy *policy_defaults_new(void)
{
	return policy_new("built-in defaults");
}

struct policy *policy_ref(struct policy *p)
{
	if (p)
		__atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
	return p;
}

void policy_unref(struct policy *p)
{
	if (p && __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) == 0)
		policy_free(p);
}

/* Is ns one of the policy's exemptNamespaces? (The webhook's own namespace is the engine's.) */
bool policy_namespace_exempt(const struct policy *p, struct sv ns)
{
	for (size_t i = 0; p && ns.present && i < p->n_exempt_namespaces; i++)
		if (sv_eq(ns, p->exempt_namespaces[i]))
			return true;
	return false;
}

/* Does an istio.io/rev value name an Istio revision? With no revisions listed, any value counts
 * (as the `istio.io/rev Exists` namespaceSelector does). */
bool policy_revision_known(const struct policy *p, struct sv rev)
{
	if (!p || !rev.present)
		return false;
	if (p->n_revisions == 0)
		return true;
	for (size_t i = 0; i < p->n_revisions; i++)
		if (sv_eq(rev, p->revisions[i]))
			return true;
	return false;
}

/* ---- validation ---- */

struct perr {
	uint32_t line, col, seq;
	char msg[512];   /* room for the list of every rule name */
};

struct pctx {
	const char *name;
	const struct ydoc *d;
	struct policy *p;
	struct perr *errs;   /* owned */
	size_t n, cap;
	bool oom, too_many;
};

static void perr_at(struct pctx *c, uint32_t line, uint32_t col, const char *fmt, ...)
	PRINTF_LIKE(4, 5);
static void perr_at(struct pctx *c, uint32_t line, uint32_t col, const char *fmt, ...)
{
	if (c->n >= MAX_ERRORS) {
		c->too_many = true;
		return;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		struct perr *e = xrealloc(c->errs, cap * sizeof *e);
		if (!e) {
			c->oom = true;
			return;
		}
		c->errs = e;
		c->cap = cap;
	}
	struct perr *e = &c->errs[c->n];
	e->line = line;
	e->col = col;
	e->seq = (uint32_t)c->n++;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
}

/* Where things are: a node, a member's value or key, an element. 0:0 when unknown. */
struct pos {
	uint32_t line, col;
};

static struct pos at_node(const struct pctx *c, const json_t *n)
{
	struct pos p = { 0, 0 };
	if (!ydoc_pos(c->d, n, &p.line, &p.col) && n == ydoc_root(c->d)) {
		p.line = ydoc_line(c->d);
		p.col = 1;
	}
	return p;
}

static struct pos at_value(const struct pctx *c, const json_t *obj, const char *key)
{
	struct pos p = { 0, 0 };
	ydoc_member_pos(c->d, obj, key, &p.line, &p.col);
	return p;
}

static struct pos at_key(const struct pctx *c, const json_t *obj, const char *key)
{
	struct pos p = { 0, 0 };
	ydoc_key_pos(c->d, obj, key, &p.line, &p.col);
	return p;
}

static struct pos at_index(const struct pctx *c, const json_t *arr, size_t i)
{
	struct pos p = { 0, 0 };
	ydoc_index_pos(c->d, arr, i, &p.line, &p.col);
	return p;
}

/* Text of a user's string for a message: at most 60 bytes, control bytes as '?'. */
static const char *quoted(const char *s, char *buf, size_t size)
{
	sv_to_buf(sv_make(s, (uint32_t)strnlen(s, 4096), 0), buf, size < 64 ? size : 64);
	for (char *q = buf; *q; q++)
		if ((unsigned char)*q < 0x20)
			*q = '?';
	return buf;
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b), row[65];
	if (n > 64 || m > 64)
		return 99;
	for (size_t j = 0; j <= m; j++)
		row[j] = j;
	for (size_t i = 1; i <= n; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= m; j++) {
			size_t up = row[j];
			size_t sub = diag + ((a[i - 1] | 0x20) != (b[j - 1] | 0x20));
			size_t best = up + 1 < row[j - 1] + 1 ? up + 1 : row[j - 1] + 1;
			row[j] = sub < best ? sub : best;
			diag = up;
		}
	}
	return row[m];
}

/* "a, b or c" into buf. */
static const char *one_of(const char *const *names, size_t n, char *buf, size_t size)
{
	struct buf b;
	buf_init(&b, size - 1);
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ", names[i]);
	fmt_buf(buf, size, "%s", buf_cstr(&b) ? buf_cstr(&b) : "");
	buf_release(&b);
	return buf;
}

/* Report every key of obj not in allowed ("unknown key 'x' in WHERE (expected ...)"). */
static void unknown_keys(struct pctx *c, const json_t *obj, const char *const *allowed,
			 size_t n_allowed, const char *where)
{
	const char *key;
	const json_t *v;
	char list[512], q[64], hint[96];
	json_object_foreach((json_t *)obj, key, v) {
		size_t i = 0;
		while (i < n_allowed && strcmp(key, allowed[i]) != 0)
			i++;
		if (i < n_allowed)
			continue;
		hint[0] = '\0';
		for (i = 0; i < n_allowed; i++)
			if (edit_distance(key, allowed[i]) <= 2) {
				fmt_buf(hint, sizeof hint, " (did you mean '%s'?)", allowed[i]);
				break;
			}
		struct pos p = at_key(c, obj, key);
		perr_at(c, p.line, p.col, "unknown key '%s' in %s%s; expected %s", quoted(key, q, sizeof q),
			where, hint, one_of(allowed, n_allowed, list, sizeof list));
	}
}

/* obj[key] when it has the wanted type; NULL (and an error, unless absent) otherwise. */
static const json_t *member(struct pctx *c, const json_t *obj, const char *key, json_type want,
			    const char *what)
{
	const json_t *v = json_object_get(obj, key);
	if (!v)
		return NULL;
	bool ok = json_typeof(v) == want || (want == JSON_TRUE && json_is_boolean(v));
	if (!ok) {
		struct pos p = at_value(c, obj, key);
		char q[64], hint[128] = "";
		if (json_is_null(v) && want == JSON_ARRAY)
			fmt_buf(hint, sizeof hint, " (write [] for none)");
		else if (json_is_string(v) && want == JSON_TRUE)
			fmt_buf(hint, sizeof hint, " '%s' (this file is YAML 1.2: only unquoted true "
				"and false are booleans)", quoted(json_string_value(v), q, sizeof q));
		perr_at(c, p.line, p.col, "%s: expected %s, found %s%s", key, what, yaml_type_phrase(v), hint);
		return NULL;
	}
	return v;
}

#define LABEL_RULE "lowercase letters, digits and '-', at most 63, starting and ending alphanumeric"
#define SUBDOMAIN_RULE "a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', at most 253"

/* A required-syntax string; its value or NULL (with an error). */
static const char *name_value(struct pctx *c, const json_t *v, struct pos p, const char *what,
			      bool subdomain)
{
	char q[64];
	if (!json_is_string(v)) {
		perr_at(c, p.line, p.col, "%s: expected a string, found %s", what, yaml_type_phrase(v));
		return NULL;
	}
	const char *s = json_string_value(v);
	if (strlen(s) != json_string_length(v) ||
	    !(subdomain ? dns1123_subdomain(s) : dns1123_label(s, strlen(s)))) {
		perr_at(c, p.line, p.col, "invalid %s '%s' (expected %s)", what, quoted(s, q, sizeof q),
			subdomain ? SUBDOMAIN_RULE : "a DNS-1123 label: " LABEL_RULE);
		return NULL;
	}
	return s;
}

/* A sequence of DNS-1123 labels (exemptNamespaces, revisions) into a new array. */
static void label_list(struct pctx *c, const json_t *spec, const char *key, const char *what,
		       char ***out, size_t *n_out)
{
	const json_t *arr = member(c, spec, key, JSON_ARRAY, "a sequence of names");
	if (!arr)
		return;
	size_t n = json_array_size(arr), k = 0;
	char **v = xcalloc(n ? n : 1, sizeof *v);
	if (!v) {
		c->oom = true;
		return;
	}
	bool bad = false;
	for (size_t i = 0; i < n; i++) {
		const json_t *el = json_array_get(arr, i);
		struct pos p = at_index(c, arr, i);
		const char *s = name_value(c, el, p, what, false);
		if (!s) {
			bad = true;
			continue;
		}
		size_t j = 0;
		while (j < i && !(json_is_string(json_array_get(arr, j)) &&
				  strcmp(json_string_value(json_array_get(arr, j)), s) == 0))
			j++;
		if (j < i) {
			struct pos first = at_index(c, arr, j);
			perr_at(c, p.line, p.col, "duplicate %s '%s' in %s (first at %u:%u)", what, s,
				key, first.line, first.col);
			bad = true;
			continue;
		}
		if (!(v[k++] = xstrdup(s)))
			c->oom = true;
	}
	if (bad || c->oom) {
		free_strv(v, k);
		return;
	}
	free_strv(*out, *n_out);
	*out = v;
	*n_out = k;
}

static const char *const rule_keys_dsa[] = { "action" };
static const char *const rule_keys_mesh[] = { "action", "allowPodAmbient", "allowManualInjection" };
static const char *const rule_keys_authz[] = { "action", "requireSource" };

static bool bool_option(struct pctx *c, const json_t *obj, const char *key, bool *out)
{
	const json_t *v = member(c, obj, key, JSON_TRUE, "true or false");
	if (v)
		*out = json_is_true(v);
	return v != NULL;
}

static void check_rules(struct pctx *c, const json_t *spec)
{
	const json_t *rules = member(c, spec, "rules", JSON_OBJECT, "a mapping of rule names");
	if (!rules)
		return;
	const char *names[RULE_COUNT];
	char list[512], q[64], hint[96];
	for (size_t i = 0; i < RULE_COUNT; i++)
		names[i] = rule_table[i]->name;
	const char *name;
	const json_t *cfg;
	json_object_foreach((json_t *)rules, name, cfg) {
		const struct rule_def *r = rule_by_name(name);
		if (!r) {
			hint[0] = '\0';
			for (size_t i = 0; i < RULE_COUNT; i++)
				if (edit_distance(name, names[i]) <= 3)
					fmt_buf(hint, sizeof hint, " (did you mean '%s'?)", names[i]);
			struct pos p = at_key(c, rules, name);
			perr_at(c, p.line, p.col, "unknown rule '%s'%s; expected %s",
				quoted(name, q, sizeof q), hint, one_of(names, RULE_COUNT, list, sizeof list));
			continue;
		}
		if (!json_is_object(cfg)) {
			struct pos p = at_value(c, rules, name);
			perr_at(c, p.line, p.col, "rule %s: expected a mapping (action and options), "
				"found %s", name, yaml_type_phrase(cfg));
			continue;
		}
		char where[96];
		fmt_buf(where, sizeof where, "rule %s", name);
		switch (r->id) {
		case RULE_MESH_INJECTION:
			unknown_keys(c, cfg, rule_keys_mesh, ARRAY_LEN(rule_keys_mesh), where);
			bool_option(c, cfg, "allowPodAmbient", &c->p->allow_pod_ambient);
			bool_option(c, cfg, "allowManualInjection", &c->p->allow_manual_injection);
			break;
		case RULE_AUTHZ_WILDCARD:
			unknown_keys(c, cfg, rule_keys_authz, ARRAY_LEN(rule_keys_authz), where);
			bool_option(c, cfg, "requireSource", &c->p->require_source);
			break;
		default:
			unknown_keys(c, cfg, rule_keys_dsa, ARRAY_LEN(rule_keys_dsa), where);
			break;
		}
		const json_t *a = json_object_get(cfg, "action");
		if (!a)
			continue;   /* keeps its default action */
		struct pos p = at_value(c, cfg, "action");
		enum action act;
		if (!json_is_string(a)) {
			perr_at(c, p.line, p.col, "rule %s: action: expected deny, warn, audit or off, "
				"found %s", name, yaml_type_phrase(a));
			continue;
		}
		if (action_parse(json_string_value(a), &act) < 0) {
			perr_at(c, p.line, p.col, "invalid action '%s' for rule %s; expected deny, warn, "
				"audit or off", quoted(json_string_value(a), q, sizeof q), name);
			continue;
		}
		c->p->actions[r->id] = act;
	}
}

static const char *const exemption_keys[] = { "rule", "namespace", "kind", "name",
					      "serviceAccount", "reason" };

static void check_exemption(struct pctx *c, const json_t *arr, size_t idx, struct exemption *out,
			    bool *ok)
{
	const json_t *ex = json_array_get(arr, idx);
	struct pos at = at_index(c, arr, idx);
	char q[64], where[48];
	*ok = false;
	if (!json_is_object(ex)) {
		perr_at(c, at.line, at.col, "exemption: expected a mapping with rule, namespace, kind, "
			"name and reason, found %s", yaml_type_phrase(ex));
		return;
	}
	fmt_buf(where, sizeof where, "exemptions[%zu]", idx);
	unknown_keys(c, ex, exemption_keys, ARRAY_LEN(exemption_keys), where);
	size_t before = c->n;
	static const char *const required[] = { "rule", "namespace", "kind", "name", "reason" };
	for (size_t i = 0; i < ARRAY_LEN(required); i++)
		if (!json_object_get(ex, required[i]))
			perr_at(c, at.line, at.col, "exemption is missing '%s'%s", required[i],
				strcmp(required[i], "reason") == 0
					? " (say why this workload is exempt; the reason is logged "
					  "whenever the exemption is used)"
					: "");
	/* rule */
	const struct rule_def *r = NULL;
	const json_t *v = json_object_get(ex, "rule");
	if (v) {
		struct pos p = at_value(c, ex, "rule");
		const char *names[RULE_COUNT];
		char list[512];
		for (size_t i = 0; i < RULE_COUNT; i++)
			names[i] = rule_table[i]->name;
		if (!json_is_string(v))
			perr_at(c, p.line, p.col, "rule: expected a string, found %s", yaml_type_phrase(v));
		else if (!(r = rule_by_name(json_string_value(v))))
			perr_at(c, p.line, p.col, "unknown rule '%s'; expected %s",
				quoted(json_string_value(v), q, sizeof q),
				one_of(names, RULE_COUNT, list, sizeof list));
	}
	/* the kinds an exemption of this rule may name: those it judges, or for a cross-object audit
	 * the kinds its findings are about (an unknown rule: workloads) */
	uint32_t kinds = r ? (r->kinds ? r->kinds : r->exempt_kinds) : KINDS_WORKLOAD;
	bool workload_rule = (kinds & KINDS_WORKLOAD) != 0;
	const char *ns = NULL, *name = NULL, *sa = NULL, *reason = NULL, *kind = NULL;
	if ((v = json_object_get(ex, "namespace")))
		ns = name_value(c, v, at_value(c, ex, "namespace"), "namespace", false);
	if ((v = json_object_get(ex, "name")))
		name = name_value(c, v, at_value(c, ex, "name"), "name", true);
	if ((v = json_object_get(ex, "serviceAccount"))) {
		struct pos p = at_value(c, ex, "serviceAccount");
		sa = name_value(c, v, p, "serviceAccount", true);
		if (sa && !workload_rule) {
			perr_at(c, p.line, p.col, "serviceAccount applies to workload rules only, not to "
				"%s", r->name);
			sa = NULL;
		}
	}
	if ((v = json_object_get(ex, "kind"))) {
		struct pos p = at_value(c, ex, "kind");
		const char *names[K_COUNT];
		size_t n_names = 0;
		for (int i = K_UNKNOWN + 1; i < K_COUNT; i++)
			if (kinds & KIND_BIT(i))
				names[n_names++] = kind_name((enum kind_id)i);
		char list[320];
		enum kind_id k = json_is_string(v) ? kind_by_name(json_string_value(v)) : K_UNKNOWN;
		if (!json_is_string(v))
			perr_at(c, p.line, p.col, "kind: expected a string, found %s", yaml_type_phrase(v));
		else if (k != K_UNKNOWN && (kinds & KIND_BIT(k)))
			kind = kind_name(k);
		else if (workload_rule)
			perr_at(c, p.line, p.col, "kind '%s' is not a workload kind; expected %s",
				quoted(json_string_value(v), q, sizeof q),
				one_of(names, n_names, list, sizeof list));
		else
			perr_at(c, p.line, p.col, "kind '%s' cannot be exempted from %s; expected %s",
				quoted(json_string_value(v), q, sizeof q), r->name,
				one_of(names, n_names, list, sizeof list));
	}
	/* a Namespace is cluster-scoped: the exemption names it as its namespace and its name */
	if (kind && ns && name && strcmp(kind, "Namespace") == 0 && strcmp(ns, name) != 0) {
		struct pos p = at_value(c, ex, "name");
		perr_at(c, p.line, p.col, "a Namespace exemption names the namespace twice: name '%s' "
			"must equal namespace '%s'", quoted(name, q, sizeof q), ns);
		name = NULL;
	}
	if ((v = json_object_get(ex, "reason"))) {
		struct pos p = at_value(c, ex, "reason");
		if (!json_is_string(v)) {
			perr_at(c, p.line, p.col, "reason: expected a string, found %s", yaml_type_phrase(v));
		} else {
			const char *s = json_string_value(v);
			while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
				s++;
			if (!*s)
				perr_at(c, p.line, p.col, "reason must not be empty (say why this workload "
					"is exempt)");
			else
				reason = json_string_value(v);
		}
	}
	if (c->n != before || c->too_many || !r || !ns || !name || !kind || !reason)
		return;
	out->rule = r->id;
	out->line = at.line;
	out->namespace = xstrdup(ns);
	out->kind = xstrdup(kind);
	out->name = xstrdup(name);
	out->service_account = sa ? xstrdup(sa) : NULL;
	out->reason = xstrdup(reason);
	if (!out->namespace || !out->kind || !out->name || (sa && !out->service_account) ||
	    !out->reason) {
		c->oom = true;
		return;
	}
	*ok = true;
}

static bool same_opt(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static void check_exemptions(struct pctx *c, const json_t *spec)
{
	const json_t *arr = member(c, spec, "exemptions", JSON_ARRAY, "a sequence of exemptions");
	if (!arr)
		return;
	size_t n = json_array_size(arr);
	struct exemption *ex = xcalloc(n ? n : 1, sizeof *ex);
	if (!ex) {
		c->oom = true;
		return;
	}
	struct policy *p = c->p;
	p->exemptions = ex;   /* freed with the policy from here on */
	for (size_t i = 0; i < n; i++) {
		bool ok;
		struct exemption *e = &ex[p->n_exemptions];
		check_exemption(c, arr, i, e, &ok);
		if (!ok) {
			xfree(e->namespace);
			xfree(e->kind);
			xfree(e->name);
			xfree(e->service_account);
			xfree(e->reason);
			memset(e, 0, sizeof *e);
			continue;
		}
		size_t j = 0;
		while (j < p->n_exemptions &&
		       !(ex[j].rule == e->rule && strcmp(ex[j].namespace, e->namespace) == 0 &&
			 strcmp(ex[j].kind, e->kind) == 0 && strcmp(ex[j].name, e->name) == 0 &&
			 same_opt(ex[j].service_account, e->service_account)))
			j++;
		if (j < p->n_exemptions) {
			perr_at(c, e->line, at_index(c, arr, i).col, "duplicate exemption: same rule, "
				"namespace, kind, name and serviceAccount as the exemption at line %u",
				ex[j].line);
			xfree(e->namespace);
			xfree(e->kind);
			xfree(e->name);
			xfree(e->service_account);
			xfree(e->reason);
			memset(e, 0, sizeof *e);
			continue;
		}
		p->n_exemptions++;
	}
}

static const char *const spec_keys[] = { "rootNamespace", "exemptNamespaces",
					 "enforceOnControllerObjects", "revisions", "rules",
					 "exemptions" };
static const char *const top_keys[] = { "apiVersion", "kind", "metadata", "spec" };
static const char *const metadata_keys[] = { "name", "labels", "annotations" };

static void check_spec(struct pctx *c, const json_t *spec)
{
	struct policy *p = c->p;
	unknown_keys(c, spec, spec_keys, ARRAY_LEN(spec_keys), "spec");
	const json_t *v = json_object_get(spec, "rootNamespace");
	if (v) {
		const char *ns = name_value(c, v, at_value(c, spec, "rootNamespace"), "rootNamespace",
					    false);
		char *copy = ns ? xstrdup(ns) : NULL;
		if (ns && !copy)
			c->oom = true;
		if (copy) {
			xfree(p->root_namespace);
			p->root_namespace = copy;
		}
	}
	label_list(c, spec, "exemptNamespaces", "namespace", &p->exempt_namespaces,
		   &p->n_exempt_namespaces);
	bool_option(c, spec, "enforceOnControllerObjects", &p->enforce_on_controller_objects);
	label_list(c, spec, "revisions", "revision", &p->revisions, &p->n_revisions);
	check_rules(c, spec);
	check_exemptions(c, spec);
}

/* A required top-level string with one allowed value. */
static void fixed_string(struct pctx *c, const json_t *root, const char *key, const char *want)
{
	const json_t *v = json_object_get(root, key);
	char q[64];
	if (!v) {
		struct pos p = at_node(c, root);
		perr_at(c, p.line, p.col, "missing %s (expected %s: %s)", key, key, want);
	} else if (!json_is_string(v) || strcmp(json_string_value(v), want) != 0) {
		struct pos p = at_value(c, root, key);
		char got[80];
		if (json_is_string(v))
			fmt_buf(got, sizeof got, "'%s'", quoted(json_string_value(v), q, sizeof q));
		else
			fmt_buf(got, sizeof got, "%s", yaml_type_phrase(v));
		perr_at(c, p.line, p.col, "unsupported %s %s (expected %s)", key, got, want);
	}
}

static void check_root(struct pctx *c, const json_t *root)
{
	if (!json_is_object(root)) {
		struct pos p = at_node(c, root);
		perr_at(c, p.line, p.col, "expected a mapping with apiVersion, kind and spec, found %s",
			yaml_type_phrase(root));
		return;
	}
	unknown_keys(c, root, top_keys, ARRAY_LEN(top_keys), "the policy");
	fixed_string(c, root, "apiVersion", POLICY_API_VERSION);
	fixed_string(c, root, "kind", POLICY_KIND);
	const json_t *md = member(c, root, "metadata", JSON_OBJECT, "a mapping");
	if (md) {
		unknown_keys(c, md, metadata_keys, ARRAY_LEN(metadata_keys), "metadata");
		member(c, md, "name", JSON_STRING, "a string");
		member(c, md, "labels", JSON_OBJECT, "a mapping");
		member(c, md, "annotations", JSON_OBJECT, "a mapping");
	}
	const json_t *spec = member(c, root, "spec", JSON_OBJECT, "a mapping");
	if (spec)
		check_spec(c, spec);
}

static int cmp_err(const void *a, const void *b)
{
	const struct perr *x = a, *y = b;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Every error, in file order, one per line, into err (cut at a line boundary if it is full). */
static void write_errors(struct pctx *c, char *err, size_t errlen)
{
	if (!errlen)
		return;
	qsort(c->errs, c->n, sizeof *c->errs, cmp_err);
	size_t len = 0;
	err[0] = '\0';
	for (size_t i = 0; i < c->n; i++) {
		char line[640], rest[64];
		size_t n = fmt_buf(line, sizeof line, "%s:%u:%u: %s", c->name, c->errs[i].line,
				   c->errs[i].col, c->errs[i].msg);
		size_t rn = i + 1 < c->n ? fmt_buf(rest, sizeof rest, "\n... and %zu more errors",
						   c->n - i - 1) : 0;
		if (len + (len ? 1 : 0) + n + rn < errlen) {
			len += fmt_buf(err + len, errlen - len, "%s%s", len ? "\n" : "", line);
			continue;
		}
		if (i > 0) {   /* no room for this one: count it and the rest */
			fmt_buf(err + len, errlen - len, "\n... and %zu more errors", c->n - i);
			return;
		}
		/* not even the first fits whole: shorten it, keep the count */
		len = fmt_buf(err, errlen > rn + 8 ? errlen - rn : errlen, "%s", line);
		fmt_buf(err + len, errlen - len, "%s", rest);
		return;
	}
	if (c->too_many)
		fmt_buf(err + len, errlen - len, "\n%s: too many errors, stopped after %d", c->name,
			MAX_ERRORS);
}

struct policy *policy_load_mem(const char *name, const char *data, size_t len, char *err,
			       size_t errlen)
{
	struct ydoc *d = ydoc_load_mem(name, data, len, YSCHEMA_CORE, &ylimits_policy, err, errlen);
	if (!d)
		return NULL;
	struct pctx c = { .name = name, .d = d, .p = policy_new(name) };
	if (c.p)
		check_root(&c, ydoc_root(d));
	ydoc_free(d);
	if (!c.p || c.oom) {
		fmt_buf(err, errlen, "%s: out of memory", name);
		policy_free(c.p);
		xfree(c.errs);
		return NULL;
	}
	if (c.n || c.too_many) {
		write_errors(&c, err, errlen);
		policy_free(c.p);
		xfree(c.errs);
		return NULL;
	}
	xfree(c.errs);
	if (errlen)
		err[0] = '\0';
	return c.p;
}

struct policy *policy_load(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fmt_buf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	size_t max = (size_t)ylimits_policy.max_input, len = 0, cap = 16384;
	char *data = xmalloc(cap);
	struct policy *p = NULL;
	if (!data) {
		fmt_buf(err, errlen, "%s: out of memory", path);
		goto out_close;
	}
	for (;;) {
		if (len == cap) {
			if (cap > max) {
				fmt_buf(err, errlen, "%s: file is larger than %zu bytes", path, max);
				goto out_free;
			}
			char *bigger = xrealloc(data, cap * 2);
			if (!bigger) {
				fmt_buf(err, errlen, "%s: out of memory", path);
				goto out_free;
			}
			data = bigger;
			cap *= 2;
		}
		ssize_t n = read(fd, data + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fmt_buf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
			goto out_free;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		fmt_buf(err, errlen, "%s: file is larger than %zu bytes", path, max);
		goto out_free;
	}
	p = policy_load_mem(path, data, len, err, errlen);
out_free:
	xfree(data);
out_close:
	close(fd);
	return p;
}
