/* policy.h - the policy: rule actions, options and exemptions, loaded from reviewed YAML into an
 * immutable, reference-counted value. The server swaps the current policy on reload; a request
 * holds a reference for its whole life. */
#ifndef POSTURE_POLICY_H
#define POSTURE_POLICY_H

#include "util.h"

enum action { ACTION_OFF = 0, ACTION_AUDIT, ACTION_WARN, ACTION_DENY };
const char *action_name(enum action a);              /* "off", "audit", "warn", "deny" */
int action_parse(const char *s, enum action *out);   /* 0 or -1 */

enum rule_id {
	RULE_DEFAULT_SERVICE_ACCOUNT = 0,
	RULE_MESH_INJECTION,
	RULE_AUTHZ_WILDCARD,
	RULE_PEER_AUTHN_MTLS,
	RULE_NAMESPACE_ENROLMENT,
	RULE_DESTINATION_RULE_TLS,
	RULE_GATEWAY_BYPASS,
	/* cross-object audits of `posture check` (audit.c): they judge no admission object */
	RULE_NAMESPACE_DEFAULT_DENY,
	RULE_NAMESPACE_STRICT_MTLS,
	RULE_AUTHZ_ORPHAN_SELECTOR,
	RULE_STALE_PRINCIPAL,
	RULE_WORKLOAD_UNREACHABLE,
	RULE_COUNT
};

struct exemption {
	enum rule_id rule;
	char *namespace;         /* owned; for a Namespace, its own name (the same as name) */
	char *kind;              /* owned; canonical kind name, e.g. "DaemonSet" (one the rule judges) */
	char *name;              /* owned; exact */
	char *service_account;   /* owned; NULL: any */
	char *reason;            /* owned; required */
	uint32_t line;           /* where it was written (0 for built-in) */
};

struct policy {
	int refs;                /* atomic; use policy_ref/policy_unref */
	char *source;            /* owned; file path, or "built-in defaults" */
	char *root_namespace;    /* owned */
	char **exempt_namespaces;   /* owned array of owned strings */
	size_t n_exempt_namespaces;
	bool enforce_on_controller_objects;
	char **revisions;        /* owned; empty: any istio.io/rev counts */
	size_t n_revisions;
	enum action actions[RULE_COUNT];
	bool allow_pod_ambient;        /* mesh-injection */
	bool allow_manual_injection;   /* mesh-injection */
	bool require_source;           /* authorization-policy-wildcard */
	struct exemption *exemptions;  /* owned */
	size_t n_exemptions;
};

/* New reference to the built-in defaults (identical to policies/default.yaml). NULL on OOM. */
struct policy *policy_defaults_new(void);
/* Load and validate a policy file. New reference, or NULL with every error, one per line, as
 * "FILE:LINE:COL: what was expected", in err. */
struct policy *policy_load(const char *path, char *err, size_t errlen);
/* Same, from bytes already read (name is used in messages). */
struct policy *policy_load_mem(const char *name, const char *data, size_t len, char *err,
			       size_t errlen);
struct policy *policy_ref(struct policy *p);
void policy_unref(struct policy *p);

bool policy_namespace_exempt(const struct policy *p, struct sv ns);
bool policy_revision_known(const struct policy *p, struct sv rev);

#endif
