/* test_policy.c - the policy file: built-in defaults equal policies/default.yaml, the shipped
 * policies, every option, every class of bad file with its exact FILE:LINE:COL, reference
 * counting, the small helpers, and failed allocations. Run from the repository's root. */
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "policy.h"
#include "rules.h"
#include "test.h"

#define P "tests/fixtures/policy/"
#define HEADER "apiVersion: posture.dev/v1alpha1\nkind: PosturePolicy\n"
/* the mesh posture rules of issue 9, as `posture policy check` lists them at their default */
#define NEW_RULES_WARN                                                                        \
	"peer-authentication-mtls=warn, namespace-enrolment=warn, destination-rule-tls=warn, "   \
	"gateway-bypass=warn, " AUDIT_RULES
/* the cross-object audits of issue 9 at their default: warn, and audit for the noisy one */
#define AUDIT_RULES                                                                           \
	"namespace-default-deny=warn, namespace-strict-mtls=warn, "                               \
	"authorization-policy-orphan-selector=warn, stale-principal=warn, workload-unreachable=audit"
#define ALL_RULE_NAMES                                                                        \
	"default-service-account, mesh-injection, authorization-policy-wildcard, peer-authentication-mtls, " \
	"namespace-enrolment, destination-rule-tls, gateway-bypass, namespace-default-deny, "     \
	"namespace-strict-mtls, authorization-policy-orphan-selector, stale-principal or workload-unreachable"

static char err[8192];

static struct policy *mem(const char *text)
{
	err[0] = '\0';
	return policy_load_mem("mem.yaml", text, strlen(text), err, sizeof err);
}

static bool strv_eq(char **a, size_t na, const char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

static bool opt_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* Field by field, everything but source and refs. */
static void check_same(const struct policy *a, const struct policy *b)
{
	CHECK_STR(a->root_namespace, b->root_namespace);
	CHECK(strv_eq(a->exempt_namespaces, a->n_exempt_namespaces,
		      (const char *const *)b->exempt_namespaces, b->n_exempt_namespaces));
	CHECK(a->enforce_on_controller_objects == b->enforce_on_controller_objects);
	CHECK(strv_eq(a->revisions, a->n_revisions, (const char *const *)b->revisions,
		      b->n_revisions));
	for (size_t i = 0; i < RULE_COUNT; i++)
		CHECK_INT(a->actions[i], b->actions[i]);
	CHECK(a->allow_pod_ambient == b->allow_pod_ambient);
	CHECK(a->allow_manual_injection == b->allow_manual_injection);
	CHECK(a->require_source == b->require_source);
	CHECK_INT(a->n_exemptions, b->n_exemptions);
	for (size_t i = 0; i < a->n_exemptions && i < b->n_exemptions; i++) {
		const struct exemption *x = &a->exemptions[i], *y = &b->exemptions[i];
		CHECK(x->rule == y->rule);
		CHECK_STR(x->namespace, y->namespace);
		CHECK_STR(x->kind, y->kind);
		CHECK_STR(x->name, y->name);
		CHECK(opt_eq(x->service_account, y->service_account));
		CHECK_STR(x->reason, y->reason);
	}
}

static void test_defaults_equal_default_yaml(void)
{
	static const char *const ns[] = { "kube-system", "kube-public", "kube-node-lease",
					  "istio-system" };
	struct policy *def = policy_defaults_new();
	struct policy *file = policy_load("policies/default.yaml", err, sizeof err);
	CHECK(def && file);
	if (!def || !file) {
		fprintf(stderr, "  %s\n", err);
		policy_unref(def);
		policy_unref(file);
		return;
	}
	check_same(def, file);
	/* and both are what the issue says */
	CHECK_STR(def->source, "built-in defaults");
	CHECK_STR(file->source, "policies/default.yaml");
	CHECK_STR(def->root_namespace, "istio-system");
	CHECK(strv_eq(def->exempt_namespaces, def->n_exempt_namespaces, ns, ARRAY_LEN(ns)));
	CHECK(!def->enforce_on_controller_objects);
	CHECK_INT(def->n_revisions, 0);
	for (size_t i = 0; i < RULE_COUNT; i++) {
		CHECK_INT(def->actions[i], rule_table[i]->default_action);
		/* the workload and authorization rules deny; the mesh posture rules (issue 9) warn, but
		 * workload-unreachable (noisy: clients need no ALLOW policy) only audits */
		CHECK_INT(file->actions[i], i <= RULE_AUTHZ_WILDCARD ? ACTION_DENY
					    : i == RULE_WORKLOAD_UNREACHABLE ? ACTION_AUDIT : ACTION_WARN);
	}
	CHECK(!def->allow_pod_ambient && !def->allow_manual_injection && !def->require_source);
	CHECK_INT(def->n_exemptions, 0);
	CHECK_INT(def->refs, 1);
	policy_unref(def);
	policy_unref(file);
}

static void test_rollout_and_example(void)
{
	struct policy *def = policy_defaults_new();
	struct policy *roll = policy_load("policies/rollout.yaml", err, sizeof err);
	CHECK(roll != NULL);
	if (roll) {
		for (size_t i = 0; i < RULE_COUNT; i++) {
			/* every rule warns, none louder than in production */
			CHECK_INT(roll->actions[i], def->actions[i] == ACTION_AUDIT ? ACTION_AUDIT : ACTION_WARN);
			roll->actions[i] = def->actions[i];
		}
		check_same(def, roll);   /* otherwise the production policy */
		policy_unref(roll);
	}
	struct policy *ex = policy_load("policies/example.yaml", err, sizeof err);
	CHECK(ex != NULL);
	if (ex) {
		static const char *const revs[] = { "stable", "canary" };
		CHECK(strv_eq(ex->revisions, ex->n_revisions, revs, 2));
		CHECK_INT(ex->actions[RULE_AUTHZ_WILDCARD], ACTION_WARN);
		CHECK_INT(ex->n_exemptions, 4);
		if (ex->n_exemptions == 4) {
			CHECK_INT(ex->exemptions[0].rule, RULE_MESH_INJECTION);
			CHECK_STR(ex->exemptions[0].kind, "DaemonSet");
			CHECK(ex->exemptions[0].service_account == NULL);
			CHECK_STR(ex->exemptions[1].service_account, "default");
			CHECK_INT(ex->exemptions[2].rule, RULE_AUTHZ_WILDCARD);
			CHECK_STR(ex->exemptions[2].kind, "AuthorizationPolicy");
			CHECK_INT(ex->exemptions[2].line, 119);
			CHECK_INT(ex->exemptions[3].rule, RULE_GATEWAY_BYPASS);
			CHECK_STR(ex->exemptions[3].kind, "Service");
		}
		policy_unref(ex);
	}
	policy_unref(def);
}

static void test_each_option(void)
{
	struct policy *p = mem(HEADER "spec:\n  rules:\n    mesh-injection: {allowPodAmbient: true}\n");
	CHECK(p && p->allow_pod_ambient && !p->allow_manual_injection);
	if (p) {   /* rules not mentioned, and a rule without action, keep their default */
		for (size_t i = 0; i < RULE_COUNT; i++)
			CHECK_INT(p->actions[i], rule_table[i]->default_action);
	}
	policy_unref(p);
	p = mem(HEADER "spec:\n  rules:\n    mesh-injection:\n      action: audit\n"
		"      allowManualInjection: true\n");
	CHECK(p && p->allow_manual_injection && !p->allow_pod_ambient);
	CHECK(p && p->actions[RULE_MESH_INJECTION] == ACTION_AUDIT &&
	      p->actions[RULE_DEFAULT_SERVICE_ACCOUNT] == ACTION_DENY);
	policy_unref(p);
	p = mem(HEADER "spec:\n  rules:\n    authorization-policy-wildcard: {action: 'off', "
		"requireSource: true}\n    default-service-account: {action: off}\n");
	CHECK(p && p->require_source && p->actions[RULE_AUTHZ_WILDCARD] == ACTION_OFF &&
	      p->actions[RULE_DEFAULT_SERVICE_ACCOUNT] == ACTION_OFF);
	policy_unref(p);
	p = mem(HEADER "spec:\n  enforceOnControllerObjects: true\n  rootNamespace: mesh-root\n"
		"  exemptNamespaces: []\n  revisions: [canary, 1-27-0]\n");
	CHECK(p && p->enforce_on_controller_objects && p->n_exempt_namespaces == 0);
	CHECK(p && strcmp(p->root_namespace, "mesh-root") == 0 && p->n_revisions == 2);
	policy_unref(p);
	/* the smallest valid file: the header */
	p = mem(HEADER);
	CHECK(p != NULL);
	policy_unref(p);
	p = mem(HEADER "metadata:\n  name: prod\n  labels: {team: mesh}\nspec: {}\n");
	CHECK(p != NULL);
	policy_unref(p);
	/* exemptions: all fields, in any key order, flow or block */
	p = mem(HEADER "spec:\n  exemptions:\n"
		"  - {reason: r, name: db-0.x, kind: Pod, namespace: data, rule: mesh-injection,"
		" serviceAccount: db}\n"
		"  - rule: default-service-account\n    namespace: data\n    kind: CronJob\n"
		"    name: nightly\n    reason: >\n      folded\n      text\n");
	CHECK(p && p->n_exemptions == 2);
	if (p && p->n_exemptions == 2) {
		CHECK_STR(p->exemptions[0].name, "db-0.x");
		CHECK_STR(p->exemptions[0].service_account, "db");
		CHECK_INT(p->exemptions[0].line, 5);
		CHECK_STR(p->exemptions[1].reason, "folded text\n");
		CHECK_INT(p->exemptions[1].line, 6);
		CHECK_STR(p->source, "mem.yaml");
	}
	policy_unref(p);
	/* the mesh posture rules: an action each, and exemptions naming the kind each judges */
	p = mem(HEADER "spec:\n  rules:\n    peer-authentication-mtls: {action: deny}\n"
		"    namespace-enrolment: {action: audit}\n    destination-rule-tls: {action: 'off'}\n"
		"    gateway-bypass: {}\n  exemptions:\n"
		"  - {rule: peer-authentication-mtls, namespace: a, kind: PeerAuthentication, name: p, reason: r}\n"
		"  - {rule: namespace-enrolment, namespace: lab, kind: Namespace, name: lab, reason: r}\n"
		"  - {rule: destination-rule-tls, namespace: a, kind: DestinationRule, name: d, reason: r}\n"
		"  - {rule: gateway-bypass, namespace: a, kind: Service, name: s, reason: r}\n");
	CHECK(p && p->n_exemptions == 4);
	if (p) {
		CHECK_INT(p->actions[RULE_PEER_AUTHN_MTLS], ACTION_DENY);
		CHECK_INT(p->actions[RULE_NAMESPACE_ENROLMENT], ACTION_AUDIT);
		CHECK_INT(p->actions[RULE_DESTINATION_RULE_TLS], ACTION_OFF);
		CHECK_INT(p->actions[RULE_GATEWAY_BYPASS], ACTION_WARN);
	}
	if (p && p->n_exemptions == 4) {
		CHECK_STR(p->exemptions[0].kind, "PeerAuthentication");
		CHECK_STR(p->exemptions[1].kind, "Namespace");
		CHECK_STR(p->exemptions[1].namespace, "lab");
		CHECK_STR(p->exemptions[2].kind, "DestinationRule");
		CHECK_STR(p->exemptions[3].kind, "Service");
	}
	policy_unref(p);
	/* the cross-object audits: an action each, and exemptions naming what their findings are about */
	p = mem(HEADER "spec:\n  rules:\n    namespace-default-deny: {action: deny}\n"
		"    namespace-strict-mtls: {action: audit}\n    authorization-policy-orphan-selector: {action: 'off'}\n"
		"    stale-principal: {}\n    workload-unreachable: {action: warn}\n  exemptions:\n"
		"  - {rule: namespace-default-deny, namespace: lab, kind: Namespace, name: lab, reason: r}\n"
		"  - {rule: namespace-strict-mtls, namespace: lab, kind: Namespace, name: lab, reason: r}\n"
		"  - {rule: authorization-policy-orphan-selector, namespace: a, kind: AuthorizationPolicy, name: p, reason: r}\n"
		"  - {rule: stale-principal, namespace: a, kind: AuthorizationPolicy, name: p, reason: r}\n"
		"  - {rule: workload-unreachable, namespace: a, kind: Deployment, name: w, serviceAccount: w, reason: r}\n");
	CHECK(p && p->n_exemptions == 5);
	if (p) {
		CHECK_INT(p->actions[RULE_NAMESPACE_DEFAULT_DENY], ACTION_DENY);
		CHECK_INT(p->actions[RULE_NAMESPACE_STRICT_MTLS], ACTION_AUDIT);
		CHECK_INT(p->actions[RULE_AUTHZ_ORPHAN_SELECTOR], ACTION_OFF);
		CHECK_INT(p->actions[RULE_STALE_PRINCIPAL], ACTION_WARN);
		CHECK_INT(p->actions[RULE_WORKLOAD_UNREACHABLE], ACTION_WARN);
	}
	if (p && p->n_exemptions == 5) {
		CHECK_STR(p->exemptions[0].kind, "Namespace");
		CHECK_STR(p->exemptions[2].kind, "AuthorizationPolicy");
		CHECK_STR(p->exemptions[4].kind, "Deployment");
		CHECK_STR(p->exemptions[4].service_account, "w");
	}
	policy_unref(p);
	/* ... and no other kind */
	p = mem(HEADER "spec:\n  exemptions:\n"
		"  - {rule: namespace-default-deny, namespace: a, kind: Deployment, name: w, reason: r}\n"
		"  - {rule: stale-principal, namespace: a, kind: Namespace, name: a, reason: r}\n"
		"  - {rule: stale-principal, namespace: a, kind: AuthorizationPolicy, name: p, serviceAccount: s, reason: r}\n"
		"  - {rule: workload-unreachable, namespace: a, kind: AuthorizationPolicy, name: p, reason: r}\n");
	CHECK(p == NULL);
	CHECK_STR(err, "mem.yaml:5:56: kind 'Deployment' cannot be exempted from namespace-default-deny; expected Namespace\n"
		       "mem.yaml:6:49: kind 'Namespace' cannot be exempted from stale-principal; expected AuthorizationPolicy\n"
		       "mem.yaml:7:95: serviceAccount applies to workload rules only, not to stale-principal\n"
		       "mem.yaml:8:54: kind 'AuthorizationPolicy' is not a workload kind; expected Pod, Deployment, "
		       "StatefulSet, DaemonSet, ReplicaSet, Job, CronJob or ReplicationController");
	policy_unref(p);
}

static const struct {
	const char *file, *errors;
} bad[] = {
	{ "bad-action.yaml",
	  P "bad-action.yaml:6:15: invalid action 'block' for rule mesh-injection; expected deny, warn, audit or off\n"
	  P "bad-action.yaml:7:39: invalid action 'Deny' for rule default-service-account; expected deny, warn, audit or off\n"
	  P "bad-action.yaml:8:45: rule authorization-policy-wildcard: action: expected deny, warn, audit or off, found a boolean"
	},
	{ "bad-exemption-kinds.yaml",
	  P "bad-exemption-kinds.yaml:5:50: kind 'Service' is not a workload kind; expected Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob or ReplicationController\n"
	  P "bad-exemption-kinds.yaml:6:65: kind 'Deployment' cannot be exempted from authorization-policy-wildcard; expected AuthorizationPolicy\n"
	  P "bad-exemption-kinds.yaml:7:50: kind 'AuthorizationPolicy' is not a workload kind; expected Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob or ReplicationController\n"
	  P "bad-exemption-kinds.yaml:8:113: serviceAccount applies to workload rules only, not to authorization-policy-wildcard\n"
	  P "bad-exemption-kinds.yaml:9:50: kind 'deployment' is not a workload kind; expected Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob or ReplicationController\n"
	  P "bad-exemption-kinds.yaml:10:14: unknown rule 'istio-injection'; expected " ALL_RULE_NAMES "\n"
	  P "bad-exemption-kinds.yaml:10:78: unknown key 'owner' in exemptions[5]; expected rule, namespace, kind, name, serviceAccount or reason\n"
	  P "bad-exemption-kinds.yaml:11:7: exemption: expected a mapping with rule, namespace, kind, name and reason, found a string"
	},
	{ "bad-exemption-kinds-mesh.yaml",
	  P "bad-exemption-kinds-mesh.yaml:5:46: unknown key 'mode' in rule peer-authentication-mtls; expected action\n"
	  P "bad-exemption-kinds-mesh.yaml:7:60: kind 'DestinationRule' cannot be exempted from peer-authentication-mtls; expected PeerAuthentication\n"
	  P "bad-exemption-kinds-mesh.yaml:8:77: a Namespace exemption names the namespace twice: name 'team-b' must equal namespace 'team-a'\n"
	  P "bad-exemption-kinds-mesh.yaml:9:50: kind 'Deployment' cannot be exempted from gateway-bypass; expected Service\n"
	  P "bad-exemption-kinds-mesh.yaml:10:86: serviceAccount applies to workload rules only, not to gateway-bypass\n"
	  P "bad-exemption-kinds-mesh.yaml:11:56: kind 'Namespace' cannot be exempted from destination-rule-tls; expected DestinationRule\n"
	  P "bad-exemption-kinds-mesh.yaml:12:59: kind 'Namespace' is not a workload kind; expected Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob or ReplicationController"
	},
	{ "duplicate-exemption.yaml",
	  P "duplicate-exemption.yaml:6:7: duplicate exemption: same rule, namespace, kind, name and serviceAccount as the exemption at line 5"
	},
	{ "duplicate-key.yaml",
	  P "duplicate-key.yaml:7:3: duplicate key 'rules' (first at 4:3)"
	},
	{ "duplicate-top-key.yaml",
	  P "duplicate-top-key.yaml:7:1: duplicate key 'spec' (first at 3:1)"
	},
	{ "empty.yaml",
	  P "empty.yaml:1:1: expected a YAML document, found none"
	},
	{ "exemption-empty-reason.yaml",
	  P "exemption-empty-reason.yaml:9:15: reason must not be empty (say why this workload is exempt)"
	},
	{ "exemption-no-reason.yaml",
	  P "exemption-no-reason.yaml:5:7: exemption is missing 'reason' (say why this workload is exempt; the reason is logged whenever the exemption is used)"
	},
	{ "invalid-names.yaml",
	  P "invalid-names.yaml:4:18: invalid rootNamespace 'Istio-System' (expected a DNS-1123 label: lowercase letters, digits and '-', at most 63, starting and ending alphanumeric)\n"
	  P "invalid-names.yaml:5:35: invalid namespace 'kube_public' (expected a DNS-1123 label: lowercase letters, digits and '-', at most 63, starting and ending alphanumeric)\n"
	  P "invalid-names.yaml:5:48: duplicate namespace 'kube-system' in exemptNamespaces (first at 5:22)\n"
	  P "invalid-names.yaml:5:61: invalid namespace '-bad' (expected a DNS-1123 label: lowercase letters, digits and '-', at most 63, starting and ending alphanumeric)\n"
	  P "invalid-names.yaml:6:21: invalid revision 'canary.v2' (expected a DNS-1123 label: lowercase letters, digits and '-', at most 63, starting and ending alphanumeric)\n"
	  P "invalid-names.yaml:9:18: invalid namespace 'Monitoring' (expected a DNS-1123 label: lowercase letters, digits and '-', at most 63, starting and ending alphanumeric)\n"
	  P "invalid-names.yaml:11:13: invalid name 'node_exporter' (expected a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', at most 253)\n"
	  P "invalid-names.yaml:12:23: invalid serviceAccount 'sa/x' (expected a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', at most 253)"
	},
	{ "missing-header.yaml",
	  P "missing-header.yaml:2:1: missing apiVersion (expected apiVersion: posture.dev/v1alpha1)\n"
	  P "missing-header.yaml:2:1: missing kind (expected kind: PosturePolicy)"
	},
	{ "not-a-mapping.yaml",
	  P "not-a-mapping.yaml:1:1: expected a mapping with apiVersion, kind and spec, found a sequence"
	},
	{ "option-wrong-rule.yaml",
	  P "option-wrong-rule.yaml:5:45: unknown key 'requireSource' in rule default-service-account; expected action\n"
	  P "option-wrong-rule.yaml:6:37: unknown key 'allowPodAmbient' in rule authorization-policy-wildcard; expected action or requireSource"
	},
	{ "tab.yaml",
	  P "tab.yaml:6:1: found a tab character where indentation was expected (indent with spaces)"
	},
	{ "two-documents.yaml",
	  P "two-documents.yaml:6:1: expected a single document, found another one"
	},
	{ "unknown-rule.yaml",
	  P "unknown-rule.yaml:5:5: unknown rule 'default-serviceaccount' (did you mean 'default-service-account'?); expected " ALL_RULE_NAMES "\n"
	  P "unknown-rule.yaml:6:5: unknown rule 'pod-security'; expected " ALL_RULE_NAMES
	},
	{ "unknown-spec-key.yaml",
	  P "unknown-spec-key.yaml:4:3: unknown key 'exemptNamespace' in spec (did you mean 'exemptNamespaces'?); expected rootNamespace, exemptNamespaces, enforceOnControllerObjects, revisions, rules or exemptions"
	},
	{ "unknown-top-key.yaml",
	  P "unknown-top-key.yaml:3:1: unknown key 'spce' in the policy (did you mean 'spec'?); expected apiVersion, kind, metadata or spec"
	},
	{ "wrong-apiversion-kind.yaml",
	  P "wrong-apiversion-kind.yaml:1:13: unsupported apiVersion 'posture.dev/v1' (expected posture.dev/v1alpha1)\n"
	  P "wrong-apiversion-kind.yaml:2:7: unsupported kind 'Policy' (expected PosturePolicy)"
	},
	{ "wrong-type.yaml",
	  P "wrong-type.yaml:4:31: enforceOnControllerObjects: expected true or false, found a string 'true' (this file is YAML 1.2: only unquoted true and false are booleans)\n"
	  P "wrong-type.yaml:5:21: exemptNamespaces: expected a sequence of names, found a string\n"
	  P "wrong-type.yaml:6:13: revisions: expected a sequence of names, found null (write [] for none)\n"
	  P "wrong-type.yaml:8:39: allowPodAmbient: expected true or false, found a string 'yes' (this file is YAML 1.2: only unquoted true and false are booleans)\n"
	  P "wrong-type.yaml:8:66: allowManualInjection: expected true or false, found a number\n"
	  P "wrong-type.yaml:9:15: exemptions: expected a sequence of exemptions, found a mapping"
	},
};

static void test_bad_files(void)
{
	char path[256];
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		test_begin(bad[i].file);
		fmt_buf(path, sizeof path, P "%s", bad[i].file);
		err[0] = '\0';
		struct policy *p = policy_load(path, err, sizeof err);
		CHECK(p == NULL);
		CHECK_STR(err, bad[i].errors);
		policy_unref(p);
		test_end();
	}
}

static void test_io_errors(void)
{
	CHECK(!policy_load(P "no-such-file.yaml", err, sizeof err));
	CHECK_STR(err, P "no-such-file.yaml: cannot open: No such file or directory");
	CHECK(!policy_load(P, err, sizeof err));
	CHECK_STR(err, P ": cannot read: Is a directory");
	/* too big, from a file and from memory */
	size_t n = (1u << 20) + 10;
	char *big = malloc(n);
	CHECK(big != NULL);
	if (!big)
		return;
	memset(big, '#', n);
	big[n - 1] = '\n';
	CHECK(!policy_load_mem("big.yaml", big, n, err, sizeof err));
	CHECK_STR(err, "big.yaml: file is larger than 1048576 bytes");
	char tmp[] = "/tmp/posture-test-policy-XXXXXX";
	int fd = mkstemp(tmp);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK(write(fd, big, n) == (ssize_t)n);
		close(fd);
		CHECK(!policy_load(tmp, err, sizeof err));
		CHECK_CONTAINS(err, ": file is larger than 1048576 bytes");
		unlink(tmp);
	}
	free(big);
	/* errors that do not fit the buffer end with a count */
	char small[200];
	CHECK(!policy_load(P "invalid-names.yaml", small, sizeof small));
	CHECK_CONTAINS(small, "invalid-names.yaml:4:18: invalid rootNamespace 'Istio-System'");
	CHECK_CONTAINS(small, "\n... and 7 more errors");
	/* a hundred errors and more */
	struct buf b;
	buf_init(&b, 1 << 20);
	buf_adds(&b, HEADER "spec:\n  exemptNamespaces:\n");
	for (int i = 0; i < 150; i++)
		buf_adds(&b, "  - Bad\n");
	char *many = malloc(1 << 16);
	CHECK(!policy_load_mem("many.yaml", b.data, b.len, many, 1 << 16));
	CHECK_CONTAINS(many, "many.yaml:5:5: invalid namespace 'Bad'");
	CHECK_CONTAINS(many, "many.yaml:104:5: invalid namespace 'Bad'");
	CHECK_CONTAINS(many, "\nmany.yaml: too many errors, stopped after 100");
	free(many);
	buf_release(&b);
}

static void test_helpers(void)
{
	static const char *const names[] = { "off", "audit", "warn", "deny" };
	for (int a = ACTION_OFF; a <= ACTION_DENY; a++) {
		enum action out;
		CHECK_STR(action_name((enum action)a), names[a]);
		CHECK(action_parse(names[a], &out) == 0 && out == (enum action)a);
	}
	enum action out = ACTION_WARN;
	CHECK(action_parse("Deny", &out) < 0 && out == ACTION_WARN);
	CHECK(action_parse("", &out) < 0);
	CHECK(action_parse(NULL, &out) < 0);
	struct policy *p = policy_defaults_new();
	CHECK(policy_namespace_exempt(p, sv_cstr("kube-system")));
	CHECK(policy_namespace_exempt(p, sv_cstr("istio-system")));
	CHECK(!policy_namespace_exempt(p, sv_cstr("kube-systemx")));
	CHECK(!policy_namespace_exempt(p, sv_cstr("default")));
	CHECK(!policy_namespace_exempt(p, sv_null));
	CHECK(policy_revision_known(p, sv_cstr("anything")));   /* none listed: any counts */
	CHECK(!policy_revision_known(p, sv_null));
	policy_unref(p);
	p = mem(HEADER "spec:\n  revisions: [stable]\n  exemptNamespaces: [legacy]\n");
	CHECK(p && policy_revision_known(p, sv_cstr("stable")));
	CHECK(p && !policy_revision_known(p, sv_cstr("canary")));
	CHECK(p && !policy_revision_known(p, sv_cstr("stabl")));
	CHECK(p && policy_namespace_exempt(p, sv_cstr("legacy")));
	CHECK(p && !policy_namespace_exempt(p, sv_cstr("kube-system")));   /* replaced */
	policy_unref(p);
}

static void *refs_thread(void *arg)
{
	struct policy *p = arg;
	for (int i = 0; i < 100000; i++)
		policy_unref(policy_ref(p));
	return NULL;
}

static void test_refcount(void)
{
	struct policy *p = policy_defaults_new();
	CHECK(policy_ref(p) == p);
	CHECK_INT(p->refs, 2);
	policy_unref(p);
	CHECK_INT(p->refs, 1);
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, refs_thread, p);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	CHECK_INT(p->refs, 1);
	policy_unref(p);   /* ASan reports a leak or a double free if the count drifted */
	CHECK(policy_ref(NULL) == NULL);
	policy_unref(NULL);
}

/* Every allocation failed in turn: NULL with "out of memory", never a crash or a leak. */
static void test_alloc_failures(void)
{
	FILE *f = fopen("policies/example.yaml", "rb");
	CHECK(f != NULL);
	if (!f)
		return;
	static char text[1 << 16];
	size_t n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	int failed_runs = 0;
	for (long nth = 1; nth < 5000; nth++) {
		xalloc_fail_at(nth);
		struct policy *p = policy_load_mem("example.yaml", text, n, err, sizeof err);
		bool failed = xalloc_failed();
		xalloc_fail_at(0);
		if (!failed) {
			CHECK(p != NULL);
			policy_unref(p);
			break;
		}
		failed_runs++;
		if (p) {
			fprintf(stderr, "  allocation %ld failed, yet a policy loaded\n", nth);
			CHECK(p == NULL);
			policy_unref(p);
		} else if (!strstr(err, "out of memory")) {
			fprintf(stderr, "  allocation %ld: %s\n", nth, err);
			CHECK(strstr(err, "out of memory") != NULL);
		}
	}
	CHECK(failed_runs > 100);
	for (long nth = 1; nth < 100; nth++) {
		xalloc_fail_at(nth);
		struct policy *p = policy_defaults_new();
		bool failed = xalloc_failed();
		xalloc_fail_at(0);
		CHECK(failed ? p == NULL : p != NULL);
		policy_unref(p);
		if (!failed)
			break;
	}
}

/* Run `posture policy ARGS` in this process, stdin from in_path (or none), capturing stdout and
 * stderr. Its exit status. */
static int run_cli(const char *in_path, char *out, size_t outlen, char *errs, size_t errlen,
		   int argc, ...)
{
	char *argv[8];
	va_list ap;
	va_start(ap, argc);
	for (int i = 0; i < argc && i < 8; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	fflush(stdout);
	fflush(stderr);
	FILE *o = tmpfile(), *e = tmpfile();
	int in = in_path ? open(in_path, O_RDONLY) : -1;
	int so = dup(1), se = dup(2), si = dup(0);
	dup2(fileno(o), 1);
	dup2(fileno(e), 2);
	if (in >= 0)
		dup2(in, 0);
	int rc = cmd_policy(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	dup2(si, 0);
	close(so);
	close(se);
	close(si);
	if (in >= 0)
		close(in);
	rewind(o);
	rewind(e);
	out[fread(out, 1, outlen - 1, o)] = '\0';
	errs[fread(errs, 1, errlen - 1, e)] = '\0';
	fclose(o);
	fclose(e);
	return rc;
}

static void test_cli(void)
{
	static char out[8192], errs[8192];
	CHECK_INT(run_cli(NULL, out, sizeof out, errs, sizeof errs, 3, "policy", "check",
			  "policies/default.yaml"), 0);
	CHECK_STR(out, "ok: policies/default.yaml (0 exemptions, rules: default-service-account=deny, "
		       "mesh-injection=deny, authorization-policy-wildcard=deny, " NEW_RULES_WARN ")\n");
	CHECK_STR(errs, "");
	CHECK_INT(run_cli(NULL, out, sizeof out, errs, sizeof errs, 3, "policy", "check",
			  "policies/rollout.yaml"), 0);
	CHECK_STR(out, "ok: policies/rollout.yaml (0 exemptions, rules: default-service-account=warn, "
		       "mesh-injection=warn, authorization-policy-wildcard=warn, " NEW_RULES_WARN ")\n");
	CHECK_INT(run_cli(NULL, out, sizeof out, errs, sizeof errs, 3, "policy", "check",
			  "policies/example.yaml"), 0);
	CHECK_STR(out, "ok: policies/example.yaml (4 exemptions, rules: default-service-account=deny, "
		       "mesh-injection=deny, authorization-policy-wildcard=warn, " NEW_RULES_WARN ")\n");
	CHECK_INT(run_cli("policies/rollout.yaml", out, sizeof out, errs, sizeof errs, 3, "policy",
			  "check", "-"), 0);
	CHECK_STR(out, "ok: <stdin> (0 exemptions, rules: default-service-account=warn, "
		       "mesh-injection=warn, authorization-policy-wildcard=warn, " NEW_RULES_WARN ")\n");
	CHECK_INT(run_cli(NULL, out, sizeof out, errs, sizeof errs, 3, "policy", "check",
			  P "bad-action.yaml"), 2);
	CHECK_STR(out, "");
	CHECK_STR(errs, P "bad-action.yaml:6:15: invalid action 'block' for rule mesh-injection; "
			  "expected deny, warn, audit or off\n"
			P "bad-action.yaml:7:39: invalid action 'Deny' for rule default-service-account; "
			  "expected deny, warn, audit or off\n"
			P "bad-action.yaml:8:45: rule authorization-policy-wildcard: action: expected "
			  "deny, warn, audit or off, found a boolean\n"
			  "posture policy check: " P "bad-action.yaml: test failed (3 errors)\n");
	CHECK_INT(run_cli(P "tab.yaml", out, sizeof out, errs, sizeof errs, 3, "policy", "check", "-"),
		  2);
	CHECK_STR(errs, "<stdin>:6:1: found a tab character where indentation was expected (indent "
			"with spaces)\nposture policy check: <stdin>: test failed (1 error)\n");
	CHECK_INT(run_cli(NULL, out, sizeof out, errs, sizeof errs, 3, "policy", "check", "nope.yaml"),
		  2);
	CHECK_STR(errs, "nope.yaml: cannot open: No such file or directory\n"
			"posture policy check: nope.yaml: test failed (1 error)\n");
	/* usage */
	CHECK_INT(run_cli(NULL, out, sizeof out, errs, sizeof errs, 2, "policy", "--help"), 0);
	CHECK_CONTAINS(out, "usage: posture policy check FILE|-\n");
	CHECK_INT(run_cli(NULL, out, sizeof out, errs, sizeof errs, 4, "policy", "check", "a", "--help"),
		  0);
	CHECK_INT(run_cli(NULL, out, sizeof out, errs, sizeof errs, 1, "policy"), 2);
	CHECK_CONTAINS(errs, "usage: posture policy check");
	CHECK_INT(run_cli(NULL, out, sizeof out, errs, sizeof errs, 2, "policy", "check"), 2);
	CHECK_CONTAINS(errs, "posture policy check: expected one FILE\n");
	CHECK_INT(run_cli(NULL, out, sizeof out, errs, sizeof errs, 4, "policy", "check", "a", "b"), 2);
	CHECK_INT(run_cli(NULL, out, sizeof out, errs, sizeof errs, 3, "policy", "lint", "a"), 2);
	CHECK_CONTAINS(errs, "posture policy: unknown command 'lint'\n");
	CHECK_STR(out, "");
}

int main(void)
{
	xalloc_install_jansson();
	RUN(test_defaults_equal_default_yaml);
	RUN(test_rollout_and_example);
	RUN(test_each_option);
	test_bad_files();
	RUN(test_io_errors);
	RUN(test_helpers);
	RUN(test_refcount);
	RUN(test_cli);
	RUN(test_alloc_failures);
	return test_summary("policy");
}
