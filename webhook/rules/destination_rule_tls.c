/* destination_rule_tls.c - destination-rule-tls: a DestinationRule must not turn TLS off (mode
 * DISABLE) toward a host inside the mesh, where it replaces Istio's automatic mTLS by plaintext. */
#include "rules.h"

#include <strings.h>

/* Past this many violations in one object the rest are counted in one last violation. */
#define DR_MAX_VIOLATIONS 64
#define MESH_SUFFIX ".svc.cluster.local"

#define FIX_TLS "set tls.mode to ISTIO_MUTUAL, or remove tls so the mesh's automatic mTLS applies"

/* s ends with suffix, ASCII case-insensitively (host names are). */
static bool ends_with_ci(const char *s, size_t n, const char *suffix)
{
	size_t m = strlen(suffix);
	return n >= m && strncasecmp(s + n - m, suffix, m) == 0;
}

static size_t count_dots(const char *s, size_t n)
{
	size_t dots = 0;
	for (size_t i = 0; i < n; i++)
		dots += s[i] == '.';
	return dots;
}

/* Is host (spec.host) a service of the mesh? Short names (no dot: the rule's own namespace),
 * name.namespace, name.namespace.svc and *.svc.cluster.local are; so are the wildcards that
 * cover them ("*", "*.local", "*.cluster.local", "*.svc.cluster.local", "*.<ns>.svc.cluster.local",
 * "*.svc", "*.<ns>.svc"). Anything else (api.example.com, *.example.com, an IP address) is
 * external: not judged. A two-label host is taken as name.namespace, so an external one such as
 * httpbin.org is judged too (exempt its DestinationRule). */
static bool in_mesh_host(struct sv host)
{
	const char *p = host.p;
	size_t n = host.n;
	if (n > 0 && p[n - 1] == '.')
		n--;   /* an absolute name: the same host */
	if (n == 0 || memchr(p, ':', n) || memchr(p, '/', n))
		return false;   /* none, an IPv6 address or a CIDR */
	if (n == 1 && p[0] == '*')
		return true;    /* every host, the mesh's among them */
	if (n > 2 && p[0] == '*' && p[1] == '.') {
		const char *rest = p + 1;   /* ".local", ".cluster.local", ".prod.svc", ... */
		size_t rn = n - 1, ml = strlen(MESH_SUFFIX);
		/* a suffix of .svc.cluster.local covers every service of the mesh */
		if (rn <= ml && strncasecmp(&MESH_SUFFIX[ml - rn], rest, rn) == 0)
			return true;
		return ends_with_ci(rest, rn, MESH_SUFFIX) || ends_with_ci(rest, rn, ".svc");
	}
	if (memchr(p, '*', n))
		return false;   /* a wildcard elsewhere: not a host Istio accepts */
	size_t dots = count_dots(p, n);
	return dots <= 1 || (dots == 2 && ends_with_ci(p, n, ".svc")) || ends_with_ci(p, n, MESH_SUFFIX);
}

/* A user's value for a one-line message: control bytes and quotes become '?', cut with "...". */
static void show(struct sv v, char *buf, size_t size)
{
	sv_to_buf(v, buf, size);
	for (char *q = buf; *q; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f || *q == '"' || *q == '\\')
			*q = '?';
}

struct dr_state {
	struct violations *out;
	char host[48];
	size_t n, dropped;
};

static void add(struct dr_state *st, const char *path, uint32_t line, const char *where)
{
	if (st->n == DR_MAX_VIOLATIONS) {
		st->dropped++;
		return;
	}
	st->n++;
	violation_add(st->out, path, line, "tls-disable", FIX_TLS,
		      "TLS DISABLE toward in-mesh host \"%s\"%s: plaintext, no mTLS", st->host, where);
}

/* The violations of one traffic policy at path (spec.trafficPolicy or a subset's); subset is the
 * subset's name or NULL. */
static void traffic_policy(struct dr_state *st, const struct dr_traffic_policy *tp, const char *path,
			   const char *subset)
{
	char p[VIOL_PATH_MAX], where[96];
	if (!tp->present)
		return;
	if (subset)
		fmt_buf(where, sizeof where, " (subset %s)", subset);
	else
		where[0] = '\0';
	if (sv_eq(tp->tls_mode, "DISABLE")) {
		fmt_buf(p, sizeof p, "%s.tls.mode", path);
		add(st, p, tp->tls_mode.line ? tp->tls_mode.line : tp->line, where);
	}
	for (uint32_t i = 0; i < tp->n_ports; i++) {
		const struct dr_port_tls *pt = &tp->ports[i];
		if (!sv_eq(pt->tls_mode, "DISABLE"))
			continue;
		char w[128];
		if (pt->has_port)
			fmt_buf(w, sizeof w, " on port %u%s", pt->port, where);
		else
			fmt_buf(w, sizeof w, "%s", where);
		fmt_buf(p, sizeof p, "%s.portLevelSettings[%u].tls.mode", path, i);
		add(st, p, pt->tls_mode.line ? pt->tls_mode.line : pt->line, w);
	}
}

static void check(const struct rule_ctx *ctx, struct violations *out)
{
	const struct destrule_view *dr = &ctx->subject->u.dr;
	if (!in_mesh_host(dr->host))
		return;
	struct dr_state st = { .out = out };
	show(dr->host, st.host, sizeof st.host);
	traffic_policy(&st, &dr->tp, "spec.trafficPolicy", NULL);
	for (uint32_t j = 0; j < dr->n_subsets; j++) {
		const struct dr_subset *s = &dr->subsets[j];
		char path[VIOL_PATH_MAX], name[40];
		fmt_buf(path, sizeof path, "spec.subsets[%u].trafficPolicy", j);
		if (sv_set(s->name))
			show(s->name, name, sizeof name);
		else
			fmt_buf(name, sizeof name, "%u", j);
		traffic_policy(&st, &s->tp, path, name);
	}
	if (st.dropped)
		violation_add(out, "spec", dr->spec_line, "too-many-violations", FIX_TLS,
			      "and %zu more traffic policies with TLS DISABLE toward \"%s\"", st.dropped,
			      st.host);
}

const struct rule_def rule_destination_rule_tls = {
	.id = RULE_DESTINATION_RULE_TLS,
	.name = "destination-rule-tls",
	.summary = "DestinationRules do not turn TLS off (mode DISABLE) toward hosts in the mesh",
	.kinds = KIND_BIT(K_DESTINATIONRULE),
	.workload_scoped = false,
	.default_action = ACTION_WARN,
	.check = check,
};
