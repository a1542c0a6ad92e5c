/* audit.c - posture check's cross-object audit: summaries as the input streams, findings at its end. */
#include "audit.h"

#include <stdio.h>
#include <stdlib.h>

#include "rules.h"

/*
 * What counts (docs/audit.md says the same for users):
 *
 * - An AuthorizationPolicy is namespace-wide when it has no targetRef(s) and no selector, or a
 *   selector with no matchLabels (Istio: the empty label set selects every workload). In the
 *   mesh's root namespace a namespace-wide policy applies to the whole mesh, and a selector
 *   selects workloads of every namespace. Policies with targetRef(s) bind to Services and
 *   gateways, not to workloads: out of scope here (never namespace-wide, no orphan check).
 * - Default-deny of a namespace: a namespace-wide policy, in it or in the root namespace, that
 *   is (a) ALLOW with no rules (allow-nothing), (b) DENY with an empty rule `{}` (matches every
 *   request: a lockdown no ALLOW policy can open), or (c) ALLOW with rules none of which is the
 *   empty rule (every request must match an ALLOW rule). An empty rule in an ALLOW policy allows
 *   everything: no default-deny. Other open rules are authorization-policy-wildcard's to report.
 * - mTLS of a namespace: its namespace-wide PeerAuthentications (no selector, or no matchLabels;
 *   portLevelMtls is ignored there, as Istio ignores it without a selector) with a mode other
 *   than UNSET decide; if they disagree, the one that is not STRICT is reported (Istio would use
 *   the oldest). With none, the root namespace's decide the same way; with none there either,
 *   Istio's default PERMISSIVE applies.
 * - A workload is a Pod or a pod template (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job,
 *   CronJob, ReplicationController), with the template's or Pod's labels; a selector matches it
 *   when every matchLabels pair is among its labels.
 * - workload-unreachable judges workloads in the mesh (the injector's decision and ambient
 *   capture, as mesh-injection defines it, without requiring the proxy) of namespaces not
 *   skipped, under an allow-nothing policy (a) of their namespace or the root namespace, and not
 *   under a DENY lockdown (b). It is selected by an ALLOW policy with rules: namespace-wide in its
 *   namespace or the root namespace, or by selector in either. Jobs, CronJobs and their Pods
 *   (batch: they call, they are not called), mirror pods, and objects whose controller is in the
 *   input (the controller is reported; a Pod of a ReplicaSet <deployment>-<pod-template-hash>
 *   counts its Deployment) are not reported.
 */

#define KEY_MAX 800          /* "Kind/namespace/name" of names the apiserver allows (<= 253) */
#define LABELS_SHOWN 160     /* bytes of a label set quoted in a message */

/* ---- string map: open addressing, keys in the arena ---- */

struct smap {
	const char **keys;
	void **vals;
	size_t cap, n;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* ---- summaries ---- */

struct labels {
	uint32_t n;
	const char **kv;     /* kv[2i] key, kv[2i+1] value; arena */
};

struct a_sel {               /* an AuthorizationPolicy selecting by labels */
	struct a_sel *next;
	const char *name;
	struct audit_where w;
	struct labels labels;
	bool allow_rules;        /* ALLOW with rules: opens what it selects */
};

#define WL_HOST_NETWORK 0x01u
#define WL_INJECT_FALSE 0x02u
#define WL_INJECT_TRUE 0x04u
#define WL_REV 0x08u
#define WL_DATAPLANE_NONE 0x10u
#define WL_DATAPLANE_AMBIENT 0x20u
#define WL_BATCH 0x40u
#define WL_MIRROR 0x80u

struct a_wl {
	struct a_wl *next;
	enum kind_id kind;
	const char *name;
	const char *owner_kind, *owner_name;   /* controller ownerReference, or NULL */
	const char *sa;                        /* serviceAccountName, or NULL */
	const char *meta_path;                 /* static: "metadata", "spec.template.metadata", ... */
	const char *template_hash;             /* label pod-template-hash, or NULL */
	struct audit_where w;
	struct labels labels;
	unsigned flags;
};

struct a_ns;

struct a_principal {
	struct a_principal *next;
	struct a_ns *ap_ns;      /* the policy's namespace */
	const char *ap;          /* the policy's name */
	struct audit_where w;
	uint32_t line;
	const char *text, *ns, *sa, *path;
};

struct a_ns {
	const char *name;
	bool facts_set;
	struct audit_ns facts;
	bool has_object;         /* its Namespace object was read */
	struct audit_where w;
	uint32_t n_sa;           /* ServiceAccounts of it in the input */
	const char *allow_nothing, *deny_all, *allow_only;   /* first namespace-wide (a), (b), (c) */
	bool allow_all;          /* a namespace-wide ALLOW with rules: selects every workload */
	const char *pa_strict;                      /* first namespace-wide PeerAuthentication: STRICT */
	const char *pa_other, *pa_other_mode;      /* ... and with another mode */
	struct a_sel *sels;
	struct a_wl *wls;
};

struct audit {
	const struct policy *pol;
	struct arena arena;
	uint32_t saw;            /* AUDIT_SAW_* */
	struct smap ns;          /* name -> struct a_ns */
	struct smap sas;         /* "ns/name" of ServiceAccounts */
	struct smap wlkeys;      /* "Kind/ns/name" of workloads that may be controllers (not Pods) */
	struct smap strs;        /* interned: label keys and values, principals' namespaces, paths, fixes */
	struct a_principal *principals, **principals_tail;
	struct audit_finding *f; /* owned */
	size_t n_f, cap_f;
	struct audit_notice notices[RULE_COUNT];
	size_t n_notices;
	bool oom;
};

/* The value slot of key in m (created, with the key copied into the arena, when create is set;
 * *stored, if given, is the map's copy of the key). NULL when absent, or on OOM (a->oom set). */
static void **smap_slot_key(struct audit *a, struct smap *m, const char *key, bool create,
			    const char **stored)
{
	if (create && (m->n + 1) * 2 > m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		const char **keys = xcalloc(cap, sizeof(*keys));
		void **vals = xcalloc(cap, sizeof(*vals));
		if (!keys || !vals) {
			xfree(keys);
			xfree(vals);
			a->oom = true;
			return NULL;
		}
		for (size_t i = 0; i < m->cap; i++) {
			if (!m->keys[i])
				continue;
			size_t j = (size_t)hash_str(m->keys[i]) & (cap - 1);
			while (keys[j])
				j = (j + 1) & (cap - 1);
			keys[j] = m->keys[i];
			vals[j] = m->vals[i];
		}
		xfree(m->keys);
		xfree(m->vals);
		m->keys = keys;
		m->vals = vals;
		m->cap = cap;
	}
	if (!m->cap)
		return NULL;
	size_t j = (size_t)hash_str(key) & (m->cap - 1);
	for (; m->keys[j]; j = (j + 1) & (m->cap - 1))
		if (strcmp(m->keys[j], key) == 0) {
			if (stored)
				*stored = m->keys[j];
			return &m->vals[j];
		}
	if (!create)
		return NULL;
	const char *k = arena_strndup(&a->arena, key, strlen(key));
	if (!k) {
		a->oom = true;
		return NULL;
	}
	m->keys[j] = k;
	m->n++;
	if (stored)
		*stored = k;
	return &m->vals[j];
}

static void **smap_slot(struct audit *a, struct smap *m, const char *key, bool create)
{
	return smap_slot_key(a, m, key, create, NULL);
}

static void smap_release(struct smap *m)
{
	xfree(m->keys);
	xfree(m->vals);
	memset(m, 0, sizeof *m);
}

static const char *astr(struct audit *a, const char *s, size_t n)
{
	const char *r = arena_strndup(&a->arena, s, n);
	if (!r)
		a->oom = true;
	return r;
}

static const char *asv(struct audit *a, struct sv s)
{
	return astr(a, s.p, s.n);
}

/* One copy of each distinct string (label keys and values repeat across workloads). s must be
 * NUL-terminated. NULL on OOM. */
static const char *intern(struct audit *a, const char *s)
{
	const char *k = NULL;
	return smap_slot_key(a, &a->strs, s, true, &k) ? k : NULL;
}

/* The namespace named name (created when absent). NULL on OOM. */
static struct a_ns *ns_rec(struct audit *a, const char *name)
{
	void **slot = smap_slot(a, &a->ns, name, true);
	if (!slot)
		return NULL;
	if (!*slot) {
		struct a_ns *n = arena_calloc(&a->arena, 1, sizeof(*n));
		if (!n) {
			a->oom = true;
			return NULL;
		}
		n->name = astr(a, name, strlen(name));
		if (!n->name)
			return NULL;
		*slot = n;
	}
	return *slot;
}

static struct a_ns *ns_find(struct audit *a, const char *name)
{
	void **slot = name ? smap_slot(a, &a->ns, name, false) : NULL;
	return slot ? *slot : NULL;
}

/* Copy a labels map (or matchLabels) into the arena, its strings interned. -1 on OOM. */
static int labels_copy(struct audit *a, const struct kvmap *m, struct labels *out)
{
	out->n = 0;
	out->kv = NULL;
	if (!jn_is(m->obj, JT_OBJECT) || m->obj->len == 0)
		return 0;
	out->kv = arena_calloc(&a->arena, (size_t)m->obj->len * 2, sizeof(*out->kv));
	if (!out->kv) {
		a->oom = true;
		return -1;
	}
	for (JN_EACH_MEMBER(m->obj, key)) {
		const struct jnode *v = key + 1;
		const char *k = intern(a, key->s);
		const char *val = intern(a, v->type == JT_STRING ? v->s : "");
		if (!k || !val)
			return -1;
		out->kv[2 * out->n] = k;
		out->kv[2 * out->n + 1] = val;
		out->n++;
	}
	return 0;
}

/* Every pair of sel is in have (Istio's workload selector: a subset match). Both are interned:
 * equal strings are the same pointer. */
static bool labels_subset(const struct labels *sel, const struct labels *have)
{
	for (uint32_t i = 0; i < sel->n; i++) {
		uint32_t j = 0;
		while (j < have->n && !(sel->kv[2 * i] == have->kv[2 * j] && sel->kv[2 * i + 1] == have->kv[2 * j + 1]))
			j++;
		if (j == have->n)
			return false;
	}
	return true;
}

/* "{app=web, version=v2}" into buf, cut with "..." when long. */
static void labels_text(const struct labels *l, char *buf, size_t size)
{
	size_t n = fmt_buf(buf, size, "{");
	for (uint32_t i = 0; i < l->n && n < size; i++) {
		size_t before = n;
		n += fmt_buf(buf + n, size - n, "%s%s=%s", i ? ", " : "", l->kv[2 * i], l->kv[2 * i + 1]);
		if (n + 5 >= size || n > LABELS_SHOWN) {
			fmt_buf(buf + before, size - before, "%s...}", i ? ", " : "");
			return;
		}
	}
	fmt_buf(buf + n, size - n, "}");
}

/* ---- collecting ---- */

struct audit *audit_new(const struct policy *pol)
{
	struct audit *a = xcalloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->pol = pol;
	arena_init(&a->arena, 0);
	a->principals_tail = &a->principals;
	return a;
}

void audit_free(struct audit *a)
{
	if (!a)
		return;
	smap_release(&a->ns);
	smap_release(&a->sas);
	smap_release(&a->wlkeys);
	smap_release(&a->strs);
	xfree(a->f);
	arena_release(&a->arena);
	xfree(a);
}

static bool namespace_wide(bool has_selector, const struct kvmap *match_labels)
{
	return !has_selector || !jn_is(match_labels->obj, JT_OBJECT) || match_labels->obj->len == 0;
}

static bool empty_rule(const struct ap_rule *r)
{
	return r->n_from == 0 && r->n_to == 0 && r->n_when == 0;
}

/* A principal "<td>/ns/<N>/sa/<S>" with N and S literal (no '*'): its namespace and account. */
static bool principal_sa(struct sv p, struct sv *ns, struct sv *sa)
{
	const char *part[5];
	uint32_t len[5], k = 0, start = 0;
	for (uint32_t i = 0; i <= p.n; i++) {
		if (i < p.n && p.p[i] != '/')
			continue;
		if (k == 5)
			return false;
		part[k] = p.p + start;
		len[k++] = i - start;
		start = i + 1;
	}
	if (k != 5 || len[0] == 0 || len[2] == 0 || len[4] == 0)
		return false;
	if (len[1] != 2 || memcmp(part[1], "ns", 2) != 0 || len[3] != 2 || memcmp(part[3], "sa", 2) != 0)
		return false;
	if (memchr(part[2], '*', len[2]) || memchr(part[4], '*', len[4]) || memchr(p.p, '\0', p.n))
		return false;
	*ns = sv_make(part[2], len[2], 0);
	*sa = sv_make(part[4], len[4], 0);
	return true;
}

static int add_authz(struct audit *a, struct a_ns *n, const struct authz_view *v, const char *name,
		     const struct audit_where *w)
{
	bool allow = !sv_set(v->action) || sv_eq(v->action, "ALLOW");
	bool deny = sv_eq(v->action, "DENY");
	if (!v->has_target_refs && namespace_wide(v->has_selector, &v->match_labels)) {
		bool any_empty = false;
		for (uint32_t i = 0; i < v->n_rules; i++)
			any_empty = any_empty || empty_rule(&v->rules[i]);
		if (allow && v->n_rules == 0 && !n->allow_nothing)
			n->allow_nothing = astr(a, name, strlen(name));
		if (allow && v->n_rules > 0)
			n->allow_all = true;
		if (allow && v->n_rules > 0 && !any_empty && !n->allow_only)
			n->allow_only = astr(a, name, strlen(name));
		if (deny && any_empty && !n->deny_all)
			n->deny_all = astr(a, name, strlen(name));
	} else if (!v->has_target_refs) {
		struct a_sel *s = arena_calloc(&a->arena, 1, sizeof(*s));
		if (!s || !(s->name = astr(a, name, strlen(name))) ||
		    labels_copy(a, &v->match_labels, &s->labels) < 0) {
			a->oom = true;
			return -1;
		}
		s->w = *w;
		s->allow_rules = allow && v->n_rules > 0;
		s->next = n->sels;
		n->sels = s;
	}
	if (!allow)
		return a->oom ? -1 : 0;
	/* literal principals of ALLOW rules: grants to ServiceAccounts that must exist */
	const char *ap_name = NULL;
	for (uint32_t i = 0; i < v->n_rules; i++) {
		const struct ap_rule *r = &v->rules[i];
		for (uint32_t j = 0; j < r->n_from; j++) {
			const struct strlist *pl = &r->from[j].principals;
			for (uint32_t k = 0; r->from[j].present && k < pl->n; k++) {
				struct sv pns, psa;
				if (!principal_sa(pl->v[k], &pns, &psa))
					continue;
				char path[VIOL_PATH_MAX];
				fmt_buf(path, sizeof path, "spec.rules[%u].from[%u].source.principals[%u]", i, j, k);
				struct a_principal *p = arena_calloc(&a->arena, 1, sizeof(*p));
				char ns[256];
				sv_to_buf(pns, ns, sizeof ns);
				if (!ap_name)
					ap_name = astr(a, name, strlen(name));
				if (!p || !(p->ap = ap_name) || !(p->text = asv(a, pl->v[k])) ||
				    !(p->ns = intern(a, ns)) || !(p->sa = asv(a, psa)) || !(p->path = intern(a, path))) {
					a->oom = true;
					return -1;
				}
				p->ap_ns = n;
				p->w = *w;
				p->line = pl->v[k].line ? pl->v[k].line : w->line;
				*a->principals_tail = p;
				a->principals_tail = &p->next;
			}
		}
	}
	return a->oom ? -1 : 0;
}

static int add_peerauth(struct audit *a, struct a_ns *n, const struct peerauth_view *v, const char *name)
{
	if (!namespace_wide(v->has_selector, &v->match_labels))
		return 0;
	struct sv m = v->mtls_mode;
	if (!v->has_mtls || !sv_set(m) || sv_eq(m, "UNSET"))
		return 0;   /* inherits */
	if (sv_eq(m, "STRICT")) {
		if (!n->pa_strict)
			n->pa_strict = astr(a, name, strlen(name));
	} else if (!n->pa_other) {
		n->pa_other = astr(a, name, strlen(name));
		n->pa_other_mode = asv(a, m);
	}
	return a->oom ? -1 : 0;
}

static void wl_key(char *buf, size_t size, const char *kind, const char *ns, const char *name)
{
	fmt_buf(buf, size, "%s/%s/%s", kind, ns, name);
}

static int add_workload(struct audit *a, struct a_ns *n, const struct subject *s, const char *name,
			const struct audit_where *w)
{
	const struct workload_view *v = &s->u.wl;
	const struct meta_view *pm = &v->pod_meta;
	struct a_wl *wl = arena_calloc(&a->arena, 1, sizeof(*wl));
	if (!wl || !(wl->name = astr(a, name, strlen(name))) || labels_copy(a, &pm->labels, &wl->labels) < 0) {
		a->oom = true;
		return -1;
	}
	wl->kind = s->kind;
	wl->w = *w;
	wl->meta_path = pm->path;
	const struct owner_ref *o = &s->meta.controller;
	if (o->present && sv_set(o->kind)) {
		enum kind_id ok = kind_lookup_api_version(o->api_version, o->kind);
		wl->owner_kind = ok != K_UNKNOWN ? kind_name(ok) : asv(a, o->kind);
		wl->owner_name = asv(a, o->name);
	}
	struct sv sa = sv_set(v->spec.service_account_name) ? v->spec.service_account_name : v->spec.service_account;
	if (sv_set(sa))
		wl->sa = asv(a, sa);
	struct sv val;
	for (uint32_t i = 0; i < wl->labels.n; i++)
		if (strcmp(wl->labels.kv[2 * i], "pod-template-hash") == 0 && wl->labels.kv[2 * i + 1][0])
			wl->template_hash = wl->labels.kv[2 * i + 1];
	if (v->spec.host_network)
		wl->flags |= WL_HOST_NETWORK;
	if (kv_get(&pm->labels, "sidecar.istio.io/inject", &val) ||
	    kv_get(&pm->annotations, "sidecar.istio.io/inject", &val)) {
		if (sv_eq(val, "false"))
			wl->flags |= WL_INJECT_FALSE;
		else if (sv_eq(val, "true"))
			wl->flags |= WL_INJECT_TRUE;
	}
	if (kv_get(&pm->labels, "istio.io/rev", &val) && val.n)
		wl->flags |= WL_REV;
	if (kv_get(&pm->labels, "istio.io/dataplane-mode", &val)) {
		if (sv_eq(val, "none"))
			wl->flags |= WL_DATAPLANE_NONE;
		else if (sv_eq(val, "ambient"))
			wl->flags |= WL_DATAPLANE_AMBIENT;
	}
	if (s->kind == K_JOB || s->kind == K_CRONJOB || (wl->owner_kind && strcmp(wl->owner_kind, "Job") == 0))
		wl->flags |= WL_BATCH;
	if (s->kind == K_POD && kv_has(&s->meta.annotations, "kubernetes.io/config.mirror"))
		wl->flags |= WL_MIRROR;
	if (a->oom)
		return -1;
	if (s->kind != K_POD) {   /* what may be a controller: a Pod never is */
		char key[KEY_MAX];
		wl_key(key, sizeof key, kind_name(s->kind), n->name, name);
		void **slot = smap_slot(a, &a->wlkeys, key, true);
		if (!slot)
			return -1;
		*slot = wl;
	}
	wl->next = n->wls;
	n->wls = wl;
	return 0;
}

int audit_object(struct audit *a, const struct subject *s, const char *ns, const char *name,
		 const struct audit_where *w)
{
	struct a_ns *n = ns_rec(a, ns);
	if (!n)
		return -1;
	switch (s->kind) {
	case K_NAMESPACE:
		a->saw |= AUDIT_SAW_NAMESPACE;
		if (!n->has_object) {
			n->has_object = true;
			n->w = *w;
		}
		return 0;
	case K_AUTHORIZATIONPOLICY:
		a->saw |= AUDIT_SAW_AUTHZ;
		return add_authz(a, n, &s->u.ap, name, w);
	case K_PEERAUTHENTICATION:
		a->saw |= AUDIT_SAW_PEERAUTHN;
		return add_peerauth(a, n, &s->u.pa, name);
	default:
		if (!kind_is_workload(s->kind))
			return 0;
		a->saw |= AUDIT_SAW_WORKLOAD;
		return add_workload(a, n, s, name, w);
	}
}

int audit_service_account(struct audit *a, const char *ns, const char *name)
{
	char key[KEY_MAX];
	struct a_ns *n = ns_rec(a, ns);
	if (!n)
		return -1;
	a->saw |= AUDIT_SAW_SERVICEACCOUNT;
	fmt_buf(key, sizeof key, "%s/%s", ns, name);
	void **slot = smap_slot(a, &a->sas, key, true);
	if (!slot)
		return -1;
	if (!*slot) {
		*slot = n;
		n->n_sa++;
	}
	return 0;
}

int audit_namespace(struct audit *a, const char *name, const struct audit_ns *facts)
{
	struct a_ns *n = ns_rec(a, name);
	if (!n)
		return -1;
	n->facts = *facts;
	n->facts_set = true;
	return 0;
}

/* ---- the pass ---- */

struct pass {
	struct audit *a;
	const struct a_ns *root;
	const char *root_name;
	bool subjects[RULE_COUNT];   /* something the rule would judge is in the input */
	uint32_t ord;
};

static bool enabled(const struct pass *p, enum rule_id r)
{
	return p->a->pol->actions[r] != ACTION_OFF;
}

static bool enrolled(struct nsmode m)
{
	return m.injection == INJ_SIDECAR || m.ambient;
}

static const struct exemption *find_exemption(const struct policy *pol, enum rule_id rule,
					      enum kind_id kind, const char *ns, const char *name,
					      const struct a_wl *wl)
{
	for (size_t i = 0; i < pol->n_exemptions; i++) {
		const struct exemption *e = &pol->exemptions[i];
		if (e->rule != rule || strcmp(e->namespace, ns) != 0)
			continue;
		if (e->service_account && (!wl || !wl->sa || strcmp(e->service_account, wl->sa) != 0))
			continue;
		if (strcmp(e->kind, kind_name(kind)) == 0 && strcmp(e->name, name) == 0)
			return e;
		/* a workload reported for itself may be exempted through its controller */
		if (wl && wl->owner_kind && strcmp(e->kind, wl->owner_kind) == 0 &&
		    strcmp(e->name, wl->owner_name) == 0)
			return e;
	}
	return NULL;
}

/* Add a finding. w NULL: no location. what and fix are printf formats. */
static void add_finding(struct pass *p, enum rule_id rule, enum kind_id kind, const struct a_ns *n,
			const char *name, const struct audit_where *w, uint32_t line, const char *path,
			const char *cause, const struct a_wl *wl, const char *fix, const char *what_fmt, ...)
	PRINTF_LIKE(12, 13);
static void add_finding(struct pass *p, enum rule_id rule, enum kind_id kind, const struct a_ns *n,
			const char *name, const struct audit_where *w, uint32_t line, const char *path,
			const char *cause, const struct a_wl *wl, const char *fix, const char *what_fmt, ...)
{
	struct audit *a = p->a;
	if (a->n_f == a->cap_f) {
		size_t cap = a->cap_f ? a->cap_f * 2 : 32;
		struct audit_finding *f = xrealloc(a->f, cap * sizeof(*f));
		if (!f) {
			a->oom = true;
			return;
		}
		a->f = f;
		a->cap_f = cap;
	}
	char what[VIOL_WHAT_MAX];
	va_list ap;
	va_start(ap, what_fmt);
	int len = vsnprintf(what, sizeof what, what_fmt, ap);
	va_end(ap);
	if (len < 0)
		what[0] = '\0';
	else if ((size_t)len >= sizeof what)
		memcpy(what + sizeof what - 4, "...", 4);
	struct audit_finding *f = &a->f[a->n_f];
	memset(f, 0, sizeof *f);
	enum action act = a->pol->actions[rule];
	f->rule = rule;
	f->outcome = act == ACTION_DENY ? OUT_DENY : act == ACTION_WARN ? OUT_WARN : OUT_AUDIT;
	f->exemption = find_exemption(a->pol, rule, kind, n->name, name, wl);
	if (f->exemption)
		f->outcome = OUT_EXEMPT;
	f->kind = kind;
	f->ns = n->name;
	f->name = astr(a, name, strlen(name));
	f->mode = n->facts.mode;
	if (w)
		f->where = *w;
	f->line = line;
	f->path = intern(a, path);
	f->cause = cause;
	f->what = astr(a, what, strlen(what));
	f->fix = intern(a, fix);
	f->order = p->ord++;
	if (f->name && f->path && f->what && f->fix)
		a->n_f++;
}

/* The first default-deny policy of n: allow-nothing, DENY lockdown or ALLOW-only (NULL: none),
 * and which of the three. */
static const char *default_deny(const struct a_ns *n, const char **how)
{
	if (!n)
		return NULL;
	if (n->allow_nothing) {
		*how = "allow-nothing";
		return n->allow_nothing;
	}
	if (n->deny_all) {
		*how = "DENY-everything";
		return n->deny_all;
	}
	if (n->allow_only) {
		*how = "namespace-wide ALLOW";
		return n->allow_only;
	}
	return NULL;
}

static void check_default_deny(struct pass *p, const struct a_ns *n)
{
	const char *how;
	if (default_deny(n, &how) || default_deny(p->root, &how))
		return;
	char fix[VIOL_FIX_MAX];
	fmt_buf(fix, sizeof fix, "add an AuthorizationPolicy allow-nothing with spec: {} to namespace %s (or to "
		"%s, for the whole mesh), then an ALLOW policy per workload naming its callers",
		n->name, p->root_name);
	add_finding(p, RULE_NAMESPACE_DEFAULT_DENY, K_NAMESPACE, n, n->name, n->has_object ? &n->w : NULL,
		    n->has_object ? n->w.line : 0, "", "no-default-deny", NULL, fix,
		    "no default-deny: no allow-nothing AuthorizationPolicy (ALLOW, no rules, no selector) here "
		    "or mesh-wide in %s, so a workload no ALLOW policy selects accepts any caller",
		    p->root_name);
}

static void check_strict_mtls(struct pass *p, const struct a_ns *n)
{
	const char *fix_add = "add a PeerAuthentication with spec: {mtls: {mode: STRICT}} and no selector to "
			      "the root namespace (mesh-wide) or to this one, once every client sends mTLS";
	char fix[VIOL_FIX_MAX];
	const struct a_ns *root = p->root;
	const struct audit_where *w = n->has_object ? &n->w : NULL;
	uint32_t line = n->has_object ? n->w.line : 0;
	if (n->pa_other) {
		fmt_buf(fix, sizeof fix, "set spec.mtls.mode of PeerAuthentication %s/%s to STRICT once every "
			"client sends mTLS (PERMISSIVE is for migrating)", n->name, n->pa_other);
		add_finding(p, RULE_NAMESPACE_STRICT_MTLS, K_NAMESPACE, n, n->name, w, line, "", "not-strict", NULL,
			    fix, "mTLS mode is %s here: PeerAuthentication %s/%s sets it namespace-wide (%s)",
			    n->pa_other_mode, n->name, n->pa_other,
			    strcmp(n->pa_other_mode, "DISABLE") == 0 ? "plaintext only" : "plaintext accepted");
		return;
	}
	if (n->pa_strict)
		return;
	if (root && root->pa_other) {
		fmt_buf(fix, sizeof fix, "set spec.mtls.mode of PeerAuthentication %s/%s to STRICT (or add a "
			"STRICT one with no selector to namespace %s) once every client sends mTLS",
			root->name, root->pa_other, n->name);
		add_finding(p, RULE_NAMESPACE_STRICT_MTLS, K_NAMESPACE, n, n->name, w, line, "", "not-strict", NULL,
			    fix, "mTLS mode is %s here: inherited from the mesh-wide PeerAuthentication %s/%s (%s)",
			    root->pa_other_mode, root->name, root->pa_other,
			    strcmp(root->pa_other_mode, "DISABLE") == 0 ? "plaintext only" : "plaintext accepted");
		return;
	}
	if (root && root->pa_strict)
		return;
	add_finding(p, RULE_NAMESPACE_STRICT_MTLS, K_NAMESPACE, n, n->name, w, line, "", "not-strict", NULL,
		    fix_add, "no STRICT PeerAuthentication here or mesh-wide in %s: Istio's default, "
		    "PERMISSIVE, accepts plaintext", p->root_name);
}

static bool matches_in(const struct a_sel *s, const struct a_ns *n)
{
	for (const struct a_wl *w = n->wls; w; w = w->next)
		if (labels_subset(&s->labels, &w->labels))
			return true;
	return false;
}

static void check_orphans(struct pass *p, const struct a_ns *n)
{
	struct audit *a = p->a;
	for (const struct a_sel *s = n->sels; s; s = s->next) {
		p->subjects[RULE_AUTHZ_ORPHAN_SELECTOR] = true;
		if (!(a->saw & AUDIT_SAW_WORKLOAD))
			continue;
		bool found = false;
		if (n == p->root) {
			for (size_t i = 0; i < a->ns.cap && !found; i++)
				if (a->ns.keys[i])
					found = matches_in(s, a->ns.vals[i]);
		} else {
			found = matches_in(s, n);
		}
		if (found)
			continue;
		char labels[LABELS_SHOWN + 48], where[320];
		labels_text(&s->labels, labels, sizeof labels);
		if (n == p->root)
			fmt_buf(where, sizeof where, "in any namespace (%s is the root namespace: its selectors "
				"select workloads mesh-wide)", n->name);
		else
			fmt_buf(where, sizeof where, "in namespace %s", n->name);
		add_finding(p, RULE_AUTHZ_ORPHAN_SELECTOR, K_AUTHORIZATIONPOLICY, n, s->name, &s->w,
			    s->w.selector_line ? s->w.selector_line : s->w.line, "spec.selector.matchLabels",
			    "selector-matches-nothing", NULL,
			    "set spec.selector.matchLabels to the pod labels of the workload it is meant for, or "
			    "delete the policy if that workload is gone",
			    "selector %s matches no workload %s: the policy applies to nothing", labels, where);
	}
}

static void check_principals(struct pass *p)
{
	struct audit *a = p->a;
	for (const struct a_principal *pr = a->principals; pr; pr = pr->next) {
		p->subjects[RULE_STALE_PRINCIPAL] = true;
		if (!(a->saw & AUDIT_SAW_SERVICEACCOUNT))
			continue;
		char key[KEY_MAX];
		fmt_buf(key, sizeof key, "%s/%s", pr->ns, pr->sa);
		if (smap_slot(a, &a->sas, key, false))
			continue;
		const struct a_ns *target = ns_find(a, pr->ns);
		bool ns_exists = target && (target->has_object || target->n_sa);
		/* the serviceaccounts controller creates "default" in every namespace */
		if (ns_exists && strcmp(pr->sa, "default") == 0)
			continue;
		add_finding(p, RULE_STALE_PRINCIPAL, K_AUTHORIZATIONPOLICY, pr->ap_ns, pr->ap, &pr->w, pr->line,
			    pr->path, "stale-principal", NULL,
			    "remove the principal (or create the ServiceAccount, if its workload is about to be "
			    "deployed)",
			    "principal \"%s\" names ServiceAccount %s/%s, which is not in the input%s: a stale grant, "
			    "inherited by whoever creates that ServiceAccount", pr->text, pr->ns, pr->sa,
			    ns_exists ? "" : target && target->facts_set ? " (nor any ServiceAccount of its namespace)"
									 : " (nor its namespace)");
	}
}

/* In the mesh by its namespace's enrolment and its own keys (SEMANTICS.md, "In the mesh"). */
static bool in_mesh(const struct audit *a, const struct a_wl *w, struct nsmode m)
{
	if (w->flags & WL_HOST_NETWORK)
		return false;
	if (m.ambient && !(w->flags & WL_DATAPLANE_NONE))
		return true;
	if (!m.ambient && (w->flags & WL_DATAPLANE_AMBIENT) && a->pol->allow_pod_ambient)
		return true;
	if (w->flags & WL_INJECT_FALSE)
		return false;
	return m.injection == INJ_SIDECAR ||
	       (m.injection == INJ_NONE && (w->flags & (WL_INJECT_TRUE | WL_REV)));
}

/* Its controller is in the input (and is reported, or not, for itself). */
static bool owner_in_input(struct audit *a, const struct a_ns *n, const struct a_wl *w)
{
	char key[KEY_MAX];
	if (!w->owner_kind || !kind_is_workload(kind_by_name(w->owner_kind)))
		return false;
	wl_key(key, sizeof key, w->owner_kind, n->name, w->owner_name);
	if (smap_slot(a, &a->wlkeys, key, false))
		return true;
	/* a Deployment's Pod, its ReplicaSet <deployment>-<pod-template-hash> not in the input */
	size_t on = strlen(w->owner_name), hn = w->template_hash ? strlen(w->template_hash) : 0;
	if (w->kind != K_POD || strcmp(w->owner_kind, "ReplicaSet") != 0 || !hn || on < hn + 2 ||
	    w->owner_name[on - hn - 1] != '-' || strcmp(w->owner_name + on - hn, w->template_hash) != 0)
		return false;
	char dep[KEY_MAX];
	fmt_buf(dep, sizeof dep, "%.*s", (int)(on - hn - 1), w->owner_name);
	wl_key(key, sizeof key, "Deployment", n->name, dep);
	return smap_slot(a, &a->wlkeys, key, false) != NULL;
}

static bool selected_by(const struct a_sel *s, const struct a_wl *w)
{
	for (; s; s = s->next)
		if (s->allow_rules && labels_subset(&s->labels, &w->labels))
			return true;
	return false;
}

static void check_unreachable(struct pass *p, const struct a_ns *n)
{
	struct audit *a = p->a;
	const struct a_ns *root = p->root;
	for (const struct a_wl *w = n->wls; w; w = w->next) {
		if ((w->flags & (WL_BATCH | WL_MIRROR)) || !in_mesh(a, w, n->facts.mode) || owner_in_input(a, n, w))
			continue;
		p->subjects[RULE_WORKLOAD_UNREACHABLE] = true;
		if (!(a->saw & AUDIT_SAW_AUTHZ))
			continue;
		const struct a_ns *dd = n->allow_nothing ? n : root && root->allow_nothing ? root : NULL;
		if (!dd || n->deny_all || (root && root->deny_all))
			continue;
		if (n->allow_all || (root && root->allow_all) || selected_by(n->sels, w) ||
		    (root && root != n && selected_by(root->sels, w)))
			continue;
		char labels[LABELS_SHOWN + 48], path[64];
		labels_text(&w->labels, labels, sizeof labels);
		fmt_buf(path, sizeof path, "%s.labels", w->meta_path);
		add_finding(p, RULE_WORKLOAD_UNREACHABLE, w->kind, n, w->name, &w->w, w->w.line, path,
			    "no-allow-policy", w,
			    "add an ALLOW AuthorizationPolicy whose selector matches its pod labels and names its "
			    "callers (nothing to do if it takes no inbound traffic)",
			    "under the %sdefault-deny %s/%s, and no ALLOW policy selects its labels %s: it refuses "
			    "every request", dd == n ? "" : "mesh-wide ", dd->name, dd->allow_nothing, labels);
	}
}

static int cmp_findings(const void *x, const void *y)
{
	const struct audit_finding *a = x, *b = y;
	bool la = a->where.file != NULL, lb = b->where.file != NULL;
	if (la != lb)
		return la ? -1 : 1;
	if (la) {
		if (a->where.seq != b->where.seq)
			return a->where.seq < b->where.seq ? -1 : 1;
		if (a->line != b->line)
			return a->line < b->line ? -1 : 1;
	} else {
		int c = strcmp(a->ns, b->ns);
		if (c)
			return c;
	}
	if (a->rule != b->rule)
		return a->rule < b->rule ? -1 : 1;
	return a->order < b->order ? -1 : a->order > b->order;
}

static const char *missing_text(uint32_t missing)
{
	switch (missing) {
	case AUDIT_SAW_SERVICEACCOUNT: return "no ServiceAccount objects";
	case AUDIT_SAW_AUTHZ: return "no AuthorizationPolicy objects";
	case AUDIT_SAW_PEERAUTHN: return "no PeerAuthentication objects";
	default:
		return "no workloads (Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs, "
		       "ReplicationControllers)";
	}
}

static const uint32_t needs[RULE_COUNT] = {
	[RULE_NAMESPACE_DEFAULT_DENY] = AUDIT_SAW_AUTHZ,
	[RULE_NAMESPACE_STRICT_MTLS] = AUDIT_SAW_PEERAUTHN,
	[RULE_AUTHZ_ORPHAN_SELECTOR] = AUDIT_SAW_WORKLOAD,
	[RULE_STALE_PRINCIPAL] = AUDIT_SAW_SERVICEACCOUNT,
	[RULE_WORKLOAD_UNREACHABLE] = AUDIT_SAW_AUTHZ,
};

int audit_run(struct audit *a, const struct audit_finding **findings, size_t *n_findings,
	      const struct audit_notice **notices, size_t *n_notices)
{
	struct pass p;
	memset(&p, 0, sizeof p);
	p.a = a;
	p.root_name = a->pol->root_namespace ? a->pol->root_namespace : "istio-system";
	p.root = ns_find(a, p.root_name);
	*findings = NULL;
	*n_findings = 0;
	*notices = a->notices;
	*n_notices = 0;
	for (size_t i = 0; i < a->ns.cap && !a->oom; i++) {
		const struct a_ns *n = a->ns.keys[i] ? a->ns.vals[i] : NULL;
		if (!n)
			continue;
		if (enabled(&p, RULE_AUTHZ_ORPHAN_SELECTOR))
			check_orphans(&p, n);
		if (!n->facts_set || n->facts.skip)
			continue;
		if (enrolled(n->facts.mode)) {
			if (enabled(&p, RULE_NAMESPACE_DEFAULT_DENY)) {
				p.subjects[RULE_NAMESPACE_DEFAULT_DENY] = true;
				if (a->saw & AUDIT_SAW_AUTHZ)
					check_default_deny(&p, n);
			}
			if (enabled(&p, RULE_NAMESPACE_STRICT_MTLS)) {
				p.subjects[RULE_NAMESPACE_STRICT_MTLS] = true;
				if (a->saw & AUDIT_SAW_PEERAUTHN)
					check_strict_mtls(&p, n);
			}
		}
		if (enabled(&p, RULE_WORKLOAD_UNREACHABLE))
			check_unreachable(&p, n);
	}
	if (enabled(&p, RULE_STALE_PRINCIPAL) && !a->oom)
		check_principals(&p);
	if (a->oom)
		return -1;
	for (size_t r = 0; r < RULE_COUNT; r++) {
		if (!needs[r] || !p.subjects[r] || (a->saw & needs[r]))
			continue;
		struct audit_notice *nt = &a->notices[a->n_notices++];
		nt->rule = (enum rule_id)r;
		nt->missing = needs[r];
		fmt_buf(nt->text, sizeof nt->text, "%s not checked: %s in the input", rule_name((enum rule_id)r),
			missing_text(needs[r]));
	}
	*n_notices = a->n_notices;
	if (!a->n_f)
		return 0;
	qsort(a->f, a->n_f, sizeof(*a->f), cmp_findings);
	*findings = a->f;
	*n_findings = a->n_f;
	return 0;
}
