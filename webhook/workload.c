/* workload.c - the pod inside any workload kind (a Pod, or the template of a controller) as a
 * typed view: the pod's metadata, service account fields, hostNetwork, container names. */
#include <stdio.h>

#include "view.h"

/* Where each kind keeps its pod, as JSON member names from the object's root. */
struct pod_location {
	const char *const *keys;   /* NULL-terminated path to the pod template object (Pod: none) */
	const char *meta_path, *spec_path;
};

static const char *const template_keys[] = { "spec", "template", NULL };
static const char *const cron_keys[] = { "spec", "jobTemplate", "spec", "template", NULL };

static const struct pod_location pod_location_pod = { NULL, "metadata", "spec" };
static const struct pod_location pod_location_template = { template_keys, "spec.template.metadata",
							   "spec.template.spec" };
static const struct pod_location pod_location_cron = { cron_keys,
						       "spec.jobTemplate.spec.template.metadata",
						       "spec.jobTemplate.spec.template.spec" };

static const struct pod_location *location_of(enum kind_id k)
{
	switch (k) {
	case K_POD: return &pod_location_pod;
	case K_CRONJOB: return &pod_location_cron;
	default: return &pod_location_template;
	}
}

static int type_error(char *err, size_t errlen, const char *path, const char *expected,
		      const struct jnode *got)
{
	fmt_buf(err, errlen, "%s: expected %s, got %s", path, expected, jn_type_name(got));
	return -1;
}

/* obj.key as an optional object: NULL when absent or null; error for another type. */
static int get_obj(const struct jnode *obj, const char *key, const struct jnode **out,
		   const char *path, char *err, size_t errlen)
{
	const struct jnode *v = jn_get(obj, key);
	*out = NULL;
	if (!v || v->type == JT_NULL)
		return 0;
	if (v->type != JT_OBJECT) {
		char p[160];
		fmt_buf(p, sizeof p, "%s%s%s", path, *path ? "." : "", key);
		return type_error(err, errlen, p, "object", v);
	}
	*out = v;
	return 0;
}

static int get_str(const struct jnode *obj, const char *key, struct sv *out, const char *path,
		   char *err, size_t errlen)
{
	const struct jnode *v = jn_get(obj, key);
	*out = sv_null;
	if (!v || v->type == JT_NULL)
		return 0;
	if (v->type != JT_STRING) {
		char p[200];
		fmt_buf(p, sizeof p, "%s.%s", path, key);
		return type_error(err, errlen, p, "string", v);
	}
	*out = jn_sv(v);
	return 0;
}

static int decode_containers(const struct jnode *spec, const char *key, const char *path,
			     struct container_view **out, uint32_t *count, struct arena *arena,
			     char *err, size_t errlen)
{
	const struct jnode *list = jn_get(spec, key);
	char p[200];
	*out = NULL;
	*count = 0;
	if (!list || list->type == JT_NULL)
		return 0;
	if (list->type != JT_ARRAY) {
		fmt_buf(p, sizeof p, "%s.%s", path, key);
		return type_error(err, errlen, p, "array", list);
	}
	if (list->len == 0)
		return 0;
	struct container_view *cs = arena_calloc(arena, list->len, sizeof(*cs));
	if (!cs) {
		fmt_buf(err, errlen, "out of memory");
		return -1;
	}
	uint32_t i = 0;
	for (JN_EACH(list, c)) {
		/* the element's path is formatted only when there is an error to report */
		const struct jnode *name = jn_get(c, "name"), *rp = jn_get(c, "restartPolicy");
		bool bad_name = name && name->type != JT_STRING && name->type != JT_NULL;
		bool bad_rp = rp && rp->type != JT_STRING && rp->type != JT_NULL;
		if (c->type != JT_OBJECT || bad_name || bad_rp) {
			fmt_buf(p, sizeof p, "%s.%s[%u]", path, key, i);
			if (c->type != JT_OBJECT)
				return type_error(err, errlen, p, "object", c);
			size_t n = strlen(p);
			fmt_buf(p + n, sizeof p - n, ".%s", bad_name ? "name" : "restartPolicy");
			return type_error(err, errlen, p, "string", bad_name ? name : rp);
		}
		cs[i].name = jn_sv(name);
		cs[i].restart_policy = jn_sv(rp);
		cs[i].line = c->line;
		i++;
	}
	*out = cs;
	*count = i;
	return 0;
}

static int decode_podspec(struct podspec_view *out, const struct jnode *spec, const char *path,
			  struct arena *arena, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	out->path = path;
	out->service_account_name = out->service_account = sv_null;
	if (!spec)
		return 0;
	out->present = true;
	out->line = spec->line;
	if (get_str(spec, "serviceAccountName", &out->service_account_name, path, err, errlen) < 0 ||
	    get_str(spec, "serviceAccount", &out->service_account, path, err, errlen) < 0)
		return -1;
	const struct jnode *hn = jn_get(spec, "hostNetwork");
	if (hn && hn->type != JT_NULL) {
		if (hn->type != JT_TRUE && hn->type != JT_FALSE) {
			char p[200];
			fmt_buf(p, sizeof p, "%s.hostNetwork", path);
			return type_error(err, errlen, p, "boolean", hn);
		}
		out->host_network = hn->type == JT_TRUE;
		out->host_network_line = hn->line;
	}
	if (decode_containers(spec, "containers", path, &out->containers, &out->n_containers, arena,
			      err, errlen) < 0 ||
	    decode_containers(spec, "initContainers", path, &out->init_containers,
			      &out->n_init_containers, arena, err, errlen) < 0)
		return -1;
	return 0;
}

int workload_decode(struct workload_view *out, enum kind_id k, const struct jnode *obj,
		    struct arena *arena, char *err, size_t errlen)
{
	const struct pod_location *loc = location_of(k);
	memset(out, 0, sizeof *out);
	out->is_template = k != K_POD;
	const struct jnode *pod = obj;
	char path[160] = "";
	if (loc->keys) {
		for (size_t i = 0; loc->keys[i] && pod; i++) {
			const struct jnode *next;
			if (get_obj(pod, loc->keys[i], &next, path, err, errlen) < 0)
				return -1;
			size_t n = strlen(path);
			fmt_buf(path + n, sizeof path - n, "%s%s", n ? "." : "", loc->keys[i]);
			pod = next;
		}
	}
	const struct jnode *meta = NULL, *spec = NULL;
	if (pod) {
		const char *base = loc->keys ? path : "";
		if (get_obj(pod, "metadata", &meta, base, err, errlen) < 0 ||
		    get_obj(pod, "spec", &spec, base, err, errlen) < 0)
			return -1;
	}
	if (meta_decode(&out->pod_meta, meta, loc->meta_path, err, errlen) < 0)
		return -1;
	return decode_podspec(&out->spec, spec, loc->spec_path, arena, err, errlen);
}
