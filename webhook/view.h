/* view.h - typed, borrowed views of the Kubernetes and Istio objects posture judges. Decoders
 * (meta.c, workload.c, authz.c, mesh_objects.c) fill them from a jdoc; rules read only these structs. Every sv and
 * array points into the jdoc (and its arena) it was decoded from and lives as long as that doc. */
#ifndef POSTURE_VIEW_H
#define POSTURE_VIEW_H

#include "json.h"

enum kind_id {
	K_UNKNOWN = 0,
	K_POD,
	K_DEPLOYMENT,
	K_STATEFULSET,
	K_DAEMONSET,
	K_REPLICASET,
	K_JOB,
	K_CRONJOB,
	K_REPLICATIONCONTROLLER,
	K_AUTHORIZATIONPOLICY,
	K_PEERAUTHENTICATION,
	K_DESTINATIONRULE,
	K_NAMESPACE,
	K_SERVICE,
	K_COUNT
};
#define KIND_BIT(k) (1u << (k))
#define KINDS_WORKLOAD                                                                       \
	(KIND_BIT(K_POD) | KIND_BIT(K_DEPLOYMENT) | KIND_BIT(K_STATEFULSET) |                 \
	 KIND_BIT(K_DAEMONSET) | KIND_BIT(K_REPLICASET) | KIND_BIT(K_JOB) | KIND_BIT(K_CRONJOB) | \
	 KIND_BIT(K_REPLICATIONCONTROLLER))

/* Kind by API group, version and kind as the apiserver names them (request.kind), e.g. ("apps",
 * "v1", "Deployment"). Versions matter only where a kind is judged in some versions only
 * (AuthorizationPolicy and PeerAuthentication: v1, v1beta1; DestinationRule: v1, v1beta1,
 * v1alpha3; Namespace and Service: v1). Exact and case-sensitive; unknown: K_UNKNOWN. */
enum kind_id kind_lookup(struct sv group, struct sv version, struct sv kind);
/* Same, from a manifest's apiVersion ("apps/v1", "v1") and kind. */
enum kind_id kind_lookup_api_version(struct sv api_version, struct sv kind);
const char *kind_name(enum kind_id k);        /* "Deployment"; "" for K_UNKNOWN */
enum kind_id kind_by_name(const char *name); /* "Deployment" -> K_DEPLOYMENT, else K_UNKNOWN */
static inline bool kind_is_workload(enum kind_id k)
{
	return (KINDS_WORKLOAD & KIND_BIT(k)) != 0;
}

/* A labels or annotations map (a JSON object of strings). */
struct kvmap {
	const struct jnode *obj;   /* NULL when absent */
	uint32_t line;
};
/* Value of key as a string; false when absent. */
bool kv_get(const struct kvmap *m, const char *key, struct sv *out);
static inline bool kv_has(const struct kvmap *m, const char *key)
{
	struct sv v;
	return kv_get(m, key, &v);
}

struct owner_ref {
	struct sv api_version, kind, name;   /* all sv_null when there is no controller owner */
	bool present;
};

struct meta_view {
	const char *path;         /* static: "metadata", "spec.template.metadata", ... */
	uint32_t line;            /* line of the metadata mapping (0 unknown) */
	struct sv name, generate_name, namespace;
	struct kvmap labels, annotations;
	struct owner_ref controller;   /* the ownerReference with controller: true */
	bool live;                /* has uid, resourceVersion or creationTimestamp: read from a
	                             cluster, so it went through admission (mutating webhooks ran) */
};

struct container_view {
	struct sv name;
	struct sv restart_policy;   /* init containers: "Always" makes a native sidecar */
	uint32_t line;
};

struct podspec_view {
	const char *path;   /* static: "spec", "spec.template.spec", "spec.jobTemplate.spec.template.spec" */
	uint32_t line;
	bool present;
	struct sv service_account_name;   /* path + ".serviceAccountName" */
	struct sv service_account;        /* deprecated; path + ".serviceAccount" */
	bool host_network;
	uint32_t host_network_line;
	struct container_view *containers;        /* arena */
	uint32_t n_containers;
	struct container_view *init_containers;   /* arena */
	uint32_t n_init_containers;
};

struct workload_view {
	bool is_template;            /* false for a Pod */
	struct meta_view pod_meta;   /* the pod's metadata: the Pod's own, or the template's */
	struct podspec_view spec;
};

/* AuthorizationPolicy (security.istio.io v1/v1beta1). A list field is "present" when the key is
 * in the object (even as an empty list). */
struct strlist {
	struct sv *v;   /* arena */
	uint32_t n;
	uint32_t line;
	bool present;
};

struct ap_source {
	uint32_t line;
	bool present;   /* false for a from entry without a source */
	struct strlist principals, not_principals, request_principals, not_request_principals,
		namespaces, not_namespaces, ip_blocks, not_ip_blocks, remote_ip_blocks,
		not_remote_ip_blocks, service_accounts, not_service_accounts, trust_domains,
		not_trust_domains;
};

struct ap_operation {
	uint32_t line;
	bool present;
	struct strlist hosts, not_hosts, ports, not_ports, methods, not_methods, paths, not_paths;
};

struct ap_condition {
	uint32_t line;
	struct sv key;
	struct strlist values, not_values;
};

struct ap_rule {
	uint32_t line;
	bool has_from, has_to, has_when;   /* key present */
	struct ap_source *from;            /* from[i].source */
	uint32_t n_from;
	struct ap_operation *to;           /* to[i].operation */
	uint32_t n_to;
	struct ap_condition *when;
	uint32_t n_when;
};

struct authz_view {
	uint32_t spec_line;
	struct sv action;     /* sv_null when unset (= ALLOW) */
	struct sv provider;   /* provider.name for CUSTOM */
	bool has_rules;       /* key present */
	struct ap_rule *rules;
	uint32_t n_rules;
	bool has_selector;    /* selector.matchLabels present (cross-object audit) */
	struct kvmap match_labels;
	bool has_target_refs;
};

/* PeerAuthentication (security.istio.io v1/v1beta1). Modes are as written (STRICT, PERMISSIVE,
 * DISABLE, UNSET); sv_null when unset. */
struct pa_port_mtls {
	struct sv port;   /* the portLevelMtls map key, e.g. "8080" */
	struct sv mode;   /* portLevelMtls.<port>.mode */
	uint32_t line;
};

struct peerauth_view {
	uint32_t spec_line;
	bool has_mtls;              /* spec.mtls present */
	struct sv mtls_mode;        /* spec.mtls.mode */
	uint32_t mtls_line;
	struct pa_port_mtls *ports; /* arena; spec.portLevelMtls in document order */
	uint32_t n_ports;
	bool has_selector;          /* selector.matchLabels present (cross-object audit) */
	struct kvmap match_labels;
};

/* DestinationRule (networking.istio.io v1/v1beta1/v1alpha3): the host and the TLS modes of its
 * traffic policies. */
struct dr_port_tls {
	uint32_t line;
	bool has_port;
	uint32_t port;        /* port.number */
	struct sv tls_mode;   /* tls.mode; sv_null when unset */
};

struct dr_traffic_policy {
	bool present;
	uint32_t line;
	struct sv tls_mode;            /* tls.mode */
	struct dr_port_tls *ports;     /* arena; portLevelSettings[i] */
	uint32_t n_ports;
};

struct dr_subset {
	uint32_t line;
	struct sv name;
	struct dr_traffic_policy tp;   /* subsets[j].trafficPolicy */
};

struct destrule_view {
	uint32_t spec_line;
	struct sv host;                /* spec.host */
	struct dr_traffic_policy tp;   /* spec.trafficPolicy */
	struct dr_subset *subsets;     /* arena */
	uint32_t n_subsets;
};

/* Service (core v1): how it is exposed. A Namespace has no view beyond its metadata. */
struct service_view {
	struct sv type;   /* spec.type; sv_null when unset (= ClusterIP) */
	uint32_t type_line;
};

/* One decoded object of a judged kind. */
struct subject {
	enum kind_id kind;
	struct meta_view meta;   /* the object's own metadata */
	union {
		struct workload_view wl;
		struct authz_view ap;
		struct peerauth_view pa;
		struct destrule_view dr;
		struct service_view svc;
	} u;
};

/* Decode obj (a JSON object) as kind k into out. Views are allocated from arena. Wrong types in the
 * fields posture reads are errors ("spec.template.spec.containers[1].name: expected string, got
 * number"), with the path relative to the object, written to err; returns 0 or -1. A label or
 * annotation value that is not a string is an error too (the apiserver never sends one). */
int subject_decode(struct subject *out, enum kind_id k, const struct jnode *obj,
		   struct arena *arena, char *err, size_t errlen);

/* Typed optional fields for the decoders of views (fields.c): absent and null are "absent"; a
 * wrong type is an error "<path>: expected <type>, got <type>" with the path formatted only
 * then. object/array return 1 usable, 0 absent, -1 error; string returns 0 or -1 and sets *out
 * (sv_null when absent). */
struct fdec {
	struct arena *arena;   /* for arrays the decoder allocates; may be NULL if it needs none */
	char *err;
	size_t errlen;
};
int fdec_type_err(struct fdec *d, const struct jpath *path, const char *want, const struct jnode *n);
int fdec_oom(struct fdec *d, const struct jpath *path);
static inline int fdec_object(struct fdec *d, const struct jnode *n, const struct jpath *path)
{
	if (!n || n->type == JT_NULL)
		return 0;
	return n->type == JT_OBJECT ? 1 : fdec_type_err(d, path, "object", n);
}
static inline int fdec_array(struct fdec *d, const struct jnode *n, const struct jpath *path)
{
	if (!n || n->type == JT_NULL)
		return 0;
	return n->type == JT_ARRAY ? 1 : fdec_type_err(d, path, "array", n);
}
static inline int fdec_string(struct fdec *d, const struct jnode *n, const struct jpath *path,
			      struct sv *out)
{
	*out = sv_null;
	if (!n || n->type == JT_NULL)
		return 0;
	if (n->type != JT_STRING)
		return fdec_type_err(d, path, "string", n);
	*out = sv_make(n->s, n->len, n->line);
	return 0;
}

/* Pieces the decoders share (meta.c). */
int meta_decode(struct meta_view *out, const struct jnode *meta, const char *path, char *err,
		size_t errlen);
int workload_decode(struct workload_view *out, enum kind_id k, const struct jnode *obj,
		    struct arena *arena, char *err, size_t errlen);
int authz_decode(struct authz_view *out, const struct jnode *obj, struct arena *arena, char *err,
		 size_t errlen);
/* mesh_objects.c: PeerAuthentication, DestinationRule and Service, with the same contract. */
int peerauth_decode(struct peerauth_view *out, const struct jnode *obj, struct arena *arena,
		    char *err, size_t errlen);
int destrule_decode(struct destrule_view *out, const struct jnode *obj, struct arena *arena,
		    char *err, size_t errlen);
int service_decode(struct service_view *out, const struct jnode *obj, char *err, size_t errlen);

#endif
