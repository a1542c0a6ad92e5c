/* mesh_objects.c - decode a PeerAuthentication, a DestinationRule and a Service into their views. */
#include "view.h"

/* Longest field path in a message; the shapes are fixed, so paths stay short. */
#define MO_PATH_MAX 160
/* Longest map key shown in a path (a portLevelMtls key is a port number). */
#define MO_KEY_MAX 24

struct mo_dec {
	struct arena *arena;
	char *err;
	size_t errlen;
};

static int mo_type_err(struct mo_dec *d, const char *path, const char *want, const struct jnode *n)
{
	fmt_buf(d->err, d->errlen, "%s: expected %s, got %s", path, want, jn_type_name(n));
	return -1;
}

static int mo_oom(struct mo_dec *d, const char *path)
{
	fmt_buf(d->err, d->errlen, "%s: out of memory", path);
	return -1;
}

/* An optional object: 1 usable, 0 absent or null, -1 another type (err set). */
static int mo_object(struct mo_dec *d, const struct jnode *n, const char *path)
{
	if (!n || n->type == JT_NULL)
		return 0;
	if (n->type != JT_OBJECT)
		return mo_type_err(d, path, "object", n);
	return 1;
}

/* Same for arrays. */
static int mo_array(struct mo_dec *d, const struct jnode *n, const char *path)
{
	if (!n || n->type == JT_NULL)
		return 0;
	if (n->type != JT_ARRAY)
		return mo_type_err(d, path, "array", n);
	return 1;
}

/* An optional string: sv_null when absent or null. */
static int mo_string(struct mo_dec *d, const struct jnode *n, const char *path, struct sv *out)
{
	*out = sv_null;
	if (!n || n->type == JT_NULL)
		return 0;
	if (n->type != JT_STRING)
		return mo_type_err(d, path, "string", n);
	*out = sv_make(n->s, n->len, n->line);
	return 0;
}

/* A port number: an integer 0..65535 written without sign, fraction or exponent. 1 set, 0 absent
 * or null, -1 another type or value. */
static int mo_port(struct mo_dec *d, const struct jnode *n, const char *path, uint32_t *out)
{
	if (!n || n->type == JT_NULL)
		return 0;
	if (n->type != JT_NUMBER)
		return mo_type_err(d, path, "number", n);
	uint32_t v = 0;
	bool ok = n->len > 0 && n->len <= 5;
	for (uint32_t i = 0; ok && i < n->len; i++) {
		ok = n->s[i] >= '0' && n->s[i] <= '9';
		if (ok)
			v = v * 10 + (uint32_t)(n->s[i] - '0');
	}
	if (!ok || v > 65535) {
		fmt_buf(d->err, d->errlen, "%s: expected a port number (0-65535), got %.*s", path,
			(int)(n->len > 20 ? 20 : n->len), n->s);
		return -1;
	}
	*out = v;
	return 1;
}

/* A map key inside a path: .8080 when it is a plain port number, else ["key"] with quotes and
 * control bytes shown as '?', so the path stays one line that check.c's path reader parses. */
static void mo_key_part(struct sv key, char *buf, size_t size)
{
	bool digits = key.n > 0 && key.n <= 5;
	for (uint32_t i = 0; digits && i < key.n; i++)
		digits = key.p[i] >= '0' && key.p[i] <= '9';
	char k[MO_KEY_MAX];
	sv_to_buf(key, k, sizeof k);
	for (char *p = k; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
			*p = '?';
	if (digits)
		fmt_buf(buf, size, ".%s", k);
	else
		fmt_buf(buf, size, "[\"%s\"]", k);
}

/* selector.matchLabels: an object of strings. */
static int mo_selector(struct mo_dec *d, const struct jnode *sel, const char *path, bool *has,
		       struct kvmap *labels)
{
	char p[MO_PATH_MAX];
	int t = mo_object(d, sel, path);
	if (t <= 0)
		return t;
	fmt_buf(p, sizeof p, "%s.matchLabels", path);
	const struct jnode *ml = jn_get(sel, "matchLabels");
	t = mo_object(d, ml, p);
	if (t <= 0)
		return t;
	for (JN_EACH_MEMBER(ml, k)) {
		if (k[1].type != JT_STRING) {
			char key[64], kp[MO_PATH_MAX];
			sv_to_buf(jn_sv(k), key, sizeof key);
			fmt_buf(kp, sizeof kp, "%s[\"%s\"]", p, key);
			return mo_type_err(d, kp, "string", k + 1);
		}
	}
	*has = true;
	labels->obj = ml;
	labels->line = ml->line;
	return 0;
}

/* ---- PeerAuthentication ---- */

/* spec.portLevelMtls: a map from port to {mode}. */
static int pa_ports(struct mo_dec *d, const struct jnode *map, struct peerauth_view *out)
{
	int t = mo_object(d, map, "spec.portLevelMtls");
	if (t <= 0 || map->len == 0)
		return t;
	out->ports = arena_calloc(d->arena, map->len, sizeof(*out->ports));
	if (!out->ports)
		return mo_oom(d, "spec.portLevelMtls");
	uint32_t i = 0;
	for (JN_EACH_MEMBER(map, k)) {
		char key[MO_KEY_MAX + 8], p[MO_PATH_MAX], mp[MO_PATH_MAX];
		const struct jnode *v = k + 1;
		mo_key_part(jn_sv(k), key, sizeof key);
		fmt_buf(p, sizeof p, "spec.portLevelMtls%s", key);
		struct pa_port_mtls *pm = &out->ports[i];
		pm->port = jn_sv(k);
		pm->mode = sv_null;
		pm->line = v->line ? v->line : k->line;
		t = mo_object(d, v, p);
		if (t < 0)
			return -1;
		fmt_buf(mp, sizeof mp, "%s.mode", p);
		if (t > 0 && mo_string(d, jn_get(v, "mode"), mp, &pm->mode) < 0)
			return -1;
		i++;
	}
	out->n_ports = i;
	return 0;
}

/* Fill out from obj, the whole PeerAuthentication (borrowed; out points into it and into arena).
 * Reads spec.mtls.mode, spec.portLevelMtls.<port>.mode and spec.selector.matchLabels. Wrong types
 * are errors naming the path ("spec.mtls.mode: expected string, got number"); null counts as
 * absent. Returns 0, or -1 with err set. */
int peerauth_decode(struct peerauth_view *out, const struct jnode *obj, struct arena *arena,
		    char *err, size_t errlen)
{
	struct mo_dec d = { arena, err, errlen };
	memset(out, 0, sizeof(*out));
	out->mtls_mode = sv_null;
	if (!obj || obj->type != JT_OBJECT) {
		fmt_buf(err, errlen, "expected object, got %s", jn_type_name(obj));
		return -1;
	}
	const struct jnode *spec = jn_get(obj, "spec");
	int t = mo_object(&d, spec, "spec");
	if (t <= 0)
		return t;
	out->spec_line = spec->line;
	const struct jnode *mtls = jn_get(spec, "mtls");
	t = mo_object(&d, mtls, "spec.mtls");
	if (t < 0)
		return -1;
	if (t > 0) {
		out->has_mtls = true;
		out->mtls_line = mtls->line;
		if (mo_string(&d, jn_get(mtls, "mode"), "spec.mtls.mode", &out->mtls_mode) < 0)
			return -1;
	}
	if (mo_selector(&d, jn_get(spec, "selector"), "spec.selector", &out->has_selector,
			&out->match_labels) < 0)
		return -1;
	return pa_ports(&d, jn_get(spec, "portLevelMtls"), out);
}

/* ---- DestinationRule ---- */

/* A TrafficPolicy at path: tls.mode and portLevelSettings[i].{port.number, tls.mode}. */
static int dr_traffic_policy(struct mo_dec *d, const struct jnode *tp, const char *path,
			     struct dr_traffic_policy *out)
{
	char p[MO_PATH_MAX];
	memset(out, 0, sizeof(*out));
	out->tls_mode = sv_null;
	int t = mo_object(d, tp, path);
	if (t <= 0)
		return t;
	out->present = true;
	out->line = tp->line;
	const struct jnode *tls = jn_get(tp, "tls");
	fmt_buf(p, sizeof p, "%s.tls", path);
	t = mo_object(d, tls, p);
	if (t < 0)
		return -1;
	fmt_buf(p, sizeof p, "%s.tls.mode", path);
	if (t > 0 && mo_string(d, jn_get(tls, "mode"), p, &out->tls_mode) < 0)
		return -1;

	const struct jnode *pls = jn_get(tp, "portLevelSettings");
	fmt_buf(p, sizeof p, "%s.portLevelSettings", path);
	t = mo_array(d, pls, p);
	if (t <= 0 || pls->len == 0)
		return t;
	out->ports = arena_calloc(d->arena, pls->len, sizeof(*out->ports));
	if (!out->ports)
		return mo_oom(d, p);
	uint32_t i = 0;
	for (JN_EACH(pls, el)) {
		char ep[MO_PATH_MAX], fp[MO_PATH_MAX];
		struct dr_port_tls *pt = &out->ports[i];
		pt->tls_mode = sv_null;
		pt->line = el->line;
		fmt_buf(ep, sizeof ep, "%s.portLevelSettings[%u]", path, i);
		if (el->type != JT_OBJECT)
			return mo_type_err(d, ep, "object", el);
		const struct jnode *port = jn_get(el, "port");
		fmt_buf(fp, sizeof fp, "%s.port", ep);
		t = mo_object(d, port, fp);
		if (t < 0)
			return -1;
		fmt_buf(fp, sizeof fp, "%s.port.number", ep);
		if (t > 0) {
			t = mo_port(d, jn_get(port, "number"), fp, &pt->port);
			if (t < 0)
				return -1;
			pt->has_port = t > 0;
		}
		const struct jnode *ptls = jn_get(el, "tls");
		fmt_buf(fp, sizeof fp, "%s.tls", ep);
		t = mo_object(d, ptls, fp);
		if (t < 0)
			return -1;
		fmt_buf(fp, sizeof fp, "%s.tls.mode", ep);
		if (t > 0 && mo_string(d, jn_get(ptls, "mode"), fp, &pt->tls_mode) < 0)
			return -1;
		i++;
	}
	out->n_ports = i;
	return 0;
}

static int dr_subsets(struct mo_dec *d, const struct jnode *arr, struct destrule_view *out)
{
	int t = mo_array(d, arr, "spec.subsets");
	if (t <= 0 || arr->len == 0)
		return t;
	out->subsets = arena_calloc(d->arena, arr->len, sizeof(*out->subsets));
	if (!out->subsets)
		return mo_oom(d, "spec.subsets");
	uint32_t j = 0;
	for (JN_EACH(arr, el)) {
		char p[MO_PATH_MAX], fp[MO_PATH_MAX];
		struct dr_subset *s = &out->subsets[j];
		fmt_buf(p, sizeof p, "spec.subsets[%u]", j);
		if (el->type != JT_OBJECT)
			return mo_type_err(d, p, "object", el);
		s->line = el->line;
		fmt_buf(fp, sizeof fp, "%s.name", p);
		if (mo_string(d, jn_get(el, "name"), fp, &s->name) < 0)
			return -1;
		fmt_buf(fp, sizeof fp, "%s.trafficPolicy", p);
		if (dr_traffic_policy(d, jn_get(el, "trafficPolicy"), fp, &s->tp) < 0)
			return -1;
		j++;
	}
	out->n_subsets = j;
	return 0;
}

/* Fill out from obj, the whole DestinationRule (borrowed; out points into it and into arena).
 * Reads spec.host, spec.trafficPolicy and spec.subsets[j].{name, trafficPolicy}; of a traffic
 * policy, tls.mode and portLevelSettings[i].{port.number, tls.mode}. Errors as peerauth_decode. */
int destrule_decode(struct destrule_view *out, const struct jnode *obj, struct arena *arena,
		    char *err, size_t errlen)
{
	struct mo_dec d = { arena, err, errlen };
	memset(out, 0, sizeof(*out));
	out->host = sv_null;
	out->tp.tls_mode = sv_null;
	if (!obj || obj->type != JT_OBJECT) {
		fmt_buf(err, errlen, "expected object, got %s", jn_type_name(obj));
		return -1;
	}
	const struct jnode *spec = jn_get(obj, "spec");
	int t = mo_object(&d, spec, "spec");
	if (t <= 0)
		return t;
	out->spec_line = spec->line;
	if (mo_string(&d, jn_get(spec, "host"), "spec.host", &out->host) < 0 ||
	    dr_traffic_policy(&d, jn_get(spec, "trafficPolicy"), "spec.trafficPolicy", &out->tp) < 0)
		return -1;
	return dr_subsets(&d, jn_get(spec, "subsets"), out);
}

/* ---- Service ---- */

/* Fill out from obj, the whole Service (borrowed). Reads spec.type. Errors as peerauth_decode. */
int service_decode(struct service_view *out, const struct jnode *obj, char *err, size_t errlen)
{
	struct mo_dec d = { NULL, err, errlen };
	memset(out, 0, sizeof(*out));
	out->type = sv_null;
	if (!obj || obj->type != JT_OBJECT) {
		fmt_buf(err, errlen, "expected object, got %s", jn_type_name(obj));
		return -1;
	}
	const struct jnode *spec = jn_get(obj, "spec");
	int t = mo_object(&d, spec, "spec");
	if (t <= 0)
		return t;
	if (mo_string(&d, jn_get(spec, "type"), "spec.type", &out->type) < 0)
		return -1;
	out->type_line = out->type.line ? out->type.line : spec->line;
	return 0;
}
