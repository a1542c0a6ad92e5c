/* namespace_enrolment.c - namespace-enrolment: a Namespace must be enrolled in the mesh (sidecar
 * injection or ambient, with Istio's injector precedence), and must not carry the break-glass
 * label that takes it out of every workload rule. */
#include "rules.h"

#define KEY_INJECTION "istio-injection"
#define KEY_REV "istio.io/rev"
#define KEY_DATAPLANE "istio.io/dataplane-mode"
#define KEY_IGNORE "posture.dev/ignore"

#define FIX_ENROL                                                                            \
	"label it istio-injection=enabled or istio.io/dataplane-mode=ambient (or istio.io/rev=<revision>); " \
	"a namespace meant to stay out belongs in exemptNamespaces"
#define FIX_BREAK_GLASS                                                                      \
	"remove the label once the emergency is over: while it is there no workload in the namespace is " \
	"judged"
#define FIX_BREAK_GLASS_VALUE                                                                \
	"remove the label: any value but \"true\" opts out of nothing, and \"true\" is for emergencies"

/* A label value for a one-line message: control bytes and quotes become '?'. */
static void show_value(struct sv v, char *buf, size_t size)
{
	sv_to_buf(v, buf, size);
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
			*p = '?';
}

static void break_glass(const struct meta_view *m, struct violations *out)
{
	struct sv v;
	if (!kv_get(&m->labels, KEY_IGNORE, &v))
		return;
	const char *path = "metadata.labels[\"" KEY_IGNORE "\"]";
	uint32_t line = v.line ? v.line : m->labels.line;
	if (sv_eq(v, "true")) {
		violation_add(out, path, line, "break-glass", FIX_BREAK_GLASS,
			      "break-glass %s=true: opts it out of every workload rule (emergencies only)",
			      KEY_IGNORE);
		return;
	}
	char val[40];
	show_value(v, val, sizeof val);
	violation_add(out, path, line, "break-glass-value", FIX_BREAK_GLASS_VALUE,
		      "break-glass label %s=\"%s\" (only \"true\" opts out of the workload rules)",
		      KEY_IGNORE, val);
}

static void check(const struct rule_ctx *ctx, struct violations *out)
{
	const struct meta_view *m = &ctx->subject->meta;
	const struct policy *pol = ctx->policy;
	break_glass(m, out);

	/* the mesh's root namespace holds the control plane (istiod, gateways injected by their own
	 * templates): it is not enrolled by a namespace label, by design */
	if (pol->root_namespace && sv_eq(ctx->namespace, pol->root_namespace))
		return;

	struct sv inj, rev, dm;
	bool has_inj = kv_get(&m->labels, KEY_INJECTION, &inj);
	bool has_rev = kv_get(&m->labels, KEY_REV, &rev);
	bool has_dm = kv_get(&m->labels, KEY_DATAPLANE, &dm);
	/* Istio's injector: istio-injection beats istio.io/rev; an empty istio.io/rev names no
	 * revision; ambient capture does not depend on either */
	bool sidecar = has_inj ? sv_eq(inj, "enabled")
			       : has_rev && rev.n > 0 && policy_revision_known(pol, rev);
	bool ambient = has_dm && sv_eq(dm, "ambient");
	if (sidecar || ambient)
		return;

	uint32_t line = m->labels.line ? m->labels.line : m->line;
	char v[48];
	if (has_inj) {
		show_value(inj, v, sizeof v);
		violation_add(out, "metadata.labels", line, "not-enrolled", FIX_ENROL,
			      "not in the mesh: istio-injection is \"%s\", not \"enabled\"%s", v,
			      has_rev ? " (it beats istio.io/rev)" : "");
	} else if (has_rev && rev.n == 0) {
		violation_add(out, "metadata.labels", line, "not-enrolled", FIX_ENROL,
			      "not in the mesh: istio.io/rev is empty (it names no revision)");
	} else if (has_rev) {
		show_value(rev, v, sizeof v);
		violation_add(out, "metadata.labels", line, "not-enrolled", FIX_ENROL,
			      "not in the mesh: istio.io/rev \"%s\" is not a known revision", v);
	} else if (has_dm) {
		show_value(dm, v, sizeof v);
		violation_add(out, "metadata.labels", line, "not-enrolled", FIX_ENROL,
			      "not in the mesh: no injection label, and istio.io/dataplane-mode is \"%s\"",
			      v);
	} else {
		violation_add(out, "metadata.labels", line, "not-enrolled", FIX_ENROL,
			      "not in the mesh: no istio-injection, istio.io/rev or ambient label");
	}
}

const struct rule_def rule_namespace_enrolment = {
	.id = RULE_NAMESPACE_ENROLMENT,
	.name = "namespace-enrolment",
	.summary = "Namespaces are enrolled in the mesh (sidecar injection or ambient) and carry no "
		   "break-glass label",
	.kinds = KIND_BIT(K_NAMESPACE),
	.workload_scoped = true,
	.default_action = ACTION_WARN,
	.check = check,
};
