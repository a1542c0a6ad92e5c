/* test_yaml.c - the YAML module: both scalar schemas, tags, keys, positions, limits, alias bombs,
 * merges, multi-document recovery, empty documents, streamed List items, fd/FILE input, and
 * failed allocations. */
#include "buf.h"
#include "json.h"
#include "test.h"
#include "yaml.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char errbuf[1024];

static struct ydoc *load(enum yschema s, const char *text)
{
	errbuf[0] = '\0';
	return ydoc_load_mem("t.yaml", text, strlen(text), s, NULL, errbuf, sizeof errbuf);
}

/* The value of "v" in a one-key document "v: <text>", dumped as compact JSON ("" on error). */
static const char *scalar(enum yschema s, const char *text)
{
	static char out[256];
	char doc[256];
	fmt_buf(doc, sizeof doc, "v: %s\n", text);
	struct ydoc *d = load(s, doc);
	if (!d)
		return "";
	char *j = json_dumps(json_object_get(ydoc_root(d), "v"), JSON_ENCODE_ANY | JSON_COMPACT);
	fmt_buf(out, sizeof out, "%s", j ? j : "?");
	free(j);
	ydoc_free(d);
	return out;
}

static void test_booleans_k8s(void)
{
	static const char *const t[] = { "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE",
					 "on", "On", "ON" };
	static const char *const f[] = { "n", "N", "no", "No", "NO", "false", "False", "FALSE",
					 "off", "Off", "OFF" };
	char q[32];
	for (size_t i = 0; i < ARRAY_LEN(t); i++) {
		CHECK_STR(scalar(YSCHEMA_K8S, t[i]), "true");
		fmt_buf(q, sizeof q, "\"%s\"", t[i]);
		CHECK_STR(scalar(YSCHEMA_K8S, q), q);
		fmt_buf(q, sizeof q, "'%s'", t[i]);
		CHECK(strcmp(scalar(YSCHEMA_K8S, q), "true") != 0);
	}
	for (size_t i = 0; i < ARRAY_LEN(f); i++) {
		CHECK_STR(scalar(YSCHEMA_K8S, f[i]), "false");
		fmt_buf(q, sizeof q, "\"%s\"", f[i]);
		CHECK_STR(scalar(YSCHEMA_K8S, q), q);
		fmt_buf(q, sizeof q, "!!str %s", f[i]);
		CHECK(scalar(YSCHEMA_K8S, q)[0] == '"');
	}
	/* not booleans in YAML 1.1 either */
	CHECK_STR(scalar(YSCHEMA_K8S, "yES"), "\"yES\"");
	CHECK_STR(scalar(YSCHEMA_K8S, "oN"), "\"oN\"");
	CHECK_STR(scalar(YSCHEMA_K8S, "t"), "\"t\"");
}

static void test_booleans_core(void)
{
	static const char *const t[] = { "true", "True", "TRUE" };
	static const char *const f[] = { "false", "False", "FALSE" };
	static const char *const strings[] = { "y", "Y", "yes", "Yes", "YES", "on", "On", "ON",
					       "n", "N", "no", "No", "NO", "off", "Off", "OFF" };
	char q[32];
	for (size_t i = 0; i < ARRAY_LEN(t); i++) {
		CHECK_STR(scalar(YSCHEMA_CORE, t[i]), "true");
		CHECK_STR(scalar(YSCHEMA_CORE, f[i]), "false");
		fmt_buf(q, sizeof q, "\"%s\"", t[i]);
		CHECK_STR(scalar(YSCHEMA_CORE, q), q);
	}
	for (size_t i = 0; i < ARRAY_LEN(strings); i++) {
		fmt_buf(q, sizeof q, "\"%s\"", strings[i]);
		CHECK_STR(scalar(YSCHEMA_CORE, strings[i]), q);
	}
}

static void test_nulls(void)
{
	static const char *const n[] = { "~", "null", "Null", "NULL", "" };
	for (size_t i = 0; i < ARRAY_LEN(n); i++) {
		CHECK_STR(scalar(YSCHEMA_K8S, n[i]), "null");
		CHECK_STR(scalar(YSCHEMA_CORE, n[i]), "null");
	}
	CHECK_STR(scalar(YSCHEMA_K8S, "\"~\""), "\"~\"");
	CHECK_STR(scalar(YSCHEMA_CORE, "''"), "\"\"");
	CHECK_STR(scalar(YSCHEMA_CORE, "nULL"), "\"nULL\"");
}

static void test_numbers(void)
{
	/* Kubernetes: goyaml.v2 (Go ParseInt base 0 after removing '_') */
	CHECK_STR(scalar(YSCHEMA_K8S, "42"), "42");
	CHECK_STR(scalar(YSCHEMA_K8S, "-12"), "-12");
	CHECK_STR(scalar(YSCHEMA_K8S, "+7"), "7");
	CHECK_STR(scalar(YSCHEMA_K8S, "0x1F"), "31");
	CHECK_STR(scalar(YSCHEMA_K8S, "0o17"), "15");
	CHECK_STR(scalar(YSCHEMA_K8S, "0644"), "420");
	CHECK_STR(scalar(YSCHEMA_K8S, "0b101"), "5");
	CHECK_STR(scalar(YSCHEMA_K8S, "-0b101"), "-5");
	CHECK_STR(scalar(YSCHEMA_K8S, "1_000"), "1000");
	CHECK_STR(scalar(YSCHEMA_K8S, "08"), "8.0");   /* not octal: goyaml falls to a float */
	CHECK_STR(scalar(YSCHEMA_K8S, "9223372036854775807"), "9223372036854775807");
	CHECK_STR(scalar(YSCHEMA_K8S, "-9223372036854775808"), "-9223372036854775808");
	CHECK_STR(scalar(YSCHEMA_K8S, "1.5"), "1.5");
	CHECK_STR(scalar(YSCHEMA_K8S, "1e3"), "1000.0");
	CHECK_STR(scalar(YSCHEMA_K8S, ".5"), "0.5");
	CHECK_STR(scalar(YSCHEMA_K8S, "-.5"), "-0.5");
	CHECK_STR(scalar(YSCHEMA_K8S, "1e400"), "\"1e400\"");   /* Go: out of range, a string */
	CHECK_STR(scalar(YSCHEMA_K8S, "0x"), "\"0x\"");
	CHECK_STR(scalar(YSCHEMA_K8S, "1:20"), "\"1:20\"");      /* base 60 is not read */
	CHECK_STR(scalar(YSCHEMA_K8S, "2001-12-14"), "\"2001-12-14\"");
	CHECK_STR(scalar(YSCHEMA_K8S, "1.2.3"), "\"1.2.3\"");
	CHECK_STR(scalar(YSCHEMA_K8S, "500m"), "\"500m\"");
	CHECK_STR(scalar(YSCHEMA_K8S, "-x"), "\"-x\"");
	CHECK_STR(scalar(YSCHEMA_K8S, "\"42\""), "\"42\"");
	/* YAML 1.2 core */
	CHECK_STR(scalar(YSCHEMA_CORE, "42"), "42");
	CHECK_STR(scalar(YSCHEMA_CORE, "017"), "17");
	CHECK_STR(scalar(YSCHEMA_CORE, "0o17"), "15");
	CHECK_STR(scalar(YSCHEMA_CORE, "0x1F"), "31");
	CHECK_STR(scalar(YSCHEMA_CORE, "0b101"), "\"0b101\"");
	CHECK_STR(scalar(YSCHEMA_CORE, "1_000"), "\"1_000\"");
	CHECK_STR(scalar(YSCHEMA_CORE, "-3"), "-3");
	CHECK_STR(scalar(YSCHEMA_CORE, "2.5e1"), "25.0");
	CHECK_STR(scalar(YSCHEMA_CORE, "1:20"), "\"1:20\"");
	/* infinities and NaN: YAML floats, but JSON cannot hold them */
	static const char *const nf[] = { ".inf", "-.Inf", "+.INF", ".nan", ".NaN" };
	for (size_t i = 0; i < ARRAY_LEN(nf); i++) {
		CHECK_STR(scalar(YSCHEMA_K8S, nf[i]), "");
		CHECK_CONTAINS(errbuf, "is not a finite number");
		CHECK_STR(scalar(YSCHEMA_CORE, nf[i]), "");
	}
	CHECK_STR(scalar(YSCHEMA_CORE, "1e400"), "");
	CHECK_STR(errbuf, "t.yaml:1:4: '1e400' is not a finite number and JSON cannot hold it "
			  "(quote it for a string)");
}

static void test_tags(void)
{
	CHECK_STR(scalar(YSCHEMA_K8S, "!!str 123"), "\"123\"");
	CHECK_STR(scalar(YSCHEMA_K8S, "! 123"), "\"123\"");
	CHECK_STR(scalar(YSCHEMA_K8S, "!!int \"12\""), "12");
	CHECK_STR(scalar(YSCHEMA_K8S, "!!float 1"), "1.0");
	CHECK_STR(scalar(YSCHEMA_K8S, "!!bool yes"), "true");
	CHECK_STR(scalar(YSCHEMA_CORE, "!!bool true"), "true");
	CHECK_STR(scalar(YSCHEMA_K8S, "!!null ~"), "null");
	CHECK_STR(scalar(YSCHEMA_K8S, "!!timestamp 2001-12-14"), "\"2001-12-14\"");
	CHECK_STR(scalar(YSCHEMA_K8S, "!!int abc"), "");
	CHECK_STR(errbuf, "t.yaml:1:4: 'abc' is tagged !!int but is not an integer");
	CHECK_STR(scalar(YSCHEMA_CORE, "!!bool yes"), "");
	CHECK_STR(errbuf, "t.yaml:1:4: 'yes' is tagged !!bool but is not a boolean");
	CHECK_STR(scalar(YSCHEMA_K8S, "!!binary aGVsbG8="), "");
	CHECK_CONTAINS(errbuf, "t.yaml:1:4: tag '!!binary' is not supported");
	CHECK_STR(scalar(YSCHEMA_K8S, "!foo x"), "");
	CHECK_CONTAINS(errbuf, "t.yaml:1:4: unknown tag '!foo'");
	CHECK_STR(scalar(YSCHEMA_K8S, "!!map {a: 1}"), "{\"a\":1}");
	CHECK_STR(scalar(YSCHEMA_K8S, "!!seq [1]"), "[1]");
	CHECK_STR(scalar(YSCHEMA_K8S, "!!seq {a: 1}"), "");
	CHECK_STR(errbuf, "t.yaml:1:4: tag 'tag:yaml.org,2002:seq' is not allowed on a mapping "
			  "(expected !!map or no tag)");
}

static void test_keys(void)
{
	struct ydoc *d = load(YSCHEMA_K8S, "yes: a\n0x10: b\n1.5: c\n1e6: e\n\"no\": d\n12: f\n");
	CHECK(d != NULL);
	if (d) {
		char *j = json_dumps(ydoc_root(d), JSON_COMPACT);
		CHECK_STR(j, "{\"true\":\"a\",\"16\":\"b\",\"1.5\":\"c\",\"1e+06\":\"e\",\"no\":\"d\","
			     "\"12\":\"f\"}");
		free(j);
		ydoc_free(d);
	}
	d = load(YSCHEMA_CORE, "yes: a\n0x10: b\n~: c\n");
	CHECK(d != NULL);
	if (d) {
		char *j = json_dumps(ydoc_root(d), JSON_COMPACT);
		CHECK_STR(j, "{\"yes\":\"a\",\"0x10\":\"b\",\"~\":\"c\"}");
		free(j);
		ydoc_free(d);
	}
	CHECK(!load(YSCHEMA_K8S, "a: 1\n~: 2\n"));
	CHECK_STR(errbuf, "t.yaml:2:1: a null mapping key cannot be converted to JSON (quote it for "
			  "a string)");
	CHECK(!load(YSCHEMA_K8S, "a: 1\n[x, y]: 2\n"));
	CHECK_STR(errbuf, "t.yaml:2:1: expected a scalar mapping key, found a sequence (complex "
			  "keys are not supported)");
	CHECK(!load(YSCHEMA_CORE, "a: 1\n&k b: 2\n"));
	CHECK_STR(errbuf, "t.yaml:2:1: anchors on mapping keys are not supported");
	/* duplicates, with both positions */
	CHECK(!load(YSCHEMA_CORE, "spec:\n  a: 1\n  b: 2\n  a: 3\n"));
	CHECK_STR(errbuf, "t.yaml:4:3: duplicate key 'a' (first at 2:3)");
	CHECK(!load(YSCHEMA_K8S, "x: {on: 1, \"true\": 2}\n"));
	CHECK_STR(errbuf, "t.yaml:1:12: duplicate key 'true' (first at 1:5)");
	CHECK(!load(YSCHEMA_CORE, "a: 1\n\"a\": 2\n"));
	CHECK_STR(errbuf, "t.yaml:2:1: duplicate key 'a' (first at 1:1)");
	/* an alias to a scalar can be a key */
	d = load(YSCHEMA_K8S, "a: &k name\n*k : v\n");
	CHECK(d && json_is_string(json_object_get(ydoc_root(d), "name")));
	ydoc_free(d);
}

static void test_positions(void)
{
	const char *text = "# comment\n"
			   "metadata:\n"
			   "  name: web\n"
			   "  labels: {app: web, on: true}\n"
			   "spec:\n"
			   "  hostNetwork: true\n"
			   "  containers:\n"
			   "  - name: \"main\"\n"
			   "    ports: [80, 443]\n"
			   "  - null\n";
	struct ydoc *d = load(YSCHEMA_K8S, text);
	CHECK(d != NULL);
	if (!d)
		return;
	const json_t *root = ydoc_root(d), *md = json_object_get(root, "metadata");
	const json_t *spec = json_object_get(root, "spec");
	const json_t *cs = json_object_get(spec, "containers");
	const json_t *c0 = json_array_get(cs, 0);
	uint32_t l = 0, c = 0;
	CHECK(ydoc_pos(d, root, &l, &c) && l == 2 && c == 1);
	CHECK_INT(ydoc_line(d), 2);
	CHECK(ydoc_pos(d, md, &l, &c) && l == 3 && c == 3);
	CHECK(ydoc_pos(d, json_object_get(md, "name"), &l, &c) && l == 3 && c == 9);
	CHECK(ydoc_key_pos(d, root, "spec", &l, &c) && l == 5 && c == 1);
	CHECK(ydoc_key_pos(d, spec, "hostNetwork", &l, &c) && l == 6 && c == 3);
	/* a boolean is a shared singleton: found through its parent */
	CHECK(!ydoc_pos(d, json_object_get(spec, "hostNetwork"), &l, &c));
	CHECK(ydoc_member_pos(d, spec, "hostNetwork", &l, &c) && l == 6 && c == 16);
	const json_t *labels = json_object_get(md, "labels");
	CHECK(ydoc_pos(d, labels, &l, &c) && l == 4 && c == 11);
	CHECK(ydoc_key_pos(d, labels, "true", &l, &c) && l == 4 && c == 22);
	CHECK(ydoc_member_pos(d, labels, "true", &l, &c) && l == 4 && c == 26);
	CHECK(ydoc_pos(d, cs, &l, &c) && l == 8 && c == 3);
	CHECK(ydoc_pos(d, c0, &l, &c) && l == 8 && c == 5);
	CHECK(ydoc_pos(d, json_object_get(c0, "name"), &l, &c) && l == 8 && c == 11);   /* quote */
	CHECK(ydoc_index_pos(d, json_object_get(c0, "ports"), 1, &l, &c) && l == 9 && c == 17);
	CHECK(ydoc_index_pos(d, cs, 1, &l, &c) && l == 10 && c == 5);
	CHECK(!ydoc_index_pos(d, cs, 2, &l, &c));
	CHECK(!ydoc_key_pos(d, spec, "nope", &l, &c));
	CHECK(!ydoc_member_pos(d, cs, "name", &l, &c));

	/* the jdoc converter gets every line, booleans and keys included */
	struct jdoc jd;
	char err[128];
	jdoc_init(&jd);
	CHECK_INT(jdoc_from_jansson(&jd, root, ydoc_line_fn, d, err, sizeof err), 0);
	static const uint32_t want[] = {
		2,                                 /* root */
		2, 3,                              /* metadata: */
		3, 3,                              /* name: web */
		4, 4,                              /* labels: */
		4, 4, 4, 4,                        /* app: web, true: true */
		5, 6,                              /* spec: */
		6, 6,                              /* hostNetwork: true */
		7, 8,                              /* containers: */
		8, 8, 8, 9, 9, 9, 9,               /* - name: "main", ports: [80, 443] */
		10,                                /* - null */
	};
	CHECK_INT(jd.count, ARRAY_LEN(want));
	for (uint32_t i = 0; i < jd.count && i < ARRAY_LEN(want); i++)
		if (jd.nodes[i].line != want[i]) {
			fprintf(stderr, "  jdoc node %u: line %u, expected %u\n", i, jd.nodes[i].line,
				want[i]);
			CHECK(jd.nodes[i].line == want[i]);
		}
	/* a second conversion of the same document gives the same lines */
	struct jdoc jd2;
	jdoc_init(&jd2);
	CHECK_INT(jdoc_from_jansson(&jd2, root, ydoc_line_fn, d, err, sizeof err), 0);
	for (uint32_t i = 0; i < jd2.count && i < jd.count; i++)
		CHECK(jd2.nodes[i].line == jd.nodes[i].line);
	jdoc_release(&jd2);
	jdoc_release(&jd);
	ydoc_free(d);

	/* CRLF line ends, and a BOM at the start */
	d = load(YSCHEMA_CORE, "\xEF\xBB\xBF" "a: 1\r\nb:\r\n  c: true\r\n");
	CHECK(d != NULL);
	if (d) {
		const json_t *b = json_object_get(ydoc_root(d), "b");
		CHECK(ydoc_pos(d, b, &l, &c) && l == 3 && c == 3);
		CHECK(ydoc_member_pos(d, b, "c", &l, &c) && l == 3 && c == 6);
		ydoc_free(d);
	}
}

static void test_syntax_errors(void)
{
	CHECK(!load(YSCHEMA_CORE, "a:\n\tb: 1\n"));
	CHECK_STR(errbuf, "t.yaml:2:1: found a tab character where indentation was expected "
			  "(indent with spaces)");
	CHECK(!load(YSCHEMA_CORE, "spec:\n  a: 1\n\tb: 2\n"));
	CHECK_STR(errbuf, "t.yaml:3:1: found a tab character where indentation was expected "
			  "(indent with spaces)");
	CHECK(!load(YSCHEMA_CORE, "spec:\n    a: 1\n  b: 2\n"));
	CHECK_STR(errbuf, "t.yaml:3:3: expected a mapping key at this indentation (check the "
			  "indentation above) (in the block mapping that starts at 1:1)");
	CHECK(!load(YSCHEMA_CORE, "a: b: c\n"));
	CHECK_STR(errbuf, "t.yaml:1:5: found ':' where no mapping value is allowed (quote a value "
			  "that contains ': ', or fix the indentation)");
	CHECK(!load(YSCHEMA_CORE, "a: [1, 2\nb: 3\n"));
	CHECK_CONTAINS(errbuf, "(in the flow sequence that starts at 1:4)");
	CHECK(!load(YSCHEMA_CORE, "a: \"open\n"));
	CHECK_STR(errbuf, "t.yaml:2:1: unexpected end of the document (in the quoted scalar that "
			  "starts at 1:4)");
	CHECK(!load(YSCHEMA_CORE, "a: @x\n"));
	CHECK_STR(errbuf, "t.yaml:1:4: found '@', which cannot start a value (quote the value)");
	CHECK(!load(YSCHEMA_CORE, "a: 1\nb: \xff\n"));
	CHECK_STR(errbuf, "t.yaml:2:4: invalid leading UTF-8 octet (expected UTF-8 text)");
	CHECK(!load(YSCHEMA_CORE, "\xff\xfe" "a\0:\0"));
	CHECK_STR(errbuf, "t.yaml: input is UTF-16 (expected UTF-8 text)");
	CHECK(!load(YSCHEMA_CORE, ""));
	CHECK_STR(errbuf, "t.yaml:1:1: expected a YAML document, found none");
	CHECK(!load(YSCHEMA_CORE, "# only a comment\n---\n"));
	CHECK_STR(errbuf, "t.yaml:1:1: expected a YAML document, found none");
	CHECK(!load(YSCHEMA_CORE, "a: 1\n---\nb: 2\n"));
	CHECK_STR(errbuf, "t.yaml:3:1: expected a single document, found another one");
}

/* Read every document and item of text: a log of what came out, one line each. */
static const char *stream(const char *text, enum yschema s, const struct ylimits *lim,
			  unsigned flags, struct ystats *st)
{
	static char log[8192];
	struct buf b;
	buf_init(&b, sizeof log - 1);
	struct yreader *r = yreader_new_mem(text, strlen(text), "s.yaml", s, lim, flags);
	struct ydoc *d;
	struct yerror e;
	enum yread rc;
	while ((rc = yreader_next(r, &d, &e)) != YR_END) {
		if (rc == YR_DOC || rc == YR_ITEM) {
			char *j = json_dumps(ydoc_root(d), JSON_COMPACT | JSON_ENCODE_ANY);
			buf_printf(&b, "%s %u:", rc == YR_DOC ? "doc" : "item", ydoc_line(d));
			if (rc == YR_ITEM)
				buf_printf(&b, "[%lld]", (long long)ydoc_item(d));
			if (ydoc_streamed_items(d) >= 0)
				buf_printf(&b, "(%lld items)", (long long)ydoc_streamed_items(d));
			buf_printf(&b, " %s\n", j);
			free(j);
			ydoc_free(d);
		} else {
			buf_printf(&b, "%s %s\n", rc == YR_BROKEN ? "broken" : "fatal", e.text);
		}
	}
	if (st)
		yreader_stats(r, st);
	yreader_free(r);
	fmt_buf(log, sizeof log, "%s", buf_cstr(&b) ? buf_cstr(&b) : "(overflow)");
	buf_release(&b);
	return log;
}

static void test_multi_doc_recovery(void)
{
	struct ystats st;
	const char *text = "a: 1\n"
			   "---\n"
			   "b: [1, 2\n"          /* unclosed: libyaml's error is sticky */
			   "c: 3\n"
			   "---\n"
			   "d: 4\n"
			   "---\n"
			   "e:\n"
			   "\tf: 5\n"
			   "--- # trailing comment\n"
			   "g: {x: 1, x: 2}\n"   /* not a syntax error: skipped to the document's end */
			   "...\n"
			   "h: 6\n"
			   "---\n"
			   "---\n";
	CHECK_STR(stream(text, YSCHEMA_CORE, NULL, 0, &st),
		  "doc 1: {\"a\":1}\n"
		  "broken s.yaml:4:2: expected ',' or ']' (in the flow sequence that starts at 3:4)\n"
		  "doc 6: {\"d\":4}\n"
		  "broken s.yaml:9:1: found a tab character where indentation was expected (indent "
		  "with spaces)\n"
		  "broken s.yaml:11:11: duplicate key 'x' (first at 11:5)\n"
		  "doc 13: {\"h\":6}\n");
	CHECK_INT(st.docs, 3);
	CHECK_INT(st.broken, 3);
	CHECK_INT(st.empty, 2);
	CHECK_INT(st.bytes, strlen(text));
	/* directives and document end markers */
	CHECK_STR(stream("%YAML 1.1\n---\na: 1\n...\n%YAML 1.1\n---\nb: 2\n", YSCHEMA_K8S, NULL, 0,
			 &st),
		  "doc 3: {\"a\":1}\ndoc 7: {\"b\":2}\n");
	/* a bare document, then a `---` with content on its line, then a block scalar whose
	 * text looks like markers (indented, so not markers) */
	CHECK_STR(stream("a: 1\n--- b\n--- |\n  ---\n  ...\n", YSCHEMA_K8S, NULL, 0, &st),
		  "doc 1: {\"a\":1}\ndoc 2: \"b\"\ndoc 3: \"---\\n...\\n\"\n");
	/* only comments: nothing, and no empty document */
	CHECK_STR(stream("# nothing\n\n# here\n", YSCHEMA_K8S, NULL, 0, &st), "");
	CHECK_INT(st.empty, 0);
	/* explicit null documents are empty too */
	CHECK_STR(stream("---\n~\n---\nnull\n---\na: 1\n---\n", YSCHEMA_K8S, NULL, 0, &st),
		  "doc 6: {\"a\":1}\n");
	CHECK_INT(st.empty, 3);
	/* a broken document whose error is on its last line, followed by more */
	CHECK_STR(stream("x: 'a\n---\nz: 1\n", YSCHEMA_K8S, NULL, 0, &st),
		  "broken s.yaml:2:1: unexpected end of the document (in the quoted scalar that "
		  "starts at 1:4)\ndoc 3: {\"z\":1}\n");
}

static void test_limits(void)
{
	struct ystats st;
	struct ylimits lim = ylimits_manifest;
	/* depth: a flow bomb is cut at the limit and the next document is still read */
	struct buf b;
	buf_init(&b, 4 << 20);
	for (int i = 0; i < 5000; i++)
		buf_addc(&b, '[');
	buf_adds(&b, "\n---\nok: 1\n");
	CHECK_STR(stream(buf_cstr(&b), YSCHEMA_K8S, NULL, 0, &st),
		  "broken s.yaml:1:101: nesting deeper than 100 levels\ndoc 3: {\"ok\":1}\n");
	buf_reset(&b);
	for (int i = 0; i < 100; i++)
		buf_addc(&b, '[');
	for (int i = 0; i < 100; i++)
		buf_addc(&b, ']');
	char want[300];
	size_t k = fmt_buf(want, sizeof want, "doc 1: ");
	for (int i = 0; i < 100; i++)
		want[k++] = '[';
	for (int i = 0; i < 100; i++)
		want[k++] = ']';
	fmt_buf(want + k, sizeof want - k, "\n");
	CHECK_STR(stream(buf_cstr(&b), YSCHEMA_K8S, NULL, 0, &st), want);
	/* nodes */
	lim.max_nodes = 5;
	CHECK_STR(stream("[1, 2, 3, 4]\n---\n[1, 2, 3, 4, 5]\n---\n[1]\n", YSCHEMA_K8S, &lim, 0, &st),
		  "doc 1: [1,2,3,4]\nbroken s.yaml:3:14: document has more than 5 nodes\n"
		  "doc 5: [1]\n");
	/* scalar length */
	lim = ylimits_manifest;
	lim.max_scalar = 8;
	CHECK_STR(stream("a: abcdefgh\n---\na: abcdefghi\n---\nabcdefghi: x\n", YSCHEMA_K8S, &lim,
			 0, &st),
		  "doc 1: {\"a\":\"abcdefgh\"}\nbroken s.yaml:3:4: scalar is longer than 8 bytes\n"
		  "broken s.yaml:5:1: scalar is longer than 8 bytes\n");
	/* document size: the big one is cut off, its neighbours read */
	lim = ylimits_manifest;
	lim.max_doc = 100000;
	buf_reset(&b);
	buf_adds(&b, "a: 1\n---\nbig:\n");
	for (int i = 0; i < 20000; i++)
		buf_adds(&b, "- xxxxxxxx\n");
	buf_adds(&b, "---\nc: 3\n");
	CHECK_STR(stream(buf_cstr(&b), YSCHEMA_K8S, &lim, 0, &st),
		  "doc 1: {\"a\":1}\nbroken s.yaml:2:1: document starting here is longer than 100000 "
		  "characters\ndoc 20005: {\"c\":3}\n");
	/* the whole input */
	lim = ylimits_manifest;
	lim.max_input = 1000;
	CHECK_STR(stream(buf_cstr(&b), YSCHEMA_K8S, &lim, 0, &st),
		  "doc 1: {\"a\":1}\nfatal s.yaml: input is larger than 1000 bytes\n");
	char err[200];
	while (b.len <= (1u << 20) && !b.failed)
		buf_adds(&b, "# padding padding padding padding padding padding padding padding\n");
	CHECK(!ydoc_load_mem("p.yaml", buf_cstr(&b), b.len, YSCHEMA_CORE, NULL, err, sizeof err));
	CHECK_STR(err, "p.yaml: file is larger than 1048576 bytes");
	buf_release(&b);
}

static void test_aliases(void)
{
	struct ystats st;
	const char *text = "base: &b {x: [1, true], w: &s str}\n"
			   "copy: *b\n"
			   "s2: *s\n";
	struct ydoc *d = load(YSCHEMA_K8S, text);
	CHECK(d != NULL);
	if (d) {
		char *j = json_dumps(ydoc_root(d), JSON_COMPACT);
		CHECK_STR(j, "{\"base\":{\"x\":[1,true],\"w\":\"str\"},\"copy\":{\"x\":[1,true],\"w\":"
			     "\"str\"},\"s2\":\"str\"}");
		free(j);
		const json_t *root = ydoc_root(d), *copy = json_object_get(root, "copy");
		uint32_t l, c;
		CHECK(copy != json_object_get(root, "base"));   /* expanded, not shared */
		CHECK(ydoc_pos(d, copy, &l, &c) && l == 2 && c == 7);   /* the alias */
		/* inside the copy: where the content was written */
		CHECK(ydoc_index_pos(d, json_object_get(copy, "x"), 1, &l, &c) && l == 1 && c == 18);
		CHECK(ydoc_key_pos(d, copy, "w", &l, &c) && l == 1 && c == 25);
		ydoc_free(d);
	}
	CHECK(!load(YSCHEMA_K8S, "a: *nope\n"));
	CHECK_STR(errbuf, "t.yaml:1:4: alias *nope refers to an undefined anchor");
	CHECK(!load(YSCHEMA_K8S, "a: &x [1, *x]\n"));
	CHECK_STR(errbuf, "t.yaml:1:11: alias *x refers to a node that contains it");
	/* the billion laughs: refused quickly, before anything big is built */
	struct buf b;
	buf_init(&b, 1 << 20);
	buf_adds(&b, "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
	for (char c = 'b'; c <= 'i'; c++) {
		buf_printf(&b, "%c: &%c [", c, c);
		for (int i = 0; i < 9; i++)
			buf_printf(&b, "%s*%c", i ? "," : "", c - 1);
		buf_adds(&b, "]\n");
	}
	buf_adds(&b, "---\nafter: 1\n");
	uint64_t t0 = now_us();
	CHECK_STR(stream(buf_cstr(&b), YSCHEMA_K8S, NULL, 0, &st),
		  "broken s.yaml:6:8: aliases expand to more than 100000 nodes (an alias bomb?)\n"
		  "doc 11: {\"after\":1}\n");
	CHECK(now_us() - t0 < 2000000);
	CHECK(st.peak_nodes <= 100000 + 1000);
	/* a wide bomb under the node limit still stops at the alias budget */
	struct ylimits lim = ylimits_manifest;
	lim.max_alias_nodes = 50;
	CHECK_STR(stream("a: &a [1,2,3,4,5,6,7,8,9]\nb: [*a,*a,*a,*a,*a,*a]\n", YSCHEMA_K8S, &lim, 0,
			 &st),
		  "broken s.yaml:2:20: aliases expand to more than 50 nodes (an alias bomb?)\n");
	/* depth through aliases */
	lim = ylimits_manifest;
	lim.max_depth = 4;
	CHECK_STR(stream("a: &a [[[1]]]\nb: [*a]\n", YSCHEMA_K8S, &lim, 0, &st),
		  "broken s.yaml:2:5: nesting deeper than 4 levels (through alias *a)\n");
	buf_release(&b);
}

static void test_merge_keys(void)
{
	const char *text = "base: &base {a: 1, b: 2}\n"
			   "over: &o {b: 20, c: 30}\n"
			   "m1:\n"
			   "  x: 0\n"
			   "  <<: *base\n"
			   "  b: 3\n"
			   "m2:\n"
			   "  b: 9\n"
			   "  <<: [*o, *base]\n"
			   "  d: 4\n"
			   "m3: {<<: {z: true}, w: 1}\n"
			   "m4: &m4 {<<: *base, a: 5}\n"
			   "m5: *m4\n";
	struct ydoc *d = load(YSCHEMA_K8S, text);
	CHECK(d != NULL);
	if (!d)
		return;
	const json_t *root = ydoc_root(d);
	char *j = json_dumps(root, JSON_COMPACT);
	CHECK_STR(j, "{\"base\":{\"a\":1,\"b\":2},\"over\":{\"b\":20,\"c\":30},"
		     "\"m1\":{\"x\":0,\"a\":1,\"b\":3},"
		     "\"m2\":{\"b\":20,\"c\":30,\"a\":1,\"d\":4},"
		     "\"m3\":{\"z\":true,\"w\":1},"
		     "\"m4\":{\"b\":2,\"a\":5},"
		     "\"m5\":{\"b\":2,\"a\":5}}");
	free(j);
	uint32_t l, c;
	const json_t *m1 = json_object_get(root, "m1"), *m3 = json_object_get(root, "m3");
	CHECK(ydoc_key_pos(d, m1, "b", &l, &c) && l == 6 && c == 3);
	CHECK(ydoc_key_pos(d, m1, "a", &l, &c) && l == 1 && c == 14);
	CHECK(ydoc_member_pos(d, m3, "z", &l, &c) && l == 11 && c == 14);
	/* lines through the jdoc walk skip what merges discarded */
	struct jdoc jd;
	char err[128];
	jdoc_init(&jd);
	CHECK_INT(jdoc_from_jansson(&jd, m3, ydoc_line_fn, d, err, sizeof err), 0);
	CHECK_INT(jd.count, 5);
	if (jd.count == 5) {
		CHECK_INT(jd.nodes[2].line, 11);   /* the true */
		CHECK_INT(jd.nodes[4].line, 11);
	}
	jdoc_release(&jd);
	ydoc_free(d);
	CHECK(!load(YSCHEMA_K8S, "a:\n  <<: [1]\n"));
	CHECK_STR(errbuf, "t.yaml:2:8: merge key << expects mappings, found a number");
	CHECK(!load(YSCHEMA_K8S, "a:\n  <<: x\n"));
	CHECK_STR(errbuf, "t.yaml:2:7: merge key << expects a mapping or a sequence of mappings, "
			  "found a string");
	/* in YAML 1.2 core, << is an ordinary key */
	d = load(YSCHEMA_CORE, "<<: {a: 1}\n");
	CHECK(d && json_object_get(ydoc_root(d), "<<"));
	ydoc_free(d);
}

/* A List of n Pods (kubectl's order: apiVersion, items, kind, metadata). */
static void make_list(struct buf *b, int n, bool flow)
{
	if (flow) {
		buf_adds(b, "{\"apiVersion\": \"v1\", \"items\": [\n");
		for (int i = 0; i < n; i++)
			buf_printf(b, "%s{\"kind\": \"Pod\", \"metadata\": {\"name\": \"p%d\"}}\n",
				   i ? "," : "", i);
		buf_adds(b, "], \"kind\": \"List\", \"metadata\": {\"resourceVersion\": \"\"}}\n");
		return;
	}
	buf_adds(b, "apiVersion: v1\nitems:\n");
	for (int i = 0; i < n; i++)
		buf_printf(b, "- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: p%d\n"
			      "    labels: {app: web, n: \"%d\"}\n  spec:\n    hostNetwork: true\n",
			   i, i);
	buf_adds(b, "kind: List\nmetadata:\n  resourceVersion: \"\"\n");
}

static void test_list_streaming(void)
{
	for (int flow = 0; flow < 2; flow++) {
		struct buf b;
		buf_init(&b, 16 << 20);
		make_list(&b, 2000, flow);
		long base = ydoc_live();
		struct yreader *r = yreader_new_mem(b.data, b.len, "list.yaml", YSCHEMA_K8S, NULL,
						    YREADER_STREAM_ITEMS);
		struct ydoc *d;
		struct yerror e;
		enum yread rc;
		int items = 0, docs = 0;
		bool order = true, live = true, lines = true;
		while ((rc = yreader_next(r, &d, &e)) != YR_END) {
			if (rc == YR_ITEM) {
				char want[16];
				fmt_buf(want, sizeof want, "p%d", items);
				const json_t *name = json_object_get(
					json_object_get(ydoc_root(d), "metadata"), "name");
				order &= json_is_string(name) &&
					 strcmp(json_string_value(name), want) == 0 &&
					 ydoc_item(d) == items;
				/* the reader holds nothing of earlier items: alive are this item and
				 * the List's own document, still being read */
				live &= ydoc_live() == base + 2;
				uint32_t l, c;
				const json_t *spec = json_object_get(ydoc_root(d), "spec");
				if (!flow)
					lines &= ydoc_member_pos(d, spec, "hostNetwork", &l, &c) &&
						 l == 3u + 7u * (uint32_t)items + 6u && c == 18;
				items++;
				ydoc_free(d);
			} else if (rc == YR_DOC) {
				docs++;
				CHECK_INT(ydoc_streamed_items(d), 2000);
				CHECK(!json_object_get(ydoc_root(d), "items"));
				CHECK_STR(json_string_value(json_object_get(ydoc_root(d), "kind")),
					  "List");
				ydoc_free(d);
			} else {
				CHECK(0);
			}
		}
		struct ystats st;
		yreader_stats(r, &st);
		yreader_free(r);
		CHECK_INT(items, 2000);
		CHECK_INT(docs, 1);
		CHECK(order);
		CHECK(live);
		CHECK(lines);
		CHECK_INT(st.items, 2000);
		/* memory bounded by one item and the List's own members, not by 2000 items */
		CHECK(st.peak_nodes < 40);
		CHECK_INT(ydoc_live(), base);
		buf_release(&b);
	}
}

static void test_list_edges(void)
{
	/* kind before items, not a List: read whole */
	CHECK_STR(stream("kind: Foo\nitems: [1, 2]\n", YSCHEMA_K8S, NULL, YREADER_STREAM_ITEMS,
			 NULL),
		  "doc 1: {\"kind\":\"Foo\",\"items\":[1,2]}\n");
	/* kind before items, a typed list: streamed */
	CHECK_STR(stream("kind: PodList\nitems: [{a: 1}, {a: 2}]\n", YSCHEMA_K8S, NULL,
			 YREADER_STREAM_ITEMS, NULL),
		  "item 2:[0] {\"a\":1}\nitem 2:[1] {\"a\":2}\ndoc 1:(2 items) {\"kind\":\"PodList\"}\n");
	/* without the flag, or not at the top level: not streamed */
	CHECK_STR(stream("items: [1]\n", YSCHEMA_K8S, NULL, 0, NULL), "doc 1: {\"items\":[1]}\n");
	CHECK_STR(stream("a: {items: [1]}\n", YSCHEMA_K8S, NULL, YREADER_STREAM_ITEMS, NULL),
		  "doc 1: {\"a\":{\"items\":[1]}}\n");
	/* broken items do not stop the others; a duplicate `items` is still a duplicate */
	CHECK_STR(stream("items:\n- {a: 1, a: 2}\n- [*x]\n- ok\n- {b: [1, {c: {d: 1, d: 2}}, 3]}\n"
			 "- last\nkind: List\nitems: []\n---\nnext: 1\n",
			 YSCHEMA_K8S, NULL, YREADER_STREAM_ITEMS, NULL),
		  "broken s.yaml:2:10: duplicate key 'a' (first at 2:4)\n"
		  "broken s.yaml:3:4: alias *x refers to an anchor outside this List item (anchors "
		  "do not cross items while a List is streamed)\n"
		  "item 4:[2] \"ok\"\n"
		  "broken s.yaml:5:22: duplicate key 'd' (first at 5:16)\n"
		  "item 6:[4] \"last\"\n"
		  "broken s.yaml:8:1: duplicate key 'items' (first at 1:1)\n"
		  "doc 10: {\"next\":1}\n");
	/* a syntax error inside the items loses the rest of that document only */
	CHECK_STR(stream("items:\n- a: 1\n- b: [\n- c: 3\nkind: List\n---\nnext: 1\n", YSCHEMA_K8S,
			 NULL, YREADER_STREAM_ITEMS, NULL),
		  "item 2:[0] {\"a\":1}\n"
		  "broken s.yaml:4:1: expected a value\n"
		  "doc 7: {\"next\":1}\n");
	/* an item larger than max_doc */
	struct ylimits lim = ylimits_manifest;
	lim.max_doc = 2000;
	struct buf b;
	buf_init(&b, 1 << 20);
	buf_adds(&b, "items:\n- small\n- ");
	for (int i = 0; i < 3000; i++)
		buf_addc(&b, 'x');
	buf_adds(&b, "\nkind: List\n---\nnext: 1\n");
	CHECK_STR(stream(buf_cstr(&b), YSCHEMA_K8S, &lim, YREADER_STREAM_ITEMS, NULL),
		  "item 2:[0] \"small\"\n"
		  "broken s.yaml:3:2000: List item is longer than 2000 characters (reading stopped "
		  "here)\n"
		  "doc 6: {\"next\":1}\n");
	buf_release(&b);
}

/* Write text to a temporary file; its path (static). */
static const char *tmpfile_with(const char *text, size_t n)
{
	static char path[64];
	fmt_buf(path, sizeof path, "/tmp/posture-test-yaml-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		return NULL;
	size_t off = 0;
	while (off < n) {
		ssize_t w = write(fd, text + off, n - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(fd);
	return path;
}

static void test_fd_and_file(void)
{
	/* > 64 KiB so reads cross buffer boundaries; CRLF pairs land on every offset */
	struct buf b;
	buf_init(&b, 4 << 20);
	int n = 3000;
	for (int i = 0; i < n; i++)
		buf_printf(&b, "---\r\nname: doc%d\r\nvalue: %d\r\npad: %.*s\r\n", i, i, i % 37,
			   "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	buf_adds(&b, "---\r\nbroken: [\r\n---\r\nlast: true\r\n");
	const char *path = tmpfile_with(b.data, b.len);
	CHECK(path != NULL);
	for (int mode = 0; mode < 2 && path; mode++) {
		int fd = open(path, O_RDONLY);
		FILE *fp = mode ? fdopen(fd, "r") : NULL;
		struct yreader *r = mode ? yreader_new_file(fp, "f.yaml", YSCHEMA_K8S, NULL, 0)
					 : yreader_new_fd(fd, "f.yaml", YSCHEMA_K8S, NULL, 0);
		struct ydoc *d;
		struct yerror e;
		enum yread rc;
		int docs = 0;
		bool ok = true;
		uint32_t last_line = 0;
		while ((rc = yreader_next(r, &d, &e)) != YR_END) {
			if (rc == YR_DOC) {
				const json_t *v = json_object_get(ydoc_root(d), "value");
				uint32_t l = 0;
				if (v) {
					ok &= json_integer_value(v) == docs;
					ok &= ydoc_pos(d, ydoc_root(d), &l, NULL) &&
					      l == 2u + 4u * (uint32_t)docs;
				} else {
					last_line = ydoc_line(d);
				}
				docs++;
				ydoc_free(d);
			} else {
				CHECK_STR(e.text, "f.yaml:12003:1: expected a value");
			}
		}
		yreader_free(r);
		if (fp)
			fclose(fp);
		else
			close(fd);
		CHECK_INT(docs, n + 1);
		CHECK(ok);
		CHECK_INT(last_line, 12004);
	}
	if (path)
		unlink(path);
	/* a pipe: bytes arrive as they are written */
	int p[2];
	CHECK(pipe(p) == 0);
	const char *small = "a: 1\n---\nb: 2\n";
	CHECK(write(p[1], small, strlen(small)) == (ssize_t)strlen(small));
	close(p[1]);
	struct yreader *r = yreader_new_fd(p[0], "-", YSCHEMA_K8S, NULL, 0);
	struct ydoc *d;
	int docs = 0;
	while (yreader_next(r, &d, NULL) == YR_DOC) {
		docs++;
		ydoc_free(d);
	}
	yreader_free(r);
	close(p[0]);
	CHECK_INT(docs, 2);
	buf_release(&b);
}

/* Every allocation, failed in turn, is handled (ASan finds the leaks, if any). */
static void test_alloc_failures(void)
{
	const char *text = "base: &b {a: [1, 2], s: str}\n"
			   "m: {<<: *b, c: true}\n"
			   "c: *b\n"
			   "---\n"
			   "apiVersion: v1\n"
			   "items:\n"
			   "- {kind: Pod, metadata: {name: a}}\n"
			   "- {kind: Pod, metadata: {name: b, labels: {on: yes}}}\n"
			   "kind: List\n"
			   "---\n"
			   "k: [1, 2, x: 3]\n";
	int handled = 0;
	for (long nth = 1; nth < 2000; nth++) {
		xalloc_fail_at(nth);
		struct yreader *r = yreader_new_mem(text, strlen(text), "a.yaml", YSCHEMA_K8S, NULL,
						    YREADER_STREAM_ITEMS);
		if (r) {
			struct ydoc *d;
			struct yerror e;
			enum yread rc;
			while ((rc = yreader_next(r, &d, &e)) != YR_END)
				ydoc_free(d);
			yreader_free(r);
		}
		bool failed = xalloc_failed();
		xalloc_fail_at(0);
		if (!failed)
			break;
		handled++;
	}
	CHECK(handled > 50);
	for (long nth = 1; nth < 500; nth++) {
		char err[256];
		xalloc_fail_at(nth);
		struct ydoc *d = ydoc_load_mem("p.yaml", text, (size_t)(strstr(text, "---") - text),
					       YSCHEMA_CORE, NULL, err, sizeof err);
		bool failed = xalloc_failed();
		xalloc_fail_at(0);
		if (d)
			ydoc_free(d);
		else if (failed)
			CHECK(strstr(err, "out of memory") != NULL);
		if (!failed)
			break;
	}
	CHECK_INT(ydoc_live(), 0);
}

int main(void)
{
	xalloc_install_jansson();
	RUN(test_booleans_k8s);
	RUN(test_booleans_core);
	RUN(test_nulls);
	RUN(test_numbers);
	RUN(test_tags);
	RUN(test_keys);
	RUN(test_positions);
	RUN(test_syntax_errors);
	RUN(test_multi_doc_recovery);
	RUN(test_limits);
	RUN(test_aliases);
	RUN(test_merge_keys);
	RUN(test_list_streaming);
	RUN(test_list_edges);
	RUN(test_fd_and_file);
	RUN(test_alloc_failures);
	return test_summary("yaml");
}
