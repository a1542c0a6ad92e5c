/* manifests.c - `posture manifests`: render the ValidatingWebhookConfiguration from a policy. */
#include <jansson.h>
#include <stdio.h>
#include <strings.h>

#include "buf.h"
#include "cli.h"
#include "nsmode.h"
#include "policy.h"
#include "rules.h"
#include "view.h"

/*
 * The configuration is a table (kind_groups) crossed with a second one (enrolment_rows):
 *
 * - A kind group is one set of resources the apiserver sends to posture, with the requesters that
 *   are Kubernetes' own controllers creating those kinds (SEMANTICS.md, "Enforced where the user
 *   acts"). Kinds are grouped by who creates them, so a matchCondition on the username alone says
 *   exactly which requests are controller-made: a ReplicaSet is the deployment controller's, a Job
 *   the cronjob controller's, a Pod the replicaset, replication, daemon-set, statefulset and job
 *   controllers'; system:kube-controller-manager stands in for all of them. Deployments,
 *   StatefulSets, DaemonSets, CronJobs and ReplicationControllers are created by people (and
 *   pipelines) only. A group's failure policy follows the strongest action among the rules that
 *   judge its kinds (rule_table[i]->kinds); a group whose rules are all off gets no entry.
 * - A group routed by enrolment gets one entry per row of SEMANTICS.md's injection table, each
 *   split by istio.io/dataplane-mode In/NotIn [ambient]: eight entries, ten when the policy lists
 *   revisions. Every one excludes the policy's exemptNamespaces, the webhook's own namespace and
 *   namespaces labelled posture.dev/ignore=true. A group with controller creators gets the same
 *   entries twice: user-facing ones whose matchCondition excludes the creators, and
 *   "controller-" ones that match only them, with failurePolicy Ignore (their deny is lowered to a
 *   warning) unless the policy sets enforceOnControllerObjects.
 * - A group routed to enrolled namespaces only (Services: gateway-bypass judges nothing where
 *   neither sidecars nor ambient are) gets the entries of the rows whose path is enrolled: the
 *   sidecar rows, both dataplane modes, and the ambient half of the others: six entries, seven
 *   when the policy lists revisions, with the workload entries' exclusions. A namespace that is not
 *   enrolled reaches none, so the apiserver does not call posture for its Services at all.
 * - A group routed everywhere (AuthorizationPolicies, PeerAuthentications, DestinationRules) gets
 *   one entry, path /validate, with no namespace exclusions: their rules judge every namespace,
 *   the root one above all (its policies apply mesh-wide).
 * - The Namespaces group gets one entry, path /validate, scope Cluster. For a request about a
 *   Namespace, the apiserver matches the namespaceSelector against that Namespace's own labels:
 *   the entry excludes the exempt namespaces and the webhook's own by kubernetes.io/metadata.name,
 *   and must not exclude the break-glass label, or adding it would never be seen.
 *
 * Adding a kind: one line in kind_groups.
 */

#define VWC_OUTPUT_MAX (16u << 20)
#define CA_BUNDLE_MAX (1u << 20)
#define TIMEOUT_SECONDS 5

#define KEY_INJECTION "istio-injection"
#define KEY_REV "istio.io/rev"
#define KEY_DATAPLANE "istio.io/dataplane-mode"
#define KEY_NAME "kubernetes.io/metadata.name"
#define KEY_IGNORE "posture.dev/ignore"

#define KUBE_SYSTEM_SA "system:serviceaccount:kube-system:"
#define KCM "system:kube-controller-manager"

static const char *const versions_v1[] = { "v1", NULL };
static const char *const versions_v1_v1beta1[] = { "v1", "v1beta1", NULL };
static const char *const versions_v1_v1beta1_v1alpha3[] = { "v1", "v1beta1", "v1alpha3", NULL };

/* Who creates what: SEMANTICS.md's table of controller requesters, by the kind they create. */
static const char *const creators_pods[] = {
	KUBE_SYSTEM_SA "replicaset-controller", KUBE_SYSTEM_SA "replication-controller",
	KUBE_SYSTEM_SA "daemon-set-controller", KUBE_SYSTEM_SA "statefulset-controller",
	KUBE_SYSTEM_SA "job-controller",        KCM,
	NULL,
};
static const char *const creators_replicasets[] = { KUBE_SYSTEM_SA "deployment-controller", KCM, NULL };
static const char *const creators_jobs[] = { KUBE_SYSTEM_SA "cronjob-controller", KCM, NULL };

struct api_rule {
	const char *group;               /* NULL ends a list; "" is the core group */
	const char *const *versions;     /* NULL-terminated */
	const char *resources[4];        /* NULL-terminated */
};

enum routing {
	ROUTE_ENROLMENT,    /* one entry per enrolment row and dataplane mode; workload exclusions */
	ROUTE_ENROLLED,     /* the same, for the enrolled paths only (sidecar, or ambient) */
	ROUTE_EVERYWHERE,   /* one entry, path /validate, every namespace */
	ROUTE_NAMESPACES,   /* Namespaces themselves: one entry, path /validate, cluster-scoped */
};

struct kind_group {
	const char *name;                /* entry name stem: "pods" -> pods-sidecar.posture.dev */
	uint32_t kinds;                  /* KIND_BIT mask: whose rules' actions count */
	enum routing routing;
	const char *const *creators;     /* controller usernames creating these kinds; NULL: none */
	const char *summary;             /* YAML comment above the group's first entry */
	struct api_rule api[4];          /* what the apiserver matches */
};

static const struct kind_group kind_groups[] = {
	{ "pods", KIND_BIT(K_POD), ROUTE_ENROLMENT, creators_pods,
	  "Pods: created by users, and (controller-pods-*) by the replicaset, replication,\n"
	  "daemon-set, statefulset and job controllers",
	  { { "", versions_v1, { "pods" } } } },
	{ "replicasets", KIND_BIT(K_REPLICASET), ROUTE_ENROLMENT, creators_replicasets,
	  "ReplicaSets: created by users, and (controller-replicasets-*) by the deployment\ncontroller",
	  { { "apps", versions_v1, { "replicasets" } } } },
	{ "jobs", KIND_BIT(K_JOB), ROUTE_ENROLMENT, creators_jobs,
	  "Jobs: created by users, and (controller-jobs-*) by the cronjob controller",
	  { { "batch", versions_v1, { "jobs" } } } },
	{ "workloads",
	  KIND_BIT(K_DEPLOYMENT) | KIND_BIT(K_STATEFULSET) | KIND_BIT(K_DAEMONSET) |
		  KIND_BIT(K_CRONJOB) | KIND_BIT(K_REPLICATIONCONTROLLER),
	  ROUTE_ENROLMENT, NULL,
	  "Deployments, StatefulSets, DaemonSets, CronJobs, ReplicationControllers: created by users",
	  { { "apps", versions_v1, { "deployments", "statefulsets", "daemonsets" } },
	    { "batch", versions_v1, { "cronjobs" } },
	    { "", versions_v1, { "replicationcontrollers" } } } },
	{ "authorizationpolicies", KIND_BIT(K_AUTHORIZATIONPOLICY), ROUTE_EVERYWHERE, NULL,
	  "AuthorizationPolicies: from every namespace (the root namespace's apply mesh-wide)",
	  { { "security.istio.io", versions_v1_v1beta1, { "authorizationpolicies" } } } },
	{ "peerauthentications", KIND_BIT(K_PEERAUTHENTICATION), ROUTE_EVERYWHERE, NULL,
	  "PeerAuthentications: from every namespace (the root namespace's apply mesh-wide)",
	  { { "security.istio.io", versions_v1_v1beta1, { "peerauthentications" } } } },
	{ "destinationrules", KIND_BIT(K_DESTINATIONRULE), ROUTE_EVERYWHERE, NULL,
	  "DestinationRules: from every namespace (the root namespace's apply mesh-wide)",
	  { { "networking.istio.io", versions_v1_v1beta1_v1alpha3, { "destinationrules" } } } },
	{ "namespaces", KIND_BIT(K_NAMESPACE), ROUTE_NAMESPACES, NULL,
	  "Namespaces, matched on their own labels: all but the exempt ones and the webhook's own;\n"
	  "the break-glass label is not excluded, so adding it is seen",
	  { { "", versions_v1, { "namespaces" } } } },
	{ "services", KIND_BIT(K_SERVICE), ROUTE_ENROLLED, NULL,
	  "Services in enrolled namespaces only (sidecar injection, or ambient): gateway-bypass judges\n"
	  "nothing elsewhere",
	  { { "", versions_v1, { "services" } } } },
};

enum sel_op {
	SEL_END = 0,
	SEL_IN,              /* key In [value] */
	SEL_NOTIN,           /* key NotIn [value] */
	SEL_EXISTS,
	SEL_DOES_NOT_EXIST,
	SEL_IN_REVISIONS,    /* key In [the policy's revisions] */
	SEL_NOTIN_REVISIONS, /* key NotIn [the policy's revisions] */
};

struct sel_req {
	enum sel_op op;
	const char *key;
	const char *value;
};

enum row_when { ROW_ALWAYS, ROW_WITHOUT_REVISIONS, ROW_WITH_REVISIONS };

/* SEMANTICS.md's injection table, Istio's injector precedence: istio-injection beats
 * istio.io/rev. The rows are mutually exclusive and exhaustive for either row set. */
struct enrolment_row {
	const char *name;            /* entry name part */
	enum injection injection;    /* the path it routes to */
	enum row_when when;
	const char *comment;         /* YAML comment above its entries, or NULL */
	struct sel_req reqs[4];
};

static const struct enrolment_row enrolment_rows[] = {
	{ "sidecar", INJ_SIDECAR, ROW_ALWAYS, NULL,
	  { { SEL_IN, KEY_INJECTION, "enabled" } } },
	{ "sidecar-rev", INJ_SIDECAR, ROW_WITHOUT_REVISIONS, NULL,
	  { { SEL_DOES_NOT_EXIST, KEY_INJECTION, NULL }, { SEL_EXISTS, KEY_REV, NULL } } },
	{ "sidecar-rev", INJ_SIDECAR, ROW_WITH_REVISIONS, NULL,
	  { { SEL_DOES_NOT_EXIST, KEY_INJECTION, NULL }, { SEL_IN_REVISIONS, KEY_REV, NULL } } },
	{ "disabled", INJ_DISABLED, ROW_ALWAYS, NULL,
	  { { SEL_EXISTS, KEY_INJECTION, NULL }, { SEL_NOTIN, KEY_INJECTION, "enabled" } } },
	/* An istio.io/rev naming a revision the policy does not list: no injector serves it, so
	 * nothing injects, which is what "disabled" means; routing it there keeps the rows
	 * exhaustive (the namespace still reaches exactly one entry). */
	{ "unknown-rev", INJ_DISABLED, ROW_WITH_REVISIONS,
	  "istio.io/rev names a revision the policy does not list: no injector serves it, so nothing\n"
	  "injects; routed as disabled so that the namespace still reaches exactly one entry",
	  { { SEL_DOES_NOT_EXIST, KEY_INJECTION, NULL }, { SEL_EXISTS, KEY_REV, NULL },
	    { SEL_NOTIN_REVISIONS, KEY_REV, NULL } } },
	{ "none", INJ_NONE, ROW_ALWAYS, NULL,
	  { { SEL_DOES_NOT_EXIST, KEY_INJECTION, NULL }, { SEL_DOES_NOT_EXIST, KEY_REV, NULL } } },
};

struct opts {
	const char *policy;      /* NULL: built-in defaults */
	const char *ns;
	const char *service;
	const char *name;
	const char *ca_file;     /* NULL: no caBundle */
	bool json;
};

/* Building state: the document and a flag set by any failed jansson call (out of memory). */
struct render {
	const struct policy *pol;
	const struct opts *o;
	char *ca_bundle;         /* owned; base64 of the PEM, or NULL */
	json_t *webhooks;        /* borrowed from the root */
	const char **comments;   /* owned array, one per webhook entry (entries borrowed, static) */
	size_t n_comments, cap_comments;
	bool oom;
};

/* ---- jansson helpers: each steals val; a failure marks r->oom ---- */

static void put(struct render *r, json_t *obj, const char *key, json_t *val)
{
	if (!val || json_object_set_new(obj, key, val) != 0)
		r->oom = true;
}

static void push(struct render *r, json_t *arr, json_t *val)
{
	if (!val || json_array_append_new(arr, val) != 0)
		r->oom = true;
}

/* New array of the NULL-terminated strings. */
static json_t *str_array(struct render *r, const char *const *s)
{
	json_t *a = json_array();
	if (!a) {
		r->oom = true;
		return NULL;
	}
	for (; *s; s++)
		push(r, a, json_string(*s));
	return a;
}

static json_t *str_array_n(struct render *r, char *const *s, size_t n)
{
	json_t *a = json_array();
	if (!a) {
		r->oom = true;
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		push(r, a, json_string(s[i]));
	return a;
}

/* ---- the pieces of an entry ---- */

static json_t *match_expression(struct render *r, const char *key, const char *op, json_t *values)
{
	json_t *e = json_object();
	if (!e) {
		json_decref(values);
		r->oom = true;
		return NULL;
	}
	put(r, e, "key", json_string(key));
	put(r, e, "operator", json_string(op));
	if (values)
		put(r, e, "values", values);
	return e;
}

static json_t *sel_requirement(struct render *r, const struct sel_req *q)
{
	const char *one[2] = { q->value, NULL };
	const struct policy *p = r->pol;
	switch (q->op) {
	case SEL_IN:
		return match_expression(r, q->key, "In", str_array(r, one));
	case SEL_NOTIN:
		return match_expression(r, q->key, "NotIn", str_array(r, one));
	case SEL_EXISTS:
		return match_expression(r, q->key, "Exists", NULL);
	case SEL_DOES_NOT_EXIST:
		return match_expression(r, q->key, "DoesNotExist", NULL);
	case SEL_IN_REVISIONS:
		return match_expression(r, q->key, "In", str_array_n(r, p->revisions, p->n_revisions));
	case SEL_NOTIN_REVISIONS:
		return match_expression(r, q->key, "NotIn",
					str_array_n(r, p->revisions, p->n_revisions));
	case SEL_END:
		break;
	}
	return NULL;
}

/* The namespaces no workload entry judges: exemptNamespaces plus the webhook's own. */
static json_t *exempt_names(struct render *r)
{
	json_t *a = str_array_n(r, r->pol->exempt_namespaces, r->pol->n_exempt_namespaces);
	bool listed = false;
	for (size_t i = 0; i < r->pol->n_exempt_namespaces; i++)
		if (strcmp(r->pol->exempt_namespaces[i], r->o->ns) == 0)
			listed = true;
	if (a && !listed)
		push(r, a, json_string(r->o->ns));
	return a;
}

static json_t *namespace_selector(struct render *r, const struct enrolment_row *row, bool ambient)
{
	json_t *sel = json_object(), *exprs = json_array();
	if (!sel || !exprs) {
		json_decref(sel);
		json_decref(exprs);
		r->oom = true;
		return NULL;
	}
	for (const struct sel_req *q = row->reqs; q->op != SEL_END; q++)
		push(r, exprs, sel_requirement(r, q));
	const char *ambient_values[] = { "ambient", NULL };
	push(r, exprs, match_expression(r, KEY_DATAPLANE, ambient ? "In" : "NotIn",
					str_array(r, ambient_values)));
	push(r, exprs, match_expression(r, KEY_NAME, "NotIn", exempt_names(r)));
	const char *true_values[] = { "true", NULL };
	push(r, exprs, match_expression(r, KEY_IGNORE, "NotIn", str_array(r, true_values)));
	put(r, sel, "matchExpressions", exprs);
	return sel;
}

/* The Namespaces entry's selector, on the Namespace's own labels: not an exempt one, not the
 * webhook's own. */
static json_t *names_selector(struct render *r)
{
	json_t *sel = json_object(), *exprs = json_array();
	if (!sel || !exprs) {
		json_decref(sel);
		json_decref(exprs);
		r->oom = true;
		return NULL;
	}
	push(r, exprs, match_expression(r, KEY_NAME, "NotIn", exempt_names(r)));
	put(r, sel, "matchExpressions", exprs);
	return sel;
}

static json_t *api_rules(struct render *r, const struct kind_group *g)
{
	const char *scope = g->routing == ROUTE_NAMESPACES ? "Cluster" : "Namespaced";
	static const char *const operations[] = { "CREATE", "UPDATE", NULL };
	json_t *rules = json_array();
	if (!rules) {
		r->oom = true;
		return NULL;
	}
	for (const struct api_rule *a = g->api; a->group; a++) {
		json_t *rule = json_object();
		if (!rule) {
			r->oom = true;
			break;
		}
		const char *groups[] = { a->group, NULL };
		put(r, rule, "apiGroups", str_array(r, groups));
		put(r, rule, "apiVersions", str_array(r, a->versions));
		put(r, rule, "operations", str_array(r, operations));
		put(r, rule, "resources", str_array(r, a->resources));
		put(r, rule, "scope", json_string(scope));
		push(r, rules, rule);
	}
	return rules;
}

/* The CEL list literal of the group's creators: ['a', 'b'] (usernames hold no quote or
 * backslash: they are static strings above). */
static void cel_list(struct buf *b, const char *const *s)
{
	buf_addc(b, '[');
	for (size_t i = 0; s[i]; i++)
		buf_printf(b, "%s'%s'", i ? ", " : "", s[i]);
	buf_addc(b, ']');
}

/* matchConditions splitting a group's requests by requester: controller (the creators) or not. */
static json_t *match_conditions(struct render *r, const struct kind_group *g, bool controller)
{
	struct buf expr;
	buf_init(&expr, 64u << 10);
	if (!controller)
		buf_adds(&expr, "!(");
	buf_adds(&expr, "request.userInfo.username in ");
	cel_list(&expr, g->creators);
	if (!controller)
		buf_addc(&expr, ')');
	const char *text = buf_cstr(&expr);
	json_t *conds = json_array(), *c = json_object();
	if (!text || !conds || !c) {
		r->oom = true;
		json_decref(conds);
		json_decref(c);
		buf_release(&expr);
		return NULL;
	}
	put(r, c, "name", json_string(controller ? "requester-is-controller" : "requester-is-not-controller"));
	put(r, c, "expression", json_string(text));
	push(r, conds, c);
	buf_release(&expr);
	return conds;
}

/* The strongest action among the rules that judge any kind of the group. */
static enum action group_action(const struct policy *p, const struct kind_group *g)
{
	enum action a = ACTION_OFF;
	for (size_t i = 0; i < RULE_COUNT; i++)
		if ((rule_table[i]->kinds & g->kinds) && p->actions[i] > a)
			a = p->actions[i];
	return a;
}

static void add_comment(struct render *r, const char *comment)
{
	if (r->n_comments == r->cap_comments) {
		size_t cap = r->cap_comments ? r->cap_comments * 2 : 64;
		const char **c = xrealloc(r->comments, cap * sizeof(*c));
		if (!c) {
			r->oom = true;
			return;
		}
		r->comments = c;
		r->cap_comments = cap;
	}
	r->comments[r->n_comments++] = comment;
}

/* Append one entry. row is NULL for ROUTE_EVERYWHERE; controller selects the creators' twin. */
static void add_entry(struct render *r, const struct kind_group *g, const struct enrolment_row *row,
		      bool ambient, bool controller, enum action action, const char *comment)
{
	char name[256], path[64];
	struct nsmode mode = { row ? row->injection : INJ_NONE, ambient };
	if (row) {
		fmt_buf(name, sizeof name, "%s%s-%s%s.%s", controller ? "controller-" : "", g->name,
			row->name, ambient ? "-ambient" : "", r->o->name);
		fmt_buf(path, sizeof path, "/validate/namespace/%s", nsmode_name(mode));
	} else {
		fmt_buf(name, sizeof name, "%s.%s", g->name, r->o->name);
		fmt_buf(path, sizeof path, "/validate");
	}
	bool fail = action == ACTION_DENY &&
		    (!controller || r->pol->enforce_on_controller_objects);

	json_t *e = json_object(), *cc = json_object(), *svc = json_object();
	if (!e || !cc || !svc) {
		json_decref(e);
		json_decref(cc);
		json_decref(svc);
		r->oom = true;
		return;
	}
	put(r, e, "name", json_string(name));
	put(r, svc, "namespace", json_string(r->o->ns));
	put(r, svc, "name", json_string(r->o->service));
	put(r, svc, "path", json_string(path));
	put(r, svc, "port", json_integer(443));
	put(r, cc, "service", svc);
	if (r->ca_bundle)
		put(r, cc, "caBundle", json_string(r->ca_bundle));
	put(r, e, "clientConfig", cc);
	put(r, e, "rules", api_rules(r, g));
	put(r, e, "namespaceSelector", row ? namespace_selector(r, row, ambient)
				       : g->routing == ROUTE_NAMESPACES ? names_selector(r)
									: json_object());
	if (g->creators)
		put(r, e, "matchConditions", match_conditions(r, g, controller));
	put(r, e, "failurePolicy", json_string(fail ? "Fail" : "Ignore"));
	put(r, e, "matchPolicy", json_string("Equivalent"));
	put(r, e, "sideEffects", json_string("None"));
	put(r, e, "timeoutSeconds", json_integer(TIMEOUT_SECONDS));
	static const char *const review_versions[] = { "v1", "v1beta1", NULL };
	put(r, e, "admissionReviewVersions", str_array(r, review_versions));
	push(r, r->webhooks, e);
	add_comment(r, comment);
}

static void add_group(struct render *r, const struct kind_group *g)
{
	enum action action = group_action(r->pol, g);
	if (action == ACTION_OFF)
		return;   /* nothing would judge these requests: do not call posture at all */
	if (g->routing == ROUTE_EVERYWHERE || g->routing == ROUTE_NAMESPACES) {
		add_entry(r, g, NULL, false, false, action, g->summary);
		return;
	}
	for (int controller = 0; controller <= (g->creators ? 1 : 0); controller++) {
		const char *comment = controller ? "The same requests made by those controllers: a denial "
						   "is only a warning unless\nenforceOnControllerObjects"
						 : g->summary;
		for (size_t i = 0; i < ARRAY_LEN(enrolment_rows); i++) {
			const struct enrolment_row *row = &enrolment_rows[i];
			if ((row->when == ROW_WITH_REVISIONS && r->pol->n_revisions == 0) ||
			    (row->when == ROW_WITHOUT_REVISIONS && r->pol->n_revisions > 0))
				continue;
			bool first_of_row = true;
			for (int ambient = 0; ambient <= 1; ambient++) {
				/* enrolled: sidecar injection, or ambient */
				if (g->routing == ROUTE_ENROLLED && row->injection != INJ_SIDECAR && !ambient)
					continue;
				add_entry(r, g, row, ambient, controller, action,
					  comment ? comment : (first_of_row ? row->comment : NULL));
				comment = NULL;
				first_of_row = false;
			}
		}
	}
}

static const char header[] =
	"# ValidatingWebhookConfiguration rendered by `posture manifests` from a policy: do not edit;\n"
	"# re-render after changing the policy's exemptNamespaces, revisions, rule actions or\n"
	"# enforceOnControllerObjects. Workload entries route each request by the namespace's mesh\n"
	"# enrolment (istio-injection beats istio.io/rev; split by istio.io/dataplane-mode) to\n"
	"# /validate/namespace/<sidecar|disabled|none>[/ambient], and skip the exempt namespaces, the\n"
	"# webhook's own and any labelled posture.dev/ignore=true (break-glass); Services take the same\n"
	"# routes, for enrolled namespaces only. Requests made by Kubernetes' controllers go to the\n"
	"# controller-* twins: failurePolicy Ignore, as their denial is only a warning, unless the\n"
	"# policy sets enforceOnControllerObjects. AuthorizationPolicies, PeerAuthentications and\n"
	"# DestinationRules from every namespace, and Namespaces (matched on their own labels, the\n"
	"# break-glass label included), go to /validate. Entries whose rules only warn use\n"
	"# failurePolicy Ignore.\n";

/* New VWC document, or NULL (r->oom set). */
static json_t *render_vwc(struct render *r)
{
	json_t *root = json_object(), *meta = json_object(), *labels = json_object();
	r->webhooks = json_array();
	if (!root || !meta || !labels || !r->webhooks) {
		json_decref(root);
		json_decref(meta);
		json_decref(labels);
		json_decref(r->webhooks);
		r->oom = true;
		return NULL;
	}
	put(r, root, "apiVersion", json_string("admissionregistration.k8s.io/v1"));
	put(r, root, "kind", json_string("ValidatingWebhookConfiguration"));
	put(r, meta, "name", json_string(r->o->name));
	put(r, labels, "app.kubernetes.io/name", json_string("posture"));
	put(r, labels, "app.kubernetes.io/component", json_string("admission-webhook"));
	put(r, meta, "labels", labels);
	put(r, root, "metadata", meta);
	json_incref(r->webhooks);
	put(r, root, "webhooks", r->webhooks);
	for (size_t i = 0; i < ARRAY_LEN(kind_groups); i++)
		add_group(r, &kind_groups[i]);
	json_decref(r->webhooks);   /* the root holds it */
	return root;
}

/* ---- output ---- */

/* true when s can be written as a plain YAML scalar that YAML 1.1 (Kubernetes' reader) and 1.2
 * both read back as the same string. Conservative: anything else is double-quoted. */
static bool yaml_plain_ok(const char *s)
{
	static const char *const special[] = { "y", "yes", "n", "no", "true", "false", "on", "off",
					       "null" };
	size_t n = strlen(s);
	if (n == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '/'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '.' || c == '_' || c == '/' || c == '-' || c == '+' || c == '=' ||
			  (c == ':' && i + 1 < n);
		if (!ok)
			return false;
	}
	for (size_t i = 0; i < ARRAY_LEN(special); i++)
		if (strcasecmp(s, special[i]) == 0)
			return false;
	return true;
}

static void emit_scalar(struct buf *b, const json_t *v, bool yaml)
{
	switch (json_typeof(v)) {
	case JSON_STRING: {
		const char *s = json_string_value(v);
		if (yaml && yaml_plain_ok(s))
			buf_adds(b, s);
		else
			buf_add_json_str(b, s, json_string_length(v));
		break;
	}
	case JSON_INTEGER:
		buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		buf_printf(b, "%.17g", json_real_value(v));
		break;
	case JSON_TRUE:
		buf_adds(b, "true");
		break;
	case JSON_FALSE:
		buf_adds(b, "false");
		break;
	default:
		buf_adds(b, "null");
		break;
	}
}

static void indent_to(struct buf *b, int n)
{
	for (int i = 0; i < n; i++)
		buf_addc(b, ' ');
}

/* JSON, pretty-printed with two spaces (indent < 0: on one line). */
static void emit_json(struct buf *b, const json_t *v, int indent)
{
	bool obj = json_is_object(v);
	if (!obj && !json_is_array(v)) {
		emit_scalar(b, v, false);
		return;
	}
	size_t n = obj ? json_object_size(v) : json_array_size(v);
	if (n == 0) {
		buf_adds(b, obj ? "{}" : "[]");
		return;
	}
	buf_addc(b, obj ? '{' : '[');
	size_t i = 0;
	const char *key;
	const json_t *val;
	void *it = obj ? json_object_iter((json_t *)v) : NULL;
	for (i = 0; i < n; i++) {
		if (i)
			buf_addc(b, ',');
		if (indent >= 0) {
			buf_addc(b, '\n');
			indent_to(b, indent + 2);
		} else if (i) {
			buf_addc(b, ' ');
		}
		if (obj) {
			key = json_object_iter_key(it);
			val = json_object_iter_value(it);
			it = json_object_iter_next((json_t *)v, it);
			buf_add_json_str(b, key, strlen(key));
			buf_adds(b, ": ");
		} else {
			val = json_array_get(v, i);
		}
		emit_json(b, val, indent >= 0 ? indent + 2 : -1);
	}
	if (indent >= 0) {
		buf_addc(b, '\n');
		indent_to(b, indent);
	}
	buf_addc(b, obj ? '}' : ']');
}

static void emit_comment(struct buf *b, const char *comment, int indent)
{
	while (*comment) {
		const char *nl = strchr(comment, '\n');
		size_t n = nl ? (size_t)(nl - comment) : strlen(comment);
		indent_to(b, indent);
		buf_adds(b, "# ");
		buf_add(b, comment, n);
		buf_addc(b, '\n');
		comment += n + (nl ? 1 : 0);
	}
}

static void emit_yaml_map(struct buf *b, const json_t *obj, int indent, bool inline_first,
			  const struct render *r);

static bool scalars_only(const json_t *arr)
{
	for (size_t i = 0; i < json_array_size(arr); i++)
		if (json_is_object(json_array_get(arr, i)) || json_is_array(json_array_get(arr, i)))
			return false;
	return true;
}

/* A list of scalars in flow style: [CREATE, UPDATE]. Plain scalars there must not hold ':'
 * (some YAML 1.1 readers refuse it inside brackets): yaml_plain_ok without ':', else quoted. */
static void emit_flow_seq(struct buf *b, const json_t *arr)
{
	buf_addc(b, '[');
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const json_t *v = json_array_get(arr, i);
		if (i)
			buf_adds(b, ", ");
		if (json_is_string(v) && strchr(json_string_value(v), ':'))
			buf_add_json_str(b, json_string_value(v), json_string_length(v));
		else
			emit_scalar(b, v, true);
	}
	buf_addc(b, ']');
}

/* A block sequence at indent (indentless under a mapping key, as kubectl writes it). comments,
 * when given, has one (possibly NULL) comment per item. */
static void emit_yaml_seq(struct buf *b, const json_t *arr, int indent, const char *const *comments)
{
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const json_t *item = json_array_get(arr, i);
		if (comments && comments[i])
			emit_comment(b, comments[i], indent);
		indent_to(b, indent);
		buf_adds(b, "- ");
		if (json_is_object(item) && json_object_size(item) > 0) {
			emit_yaml_map(b, item, indent + 2, true, NULL);
		} else {
			if (json_is_object(item) || json_is_array(item))
				emit_json(b, item, -1);   /* flow style: {} [] or a nested list */
			else
				emit_scalar(b, item, true);
			buf_addc(b, '\n');
		}
	}
}

/* A block mapping at indent; inline_first: the first key follows a "- " already written. r, when
 * given, supplies the comments of the top-level webhooks list. */
static void emit_yaml_map(struct buf *b, const json_t *obj, int indent, bool inline_first,
			  const struct render *r)
{
	bool first = true;
	const char *key;
	json_t *val;
	json_object_foreach((json_t *)obj, key, val) {
		if (!(first && inline_first))
			indent_to(b, indent);
		first = false;
		if (yaml_plain_ok(key))
			buf_adds(b, key);
		else
			buf_add_json_str(b, key, strlen(key));
		buf_addc(b, ':');
		bool container = json_is_object(val) || json_is_array(val);
		size_t n = json_is_object(val) ? json_object_size(val) : json_array_size(val);
		if (!container || n == 0) {
			buf_addc(b, ' ');
			if (container)
				buf_adds(b, json_is_object(val) ? "{}" : "[]");
			else
				emit_scalar(b, val, true);
			buf_addc(b, '\n');
		} else if (json_is_object(val)) {
			buf_addc(b, '\n');
			emit_yaml_map(b, val, indent + 2, false, NULL);
		} else if (scalars_only(val)) {
			buf_addc(b, ' ');
			emit_flow_seq(b, val);
			buf_addc(b, '\n');
		} else {
			buf_addc(b, '\n');
			bool top_webhooks = r && strcmp(key, "webhooks") == 0 &&
					    r->n_comments == json_array_size(val);
			emit_yaml_seq(b, val, indent, top_webhooks ? r->comments : NULL);
		}
	}
}

/* ---- flags ---- */

static void usage(FILE *to)
{
	fprintf(to,
		"usage: posture manifests [--policy FILE] [--namespace NS] [--service NAME] [--name NAME]\n"
		"                         [--ca-bundle-file FILE] [-o yaml|json]\n"
		"\n"
		"Prints the ValidatingWebhookConfiguration that registers posture with the kube-apiserver,\n"
		"rendered from the policy so the two cannot drift: the exempt namespaces, the failure\n"
		"policies (Fail where a rule denies, Ignore where it only warns or audits, and for objects\n"
		"Kubernetes' controllers create unless enforceOnControllerObjects) and the Istio revisions\n"
		"come from it. Workload requests are routed by the namespace's mesh enrolment to\n"
		"/validate/namespace/<sidecar|disabled|none>[/ambient], and Services the same way for\n"
		"enrolled namespaces only; AuthorizationPolicies, PeerAuthentications and DestinationRules\n"
		"from every namespace, and Namespaces but the exempt ones, to /validate. Re-render and\n"
		"apply it whenever the policy changes.\n"
		"\n"
		"  --policy FILE          policy file (default: built-in defaults, as policies/default.yaml)\n"
		"  --namespace NS         the webhook's namespace: its Service's, and never judged\n"
		"                         (default posture-system)\n"
		"  --service NAME         the webhook's Service, port 443 (default posture)\n"
		"  --name NAME            the configuration's name and the suffix of every entry's name,\n"
		"                         a DNS name of two labels or more (default posture.dev)\n"
		"  --ca-bundle-file FILE  PEM of the CA that signed the serving certificate, written base64\n"
		"                         into every entry's clientConfig.caBundle (default: none, for\n"
		"                         cert-manager's CA injection or an overlay to fill in)\n"
		"  -o, --output FORMAT    yaml (default) or json\n"
		"  -h, --help             this help\n"
		"\n"
		"Exit status: 0 printed; 2 bad flags, an unreadable or invalid policy or CA file.\n");
}

/* A DNS subdomain of at least two labels (entry names add one: the apiserver wants three). */
static bool dns_name(const char *s)
{
	size_t n = strlen(s), labels = 0;
	if (n > 200)
		return false;
	while (*s) {
		const char *dot = strchr(s, '.');
		size_t len = dot ? (size_t)(dot - s) : strlen(s);
		if (!dns1123_label(s, len))
			return false;
		labels++;
		s += len;
		if (dot && !*++s)
			return false;
	}
	return labels >= 2;
}

/* A label value: at most 63 of [A-Za-z0-9._-], starting and ending alphanumeric. */
static bool label_value(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && ((i == 0 || i == n - 1) || (c != '-' && c != '_' && c != '.')))
			return false;
	}
	return true;
}

/* The policy's names go into label selectors: the apiserver refuses values that are not label
 * values. 0, or -1 with a message printed. */
static int check_policy_values(const struct policy *p)
{
	for (size_t i = 0; i < p->n_exempt_namespaces; i++) {
		if (!dns1123_label(p->exempt_namespaces[i], strlen(p->exempt_namespaces[i]))) {
			fprintf(stderr, "posture manifests: %s: exemptNamespaces: \"%s\" is not a namespace name\n",
				p->source, p->exempt_namespaces[i]);
			return -1;
		}
	}
	for (size_t i = 0; i < p->n_revisions; i++) {
		if (!label_value(p->revisions[i])) {
			fprintf(stderr, "posture manifests: %s: revisions: \"%s\" is not a label value\n",
				p->source, p->revisions[i]);
			return -1;
		}
	}
	return 0;
}

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* New NUL-terminated base64 (RFC 4648, padded) of p[0..n), or NULL on OOM. */
static char *base64_new(const unsigned char *p, size_t n)
{
	char *out = xmalloc((n + 2) / 3 * 4 + 1), *o = out;
	if (!out)
		return NULL;
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = b64_alphabet[v >> 18 & 63];
		*o++ = b64_alphabet[v >> 12 & 63];
		*o++ = b64_alphabet[v >> 6 & 63];
		*o++ = b64_alphabet[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
		*o++ = b64_alphabet[v >> 18 & 63];
		*o++ = b64_alphabet[v >> 12 & 63];
		*o++ = i + 1 < n ? b64_alphabet[v >> 6 & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

/* New base64 of the CA file's PEM, or NULL with a message printed. */
static char *ca_bundle_new(const char *file)
{
	char err[512];
	size_t len;
	char *pem = file_read(file, CA_BUNDLE_MAX, &len, err, sizeof err);
	if (!pem) {
		fprintf(stderr, "posture manifests: --ca-bundle-file: %s\n", err);
		return NULL;
	}
	if (!memmem(pem, len, "-----BEGIN CERTIFICATE-----", 27)) {
		fprintf(stderr, "posture manifests: --ca-bundle-file %s: no PEM certificate in it\n", file);
		xfree(pem);
		return NULL;
	}
	char *b64 = base64_new((const unsigned char *)pem, len);
	xfree(pem);
	if (!b64)
		fprintf(stderr, "posture manifests: out of memory\n");
	return b64;
}

/* Parse argv into o. 0 ok, 1 help printed, 2 usage error (message printed). */
static int parse_flags(int argc, char **argv, struct opts *o)
{
	static const size_t OUTPUT = (size_t)-1;   /* -o: not a string member */
	static const struct {
		const char *flag, *alias;
		size_t off;   /* offsetof the member it sets, or OUTPUT */
	} flags[] = {
		{ "--policy", NULL, offsetof(struct opts, policy) },
		{ "--namespace", NULL, offsetof(struct opts, ns) },
		{ "--service", NULL, offsetof(struct opts, service) },
		{ "--name", NULL, offsetof(struct opts, name) },
		{ "--ca-bundle-file", NULL, offsetof(struct opts, ca_file) },
		{ "--output", "-o", OUTPUT },
	};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 1;
		}
		size_t f = 0;
		const char *val = NULL;
		for (; f < ARRAY_LEN(flags); f++) {
			size_t n = strlen(flags[f].flag);
			if (strcmp(a, flags[f].flag) == 0 || (flags[f].alias && strcmp(a, flags[f].alias) == 0))
				break;
			if (strncmp(a, flags[f].flag, n) == 0 && a[n] == '=') {
				val = a + n + 1;
				break;
			}
		}
		if (f == ARRAY_LEN(flags)) {
			fprintf(stderr, "posture manifests: %s \"%s\" (see posture manifests --help)\n",
				a[0] == '-' ? "unknown flag" : "unexpected argument", a);
			return 2;
		}
		if (!val) {
			if (i + 1 >= argc) {
				fprintf(stderr, "posture manifests: %s needs a value\n", a);
				return 2;
			}
			val = argv[++i];
		}
		if (flags[f].off == OUTPUT) {
			if (strcmp(val, "yaml") != 0 && strcmp(val, "json") != 0) {
				fprintf(stderr, "posture manifests: --output: \"%s\" is not yaml or json\n", val);
				return 2;
			}
			o->json = strcmp(val, "json") == 0;
		} else {
			*(const char **)((char *)o + flags[f].off) = val;
		}
	}
	if (!dns1123_label(o->ns, strlen(o->ns))) {
		fprintf(stderr, "posture manifests: --namespace: \"%s\" is not a namespace name\n", o->ns);
		return 2;
	}
	if (!dns1123_label(o->service, strlen(o->service))) {
		fprintf(stderr, "posture manifests: --service: \"%s\" is not a Service name\n", o->service);
		return 2;
	}
	if (!dns_name(o->name)) {
		fprintf(stderr, "posture manifests: --name: \"%s\" is not a DNS name of two labels or more "
				"(like posture.dev)\n", o->name);
		return 2;
	}
	return 0;
}

int cmd_manifests(int argc, char **argv)
{
	struct opts o = { NULL, "posture-system", "posture", "posture.dev", NULL, false };
	int rc = parse_flags(argc, argv, &o);
	if (rc)
		return rc == 1 ? 0 : 2;

	char err[4096];
	struct policy *pol = o.policy ? policy_load(o.policy, err, sizeof err) : policy_defaults_new();
	if (!pol) {
		fprintf(stderr, "%s\n", o.policy ? err : "posture manifests: out of memory");
		return 2;
	}
	struct render r = { .pol = pol, .o = &o };
	json_t *root = NULL;
	struct buf out;
	buf_init(&out, VWC_OUTPUT_MAX);
	rc = 2;
	if (check_policy_values(pol) < 0)
		goto out;
	if (o.ca_file && !(r.ca_bundle = ca_bundle_new(o.ca_file)))
		goto out;
	root = render_vwc(&r);
	if (!root || r.oom) {
		fprintf(stderr, "posture manifests: out of memory\n");
		goto out;
	}
	if (o.json) {
		emit_json(&out, root, 0);
		buf_addc(&out, '\n');
	} else {
		buf_adds(&out, header);
		emit_yaml_map(&out, root, 0, false, &r);
	}
	if (out.failed) {
		fprintf(stderr, "posture manifests: out of memory\n");
		goto out;
	}
	if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
		fprintf(stderr, "posture manifests: writing the output failed\n");
		goto out;
	}
	rc = 0;
out:
	buf_release(&out);
	json_decref(root);
	xfree(r.comments);
	xfree(r.ca_bundle);
	policy_unref(pol);
	return rc;
}
