/* fuzz_json.c - differential libFuzzer target: json_parse (the hot-path parser) against jansson's
 * json_loadb with JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY.
 *
 * The two must agree on accept/reject, and when both accept, jdoc_from_jansson's tree must equal
 * json_parse's node for node: type, len (bytes, elements, members), size, string bytes (and the
 * NUL after them), numbers by value. Documented differences (json.c's header), the only ones
 * allowed:
 *   - numbers jansson cannot represent (integers beyond 64 bits, reals beyond a double: jansson's
 *     json_error_numeric_overflow) are accepted by json_parse, which never converts numbers;
 *   - "\u0000" in an object key (jansson: json_error_null_byte_in_key) is accepted by json_parse;
 *   - jansson skips a raw NUL byte right after a number or a literal ("[1\0]" is [1] to it);
 *     json_parse refuses it (see jansson_nul_quirk);
 *   - nesting: jansson stops at 2048 levels, json_parse at its limit (512 by default). The
 *     differential parse uses a limit above jansson's, so jansson's json_error_stack_overflow is
 *     the allowed difference there; the default-limit parse must then agree with it exactly or
 *     refuse with "nesting too deep".
 *
 * Build and run: `make fuzz`, or after `make fuzz-build`:
 *   build-fuzz/fuzz_json -dict=tests/fuzz/json.dict -max_len=65536 tests/fuzz/work/json \
 *     tests/fuzz/corpus/json
 */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "json.h"
#include "fuzz_init.h"

static void fail(const char *what, const uint8_t *data, size_t size)
{
	fprintf(stderr, "fuzz_json: %s\ninput (%zu bytes): %.*s\n", what, size,
		(int)(size > 400 ? 400 : size), (const char *)data);
	abort();
}

static double num(const char *s, uint32_t n)
{
	char *tmp = malloc((size_t)n + 1);
	if (!tmp)
		abort();
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	double v = strtod(tmp, NULL);
	free(tmp);
	return v;
}

/* Node-for-node equality of two trees. exact: numbers by their text (two json_parse trees); else
 * by value (b from jdoc_from_jansson, which re-prints numbers: "1E2" -> "100"). */
static bool same_tree(const struct jdoc *a, const struct jdoc *b, bool exact)
{
	if (a->count != b->count)
		return false;
	for (uint32_t i = 0; i < a->count; i++) {
		const struct jnode *x = &a->nodes[i], *y = &b->nodes[i];
		if (x->type != y->type || x->size != y->size)
			return false;
		switch (x->type) {
		case JT_STRING:
			if (x->len != y->len || memcmp(x->s, y->s, x->len) != 0 || x->s[x->len] != '\0')
				return false;
			break;
		case JT_NUMBER: {
			if (exact) {
				if (x->len != y->len || memcmp(x->s, y->s, x->len) != 0)
					return false;
				break;
			}
			double dx = num(x->s, x->len), dy = num(y->s, y->len);
			if (dx != dy)
				return false;
			break;
		}
		case JT_ARRAY:
		case JT_OBJECT:
			if (x->len != y->len || i + x->size > a->count)
				return false;
			break;
		default:
			break;
		}
	}
	return true;
}

/* The tree's own invariants: sizes add up, object members are string keys, jn_get finds each
 * key's first (only) value. */
static void check_shape(const struct jdoc *d, const uint8_t *data, size_t size)
{
	for (uint32_t i = 0; i < d->count; i++) {
		const struct jnode *n = &d->nodes[i];
		if (n->size == 0 || i + n->size > d->count)
			fail("node size out of range", data, size);
		if (n->type != JT_ARRAY && n->type != JT_OBJECT) {
			if (n->size != 1)
				fail("scalar with children", data, size);
			continue;
		}
		uint32_t count = 0, sum = 1;
		if (n->type == JT_ARRAY) {
			for (JN_EACH(n, el)) {
				count++;
				sum += el->size;
			}
		} else {
			for (JN_EACH_MEMBER(n, k)) {
				if (k->type != JT_STRING)
					fail("object key is not a string", data, size);
				count++;
				sum += 1 + (k + 1)->size;
				if (!memchr(k->s, '\0', k->len) && jn_get(n, k->s) != k + 1)
					fail("jn_get does not find a member", data, size);
			}
		}
		if (count != n->len || sum != n->size)
			fail("container counts do not add up", data, size);
	}
}

/* json_parse on a private copy (parsed in place), with a guard byte after the end that must stay
 * untouched. *copy must outlive d (the strings point into it); free it after jdoc_release. */
static int parse_ours(struct jdoc *d, char **copy, const uint8_t *data, size_t size,
		      const struct jlimits *lim, char *err, size_t errlen)
{
	*copy = malloc(size + 1);
	if (!*copy)
		abort();
	memcpy(*copy, data, size);
	(*copy)[size] = 'X';
	jdoc_init(d);
	err[0] = '\0';
	int rc = json_parse(d, *copy, size, lim, err, errlen);
	if ((*copy)[size] != 'X')
		fail("json_parse wrote past the end", data, size);
	if (rc < 0 && (d->count != 0 || !err[0]))
		fail("a refusal without a reason, or with nodes left", data, size);
	if (rc == 0 && d->count == 0)
		fail("accepted with no nodes", data, size);
	return rc;
}

/* jansson 2.14 skips a raw NUL byte that directly follows a number or a literal ("[1\0]" loads
 * as [1], "true\0" as true): its stream reader takes the NUL it pushed back for the end of its
 * buffer. json_parse refuses the NUL, as RFC 8259 says. True when that is the whole difference:
 * json_parse refuses at a NUL byte, and once the NUL bytes it stops at are removed it accepts the
 * tree jansson built. */
static bool jansson_nul_quirk(const uint8_t *data, size_t size, const char *err, const json_t *j)
{
	uint8_t *buf = malloc(size + 1);
	if (!buf)
		abort();
	memcpy(buf, data, size);
	size_t n = size;
	char e[256];
	snprintf(e, sizeof e, "%s", err);
	bool same = false;
	for (int round = 0; round < 64; round++) {
		size_t at;
		if (sscanf(e, "invalid JSON at byte %zu", &at) != 1 || at >= n || buf[at] != 0)
			break;
		memmove(buf + at, buf + at + 1, n - at - 1);
		n--;
		struct jdoc d, t;
		char *copy;
		int rc = parse_ours(&d, &copy, buf, n, &(const struct jlimits){ 4096, 4000000 }, e,
				    sizeof e);
		if (rc == 0) {
			jdoc_init(&t);
			same = jdoc_from_jansson(&t, j, NULL, NULL, e, sizeof e) < 0 || same_tree(&d, &t, false);
			jdoc_release(&t);
			if (!same)
				fail("after removing the NUL bytes jansson skips, the trees differ", data, size);
		}
		jdoc_release(&d);
		free(copy);
		if (rc == 0)
			break;
	}
	free(buf);
	return same;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a limit above jansson's 2048 levels, so depth differences are jansson's alone */
	const struct jlimits deep = { 4096, jlimits_default.max_nodes };
	struct jdoc ours, dflt, theirs;
	char *copy, *copy2, err[256], err2[256];
	int rc = parse_ours(&ours, &copy, data, size, &deep, err, sizeof err);
	json_error_t je;
	json_t *j = json_loadb((const char *)data, size,
			       JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, &je);
	enum json_error_code code = j ? json_error_unknown : json_error_code(&je);
	bool numbers = code == json_error_numeric_overflow;
	if (rc == 0 && !j) {
		if (!numbers && code != json_error_null_byte_in_key && code != json_error_stack_overflow) {
			fprintf(stderr, "jansson: %s (code %d)\n", je.text, (int)code);
			fail("json_parse accepts what jansson refuses", data, size);
		}
	} else if (rc < 0 && j) {
		if (!jansson_nul_quirk(data, size, err, j)) {
			fprintf(stderr, "json_parse: %s\n", err);
			fail("json_parse refuses what jansson accepts", data, size);
		}
	} else if (rc == 0 && j) {
		jdoc_init(&theirs);
		if (jdoc_from_jansson(&theirs, j, NULL, NULL, err2, sizeof err2) < 0) {
			/* only a tree deeper than json.c's conversion limit may fail to convert */
			if (!strstr(err2, "nesting too deep"))
				fail("jdoc_from_jansson failed", data, size);
		} else if (!same_tree(&ours, &theirs, false)) {
			fail("the trees differ", data, size);
		}
		jdoc_release(&theirs);
	}
	if (rc == 0)
		check_shape(&ours, data, size);
	/* the default limits: the same answer, or a refusal for depth */
	int rc2 = parse_ours(&dflt, &copy2, data, size, NULL, err2, sizeof err2);
	if (rc2 == 0 && (rc != 0 || !same_tree(&dflt, &ours, true)))
		fail("the default limits accept what the deep limits do not, or differently", data, size);
	if (rc2 < 0 && rc == 0 && !strstr(err2, "nesting too deep"))
		fail("the default limits refuse for another reason than depth", data, size);
	if (rc2 < 0 && rc < 0 && strcmp(err, err2) != 0 && !strstr(err2, "nesting too deep"))
		fail("the two limits refuse for different reasons", data, size);
	/* one allocation failed: a clean refusal or the same tree */
	struct jdoc oom;
	char *copy3;
	xalloc_fail_at(size ? (long)(data[0] % 4) + 1 : 1);
	int rc3 = parse_ours(&oom, &copy3, data, size, NULL, err2, sizeof err2);
	bool failed = xalloc_failed();
	xalloc_fail_at(0);
	if (rc3 == 0 && (rc2 != 0 || !same_tree(&oom, &dflt, true)))
		fail("a parse with a failed allocation gave another tree", data, size);
	if (rc3 < 0 && rc2 == 0 && !failed)
		fail("a parse refused without a failed allocation", data, size);
	jdoc_release(&oom);
	free(copy3);
	jdoc_release(&dflt);
	free(copy2);
	jdoc_release(&ours);
	free(copy);
	json_decref(j);
	return 0;
}
