/* cross_object.c - the cross-object audits of `posture check`: ids, summaries, default actions and
 * what an exemption may name. They judge no admission object (kinds 0, no check function): the
 * findings need a view of many objects, which only `posture check` has; audit.c finds them at the
 * end of the input. Semantics: docs/audit.md. */
#include "rules.h"

const struct rule_def rule_namespace_default_deny = {
	.id = RULE_NAMESPACE_DEFAULT_DENY,
	.name = "namespace-default-deny",
	.summary = "enrolled namespaces have a default-deny AuthorizationPolicy, their own or mesh-wide",
	.exempt_kinds = KIND_BIT(K_NAMESPACE),
	.workload_scoped = true,
	.default_action = ACTION_WARN,
};

const struct rule_def rule_namespace_strict_mtls = {
	.id = RULE_NAMESPACE_STRICT_MTLS,
	.name = "namespace-strict-mtls",
	.summary = "enrolled namespaces get STRICT mTLS from their own or the mesh-wide PeerAuthentication",
	.exempt_kinds = KIND_BIT(K_NAMESPACE),
	.workload_scoped = true,
	.default_action = ACTION_WARN,
};

const struct rule_def rule_authz_orphan_selector = {
	.id = RULE_AUTHZ_ORPHAN_SELECTOR,
	.name = "authorization-policy-orphan-selector",
	.summary = "AuthorizationPolicy selectors match a workload of their namespace (the root's: of any)",
	.exempt_kinds = KIND_BIT(K_AUTHORIZATIONPOLICY),
	.default_action = ACTION_WARN,
};

const struct rule_def rule_stale_principal = {
	.id = RULE_STALE_PRINCIPAL,
	.name = "stale-principal",
	.summary = "ALLOW principals <td>/ns/N/sa/S name ServiceAccounts that exist",
	.exempt_kinds = KIND_BIT(K_AUTHORIZATIONPOLICY),
	.default_action = ACTION_WARN,
};

const struct rule_def rule_workload_unreachable = {
	.id = RULE_WORKLOAD_UNREACHABLE,
	.name = "workload-unreachable",
	.summary = "workloads under a default-deny are selected by an ALLOW policy with rules",
	.exempt_kinds = KINDS_WORKLOAD,
	.workload_scoped = true,
	.default_action = ACTION_AUDIT,
};
