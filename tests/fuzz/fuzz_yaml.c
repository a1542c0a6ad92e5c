/* fuzz_yaml.c - libFuzzer target for the YAML module: every input is read as a stream in both
 * schemas (with List streaming, with tight limits, with one allocation failed), every document's
 * positions are looked up, and every tree goes through jdoc_from_jansson with ydoc_line_fn, which
 * must give every node a line.
 *
 * Build and run from the repository's root (seeds stay read-only, new inputs go to work/):
 *   mkdir -p tests/fuzz/work/yaml
 *   clang-14 -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE \
 *     -Iwebhook -o tests/fuzz/work/fuzz_yaml tests/fuzz/fuzz_yaml.c webhook/yaml.c webhook/json.c \
 *     webhook/util.c webhook/buf.c $(pkg-config --cflags --libs jansson yaml-0.1) -lm
 *   tests/fuzz/work/fuzz_yaml -max_total_time=60 -max_len=65536 tests/fuzz/work/yaml \
 *     tests/fuzz/corpus/yaml
 */
#include <stdio.h>
#include <stdlib.h>

#include "json.h"
#include "yaml.h"
#include "fuzz_init.h"

/* Every member and element of d's tree has a position; the jdoc walk gives every node a line. */
static void check_doc(struct ydoc *d)
{
	const json_t *stack[128];
	size_t n = 0;
	uint32_t l, c;
	stack[n++] = ydoc_root(d);
	while (n) {
		const json_t *v = stack[--n];
		if (!json_is_null(v) && !json_is_boolean(v) && !ydoc_pos(d, v, &l, &c))
			abort();
		if (json_is_object(v)) {
			const char *k;
			json_t *m;
			json_object_foreach((json_t *)v, k, m) {
				if (!ydoc_key_pos(d, v, k, &l, &c) || !ydoc_member_pos(d, v, k, &l, &c) ||
				    l == 0 || c == 0)
					abort();
				if ((json_is_object(m) || json_is_array(m)) && n < 128)
					stack[n++] = m;
			}
		} else if (json_is_array(v)) {
			for (size_t i = 0; i < json_array_size(v); i++) {
				const json_t *m = json_array_get(v, i);
				if (!ydoc_index_pos(d, v, i, &l, &c) || l == 0)
					abort();
				if ((json_is_object(m) || json_is_array(m)) && n < 128)
					stack[n++] = m;
			}
		}
	}
	struct jdoc jd;
	char err[128];
	jdoc_init(&jd);
	if (jdoc_from_jansson(&jd, ydoc_root(d), ydoc_line_fn, d, err, sizeof err) == 0)
		for (uint32_t i = 0; i < jd.count; i++)
			if (jd.nodes[i].line == 0)
				abort();
	jdoc_release(&jd);
}

static void read_all(const uint8_t *data, size_t size, enum yschema s, const struct ylimits *lim,
		     unsigned flags, bool check)
{
	struct yreader *r = yreader_new_mem((const char *)data, size, "fuzz.yaml", s, lim, flags);
	if (!r)
		return;
	struct ydoc *d;
	struct yerror e;
	enum yread rc;
	int guard = 0;
	while ((rc = yreader_next(r, &d, &e)) != YR_END && guard++ < 100000) {
		if (d) {
			if (check)
				check_doc(d);
			ydoc_free(d);
		} else if (rc != YR_BROKEN && rc != YR_FATAL) {
			abort();
		} else if (!e.text[0]) {
			abort();   /* every failure says what */
		}
	}
	yreader_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	read_all(data, size, YSCHEMA_CORE, NULL, 0, true);
	read_all(data, size, YSCHEMA_K8S, NULL, YREADER_STREAM_ITEMS, true);
	struct ylimits tight = { 4096, 512, 8, 200, 50, 64 };
	read_all(data, size, YSCHEMA_K8S, &tight, YREADER_STREAM_ITEMS, true);
	/* one allocation failed somewhere in the read */
	xalloc_fail_at(size ? (long)(data[size - 1] % 200) + 1 : 1);
	read_all(data, size, YSCHEMA_K8S, NULL, YREADER_STREAM_ITEMS, false);
	xalloc_fail_at(0);
	char err[256];
	struct ydoc *d = ydoc_load_mem("fuzz.yaml", (const char *)data, size, YSCHEMA_CORE, NULL, err,
				       sizeof err);
	if (!d && !err[0])
		abort();
	ydoc_free(d);
	if (ydoc_live() != 0)
		abort();   /* a document leaked or freed twice */
	return 0;
}
