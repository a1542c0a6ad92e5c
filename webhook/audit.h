/* audit.h - the cross-object audit of `posture check` (issue 9): compact summaries of the objects
 * read, and at the end of the input the findings only a view of many objects can give:
 * namespace-default-deny, namespace-strict-mtls, authorization-policy-orphan-selector,
 * stale-principal and workload-unreachable (semantics: docs/audit.md).
 *
 * check.c feeds it every decoded object of a judged kind (audit_object) and every ServiceAccount
 * (audit_service_account) as it streams the input, then each namespace's enrolment as it resolved
 * it (audit_namespace), then runs the pass once (audit_run).
 *
 * Memory: never an object, only summaries copied into one arena: per namespace a few flags and
 * names; per AuthorizationPolicy with a selector its labels; per literal ALLOW principal its
 * namespace and ServiceAccount; per ServiceAccount its name; per workload its pod labels, owner and
 * a few flags. Findings are built only at audit_run.
 *
 * Ownership: the policy and every file name given are borrowed and must outlive the audit; every
 * other string is copied. */
#ifndef POSTURE_AUDIT_H
#define POSTURE_AUDIT_H

#include "engine.h"
#include "nsmode.h"

/* Where an object was read. */
struct audit_where {
	const char *file;        /* borrowed; must outlive the audit */
	uint32_t seq;            /* documents read before it, across inputs: input order */
	uint32_t doc;            /* document index in its file */
	int64_t item;            /* List item index, else -1 */
	uint32_t line;           /* the document's line */
	uint32_t selector_line;  /* an AuthorizationPolicy: the line of spec.selector (0: unknown) */
};

/* A namespace as check resolved it once the input ended. */
struct audit_ns {
	struct nsmode mode;      /* from its Namespace object, else --namespace-mode, else default */
	bool skip;               /* exempt, the webhook's own, or labelled posture.dev/ignore=true */
};

/* The kinds the findings need (audit_notice.missing). */
#define AUDIT_SAW_NAMESPACE 1u
#define AUDIT_SAW_SERVICEACCOUNT 2u
#define AUDIT_SAW_AUTHZ 4u
#define AUDIT_SAW_PEERAUTHN 8u
#define AUDIT_SAW_WORKLOAD 16u

struct audit_finding {
	enum rule_id rule;
	enum outcome outcome;
	const struct exemption *exemption;   /* borrowed from the policy when OUT_EXEMPT */
	enum kind_id kind;                   /* what it is about: Namespace, AuthorizationPolicy, ... */
	const char *ns;                      /* the namespace (for a Namespace, its own name) */
	const char *name;
	struct nsmode mode;                  /* the namespace's enrolment */
	struct audit_where where;            /* where.file NULL: no location (a namespace known only
					      * from its objects or --namespace-mode) */
	uint32_t line;                       /* the line the finding points at */
	const char *path, *cause, *what, *fix;
	uint32_t order;                      /* the audit's: ties in the order they were found */
};

/* A finding not checked because the input lacks a kind it needs. */
struct audit_notice {
	enum rule_id rule;
	uint32_t missing;                    /* AUDIT_SAW_* bits */
	char text[200];                      /* "stale-principal not checked: no ServiceAccount ..." */
};

struct audit;

/* New, empty audit under pol (borrowed). NULL on OOM. */
struct audit *audit_new(const struct policy *pol);
void audit_free(struct audit *a);

/* Summarise a decoded object of a judged kind (s borrowed for the call). ns: its namespace (a
 * Namespace's own name); name: its name (or generateName). 0, or -1 on OOM. */
int audit_object(struct audit *a, const struct subject *s, const char *ns, const char *name,
		 const struct audit_where *w);
/* A ServiceAccount (core v1) read from the input. 0, or -1 on OOM. */
int audit_service_account(struct audit *a, const char *ns, const char *name);
/* The enrolment of a namespace (call for every namespace check knows, after the input). 0, or -1
 * on OOM. */
int audit_namespace(struct audit *a, const char *name, const struct audit_ns *facts);

/* Run the enabled audits. *findings (n_findings) in input order of what they are about, findings
 * without a location last by namespace; *notices (n_notices) in rule order. Both arrays and every
 * string in them are owned by the audit and live until audit_free. 0, or -1 on OOM. Call once. */
int audit_run(struct audit *a, const struct audit_finding **findings, size_t *n_findings,
	      const struct audit_notice **notices, size_t *n_notices);

#endif
