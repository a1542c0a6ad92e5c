/* mesh_injection.c - mesh-injection: a workload must be in the mesh, captured by ambient or
 * injected with a sidecar, with Istio's own precedence (SEMANTICS.md, "mesh-injection"). */
#include "rules.h"

#define KEY_INJECT "sidecar.istio.io/inject"
#define KEY_REV "istio.io/rev"
#define KEY_DATAPLANE "istio.io/dataplane-mode"
#define KEY_STATUS "sidecar.istio.io/status"
#define KEY_BYPASS "ambient.istio.io/bypass-inbound-capture"
#define KEY_INTERCEPT "sidecar.istio.io/interceptionMode"
#define KEY_INBOUND "traffic.sidecar.istio.io/includeInboundPorts"
#define PROXY "istio-proxy"

enum inject_key { KEY_UNSET, KEY_TRUE, KEY_FALSE };

struct mesh_state {
	const struct rule_ctx *ctx;
	const struct workload_view *wl;
	const struct meta_view *meta;
	struct violations *out;
	bool explained;   /* a specific violation already says why the workload is outside */
};

static void label_path(char *buf, size_t size, const struct meta_view *m, const char *map,
		       const char *key)
{
	fmt_buf(buf, size, "%s.%s[\"%s\"]", m->path, map, key);
}

/* A user's value for a one-line message: control bytes (an annotation may hold a newline, which
 * would forge a line of the denial or break a warning) become '?'. */
static void show_value(struct sv v, char *buf, size_t size)
{
	sv_to_buf(v, buf, size);
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

/* The injection key: label sidecar.istio.io/inject, else the annotation (label wins). Only
 * "true" and "false" are honoured (Istio 1.27+); any other non-empty value is a violation. */
static enum inject_key read_inject_key(struct mesh_state *st, bool *from_label, char *path,
				       size_t path_size)
{
	struct sv v;
	const char *map = "labels";
	*from_label = true;
	if (!kv_get(&st->meta->labels, KEY_INJECT, &v)) {
		map = "annotations";
		*from_label = false;
		if (!kv_get(&st->meta->annotations, KEY_INJECT, &v))
			return KEY_UNSET;
	}
	label_path(path, path_size, st->meta, map, KEY_INJECT);
	if (sv_eq(v, "true"))
		return KEY_TRUE;
	if (sv_eq(v, "false"))
		return KEY_FALSE;
	if (v.n == 0)
		return KEY_UNSET;
	char val[48];
	show_value(v, val, sizeof val);
	violation_add(st->out, path, v.line, "inject-invalid-value",
		      "use \"true\" or \"false\": Istio 1.27+ ignores any other value",
		      "%s is \"%s\", not \"true\" or \"false\"", KEY_INJECT, val);
	return KEY_UNSET;
}

/* index of the istio-proxy container (containers, or a native-sidecar init container) or -1 */
static int find_proxy(const struct podspec_view *spec, bool *in_init)
{
	for (uint32_t i = 0; i < spec->n_containers; i++)
		if (sv_eq(spec->containers[i].name, PROXY)) {
			*in_init = false;
			return (int)i;
		}
	for (uint32_t i = 0; i < spec->n_init_containers; i++)
		if (sv_eq(spec->init_containers[i].name, PROXY) &&
		    sv_eq(spec->init_containers[i].restart_policy, "Always")) {
			*in_init = true;
			return (int)i;
		}
	return -1;
}

/* Ambient capture is switched off by these; each is a violation in an ambient workload. */
static bool ambient_bypassed(struct mesh_state *st)
{
	const struct kvmap *ann = &st->meta->annotations;
	char path[VIOL_PATH_MAX];
	struct sv v;
	bool bypass = false;
	if (kv_get(ann, KEY_BYPASS, &v) && sv_eq(v, "true")) {
		label_path(path, sizeof path, st->meta, "annotations", KEY_BYPASS);
		violation_add(st->out, path, v.line, "ambient-bypass-inbound",
			      "remove the annotation: it turns off ambient capture of inbound traffic",
			      "ambient inbound capture bypassed (%s: \"true\")", KEY_BYPASS);
		bypass = true;
	}
	if (kv_get(ann, KEY_INTERCEPT, &v) && sv_eq(v, "NONE")) {
		label_path(path, sizeof path, st->meta, "annotations", KEY_INTERCEPT);
		violation_add(st->out, path, v.line, "ambient-interception-none",
			      "remove the annotation: with no traffic capture ambient does not capture the pod",
			      "traffic capture off (%s: NONE)", KEY_INTERCEPT);
		bypass = true;
	}
	if (kv_get(ann, KEY_INBOUND, &v) && v.n == 0) {
		label_path(path, sizeof path, st->meta, "annotations", KEY_INBOUND);
		violation_add(st->out, path, v.line, "ambient-no-inbound-ports",
			      "remove the annotation or list the ports to capture",
			      "no inbound port captured (%s is empty)", KEY_INBOUND);
		bypass = true;
	}
	return bypass;
}

static void check(const struct rule_ctx *ctx, struct violations *out)
{
	const struct workload_view *wl = &ctx->subject->u.wl;
	const struct meta_view *meta = &wl->pod_meta;
	const struct podspec_view *spec = &wl->spec;
	const struct policy *pol = ctx->policy;
	struct nsmode mode = ctx->mode;
	struct mesh_state st = { ctx, wl, meta, out, false };
	char path[VIOL_PATH_MAX], key_path[VIOL_PATH_MAX] = "";
	struct sv v;

	bool key_from_label;
	enum inject_key key = read_inject_key(&st, &key_from_label, key_path, sizeof key_path);

	if (spec->host_network) {
		fmt_buf(path, sizeof path, "%s.hostNetwork", spec->path);
		violation_add(out, path, spec->host_network_line, "host-network",
			      "remove hostNetwork: true (no sidecar is injected into host-network pods and "
			      "ambient does not capture them), or exempt the workload in the policy",
			      "hostNetwork: true, so never in the mesh");
		st.explained = true;
	}

	/* the injector's decision (Istio's precedence) */
	struct sv label_inject, rev;
	bool label_true = kv_get(&meta->labels, KEY_INJECT, &label_inject) && sv_eq(label_inject, "true");
	bool has_rev = kv_get(&meta->labels, KEY_REV, &rev) && rev.n > 0;
	bool rev_known = has_rev && policy_revision_known(pol, rev);
	bool decision = key != KEY_FALSE &&
			(mode.injection == INJ_SIDECAR ||
			 (mode.injection == INJ_NONE && (label_true || rev_known)));

	bool in_init = false;
	int proxy = find_proxy(spec, &in_init);
	bool has_status = kv_get(&meta->annotations, KEY_STATUS, &v);
	bool sidecar = false;
	bool want_proxy = false;   /* a Pod the injector should have injected */
	const char *list = in_init ? "initContainers" : "containers";

	/* a Pod is judged after the injector ran; a template, or a Pod manifest in posture check
	 * that never reached a cluster, by the injector's decision */
	bool as_template = wl->is_template || ctx->pre_admission;
	if (!as_template && proxy >= 0 && has_status) {
		/* an injected pod: the injector's decision, or manual kube-inject */
		sidecar = decision || pol->allow_manual_injection;
		if (!sidecar) {
			fmt_buf(path, sizeof path, "%s.%s[%d]", spec->path, list, proxy);
			violation_add(out, path, 0, "manual-injection",
				      "enable injection for the namespace (istio-injection=enabled) instead of "
				      "istioctl kube-inject, or set allowManualInjection in the policy",
				      "manually injected sidecar (the injector did not add it)");
			st.explained = true;
		}
	} else if (proxy >= 0 || has_status) {
		/* a template (or a half-made pod) that imitates an injected pod. allowManualInjection
		 * lets a proxy count; the status annotation alone never does (and ambient skips it) */
		sidecar = (as_template && decision) || (pol->allow_manual_injection && proxy >= 0);
		if (!pol->allow_manual_injection || !sidecar) {
			if (proxy >= 0)
				fmt_buf(path, sizeof path, "%s.%s[%d]", spec->path, list, proxy);
			else
				label_path(path, sizeof path, meta, "annotations", KEY_STATUS);
			violation_add(out, path, 0, "imitated-injection",
				      "remove it and let the sidecar injector add the proxy (a look-alike "
				      "also makes ambient skip the pod)",
				      "%s imitates an injected pod (%s)",
				      wl->is_template ? "template" : "pod",
				      proxy >= 0 ? "istio-proxy container" : "sidecar.istio.io/status");
			st.explained = true;
		}
	} else if (as_template) {
		sidecar = decision;
	} else {
		want_proxy = decision && !spec->host_network;
	}

	/* ambient */
	struct sv dm;
	bool has_dm = kv_get(&meta->labels, KEY_DATAPLANE, &dm);
	bool ambient_candidate = (mode.ambient && !(has_dm && sv_eq(dm, "none"))) ||
				 (!mode.ambient && has_dm && sv_eq(dm, "ambient") &&
				  pol->allow_pod_ambient);
	bool ambient = false;
	if (ambient_candidate && !sidecar) {
		bool bypass = ambient_bypassed(&st);
		if (bypass)
			st.explained = true;
		ambient = !bypass && !spec->host_network && !has_status;
	}

	if (sidecar || ambient || st.explained)
		return;

	if (want_proxy) {
		/* a Pod the injector should have injected, yet it arrives without a proxy (and ambient
		 * does not capture it either) */
		fmt_buf(path, sizeof path, "%s.containers", spec->path);
		violation_add(out, path, spec->line, "not-injected",
			      "the injector should have added istio-proxy: check that istiod's injection "
			      "webhook runs and selects this namespace, then recreate the pod",
			      "not injected: no istio-proxy container or sidecar.istio.io/status");
		return;
	}

	/* outside the mesh: say why, most specific cause first */
	const char *fix_ns = "label the namespace istio-injection=enabled (or istio.io/dataplane-mode=ambient)";
	if (key == KEY_FALSE && (mode.injection == INJ_SIDECAR ||
				 (mode.injection == INJ_NONE && (label_true || rev_known)))) {
		violation_add(out, key_path, 0, "inject-false",
			      "remove it (or set it to \"true\"): without a sidecar there is no mTLS and no identity",
			      "sidecar injection turned off (%s %s: \"false\")",
			      key_from_label ? "label" : "annotation", KEY_INJECT);
		return;
	}
	if (mode.ambient && has_dm && sv_eq(dm, "none")) {
		label_path(path, sizeof path, meta, "labels", KEY_DATAPLANE);
		violation_add(out, path, dm.line, "ambient-opt-out",
			      "remove the label: it takes the pods out of the namespace's ambient mesh",
			      "opted out of ambient (%s: none)", KEY_DATAPLANE);
		return;
	}
	const char *pod_ambient_note = "";
	if (!mode.ambient && has_dm && sv_eq(dm, "ambient"))
		pod_ambient_note = " (its own ambient label counts only with allowPodAmbient)";
	if (mode.injection == INJ_DISABLED) {
		violation_add(out, "metadata.namespace", 0, "namespace-injection-disabled", fix_ns,
			      "not in the mesh: the namespace disables injection (istio-injection not "
			      "\"enabled\", or an istio.io/rev no injector serves)%s", pod_ambient_note);
		return;
	}
	if (mode.injection == INJ_NONE && has_rev && !rev_known) {
		char r[64];
		show_value(rev, r, sizeof r);
		label_path(path, sizeof path, meta, "labels", KEY_REV);
		violation_add(out, path, rev.line, "unknown-revision",
			      "use a revision listed in the policy (no injector serves this one), or "
			      "label the namespace",
			      "not in the mesh: istio.io/rev \"%s\" is not a known revision%s", r,
			      pod_ambient_note);
		return;
	}
	/* INJ_NONE, or ambient-only with nothing else */
	char fix[VIOL_FIX_MAX];
	fmt_buf(fix, sizeof fix, "%s, or add the label %s: \"true\" to %s.labels", fix_ns, KEY_INJECT,
		meta->path);
	struct sv ann_inject;
	bool ann_true = !key_from_label && key == KEY_TRUE &&
			kv_get(&meta->annotations, KEY_INJECT, &ann_inject);
	violation_add(out, "metadata.namespace", 0, "namespace-not-enrolled", fix,
		      "not in the mesh: the namespace has no istio-injection, istio.io/rev or ambient "
		      "label%s%s",
		      ann_true ? " (the inject annotation selects no injector; the label does)" : "",
		      pod_ambient_note);
}

const struct rule_def rule_mesh_injection = {
	.id = RULE_MESH_INJECTION,
	.name = "mesh-injection",
	.summary = "workloads must be in the mesh: sidecar-injected or captured by ambient",
	.kinds = KINDS_WORKLOAD,
	.workload_scoped = true,
	.default_action = ACTION_DENY,
	.check = check,
};
