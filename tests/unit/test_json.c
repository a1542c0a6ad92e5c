/* test_json.c - the strict in-place JSON parser: grammar, UTF-8, duplicates, limits, and agreement
 * with jansson (JSON_REJECT_DUPLICATES|JSON_ALLOW_NUL) on valid and invalid inputs. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include "json.h"
#include "test.h"

/* Parse a copy of s; returns 0/-1 and keeps the doc for inspection. */
static int parse_copy(struct jdoc *d, const char *s, size_t n, char **copy, char *err, size_t errlen)
{
	*copy = malloc(n + 1);
	memcpy(*copy, s, n);
	(*copy)[n] = 0;
	jdoc_init(d);
	return json_parse(d, *copy, n, NULL, err, errlen);
}

static bool trees_equal(const struct jnode *a, const struct jnode *b, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++) {
		if (a[i].type != b[i].type || a[i].size != b[i].size)
			return false;
		/* number text differs by design: jansson reformats it */
		if (a[i].type != JT_NUMBER && a[i].len != b[i].len)
			return false;
		if (a[i].type == JT_STRING && memcmp(a[i].s, b[i].s, a[i].len) != 0)
			return false;
	}
	return true;
}

/* Both parsers accept s (or both refuse it); when accepted, the trees agree. */
static void check_agrees(const char *s, size_t n)
{
	json_error_t jerr;
	json_t *j = json_loadb(s, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
	struct jdoc d;
	char *copy, err[200];
	int rc = parse_copy(&d, s, n, &copy, err, sizeof err);
	if ((rc == 0) != (j != NULL))
		fprintf(stderr, "disagree on %.60s: ours %s, jansson %s\n", s, rc == 0 ? "ok" : err,
			j ? "ok" : jerr.text);
	CHECK((rc == 0) == (j != NULL));
	if (rc == 0 && j) {
		struct jdoc c;
		jdoc_init(&c);
		CHECK(jdoc_from_jansson(&c, j, NULL, NULL, err, sizeof err) == 0);
		CHECK_INT(c.count, d.count);
		if (c.count == d.count)
			CHECK(trees_equal(c.nodes, d.nodes, d.count));
		jdoc_release(&c);
	}
	json_decref(j);
	jdoc_release(&d);
	free(copy);
}

static void valid_documents(void)
{
	static const char *docs[] = {
		"{}", "[]", "0", "-0", "1.5e-3", "\"x\"", "true", "false", "null",
		"{\"a\":1,\"b\":[true,false,null,{\"c\":\"d\"}],\"e\":{}}",
		"  [ 1 , 2 ,\n3 ]\t",
		"{\"esc\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u20ac\\ud83d\\ude00\"}",
		"{\"utf8\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}",
		"{\"nul\":\"a\\u0000b\"}",
		"[[[[[[[[[[]]]]]]]]]]",
		"{\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":9,\"k10\":10}",
		"{\"a\":1,\"A\":2,\"a \":3,\"\":4}",
	};
	for (size_t i = 0; i < ARRAY_LEN(docs); i++)
		check_agrees(docs[i], strlen(docs[i]));
}

static void invalid_documents(void)
{
	static const char *docs[] = {
		"", " ", "{", "}", "[1,]", "[,1]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "{'a':1}",
		"[1 2]", "01", "1.", ".5", "+1", "-", "1e", "1e+", "tru", "nul", "[true false]",
		"\"unterminated", "\"ctl\x01\"", "\"bad\\x\"", "\"\\u12\"", "\"\\uZZZZ\"",
		"\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"\xc0\x80\"", "\"\xed\xa0\x80\"",
		"\"\xf5\x80\x80\x80\"", "\"\x80\"", "\"\xe2\x82\"", "{\"a\":1,\"a\":2}",
		"{\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":9,\"k1\":10}",
		"{} {}", "[1]x", "{\"a\":{\"b\":1,\"b\":2}}", "NaN", "Infinity", "[1,2", "{\"a\":",
	};
	for (size_t i = 0; i < ARRAY_LEN(docs); i++) {
		struct jdoc d;
		char *copy, err[200];
		int rc = parse_copy(&d, docs[i], strlen(docs[i]), &copy, err, sizeof err);
		if (rc == 0)
			fprintf(stderr, "accepted invalid: %s\n", docs[i]);
		CHECK(rc == -1);
		CHECK(strncmp(err, "invalid JSON at byte ", 21) == 0);
		jdoc_release(&d);
		free(copy);
		check_agrees(docs[i], strlen(docs[i]));
	}
}

static void nul_inside_document(void)
{
	/* a raw NUL byte is a control character: refused; an escaped one is kept with its length */
	struct jdoc d;
	char *copy, err[200];
	CHECK(parse_copy(&d, "\"a\0b\"", 5, &copy, err, sizeof err) == -1);
	jdoc_release(&d);
	free(copy);
	CHECK(parse_copy(&d, "[\"a\\u0000b\"]", 12, &copy, err, sizeof err) == 0);
	CHECK_INT(d.nodes[1].len, 3);
	CHECK(memcmp(d.nodes[1].s, "a\0b", 3) == 0);
	jdoc_release(&d);
	free(copy);
}

static void big_integers_accepted(void)
{
	/* jansson refuses integers past long long; Go (the apiserver) and this parser take them */
	struct jdoc d;
	char *copy, err[200];
	const char *s = "{\"n\":123456789012345678901234567890,\"f\":1e999}";
	CHECK(parse_copy(&d, s, strlen(s), &copy, err, sizeof err) == 0);
	CHECK_INT(jn_get(jdoc_root(&d), "n")->type, JT_NUMBER);
	CHECK_INT(jn_get(jdoc_root(&d), "n")->len, 30);
	jdoc_release(&d);
	free(copy);
}

static void depth_limit(void)
{
	size_t depth = 100000;
	char *s = malloc(depth * 2 + 1);
	for (size_t i = 0; i < depth; i++) {
		s[i] = '[';
		s[depth * 2 - 1 - i] = ']';
	}
	struct jdoc d;
	char *copy, err[200];
	CHECK(parse_copy(&d, s, depth * 2, &copy, err, sizeof err) == -1);
	CHECK_CONTAINS(err, "nesting too deep");
	jdoc_release(&d);
	free(copy);
	/* exactly at the limit is fine */
	size_t ok = jlimits_default.max_depth;
	memset(s, '[', ok);
	memset(s + ok, ']', ok);
	CHECK(parse_copy(&d, s, ok * 2, &copy, err, sizeof err) == 0);
	jdoc_release(&d);
	free(copy);
	CHECK(parse_copy(&d, s, 0, &copy, err, sizeof err) == -1);
	jdoc_release(&d);
	free(copy);
	free(s);
}

static void node_limit(void)
{
	struct jlimits lim = { 16, 10 };
	char s[] = "[1,2,3,4,5,6,7,8,9,10,11]";
	struct jdoc d;
	char err[200];
	jdoc_init(&d);
	CHECK(json_parse(&d, s, strlen(s), &lim, err, sizeof err) == -1);
	CHECK_CONTAINS(err, "too many values");
	jdoc_release(&d);
}

static void large_object_duplicates(void)
{
	/* 20,000 distinct keys, then the same with one duplicate at the end */
	size_t n = 20000;
	char *s = malloc(n * 16 + 16);
	size_t len = 0;
	s[len++] = '{';
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, 32, "%s\"k%zu\":%zu", i ? "," : "", i, i);
	s[len++] = '}';
	check_agrees(s, len);
	len--;
	len += (size_t)snprintf(s + len, 32, ",\"k7\":1}");
	struct jdoc d;
	char *copy, err[200];
	CHECK(parse_copy(&d, s, len, &copy, err, sizeof err) == -1);
	CHECK_CONTAINS(err, "duplicate key");
	jdoc_release(&d);
	free(copy);
	free(s);
}

static void navigation(void)
{
	const char *s = "{\"a\":{\"b\":[1,{\"c\":\"x\"},3]},\"d\":\"e\"}";
	struct jdoc d;
	char *copy, err[200];
	CHECK(parse_copy(&d, s, strlen(s), &copy, err, sizeof err) == 0);
	const struct jnode *root = jdoc_root(&d);
	const struct jnode *b = jn_get(jn_get(root, "a"), "b");
	CHECK(jn_is(b, JT_ARRAY));
	CHECK_INT(b->len, 3);
	uint32_t i = 0;
	const struct jnode *second = NULL;
	for (JN_EACH(b, el)) {
		if (i == 1)
			second = el;
		i++;
	}
	CHECK_INT(i, 3);
	CHECK(sv_eq(jn_sv(jn_get(second, "c")), "x"));
	CHECK(sv_eq(jn_sv(jn_get(root, "d")), "e"));
	CHECK(jn_get(root, "zz") == NULL);
	CHECK(jn_get(b, "a") == NULL);
	CHECK(!jn_sv(jn_get(root, "a")).present);
	jdoc_release(&d);
	free(copy);
}

/* Every AdmissionReview of the shared corpus parses, and agrees with jansson. */
static void corpus_reviews(void)
{
	const char *dir = "tests/corpus/admission-reviews";
	DIR *dh = opendir(dir);
	CHECK(dh != NULL);
	if (!dh)
		return;
	struct dirent *de;
	int files = 0;
	while ((de = readdir(dh))) {
		size_t l = strlen(de->d_name);
		if (l < 5 || strcmp(de->d_name + l - 5, ".json") != 0)
			continue;
		char path[512];
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		FILE *f = fopen(path, "rb");
		CHECK(f != NULL);
		if (!f)
			continue;
		char *data = malloc(1 << 20);
		size_t n = fread(data, 1, 1 << 20, f);
		fclose(f);
		check_agrees(data, n);
		free(data);
		files++;
	}
	closedir(dh);
	CHECK(files >= 41);
}

static void alloc_failures(void)
{
	const char *s = "{\"a\":[1,2,3],\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":9}";
	for (long nth = 1; nth < 20; nth++) {
		struct jdoc d;
		char *copy = strdup(s), err[200];
		jdoc_init(&d);
		xalloc_fail_at(nth);
		int rc = json_parse(&d, copy, strlen(copy), NULL, err, sizeof err);
		bool failed = xalloc_failed();
		xalloc_fail_at(0);
		/* a failed first-guess allocation is tolerated; any other failure is a clean error */
		if (rc == -1) {
			CHECK(failed);
			CHECK_CONTAINS(err, "out of memory");
		} else {
			CHECK_INT(d.count, 24);
		}
		jdoc_release(&d);
		free(copy);
	}
}

int main(void)
{
	RUN(valid_documents);
	RUN(invalid_documents);
	RUN(nul_inside_document);
	RUN(big_integers_accepted);
	RUN(depth_limit);
	RUN(node_limit);
	RUN(large_object_duplicates);
	RUN(navigation);
	RUN(corpus_reviews);
	RUN(alloc_failures);
	return test_summary("json");
}
