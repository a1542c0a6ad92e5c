/* registry.c - the table of rules, indexed by rule id. Adding a rule: one line here. */
#include "rules.h"

const struct rule_def *const rule_table[RULE_COUNT] = {
	[RULE_DEFAULT_SERVICE_ACCOUNT] = &rule_default_service_account,
	[RULE_MESH_INJECTION] = &rule_mesh_injection,
	[RULE_AUTHZ_WILDCARD] = &rule_authz_wildcard,
	[RULE_PEER_AUTHN_MTLS] = &rule_peer_authn_mtls,
	[RULE_NAMESPACE_ENROLMENT] = &rule_namespace_enrolment,
	[RULE_DESTINATION_RULE_TLS] = &rule_destination_rule_tls,
	[RULE_GATEWAY_BYPASS] = &rule_gateway_bypass,
	[RULE_NAMESPACE_DEFAULT_DENY] = &rule_namespace_default_deny,
	[RULE_NAMESPACE_STRICT_MTLS] = &rule_namespace_strict_mtls,
	[RULE_AUTHZ_ORPHAN_SELECTOR] = &rule_authz_orphan_selector,
	[RULE_STALE_PRINCIPAL] = &rule_stale_principal,
	[RULE_WORKLOAD_UNREACHABLE] = &rule_workload_unreachable,
};

const struct rule_def *rule_by_name(const char *name)
{
	for (size_t i = 0; i < RULE_COUNT; i++)
		if (strcmp(rule_table[i]->name, name) == 0)
			return rule_table[i];
	return NULL;
}
