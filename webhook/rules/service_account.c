/* service_account.c - default-service-account: a workload must run as its own ServiceAccount, or
 * the mesh cannot tell it apart from every other workload of its namespace. */
#include "rules.h"

static void check(const struct rule_ctx *ctx, struct violations *out)
{
	const struct podspec_view *spec = &ctx->subject->u.wl.spec;
	char path[VIOL_PATH_MAX], fix[VIOL_FIX_MAX];
	fmt_buf(fix, sizeof fix, "create a ServiceAccount for this workload and set %s.serviceAccountName "
		"to it (\"default\" is one mesh identity for every workload without one)", spec->path);

	/* serviceAccountName wins; the deprecated serviceAccount is read only when it is empty */
	struct sv sa = spec->service_account_name;
	const char *field = "serviceAccountName";
	if (!sv_set(sa) && sv_set(spec->service_account)) {
		sa = spec->service_account;
		field = "serviceAccount";
	}
	if (sv_set(sa) && !sv_eq(sa, "default"))
		return;
	fmt_buf(path, sizeof path, "%s.%s", spec->path, field);
	if (sv_set(sa))
		violation_add(out, path, sa.line, "default-sa", fix,
			      "runs as the namespace's \"default\" service account (%s: default)", field);
	else
		violation_add(out, path, spec->line, "default-sa", fix,
			      "runs as the namespace's \"default\" service account (no serviceAccountName)");
}

const struct rule_def rule_default_service_account = {
	.id = RULE_DEFAULT_SERVICE_ACCOUNT,
	.name = "default-service-account",
	.summary = "pods and pod templates must name a ServiceAccount other than \"default\"",
	.kinds = KINDS_WORKLOAD,
	.workload_scoped = true,
	.default_action = ACTION_DENY,
	.check = check,
};
