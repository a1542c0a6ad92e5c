/* engine.c - runs the rules over one admission and folds violations into a verdict: actions,
 * exemptions, lowering for objects Kubernetes' controllers make, and ratcheting on UPDATE. */
#include "engine.h"

#include <stdio.h>

#include "buf.h"

/* ---- violations ---- */

void violations_init(struct violations *vs)
{
	memset(vs, 0, sizeof *vs);
}

void violations_release(struct violations *vs)
{
	xfree(vs->v);
	violations_init(vs);
}

void violations_reset(struct violations *vs)
{
	vs->n = 0;
	vs->oom = false;
}

void violation_add(struct violations *vs, const char *path, uint32_t line, const char *cause,
		   const char *fix, const char *what_fmt, ...)
{
	if (vs->n == vs->cap) {
		size_t cap = vs->cap ? vs->cap * 2 : 4;
		struct violation *v = xrealloc(vs->v, cap * sizeof(*v));
		if (!v) {
			vs->oom = true;
			return;
		}
		vs->v = v;
		vs->cap = cap;
	}
	struct violation *v = &vs->v[vs->n++];
	v->rule = vs->current;
	v->line = line;
	fmt_buf(v->path, sizeof v->path, "%s", path);
	fmt_buf(v->cause, sizeof v->cause, "%s", cause);
	fmt_buf(v->fix, sizeof v->fix, "%s", fix);
	va_list ap;
	va_start(ap, what_fmt);
	int n = vsnprintf(v->what, sizeof v->what, what_fmt, ap);
	va_end(ap);
	if (n < 0)
		v->what[0] = '\0';
	else if ((size_t)n >= sizeof v->what)
		memcpy(v->what + sizeof v->what - 4, "...", 4);
}

/* ---- names ---- */

static const char *const op_names[] = { "OTHER", "CREATE", "UPDATE", "DELETE", "CONNECT" };

const char *operation_name(enum operation op)
{
	return op_names[op];
}

enum operation operation_parse(struct sv s)
{
	for (size_t i = 1; i < ARRAY_LEN(op_names); i++)
		if (sv_eq(s, op_names[i]))
			return (enum operation)i;
	return OP_OTHER;
}

const char *outcome_name(enum outcome o)
{
	static const char *const names[] = { "deny", "warn", "audit", "exempt" };
	return names[o];
}

/* ---- controllers ---- */

/* Who creates what (kube-controller-manager's controllers), from controller_policy.go. */
static const struct {
	const char *user;   /* system:serviceaccount:kube-system:<user> */
	enum kind_id kind;
	enum kind_id owner;
	const char *owner_group;
} controllers[] = {
	{ "deployment-controller", K_REPLICASET, K_DEPLOYMENT, "apps" },
	{ "cronjob-controller", K_JOB, K_CRONJOB, "batch" },
	{ "replicaset-controller", K_POD, K_REPLICASET, "apps" },
	{ "daemon-set-controller", K_POD, K_DAEMONSET, "apps" },
	{ "statefulset-controller", K_POD, K_STATEFULSET, "apps" },
	{ "job-controller", K_POD, K_JOB, "batch" },
	{ "replication-controller", K_POD, K_REPLICATIONCONTROLLER, "" },
};

#define SA_PREFIX "system:serviceaccount:kube-system:"

static bool owner_group_ok(const struct owner_ref *o, const char *group)
{
	/* apiVersion "apps/v1" (group apps) or "v1" (core); absent: trust the kind */
	if (!sv_set(o->api_version))
		return true;
	const char *slash = memchr(o->api_version.p, '/', o->api_version.n);
	size_t glen = slash ? (size_t)(slash - o->api_version.p) : 0;
	return glen == strlen(group) && memcmp(o->api_version.p, group, glen) == 0;
}

bool engine_controller_made(struct sv username, enum kind_id k, struct sv owner_kind)
{
	bool kcm = sv_eq(username, "system:kube-controller-manager");
	for (size_t i = 0; i < ARRAY_LEN(controllers); i++) {
		if (controllers[i].kind != k || !sv_eq(owner_kind, kind_name(controllers[i].owner)))
			continue;
		if (kcm)
			return true;
		size_t pl = strlen(SA_PREFIX);
		if (sv_has_prefix(username, SA_PREFIX) && username.n - pl == strlen(controllers[i].user) &&
		    memcmp(username.p + pl, controllers[i].user, username.n - pl) == 0)
			return true;
	}
	return false;
}

/* The object was made by the Kubernetes controller that owns it. */
static bool made_by_controller(const struct admission *adm)
{
	const struct owner_ref *o = &adm->object->meta.controller;
	if (!o->present)
		return false;
	for (size_t i = 0; i < ARRAY_LEN(controllers); i++)
		if (controllers[i].kind == adm->kind &&
		    sv_eq(o->kind, kind_name(controllers[i].owner)) &&
		    !owner_group_ok(o, controllers[i].owner_group))
			return false;
	return engine_controller_made(adm->username, adm->kind, o->kind);
}

/* ---- exemptions ---- */

static bool all_digits(const char *p, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

/* owner name == base + "-" + suffix */
static bool name_with_suffix(struct sv owner, const char *base, struct sv suffix, bool digits)
{
	size_t bl = strlen(base);
	if (owner.n < bl + 2 || memcmp(owner.p, base, bl) != 0 || owner.p[bl] != '-')
		return false;
	const char *rest = owner.p + bl + 1;
	size_t rl = owner.n - bl - 1;
	if (digits)
		return all_digits(rest, rl);
	return suffix.n == rl && memcmp(rest, suffix.p, rl) == 0;
}

/* The namespace namespaced rules and exemptions look at: the request's, and for a Namespace
 * (cluster-scoped: apiservers before 1.20 send no namespace, later ones its own name) its name. */
static struct sv scope_namespace(const struct admission *adm)
{
	return adm->kind == K_NAMESPACE ? adm->name : adm->namespace;
}

/* Does exemption e cover the subject, itself or as something its controllers made? */
static bool exemption_covers(const struct exemption *e, const struct admission *adm)
{
	const struct subject *s = adm->object;
	if (!sv_eq(scope_namespace(adm), e->namespace))
		return false;
	if (e->service_account && kind_is_workload(adm->kind)) {
		struct sv sa = s->u.wl.spec.service_account_name;
		if (!sv_set(sa))
			sa = s->u.wl.spec.service_account;
		if (!sv_eq(sa, e->service_account))
			return false;
	}
	if (strcmp(kind_name(adm->kind), e->kind) == 0)
		return sv_eq(adm->name, e->name);

	/* through the controller ownerReference, only for what a controller really made */
	const struct owner_ref *o = &s->meta.controller;
	if (!o->present || (!adm->offline && !made_by_controller(adm)))
		return false;
	if (sv_eq(o->kind, e->kind))
		return sv_eq(o->name, e->name);
	if (adm->kind == K_POD && sv_eq(o->kind, "ReplicaSet") && strcmp(e->kind, "Deployment") == 0) {
		/* Deployment -> ReplicaSet <name>-<pod-template-hash> -> Pod */
		struct sv hash;
		return kv_get(&s->meta.labels, "pod-template-hash", &hash) && hash.n > 0 &&
		       name_with_suffix(o->name, e->name, hash, false);
	}
	if (adm->kind == K_POD && sv_eq(o->kind, "Job") && strcmp(e->kind, "CronJob") == 0)
		/* CronJob -> Job <name>-<scheduled minutes> -> Pod */
		return name_with_suffix(o->name, e->name, sv_null, true);
	return false;
}

static const struct exemption *find_exemption(const struct policy *pol, enum rule_id rule,
					      const struct admission *adm)
{
	for (size_t i = 0; i < pol->n_exemptions; i++)
		if (pol->exemptions[i].rule == rule && exemption_covers(&pol->exemptions[i], adm))
			return &pol->exemptions[i];
	return NULL;
}

/* ---- verdict ---- */

void verdict_init(struct verdict *v)
{
	memset(v, 0, sizeof *v);
	v->allowed = true;
}

void verdict_release(struct verdict *v)
{
	xfree(v->f);
	verdict_init(v);
}

static int verdict_add(struct verdict *v, const struct finding *f)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 4;
		struct finding *nf = xrealloc(v->f, cap * sizeof(*nf));
		if (!nf)
			return -1;
		v->f = nf;
		v->cap = cap;
	}
	v->f[v->n++] = *f;
	switch (f->outcome) {
	case OUT_DENY: v->n_deny++; break;
	case OUT_WARN: v->n_warn++; break;
	case OUT_AUDIT: v->n_audit++; break;
	case OUT_EXEMPT: v->n_exempt++; break;
	}
	return 0;
}

/* Does any namespace-scoped rule (rule_def.workload_scoped) judge kind k? */
static bool kind_scoped(enum kind_id k)
{
	for (size_t i = 0; i < RULE_COUNT; i++)
		if (rule_table[i]->workload_scoped && (rule_table[i]->kinds & KIND_BIT(k)))
			return true;
	return false;
}

/* Why namespace-scoped rules (workloads, Services, Namespaces) skip this object, or NULL. */
static const char *scope_skip(const struct policy *pol, const struct admission *adm)
{
	const struct subject *s = adm->object;
	struct sv ns = scope_namespace(adm);
	/* a mirror pod is made by its node's kubelet; anyone else setting the annotation is judged */
	if (adm->kind == K_POD && kv_has(&s->meta.annotations, "kubernetes.io/config.mirror") &&
	    sv_has_prefix(adm->username, "system:node:"))
		return "mirror pod";
	if (sv_set(adm->own_namespace) && sv_eqsv(ns, adm->own_namespace))
		return "the webhook's own namespace";
	if (policy_namespace_exempt(pol, ns))
		return "exempt namespace";
	return NULL;
}

/* Run every enabled rule for the subject's kind. */
static void run_rules(const struct policy *pol, const struct admission *adm,
		      const struct subject *s, const char *skip, struct violations *out,
		      bool *ran)
{
	struct rule_ctx ctx = { pol, adm->mode, s, scope_namespace(adm), adm->offline && !s->meta.live };
	for (size_t i = 0; i < RULE_COUNT; i++) {
		const struct rule_def *r = rule_table[i];
		if (!(r->kinds & KIND_BIT(adm->kind)) || pol->actions[r->id] == ACTION_OFF)
			continue;
		if (r->workload_scoped && skip)
			continue;
		out->current = r->id;
		r->check(&ctx, out);
		*ran = true;
	}
}

static bool same_violation(const struct violation *a, const struct violation *b)
{
	return a->rule == b->rule && strcmp(a->path, b->path) == 0 && strcmp(a->cause, b->cause) == 0;
}

int engine_judge(const struct policy *pol, const struct admission *adm, struct verdict *out)
{
	verdict_init(out);
	if (adm->op != OP_CREATE && adm->op != OP_UPDATE) {
		out->skipped = "operation not judged";
		return 0;
	}
	if (!adm->object || adm->kind == K_UNKNOWN) {
		out->skipped = "kind not judged";
		return 0;
	}
	const char *skip = kind_scoped(adm->kind) ? scope_skip(pol, adm) : NULL;
	struct violations now, before;
	violations_init(&now);
	violations_init(&before);
	bool ran = false, ran_old = false;
	run_rules(pol, adm, adm->object, skip, &now, &ran);
	bool ratchet = adm->op == OP_UPDATE && adm->old_object && !adm->offline;
	if (ratchet && now.n)
		run_rules(pol, adm, adm->old_object, skip, &before, &ran_old);
	int rc = 0;
	if (now.oom || before.oom) {
		rc = -1;
		goto out_release;
	}
	if (!ran)
		out->skipped = skip ? skip : "no rule enabled for this kind";

	bool lowered = !adm->offline && !pol->enforce_on_controller_objects && made_by_controller(adm);
	for (size_t i = 0; i < now.n; i++) {
		struct finding f = { 0 };
		f.v = now.v[i];
		f.action = pol->actions[f.v.rule];
		f.outcome = f.action == ACTION_DENY ? OUT_DENY : f.action == ACTION_WARN ? OUT_WARN : OUT_AUDIT;
		f.exemption = find_exemption(pol, f.v.rule, adm);
		if (f.exemption) {
			f.outcome = OUT_EXEMPT;
		} else if (f.outcome == OUT_DENY) {
			for (size_t j = 0; j < before.n; j++)
				if (same_violation(&now.v[i], &before.v[j])) {
					f.flags |= FINDING_RATCHETED;
					break;
				}
			if (lowered)
				f.flags |= FINDING_LOWERED;
			if (f.flags)
				f.outcome = OUT_WARN;
		}
		if (verdict_add(out, &f) < 0) {
			rc = -1;
			goto out_release;
		}
	}
	out->allowed = out->n_deny == 0;
out_release:
	violations_release(&now);
	violations_release(&before);
	if (rc < 0)
		verdict_release(out);
	return rc;
}

/* ---- text ---- */

static size_t object_ref(const struct admission *adm, char *buf, size_t size)
{
	char ns[96], name[160];
	sv_to_buf(adm->namespace, ns, sizeof ns);
	sv_to_buf(adm->name, name, sizeof name);
	if (!name[0])
		fmt_buf(name, sizeof name, "(unnamed)");
	/* a Namespace is cluster-scoped (apiservers since 1.20 send its own name as the namespace) */
	if (ns[0] && adm->kind != K_NAMESPACE)
		return fmt_buf(buf, size, "%s %s/%s", kind_name(adm->kind), ns, name);
	return fmt_buf(buf, size, "%s %s", kind_name(adm->kind), name);
}

/* A finding is one line of valid UTF-8: names and values quoted from a hostile request may hold a
 * newline or other control bytes (the apiserver validates names; the webhook does not rely on it),
 * and a cut (a length cap) may split a character. Each such byte becomes '?', so the text keeps
 * its length when it is JSON-encoded (an invalid byte would become a 3-byte U+FFFD there). */
static size_t one_line(char *buf, size_t n)
{
	unsigned char *p = (unsigned char *)buf;
	for (size_t i = 0; i < n;) {
		size_t k = p[i] < 0x20 || p[i] == 0x7f ? 0 : utf8_seq(p + i, n - i);
		if (k)
			i += k;
		else
			p[i++] = '?';
	}
	return n;
}

size_t finding_format_line(const struct finding *f, const struct admission *adm, char *buf,
			   size_t size)
{
	char ref[280];
	object_ref(adm, ref, sizeof ref);
	if (f->v.path[0])
		return one_line(buf, fmt_buf(buf, size, "[%s] %s: %s (at %s). Fix: %s", rule_name(f->v.rule),
					     ref, f->v.what, f->v.path, f->v.fix));
	return one_line(buf, fmt_buf(buf, size, "[%s] %s: %s. Fix: %s", rule_name(f->v.rule), ref,
				     f->v.what, f->v.fix));
}

size_t finding_format_warning(const struct finding *f, const struct admission *adm, char *buf,
			      size_t size)
{
	char ref[280];
	object_ref(adm, ref, sizeof ref);
	const char *note = "";
	if (f->flags & FINDING_RATCHETED)
		note = " [pre-existing: fix soon]";
	else if (f->flags & FINDING_LOWERED)
		note = " [made by a controller: fix its owner]";
	if (size > 257)
		size = 257;   /* the apiserver truncates warnings past 256 bytes */
	size_t n = fmt_buf(buf, size, "[%s] %s: %s", rule_name(f->v.rule), ref, f->v.what);
	/* the field only when the line stays short enough to read */
	if (f->v.path[0] && n + strlen(f->v.path) + 6 + strlen(note) <= 160)
		n += fmt_buf(buf + n, size - n, " (at %s)", f->v.path);
	n += fmt_buf(buf + n, size - n, "%s", note);
	return one_line(buf, n);
}

#define DENIAL_MAX 1024

void verdict_format_denial(const struct verdict *v, const struct admission *adm, struct buf *out)
{
	char line[DENIAL_MAX + 256], tail[96];   /* a line can pass the cap: it is cut below */
	size_t start = out->len, shown = 0;
	for (size_t i = 0; i < v->n; i++) {
		if (v->f[i].outcome != OUT_DENY)
			continue;
		size_t n = finding_format_line(&v->f[i], adm, line, sizeof line);
		size_t used = out->len - start + (shown ? 1 : 0);
		size_t left = v->n_deny - shown - 1;
		/* keep room for the "... and N more" line unless this is the last one */
		size_t reserve = left ? sizeof tail : 0;
		if (used + n + reserve > DENIAL_MAX) {
			if (shown)
				break;
			/* a single very long line: cut it rather than show nothing */
			n = DENIAL_MAX - reserve;
			memcpy(line + n - 3, "...", 3);
			one_line(line, n - 3);   /* a character split by the cut */
		}
		if (shown)
			buf_addc(out, '\n');
		buf_add(out, line, n);
		shown++;
	}
	if (shown < v->n_deny) {
		size_t n = fmt_buf(tail, sizeof tail, "%s... and %zu more violation%s (posture check shows all)",
				   shown ? "\n" : "", v->n_deny - shown, v->n_deny - shown == 1 ? "" : "s");
		buf_add(out, tail, n);
	}
}
