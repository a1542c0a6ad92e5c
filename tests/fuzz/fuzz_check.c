/* fuzz_check.c - libFuzzer target for `posture check`'s whole input path on a memory buffer: the
 * YAML reader (K8S schema, List streaming), namespaces in any order, judging under every mode,
 * and output in the format the input's length picks (text, JSON, SARIF) to a memory stream. JSON
 * and SARIF outputs must parse; every ydoc must be freed; a second pass fails one allocation.
 *
 * Build and run from the repository's root (seeds stay read-only, new inputs go to work/):
 *   mkdir -p tests/fuzz/work/check
 *   clang-14 -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE \
 *     -Iwebhook -o tests/fuzz/work/fuzz_check tests/fuzz/fuzz_check.c \
 *     $(find webhook -name '*.c' ! -name main.c | sort) \
 *     $(pkg-config --cflags --libs libmicrohttpd gnutls libcrypto jansson yaml-0.1) -lpthread -lm
 *   tests/fuzz/work/fuzz_check -max_total_time=60 -max_len=65536 tests/fuzz/work/check \
 *     tests/fuzz/corpus/check
 * (every webhook/ source but main.c: check.c reaches the engine, every rule and the decoders.)
 */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "check.h"
#include "yaml.h"

/* A policy with revisions, exemptions and mixed actions, so that more paths are reachable. */
static const char policy_text[] =
	"apiVersion: posture.dev/v1alpha1\n"
	"kind: PosturePolicy\n"
	"spec:\n"
	"  exemptNamespaces: [kube-system]\n"
	"  revisions: [canary]\n"
	"  rules:\n"
	"    default-service-account: {action: warn}\n"
	"    mesh-injection: {action: deny}\n"
	"    authorization-policy-wildcard: {action: audit}\n"
	"  exemptions:\n"
	"    - rule: mesh-injection\n"
	"      namespace: monitoring\n"
	"      kind: DaemonSet\n"
	"      name: node-exporter\n"
	"      reason: fuzz\n";

static void run(const uint8_t *data, size_t size, const struct policy *pol, bool validate)
{
	static const struct check_ns_mode modes[] = {
		{ "shop", { INJ_SIDECAR, false } },
		{ "mesh", { INJ_NONE, true } },
	};
	struct check_options o;
	memset(&o, 0, sizeof o);
	o.policy = pol;
	o.format = (enum check_format)(size % 3);
	o.strict = (size / 3) % 2;
	o.default_mode.injection = (enum injection)((size / 6) % 3);
	o.default_mode.ambient = (size / 18) % 2;
	o.ns_modes = modes;
	o.n_ns_modes = ARRAY_LEN(modes);
	o.own_namespace = "posture-system";
	o.max_errors_kept = 4;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (!f)
		abort();
	struct check *c = check_new(&o, f);
	if (c) {
		check_mem(c, "fuzz.yaml", (const char *)data, size);
		int rc = check_finish(c);
		if (rc < 0 || rc > 2)
			abort();
		check_free(c);
	}
	fclose(f);
	if (validate && o.format != CHECK_TEXT) {
		json_error_t e;
		json_t *j = json_loadb(out, len, 0, &e);
		if (!j)
			abort();   /* JSON and SARIF outputs are always JSON */
		json_decref(j);
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct policy *defaults, *custom;
	if (!defaults) {
		char err[512];
		xalloc_install_jansson();
		defaults = policy_defaults_new();
		custom = policy_load_mem("fuzz-policy.yaml", policy_text, sizeof policy_text - 1, err, sizeof err);
		if (!defaults || !custom)
			abort();
	}
	run(data, size, size % 2 ? custom : defaults, true);
	/* one allocation fails somewhere: no crash, no leak */
	xalloc_fail_at(size ? (long)(data[size / 2] % 250) + 1 : 1);
	run(data, size, defaults, false);
	xalloc_fail_at(0);
	if (ydoc_live() != 0)
		abort();
	return 0;
}
