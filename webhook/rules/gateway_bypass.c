/* gateway_bypass.c - gateway-bypass: in an enrolled namespace, a Service of type LoadBalancer or
 * NodePort takes traffic straight to the pods, past the ingress gateway and its authentication.
 * Gateways' own Services and the mesh's root namespace are where such Services belong. */
#include "rules.h"

#define FIX_BYPASS                                                                           \
	"make it ClusterIP and expose it through the ingress gateway (a Gateway with an HTTPRoute or " \
	"VirtualService); a gateway's own Service needs its gateway label"

/* Labels that mark the Service of a gateway: Istio's gateway charts (istio: ingressgateway,
 * eastwestgateway, ...), Istio's Gateway API deployment controller and the Gateway API. */
static bool gateway_service(const struct meta_view *m)
{
	static const char *const name_keys[] = { "gateway.istio.io/managed",
						  "gateway.networking.k8s.io/gateway-name",
						  "istio.io/gateway-name" };
	struct sv v;
	if (kv_get(&m->labels, "istio", &v) && v.n >= 7 && memcmp(v.p + v.n - 7, "gateway", 7) == 0)
		return true;
	for (size_t i = 0; i < ARRAY_LEN(name_keys); i++)
		if (kv_get(&m->labels, name_keys[i], &v) && v.n > 0)
			return true;
	return false;
}

static void check(const struct rule_ctx *ctx, struct violations *out)
{
	const struct service_view *svc = &ctx->subject->u.svc;
	bool lb = sv_eq(svc->type, "LoadBalancer");
	if (!lb && !sv_eq(svc->type, "NodePort"))
		return;
	/* not enrolled: no sidecar injection and not ambient; the gateway protects nothing there */
	if (ctx->mode.injection != INJ_SIDECAR && !ctx->mode.ambient)
		return;
	if (gateway_service(&ctx->subject->meta))
		return;
	const struct policy *pol = ctx->policy;
	if (pol->root_namespace && sv_eq(ctx->namespace, pol->root_namespace))
		return;
	violation_add(out, "spec.type", svc->type_line, lb ? "type-loadbalancer" : "type-nodeport",
		      FIX_BYPASS, "type %s: traffic skips the ingress gateway and its authentication",
		      lb ? "LoadBalancer" : "NodePort");
}

const struct rule_def rule_gateway_bypass = {
	.id = RULE_GATEWAY_BYPASS,
	.name = "gateway-bypass",
	.summary = "in enrolled namespaces, only gateways' Services are LoadBalancer or NodePort",
	.kinds = KIND_BIT(K_SERVICE),
	.workload_scoped = true,
	.default_action = ACTION_WARN,
	.check = check,
};
