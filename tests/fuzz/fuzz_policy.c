/* fuzz_policy.c - libFuzzer target for the policy loader: any bytes give a policy whose fields are
 * all set and valid, or an error text; with one allocation failed, no crash and no leak.
 *
 * Build and run from the repository's root (links the whole library but main.c, for the rule
 * table and the kind names; seeds stay read-only, new inputs go to work/):
 *   mkdir -p tests/fuzz/work/policy
 *   clang-14 -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE \
 *     -Iwebhook -o tests/fuzz/work/fuzz_policy tests/fuzz/fuzz_policy.c \
 *     $(find webhook -name '*.c' ! -name main.c | sort) \
 *     $(pkg-config --cflags --libs libmicrohttpd gnutls libcrypto jansson yaml-0.1) -lpthread -lm
 *   tests/fuzz/work/fuzz_policy -max_total_time=60 -max_len=65536 tests/fuzz/work/policy \
 *     tests/fuzz/corpus/policy
 */
#include <stdlib.h>

#include "policy.h"
#include "rules.h"
#include "view.h"
#include "fuzz_init.h"

static void check_policy(const struct policy *p)
{
	if (p->refs != 1 || !p->source || !p->root_namespace || !p->root_namespace[0])
		abort();
	for (size_t i = 0; i < p->n_exempt_namespaces; i++)
		if (!p->exempt_namespaces[i] || !p->exempt_namespaces[i][0])
			abort();
	for (size_t i = 0; i < p->n_revisions; i++)
		if (!p->revisions[i] || !p->revisions[i][0])
			abort();
	for (size_t i = 0; i < RULE_COUNT; i++)
		if (p->actions[i] > ACTION_DENY)
			abort();
	for (size_t i = 0; i < p->n_exemptions; i++) {
		const struct exemption *e = &p->exemptions[i];
		if (e->rule >= RULE_COUNT || !e->namespace || !e->kind || !e->name || !e->reason ||
		    !e->reason[0] || e->line == 0)
			abort();
		enum kind_id k = kind_by_name(e->kind);
		if (e->rule == RULE_AUTHZ_WILDCARD ? k != K_AUTHORIZATIONPOLICY : !kind_is_workload(k))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[4096];
	err[0] = '\0';
	struct policy *p = policy_load_mem("fuzz.yaml", (const char *)data, size, err, sizeof err);
	if (p)
		check_policy(p);
	else if (!err[0])
		abort();
	policy_unref(p);
	xalloc_fail_at(size ? (long)(data[0] % 128) + 1 : 1);
	p = policy_load_mem("fuzz.yaml", (const char *)data, size, err, sizeof err);
	xalloc_fail_at(0);
	policy_unref(p);
	return 0;
}
