/* peer_authn_mtls.c - peer-authentication-mtls: a PeerAuthentication must not accept plaintext;
 * PERMISSIVE is a migration phase toward STRICT, DISABLE turns mTLS off. */
#include "rules.h"

/* Past this many port violations in one object the rest are counted in one last violation: a
 * hostile map of 100,000 ports must not cost 100,000 violations. */
#define PA_MAX_PORTS 64

#define FIX_PERMISSIVE                                                                       \
	"set spec.mtls.mode to STRICT once every client sends mTLS (PERMISSIVE is for migrating; " \
	"UNSET inherits)"
#define FIX_DISABLE "set spec.mtls.mode to STRICT (PERMISSIVE only while clients migrate to mTLS)"
#define FIX_PORT                                                                             \
	"set the port's mode to STRICT, or remove the entry so the port inherits spec.mtls"

/* A port key for a one-line message: control bytes and quotes become '?'. */
static void show_port(struct sv port, char *buf, size_t size)
{
	sv_to_buf(port, buf, size);
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
			*p = '?';
}

/* The path of portLevelMtls.<port>.mode, as mesh_objects.c names it in decode errors. */
static void port_path(const struct sv *port, char *buf, size_t size)
{
	static const struct jpath spec = { NULL, "spec", 0, NULL };
	struct jpath map = jpath_key(&spec, "portLevelMtls"), key = jpath_map_key(&map, port),
		     mode = jpath_key(&key, "mode");
	jpath_format(&mode, buf, size);
}

static void check(const struct rule_ctx *ctx, struct violations *out)
{
	const struct peerauth_view *pa = &ctx->subject->u.pa;
	struct sv mode = pa->mtls_mode;
	uint32_t line = mode.line ? mode.line : pa->mtls_line;
	if (sv_eq(mode, "PERMISSIVE"))
		violation_add(out, "spec.mtls.mode", line, "mtls-permissive", FIX_PERMISSIVE,
			      "mTLS PERMISSIVE accepts plaintext: a migration phase, move to STRICT");
	else if (sv_eq(mode, "DISABLE"))
		violation_add(out, "spec.mtls.mode", line, "mtls-disable", FIX_DISABLE,
			      "mTLS DISABLE: plaintext only, no peer identity; use STRICT");

	size_t shown = 0, more = 0;
	for (uint32_t i = 0; i < pa->n_ports; i++) {
		const struct pa_port_mtls *pm = &pa->ports[i];
		if (!sv_eq(pm->mode, "DISABLE"))
			continue;
		if (shown == PA_MAX_PORTS) {
			more++;
			continue;
		}
		char path[VIOL_PATH_MAX], port[24];
		port_path(&pm->port, path, sizeof path);
		show_port(pm->port, port, sizeof port);
		violation_add(out, path, pm->mode.line ? pm->mode.line : pm->line, "port-mtls-disable",
			      FIX_PORT, "mTLS DISABLE on port %s: plaintext, no peer identity", port);
		shown++;
	}
	if (more)
		violation_add(out, "spec.portLevelMtls", pa->spec_line, "too-many-ports", FIX_PORT,
			      "and %zu more ports with mTLS DISABLE", more);
}

const struct rule_def rule_peer_authn_mtls = {
	.id = RULE_PEER_AUTHN_MTLS,
	.name = "peer-authentication-mtls",
	.summary = "PeerAuthentications require mTLS: no PERMISSIVE or DISABLE mode, no port with DISABLE",
	.kinds = KIND_BIT(K_PEERAUTHENTICATION),
	.workload_scoped = false,
	.default_action = ACTION_WARN,
	.check = check,
};
