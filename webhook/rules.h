/* rules.h - what a rule is: a pure function from a typed view (and the policy's options and the
 * namespace's enrolment) to violations. Rules know nothing of JSON, HTTP or YAML. Adding a rule:
 * one file in rules/, one line in rules/registry.c, its cases in tests/. */
#ifndef POSTURE_RULES_H
#define POSTURE_RULES_H

#include "nsmode.h"
#include "policy.h"
#include "view.h"

#define VIOL_PATH_MAX 192
#define VIOL_CAUSE_MAX 40
#define VIOL_WHAT_MAX 320
#define VIOL_FIX_MAX 256

/* A violation is identified by (rule, path, cause): ratcheting compares these across the old and
 * the new object. what says what is wrong (no object name, no trailing period); fix says how to
 * mend it (one sentence). */
struct violation {
	enum rule_id rule;
	uint32_t line;                 /* source line of the field (check), 0 unknown */
	char path[VIOL_PATH_MAX];      /* field at fault: spec.template.spec.serviceAccountName */
	char cause[VIOL_CAUSE_MAX];    /* stable short code: "default-sa", "open-rule", ... */
	char what[VIOL_WHAT_MAX];
	char fix[VIOL_FIX_MAX];
};

struct violations {
	struct violation *v;   /* owned */
	size_t n, cap;
	bool oom;              /* an append failed: the list is incomplete */
	enum rule_id current;  /* set by the engine before each rule runs */
};

void violations_init(struct violations *vs);
void violations_release(struct violations *vs);
void violations_reset(struct violations *vs);
/* Append a violation of the current rule. what is a printf format. Truncates long text. */
void violation_add(struct violations *vs, const char *path, uint32_t line, const char *cause,
		   const char *fix, const char *what_fmt, ...) PRINTF_LIKE(6, 7);

struct rule_ctx {
	const struct policy *policy;
	struct nsmode mode;              /* the namespace's enrolment (from the URL path) */
	const struct subject *subject;
	struct sv namespace;             /* the namespace judged: the request's; a Namespace's own name */
	bool pre_admission;              /* posture check on a manifest that never reached a cluster:
	                                    no mutating webhook (the sidecar injector) has run yet */
};

struct rule_def {
	enum rule_id id;
	const char *name;          /* "default-service-account" */
	const char *summary;       /* one line for --help and docs */
	uint32_t kinds;            /* KIND_BIT mask of the kinds it judges; 0 for the cross-object
				    * audits of `posture check` (audit.c), which judge no admission */
	uint32_t exempt_kinds;     /* kinds an exemption may name when kinds is 0 (else kinds) */
	bool workload_scoped;      /* skips exempt namespaces, the webhook's own, mirror pods (for a
				    * Namespace: when its own name is exempt or the webhook's) */
	enum action default_action;
	void (*check)(const struct rule_ctx *ctx, struct violations *out);   /* NULL when kinds is 0 */
};

extern const struct rule_def *const rule_table[RULE_COUNT];
const struct rule_def *rule_by_name(const char *name);   /* NULL if unknown */
static inline const char *rule_name(enum rule_id id)
{
	return rule_table[id]->name;
}

/* The rules, one file each under rules/. */
extern const struct rule_def rule_default_service_account;
extern const struct rule_def rule_mesh_injection;
extern const struct rule_def rule_authz_wildcard;
extern const struct rule_def rule_peer_authn_mtls;
extern const struct rule_def rule_namespace_enrolment;
extern const struct rule_def rule_destination_rule_tls;
extern const struct rule_def rule_gateway_bypass;
/* rules/cross_object.c: the cross-object audits (their logic is audit.c's) */
extern const struct rule_def rule_namespace_default_deny;
extern const struct rule_def rule_namespace_strict_mtls;
extern const struct rule_def rule_authz_orphan_selector;
extern const struct rule_def rule_stale_principal;
extern const struct rule_def rule_workload_unreachable;

#endif
