/* meta.c - the kinds posture judges, object metadata views, and subject_decode's dispatch. */
#include "view.h"

static const struct kind_info {
	enum kind_id id;
	const char *group;
	const char *alt_group;   /* an older group the same kind was served from, or NULL */
	const char *kind;
	const char *versions[4]; /* NULL-terminated; empty: any version */
} kinds[] = {
	{ K_POD, "", NULL, "Pod", { NULL } },
	{ K_DEPLOYMENT, "apps", "extensions", "Deployment", { NULL } },
	{ K_STATEFULSET, "apps", NULL, "StatefulSet", { NULL } },
	{ K_DAEMONSET, "apps", "extensions", "DaemonSet", { NULL } },
	{ K_REPLICASET, "apps", "extensions", "ReplicaSet", { NULL } },
	{ K_JOB, "batch", NULL, "Job", { NULL } },
	{ K_CRONJOB, "batch", NULL, "CronJob", { NULL } },
	{ K_REPLICATIONCONTROLLER, "", NULL, "ReplicationController", { NULL } },
	{ K_AUTHORIZATIONPOLICY, "security.istio.io", NULL, "AuthorizationPolicy", { "v1", "v1beta1", NULL } },
	{ K_PEERAUTHENTICATION, "security.istio.io", NULL, "PeerAuthentication", { "v1", "v1beta1", NULL } },
	{ K_DESTINATIONRULE, "networking.istio.io", NULL, "DestinationRule",
	  { "v1", "v1beta1", "v1alpha3", NULL } },
	{ K_NAMESPACE, "", NULL, "Namespace", { "v1", NULL } },
	{ K_SERVICE, "", NULL, "Service", { "v1", NULL } },
};

enum kind_id kind_lookup(struct sv group, struct sv version, struct sv kind)
{
	for (size_t i = 0; i < ARRAY_LEN(kinds); i++) {
		const struct kind_info *k = &kinds[i];
		if (!sv_eq(kind, k->kind))
			continue;
		if (!(group.n == strlen(k->group) && memcmp(group.p, k->group, group.n) == 0) &&
		    !(k->alt_group && sv_eq(group, k->alt_group)))
			continue;
		if (!k->versions[0])
			return k->id;
		for (size_t v = 0; k->versions[v]; v++)
			if (sv_eq(version, k->versions[v]))
				return k->id;
		return K_UNKNOWN;
	}
	return K_UNKNOWN;
}

enum kind_id kind_lookup_api_version(struct sv api_version, struct sv kind)
{
	const char *slash = api_version.n ? memchr(api_version.p, '/', api_version.n) : NULL;
	struct sv group = sv_make("", 0, 0), version = api_version;
	if (slash) {
		group = sv_make(api_version.p, (uint32_t)(slash - api_version.p), 0);
		version = sv_make(slash + 1, api_version.n - group.n - 1, 0);
	}
	return kind_lookup(group, version, kind);
}

const char *kind_name(enum kind_id k)
{
	for (size_t i = 0; i < ARRAY_LEN(kinds); i++)
		if (kinds[i].id == k)
			return kinds[i].kind;
	return "";
}

enum kind_id kind_by_name(const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(kinds); i++)
		if (strcmp(kinds[i].kind, name) == 0)
			return kinds[i].id;
	return K_UNKNOWN;
}

bool kv_get(const struct kvmap *m, const char *key, struct sv *out)
{
	const struct jnode *v = jn_get(m->obj, key);
	if (!v || v->type != JT_STRING) {
		*out = sv_null;
		return false;
	}
	*out = jn_sv(v);
	return true;
}

/* A string field: absent or null is sv_null; another type is an error. */
static int get_str(const struct jnode *obj, const char *key, struct sv *out, const char *path,
		   char *err, size_t errlen)
{
	const struct jnode *v = jn_get(obj, key);
	*out = sv_null;
	if (!v || v->type == JT_NULL)
		return 0;
	if (v->type != JT_STRING) {
		fmt_buf(err, errlen, "%s.%s: expected string, got %s", path, key, jn_type_name(v));
		return -1;
	}
	*out = jn_sv(v);
	return 0;
}

static int decode_map(struct kvmap *out, const struct jnode *meta, const char *key,
		      const char *path, char *err, size_t errlen)
{
	const struct jnode *m = jn_get(meta, key);
	out->obj = NULL;
	out->line = 0;
	if (!m || m->type == JT_NULL)
		return 0;
	if (m->type != JT_OBJECT) {
		fmt_buf(err, errlen, "%s.%s: expected object, got %s", path, key, jn_type_name(m));
		return -1;
	}
	for (JN_EACH_MEMBER(m, k)) {
		const struct jnode *v = k + 1;
		if (v->type != JT_STRING) {
			char name[80];
			sv_to_buf(jn_sv(k), name, sizeof name);
			fmt_buf(err, errlen, "%s.%s[\"%s\"]: expected string, got %s", path, key, name,
				jn_type_name(v));
			return -1;
		}
	}
	out->obj = m;
	out->line = m->line;
	return 0;
}

static int decode_owner(struct owner_ref *out, const struct jnode *meta, const char *path,
			char *err, size_t errlen)
{
	const struct jnode *refs = jn_get(meta, "ownerReferences");
	memset(out, 0, sizeof *out);
	out->api_version = out->kind = out->name = sv_null;
	if (!refs || refs->type == JT_NULL)
		return 0;
	if (refs->type != JT_ARRAY) {
		fmt_buf(err, errlen, "%s.ownerReferences: expected array, got %s", path,
			jn_type_name(refs));
		return -1;
	}
	uint32_t i = 0;
	for (JN_EACH(refs, r)) {
		char p[96];
		fmt_buf(p, sizeof p, "%s.ownerReferences[%u]", path, i);
		if (r->type != JT_OBJECT) {
			fmt_buf(err, errlen, "%s: expected object, got %s", p, jn_type_name(r));
			return -1;
		}
		const struct jnode *ctl = jn_get(r, "controller");
		if (ctl && ctl->type != JT_TRUE && ctl->type != JT_FALSE && ctl->type != JT_NULL) {
			fmt_buf(err, errlen, "%s.controller: expected boolean, got %s", p,
				jn_type_name(ctl));
			return -1;
		}
		struct owner_ref o;
		if (get_str(r, "apiVersion", &o.api_version, p, err, errlen) < 0 ||
		    get_str(r, "kind", &o.kind, p, err, errlen) < 0 ||
		    get_str(r, "name", &o.name, p, err, errlen) < 0)
			return -1;
		if (ctl && ctl->type == JT_TRUE && !out->present) {
			*out = o;
			out->present = true;
		}
		i++;
	}
	return 0;
}

int meta_decode(struct meta_view *out, const struct jnode *meta, const char *path, char *err,
		size_t errlen)
{
	memset(out, 0, sizeof *out);
	out->path = path;
	out->name = out->generate_name = out->namespace = sv_null;
	out->controller.api_version = out->controller.kind = out->controller.name = sv_null;
	if (!meta || meta->type == JT_NULL)
		return 0;
	if (meta->type != JT_OBJECT) {
		fmt_buf(err, errlen, "%s: expected object, got %s", path, jn_type_name(meta));
		return -1;
	}
	out->line = meta->line;
	out->live = jn_get(meta, "uid") || jn_get(meta, "resourceVersion") ||
		    jn_get(meta, "creationTimestamp");
	if (get_str(meta, "name", &out->name, path, err, errlen) < 0 ||
	    get_str(meta, "generateName", &out->generate_name, path, err, errlen) < 0 ||
	    get_str(meta, "namespace", &out->namespace, path, err, errlen) < 0 ||
	    decode_map(&out->labels, meta, "labels", path, err, errlen) < 0 ||
	    decode_map(&out->annotations, meta, "annotations", path, err, errlen) < 0 ||
	    decode_owner(&out->controller, meta, path, err, errlen) < 0)
		return -1;
	return 0;
}

int subject_decode(struct subject *out, enum kind_id k, const struct jnode *obj,
		   struct arena *arena, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	out->kind = k;
	if (!obj || obj->type != JT_OBJECT) {
		fmt_buf(err, errlen, "expected object, got %s", jn_type_name(obj));
		return -1;
	}
	if (meta_decode(&out->meta, jn_get(obj, "metadata"), "metadata", err, errlen) < 0)
		return -1;
	if (kind_is_workload(k))
		return workload_decode(&out->u.wl, k, obj, arena, err, errlen);
	switch (k) {
	case K_AUTHORIZATIONPOLICY: return authz_decode(&out->u.ap, obj, arena, err, errlen);
	case K_PEERAUTHENTICATION: return peerauth_decode(&out->u.pa, obj, arena, err, errlen);
	case K_DESTINATIONRULE: return destrule_decode(&out->u.dr, obj, arena, err, errlen);
	case K_SERVICE: return service_decode(&out->u.svc, obj, err, errlen);
	case K_NAMESPACE: return 0;   /* its rules read the metadata only */
	default: break;
	}
	fmt_buf(err, errlen, "kind not judged");
	return -1;
}
