/* mesh_objects.c - decode a PeerAuthentication, a DestinationRule and a Service into their views.
 * Field paths are jpaths, formatted only for an error (view.h's fdec helpers). */
#include "view.h"

static const struct jpath path_spec = { NULL, "spec", 0, NULL };

/* A port number: an integer 0..65535 written without sign, fraction or exponent. 1 set, 0 absent
 * or null, -1 another type or value. */
static int mo_port(struct fdec *d, const struct jnode *n, const struct jpath *path, uint32_t *out)
{
	if (!n || n->type == JT_NULL)
		return 0;
	if (n->type != JT_NUMBER)
		return fdec_type_err(d, path, "number", n);
	uint32_t v = 0;
	bool ok = n->len > 0 && n->len <= 5;
	for (uint32_t i = 0; ok && i < n->len; i++) {
		ok = n->s[i] >= '0' && n->s[i] <= '9';
		if (ok)
			v = v * 10 + (uint32_t)(n->s[i] - '0');
	}
	if (!ok || v > 65535) {
		char p[192];
		jpath_format(path, p, sizeof p);
		fmt_buf(d->err, d->errlen, "%s: expected a port number (0-65535), got %.*s", p,
			(int)(n->len > 20 ? 20 : n->len), n->s);
		return -1;
	}
	*out = v;
	return 1;
}

/* spec.selector.matchLabels: an object of strings. */
static int mo_selector(struct fdec *d, const struct jnode *sel, bool *has, struct kvmap *labels)
{
	struct jpath sp = jpath_key(&path_spec, "selector"), mp = jpath_key(&sp, "matchLabels");
	int t = fdec_object(d, sel, &sp);
	if (t <= 0)
		return t;
	const struct jnode *ml = jn_get(sel, "matchLabels");
	t = fdec_object(d, ml, &mp);
	if (t <= 0)
		return t;
	for (JN_EACH_MEMBER(ml, k)) {
		if (k[1].type != JT_STRING) {
			char key[64], p[192];
			sv_to_buf(jn_sv(k), key, sizeof key);
			jpath_format(&mp, p, sizeof p);
			fmt_buf(d->err, d->errlen, "%s[\"%s\"]: expected string, got %s", p, key,
				jn_type_name(k + 1));
			return -1;
		}
	}
	*has = true;
	labels->obj = ml;
	labels->line = ml->line;
	return 0;
}

/* ---- PeerAuthentication ---- */

/* spec.portLevelMtls: a map from port to {mode}. */
static int pa_ports(struct fdec *d, const struct jnode *map, struct peerauth_view *out)
{
	struct jpath path = jpath_key(&path_spec, "portLevelMtls");
	int t = fdec_object(d, map, &path);
	if (t <= 0 || map->len == 0)
		return t;
	out->ports = arena_calloc(d->arena, map->len, sizeof(*out->ports));
	if (!out->ports)
		return fdec_oom(d, &path);
	uint32_t i = 0;
	for (JN_EACH_MEMBER(map, k)) {
		const struct jnode *v = k + 1;
		struct pa_port_mtls *pm = &out->ports[i];
		pm->port = jn_sv(k);
		pm->mode = sv_null;
		pm->line = v->line ? v->line : k->line;
		struct jpath kp = jpath_map_key(&path, &pm->port), mp = jpath_key(&kp, "mode");
		t = fdec_object(d, v, &kp);
		if (t < 0)
			return -1;
		if (t > 0 && fdec_string(d, jn_get(v, "mode"), &mp, &pm->mode) < 0)
			return -1;
		i++;
	}
	out->n_ports = i;
	return 0;
}

/* The object at the root must be an object; its spec an optional object (1 usable, 0 not). */
static int mo_spec(struct fdec *d, const struct jnode *obj, const struct jnode **spec)
{
	if (!obj || obj->type != JT_OBJECT) {
		fmt_buf(d->err, d->errlen, "expected object, got %s", jn_type_name(obj));
		return -1;
	}
	*spec = jn_get(obj, "spec");
	return fdec_object(d, *spec, &path_spec);
}

/* Fill out from obj, the whole PeerAuthentication (borrowed; out points into it and into arena).
 * Reads spec.mtls.mode, spec.portLevelMtls.<port>.mode and spec.selector.matchLabels. Wrong types
 * are errors naming the path ("spec.mtls.mode: expected string, got number"); null counts as
 * absent. Returns 0, or -1 with err set. */
int peerauth_decode(struct peerauth_view *out, const struct jnode *obj, struct arena *arena,
		    char *err, size_t errlen)
{
	struct fdec d = { arena, err, errlen };
	memset(out, 0, sizeof(*out));
	out->mtls_mode = sv_null;
	const struct jnode *spec;
	int t = mo_spec(&d, obj, &spec);
	if (t <= 0)
		return t;
	out->spec_line = spec->line;
	struct jpath tp = jpath_key(&path_spec, "mtls"), mp = jpath_key(&tp, "mode");
	const struct jnode *mtls = jn_get(spec, "mtls");
	t = fdec_object(&d, mtls, &tp);
	if (t < 0)
		return -1;
	if (t > 0) {
		out->has_mtls = true;
		out->mtls_line = mtls->line;
		if (fdec_string(&d, jn_get(mtls, "mode"), &mp, &out->mtls_mode) < 0)
			return -1;
	}
	if (mo_selector(&d, jn_get(spec, "selector"), &out->has_selector, &out->match_labels) < 0)
		return -1;
	return pa_ports(&d, jn_get(spec, "portLevelMtls"), out);
}

/* ---- DestinationRule ---- */

/* obj.tls.mode into *mode, tls at path. */
static int dr_tls_mode(struct fdec *d, const struct jnode *obj, const struct jpath *path,
		       struct sv *mode)
{
	struct jpath tp = jpath_key(path, "tls"), mp = jpath_key(&tp, "mode");
	const struct jnode *tls = jn_get(obj, "tls");
	int t = fdec_object(d, tls, &tp);
	if (t < 0)
		return -1;
	return t > 0 ? fdec_string(d, jn_get(tls, "mode"), &mp, mode) : 0;
}

/* A TrafficPolicy at path: tls.mode and portLevelSettings[i].{port.number, tls.mode}. */
static int dr_traffic_policy(struct fdec *d, const struct jnode *tp, const struct jpath *path,
			     struct dr_traffic_policy *out)
{
	memset(out, 0, sizeof(*out));
	out->tls_mode = sv_null;
	int t = fdec_object(d, tp, path);
	if (t <= 0)
		return t;
	out->present = true;
	out->line = tp->line;
	if (dr_tls_mode(d, tp, path, &out->tls_mode) < 0)
		return -1;

	struct jpath pp = jpath_key(path, "portLevelSettings");
	const struct jnode *pls = jn_get(tp, "portLevelSettings");
	t = fdec_array(d, pls, &pp);
	if (t <= 0 || pls->len == 0)
		return t;
	out->ports = arena_calloc(d->arena, pls->len, sizeof(*out->ports));
	if (!out->ports)
		return fdec_oom(d, &pp);
	uint32_t i = 0;
	for (JN_EACH(pls, el)) {
		struct dr_port_tls *pt = &out->ports[i];
		pt->tls_mode = sv_null;
		pt->line = el->line;
		struct jpath ep = jpath_index(&pp, i), portp = jpath_key(&ep, "port"),
			     nump = jpath_key(&portp, "number");
		if (el->type != JT_OBJECT)
			return fdec_type_err(d, &ep, "object", el);
		const struct jnode *port = jn_get(el, "port");
		t = fdec_object(d, port, &portp);
		if (t < 0)
			return -1;
		if (t > 0) {
			t = mo_port(d, jn_get(port, "number"), &nump, &pt->port);
			if (t < 0)
				return -1;
			pt->has_port = t > 0;
		}
		if (dr_tls_mode(d, el, &ep, &pt->tls_mode) < 0)
			return -1;
		i++;
	}
	out->n_ports = i;
	return 0;
}

static int dr_subsets(struct fdec *d, const struct jnode *arr, struct destrule_view *out)
{
	struct jpath path = jpath_key(&path_spec, "subsets");
	int t = fdec_array(d, arr, &path);
	if (t <= 0 || arr->len == 0)
		return t;
	out->subsets = arena_calloc(d->arena, arr->len, sizeof(*out->subsets));
	if (!out->subsets)
		return fdec_oom(d, &path);
	uint32_t j = 0;
	for (JN_EACH(arr, el)) {
		struct dr_subset *s = &out->subsets[j];
		struct jpath ep = jpath_index(&path, j), np = jpath_key(&ep, "name"),
			     tp = jpath_key(&ep, "trafficPolicy");
		if (el->type != JT_OBJECT)
			return fdec_type_err(d, &ep, "object", el);
		s->line = el->line;
		if (fdec_string(d, jn_get(el, "name"), &np, &s->name) < 0)
			return -1;
		if (dr_traffic_policy(d, jn_get(el, "trafficPolicy"), &tp, &s->tp) < 0)
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
	struct fdec d = { arena, err, errlen };
	memset(out, 0, sizeof(*out));
	out->host = sv_null;
	out->tp.tls_mode = sv_null;
	const struct jnode *spec;
	int t = mo_spec(&d, obj, &spec);
	if (t <= 0)
		return t;
	out->spec_line = spec->line;
	struct jpath hp = jpath_key(&path_spec, "host"), tp = jpath_key(&path_spec, "trafficPolicy");
	if (fdec_string(&d, jn_get(spec, "host"), &hp, &out->host) < 0 ||
	    dr_traffic_policy(&d, jn_get(spec, "trafficPolicy"), &tp, &out->tp) < 0)
		return -1;
	return dr_subsets(&d, jn_get(spec, "subsets"), out);
}

/* ---- Service ---- */

/* Fill out from obj, the whole Service (borrowed). Reads spec.type. Errors as peerauth_decode. */
int service_decode(struct service_view *out, const struct jnode *obj, char *err, size_t errlen)
{
	struct fdec d = { NULL, err, errlen };
	memset(out, 0, sizeof(*out));
	out->type = sv_null;
	const struct jnode *spec;
	int t = mo_spec(&d, obj, &spec);
	if (t <= 0)
		return t;
	struct jpath tp = jpath_key(&path_spec, "type");
	if (fdec_string(&d, jn_get(spec, "type"), &tp, &out->type) < 0)
		return -1;
	out->type_line = out->type.line ? out->type.line : spec->line;
	return 0;
}
