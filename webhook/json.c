/* json.c - strict, in-place JSON parser into a flat tree (jdoc), and jansson-to-jdoc conversion.
 *
 * Why not jansson on the hot path: json_loadb costs ~190 us for an 11 KB review here (a hash table
 * and an allocation per value); this parser makes one growing node array and unescapes strings
 * where they lie, so a review costs a few allocations in all. It is as strict as jansson with
 * JSON_REJECT_DUPLICATES|JSON_ALLOW_NUL: RFC 8259 grammar, UTF-8 validated, no lone surrogates,
 * duplicate keys refused. Numbers are checked against the grammar but never converted, so large
 * integers that jansson refuses are accepted (as Go's decoder, which the apiserver uses, does).
 * The other differences (tests/fuzz/fuzz_json.c checks the two parsers agree on everything else):
 * "\u0000" in an object key is accepted (jansson refuses it; keys carry lengths here); a raw NUL
 * byte right after a number or literal is refused (jansson 2.14 skips it: "[1\0]" loads as [1]);
 * nesting stops at jlimits.max_depth (jansson: 2048). */
#include "json.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <stdio.h>
#include <stdlib.h>

const struct jlimits jlimits_default = { 512, 4000000 };

void jdoc_init(struct jdoc *doc)
{
	doc->nodes = NULL;
	doc->count = doc->cap = 0;
	arena_init(&doc->arena, 0);
}

void jdoc_release(struct jdoc *doc)
{
	xfree(doc->nodes);
	doc->nodes = NULL;
	doc->count = doc->cap = 0;
	arena_release(&doc->arena);
}

const char *jn_type_name(const struct jnode *n)
{
	if (!n)
		return "nothing";
	switch (n->type) {
	case JT_NULL: return "null";
	case JT_FALSE:
	case JT_TRUE: return "boolean";
	case JT_NUMBER: return "number";
	case JT_STRING: return "string";
	case JT_ARRAY: return "array";
	case JT_OBJECT: return "object";
	}
	return "?";
}

const struct jnode *jn_get(const struct jnode *obj, const char *key)
{
	if (!obj || obj->type != JT_OBJECT)
		return NULL;
	size_t n = strlen(key);
	for (JN_EACH_MEMBER(obj, k)) {
		if (k->len == n && memcmp(k->s, key, n) == 0)
			return k + 1;
	}
	return NULL;
}

struct sv jn_sv(const struct jnode *n)
{
	if (!n || n->type != JT_STRING)
		return sv_null;
	return sv_make(n->s, n->len, n->line);
}

static size_t map_key_part(struct sv key, char *buf, size_t size)
{
	bool digits = key.n > 0 && key.n <= 5;
	for (uint32_t i = 0; digits && i < key.n; i++)
		digits = key.p[i] >= '0' && key.p[i] <= '9';
	char k[24];
	sv_to_buf(key, k, sizeof k);
	for (char *p = k; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
			*p = '?';
	return digits ? fmt_buf(buf, size, ".%s", k) : fmt_buf(buf, size, "[\"%s\"]", k);
}

size_t jpath_format(const struct jpath *p, char *buf, size_t size)
{
	const struct jpath *chain[48];
	size_t depth = 0, n = 0;
	for (; p && depth < ARRAY_LEN(chain); p = p->up)
		chain[depth++] = p;
	if (size)
		buf[0] = '\0';
	while (depth-- > 0 && n + 1 < size) {
		const struct jpath *c = chain[depth];
		if (c->key)
			n += fmt_buf(buf + n, size - n, "%s%s", n ? "." : "", c->key);
		else if (c->map_key)
			n += map_key_part(*c->map_key, buf + n, size - n);
		else
			n += fmt_buf(buf + n, size - n, "[%u]", c->index);
	}
	return n;
}

/* ---- parser ---- */

struct parser {
	struct jdoc *doc;
	const struct jlimits *lim;
	char *start, *p, *end;
	char *err;
	size_t errlen;
	uint32_t *stack;   /* indices of open containers */
	uint32_t depth;
	struct sv *scratch;   /* for duplicate-key checks of large objects */
	size_t scratch_cap;
};

static int fail(struct parser *ps, const char *at, const char *what)
{
	fmt_buf(ps->err, ps->errlen, "invalid JSON at byte %zu: %s", (size_t)(at - ps->start), what);
	return -1;
}

/* Grow the node array (cold path of add_node). */
static __attribute__((noinline)) int grow_nodes(struct parser *ps)
{
	struct jdoc *d = ps->doc;
	if (d->count >= ps->lim->max_nodes)
		return fail(ps, ps->p, "too many values");
	uint32_t cap = d->cap ? d->cap * 2 : 64;
	if (cap > ps->lim->max_nodes)
		cap = ps->lim->max_nodes;
	struct jnode *n = xrealloc(d->nodes, (size_t)cap * sizeof(*n));
	if (!n)
		return fail(ps, ps->p, "out of memory");
	d->nodes = n;
	d->cap = cap;
	return 0;
}

static inline int add_node(struct parser *ps, uint8_t type, const char *s, uint32_t len)
{
	struct jdoc *d = ps->doc;
	if (__builtin_expect(d->count == d->cap || d->count >= ps->lim->max_nodes, 0) &&
	    grow_nodes(ps) < 0)
		return -1;
	struct jnode *n = &d->nodes[d->count++];
	n->type = type;
	n->len = len;
	n->size = 1;
	n->line = 0;
	n->s = s;
	return 0;
}

static inline void skip_ws(struct parser *ps)
{
	char *p = ps->p;
	/* the apiserver sends compact JSON: the next byte is almost never a blank */
	if (__builtin_expect(p < ps->end && (unsigned char)*p > ' ', 1))
		return;
	while (p < ps->end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	ps->p = p;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int read_hex4(struct parser *ps, const char *q, unsigned *out)
{
	if (ps->end - q < 4)
		return fail(ps, q, "truncated \\u escape");
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexval((unsigned char)q[i]);
		if (h < 0)
			return fail(ps, q + i, "invalid \\u escape");
		v = v << 4 | (unsigned)h;
	}
	*out = v;
	return 0;
}

static char *put_utf8(char *w, unsigned cp)
{
	if (cp < 0x80) {
		*w++ = (char)cp;
	} else if (cp < 0x800) {
		*w++ = (char)(0xC0 | cp >> 6);
		*w++ = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		*w++ = (char)(0xE0 | cp >> 12);
		*w++ = (char)(0x80 | (cp >> 6 & 0x3F));
		*w++ = (char)(0x80 | (cp & 0x3F));
	} else {
		*w++ = (char)(0xF0 | cp >> 18);
		*w++ = (char)(0x80 | (cp >> 12 & 0x3F));
		*w++ = (char)(0x80 | (cp >> 6 & 0x3F));
		*w++ = (char)(0x80 | (cp & 0x3F));
	}
	return w;
}

/* Bytes a string scan must stop at: '"', '\\', controls (< 0x20) and non-ASCII (>= 0x80). */
static inline bool plain_byte(unsigned char c)
{
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Index of the first byte in the 8 at p that is not plain, or 8 (SWAR: a zero-byte test on
 * x ^ '"' and x ^ '\\', a less-than test for controls, and the high bit for non-ASCII). */
static inline unsigned first_special8(const char *p)
{
	uint64_t x;
	memcpy(&x, p, 8);
	uint64_t q = x ^ (ONES * '"');
	uint64_t b = x ^ (ONES * '\\');
	uint64_t t = ((q - ONES) & ~q) | ((b - ONES) & ~b) | (x - ONES * 0x20) | x;
	t &= HIGHS;
	if (!t)
		return 8;
	return (unsigned)__builtin_ctzll(t) / 8;
}

/* Advance r past plain bytes (at most to end). With SSE2 (every x86-64), 16 bytes per step: a
 * signed compare below 0x20 catches both control bytes and bytes >= 0x80 (negative). */
static inline const char *skip_plain(const char *r, const char *end)
{
#if defined(__SSE2__)
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
	while (end - r >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)r);
		__m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
					 _mm_cmplt_epi8(x, space));
		unsigned mask = (unsigned)_mm_movemask_epi8(m);
		if (mask)
			return r + __builtin_ctz(mask);
		r += 16;
	}
#endif
	while (end - r >= 8) {
		unsigned k = first_special8(r);
		if (k < 8)
			return r + k;
		r += 8;
	}
	while (r < end && plain_byte((unsigned char)*r))
		r++;
	return r;
}

/* ps->p is at the opening quote. Unescapes in place; adds a JT_STRING node. */
static inline __attribute__((always_inline)) int parse_string(struct parser *ps)
{
	char *start = ps->p + 1;
	char *r = start, *w = start;
	const char *end = ps->end;
	for (;;) {
		char *run_end = (char *)skip_plain(r, end);
		if (w != r)
			memmove(w, r, (size_t)(run_end - r));
		w += run_end - r;
		r = run_end;
		if (r >= end)
			return fail(ps, ps->p, "unterminated string");
		unsigned char c = (unsigned char)*r;
		if (c == '"') {
			size_t len = (size_t)(w - start);
			*w = '\0';
			ps->p = r + 1;
			return add_node(ps, JT_STRING, start, (uint32_t)len);
		}
		if (c < 0x20)
			return fail(ps, r, "control character in string");
		if (c >= 0x80) {
			size_t n = utf8_seq((const unsigned char *)r, (size_t)(end - r));
			if (!n)
				return fail(ps, r, "invalid UTF-8 in string");
			if (w != r)
				memmove(w, r, n);
			w += n;
			r += n;
			continue;
		}
		/* backslash */
		if (end - r < 2)
			return fail(ps, r, "truncated escape");
		char e = r[1];
		switch (e) {
		case '"': *w++ = '"'; r += 2; break;
		case '\\': *w++ = '\\'; r += 2; break;
		case '/': *w++ = '/'; r += 2; break;
		case 'b': *w++ = '\b'; r += 2; break;
		case 'f': *w++ = '\f'; r += 2; break;
		case 'n': *w++ = '\n'; r += 2; break;
		case 'r': *w++ = '\r'; r += 2; break;
		case 't': *w++ = '\t'; r += 2; break;
		case 'u': {
			unsigned cp;
			if (read_hex4(ps, r + 2, &cp) < 0)
				return -1;
			char *esc = r;
			r += 6;
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				unsigned lo;
				if (end - r < 6 || r[0] != '\\' || r[1] != 'u')
					return fail(ps, esc, "lone surrogate in \\u escape");
				if (read_hex4(ps, r + 2, &lo) < 0)
					return -1;
				if (lo < 0xDC00 || lo > 0xDFFF)
					return fail(ps, esc, "invalid surrogate pair in \\u escape");
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				r += 6;
			} else if (cp >= 0xDC00 && cp <= 0xDFFF) {
				return fail(ps, esc, "lone surrogate in \\u escape");
			}
			w = put_utf8(w, cp);
			break;
		}
		default:
			return fail(ps, r, "invalid escape in string");
		}
	}
}

static int parse_number(struct parser *ps)
{
	char *s = ps->p, *q = s;
	const char *end = ps->end;
	if (q < end && *q == '-')
		q++;
	if (q >= end)
		return fail(ps, q, "invalid number");
	if (*q == '0') {
		q++;
	} else if (*q >= '1' && *q <= '9') {
		while (q < end && *q >= '0' && *q <= '9')
			q++;
	} else {
		return fail(ps, q, "invalid number");
	}
	if (q < end && *q == '.') {
		q++;
		if (q >= end || *q < '0' || *q > '9')
			return fail(ps, q, "invalid number: digit expected after '.'");
		while (q < end && *q >= '0' && *q <= '9')
			q++;
	}
	if (q < end && (*q == 'e' || *q == 'E')) {
		q++;
		if (q < end && (*q == '+' || *q == '-'))
			q++;
		if (q >= end || *q < '0' || *q > '9')
			return fail(ps, q, "invalid number: digit expected in exponent");
		while (q < end && *q >= '0' && *q <= '9')
			q++;
	}
	ps->p = q;
	return add_node(ps, JT_NUMBER, s, (uint32_t)(q - s));
}

static int parse_literal(struct parser *ps, const char *lit, uint8_t type)
{
	size_t n = strlen(lit);
	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, lit, n) != 0)
		return fail(ps, ps->p, "unexpected character");
	ps->p += n;
	return add_node(ps, type, NULL, 0);
}

static int sv_cmp(const void *a, const void *b)
{
	const struct sv *x = a, *y = b;
	if (x->n != y->n)
		return x->n < y->n ? -1 : 1;
	return memcmp(x->p, y->p, x->n);
}

/* The object at index oi is complete: refuse duplicate keys. */
static int check_duplicates(struct parser *ps, uint32_t oi)
{
	const struct jnode *obj = &ps->doc->nodes[oi];
	if (obj->len < 2)
		return 0;
	if (obj->len <= 16) {
		/* pairwise, on a signature of length, first and last byte; memcmp only when equal */
		const struct jnode *keys[16];
		uint64_t sig[16];
		uint32_t k = 0;
		for (JN_EACH_MEMBER(obj, key)) {
			const unsigned char *ks = (const unsigned char *)key->s;
			sig[k] = (uint64_t)key->len << 16 | (key->len ? (unsigned)ks[0] << 8 | ks[key->len - 1] : 0);
			keys[k++] = key;
		}
		for (uint32_t i = 0; i < k; i++)
			for (uint32_t j = i + 1; j < k; j++)
				if (sig[i] == sig[j] && memcmp(keys[i]->s, keys[j]->s, keys[i]->len) == 0)
					goto dup;
		return 0;
	}
	if (ps->scratch_cap < obj->len) {
		struct sv *s = xrealloc(ps->scratch, obj->len * sizeof(*s));
		if (!s)
			return fail(ps, ps->p, "out of memory");
		ps->scratch = s;
		ps->scratch_cap = obj->len;
	}
	uint32_t k = 0;
	for (JN_EACH_MEMBER(obj, key))
		ps->scratch[k++] = sv_make(key->s, key->len, 0);
	qsort(ps->scratch, k, sizeof(*ps->scratch), sv_cmp);
	for (uint32_t i = 1; i < k; i++)
		if (sv_cmp(&ps->scratch[i - 1], &ps->scratch[i]) == 0)
			goto dup;
	return 0;
dup:
	return fail(ps, ps->p - 1, "duplicate key in object");
}

static int parse(struct parser *ps)
{
	struct jdoc *d = ps->doc;
	skip_ws(ps);
value:
	if (ps->p >= ps->end)
		return fail(ps, ps->p, ps->depth ? "unexpected end of input" : "empty input");
	switch (*ps->p) {
	case '{':
	case '[': {
		uint8_t type = *ps->p == '{' ? JT_OBJECT : JT_ARRAY;
		if (ps->depth >= ps->lim->max_depth)
			return fail(ps, ps->p, "nesting too deep");
		if (add_node(ps, type, NULL, 0) < 0)
			return -1;
		ps->stack[ps->depth++] = d->count - 1;
		ps->p++;
		skip_ws(ps);
		char close = type == JT_OBJECT ? '}' : ']';
		if (ps->p < ps->end && *ps->p == close) {
			ps->p++;
			ps->depth--;
			goto after_value;
		}
		if (type == JT_OBJECT)
			goto key;
		goto value;
	}
	case '"':
		if (parse_string(ps) < 0)
			return -1;
		goto after_value;
	case 't':
		if (parse_literal(ps, "true", JT_TRUE) < 0)
			return -1;
		goto after_value;
	case 'f':
		if (parse_literal(ps, "false", JT_FALSE) < 0)
			return -1;
		goto after_value;
	case 'n':
		if (parse_literal(ps, "null", JT_NULL) < 0)
			return -1;
		goto after_value;
	default:
		if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) {
			if (parse_number(ps) < 0)
				return -1;
			goto after_value;
		}
		return fail(ps, ps->p, "unexpected character");
	}
key:
	if (ps->p >= ps->end || *ps->p != '"')
		return fail(ps, ps->p, "expected a string key");
	if (parse_string(ps) < 0)
		return -1;
	skip_ws(ps);
	if (ps->p >= ps->end || *ps->p != ':')
		return fail(ps, ps->p, "expected ':'");
	ps->p++;
	skip_ws(ps);
	goto value;
after_value:
	if (ps->depth == 0) {
		skip_ws(ps);
		if (ps->p != ps->end)
			return fail(ps, ps->p, "trailing characters after the value");
		return 0;
	}
	{
		uint32_t top = ps->stack[ps->depth - 1];
		struct jnode *c = &d->nodes[top];
		c->len++;
		skip_ws(ps);
		if (ps->p >= ps->end)
			return fail(ps, ps->p, "unexpected end of input");
		char ch = *ps->p;
		if (ch == ',') {
			ps->p++;
			skip_ws(ps);
			if (c->type == JT_OBJECT)
				goto key;
			goto value;
		}
		if ((c->type == JT_OBJECT && ch == '}') || (c->type == JT_ARRAY && ch == ']')) {
			ps->p++;
			c->size = d->count - top;
			if (c->type == JT_OBJECT && check_duplicates(ps, top) < 0)
				return -1;
			ps->depth--;
			goto after_value;
		}
		return fail(ps, ps->p, c->type == JT_OBJECT ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

int json_parse(struct jdoc *doc, char *buf, size_t len, const struct jlimits *lim, char *err,
	       size_t errlen)
{
	struct parser ps = { 0 };
	if (!lim)
		lim = &jlimits_default;
	ps.doc = doc;
	ps.lim = lim;
	ps.start = ps.p = buf;
	ps.end = buf + len;
	ps.err = err;
	ps.errlen = errlen;
	if (len > UINT32_MAX)
		return fail(&ps, buf, "input too large");
	ps.stack = xmalloc((size_t)lim->max_depth * sizeof(*ps.stack));
	if (!ps.stack)
		return fail(&ps, buf, "out of memory");
	/* a first guess at the node count saves most reallocations */
	if (!doc->nodes) {
		uint32_t guess = (uint32_t)(len / 8 + 16);
		if (guess > lim->max_nodes)
			guess = lim->max_nodes;
		doc->nodes = xmalloc((size_t)guess * sizeof(*doc->nodes));
		if (doc->nodes)
			doc->cap = guess;
	}
	int rc = parse(&ps);
	/* containers still open on error have no size: drop everything */
	if (rc < 0)
		doc->count = 0;
	xfree(ps.stack);
	xfree(ps.scratch);
	return rc;
}

/* ---- jansson to jdoc ---- */

struct conv {
	struct jdoc *doc;
	jdoc_line_fn lines;
	void *ctx;
	char *err;
	size_t errlen;
	uint32_t depth;
};

static int conv_add(struct conv *cv, uint8_t type, const char *s, uint32_t len, const json_t *src)
{
	struct jdoc *d = cv->doc;
	if (d->count >= jlimits_default.max_nodes) {
		fmt_buf(cv->err, cv->errlen, "document too large");
		return -1;
	}
	if (d->count == d->cap) {
		uint32_t cap = d->cap ? d->cap * 2 : 64;
		struct jnode *n = xrealloc(d->nodes, (size_t)cap * sizeof(*n));
		if (!n) {
			fmt_buf(cv->err, cv->errlen, "out of memory");
			return -1;
		}
		d->nodes = n;
		d->cap = cap;
	}
	struct jnode *n = &d->nodes[d->count++];
	n->type = type;
	n->len = len;
	n->size = 1;
	n->s = s;
	n->line = cv->lines && src ? cv->lines(cv->ctx, src) : 0;
	return 0;
}

static int conv_str(struct conv *cv, const char *s, size_t n, const json_t *src)
{
	char *copy = arena_strndup(&cv->doc->arena, s, n);
	if (!copy) {
		fmt_buf(cv->err, cv->errlen, "out of memory");
		return -1;
	}
	return conv_add(cv, JT_STRING, copy, (uint32_t)n, src);
}

static int conv_value(struct conv *cv, const json_t *v)
{
	if (++cv->depth > jlimits_default.max_depth) {
		fmt_buf(cv->err, cv->errlen, "nesting too deep");
		return -1;
	}
	int rc = 0;
	switch (json_typeof(v)) {
	case JSON_NULL: rc = conv_add(cv, JT_NULL, NULL, 0, v); break;
	case JSON_TRUE: rc = conv_add(cv, JT_TRUE, NULL, 0, v); break;
	case JSON_FALSE: rc = conv_add(cv, JT_FALSE, NULL, 0, v); break;
	case JSON_STRING:
		rc = conv_str(cv, json_string_value(v), json_string_length(v), v);
		break;
	case JSON_INTEGER:
	case JSON_REAL: {
		char num[40];
		size_t n;
		if (json_is_integer(v))
			n = fmt_buf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		else
			n = fmt_buf(num, sizeof num, "%.17g", json_real_value(v));
		char *copy = arena_strndup(&cv->doc->arena, num, n);
		if (!copy) {
			fmt_buf(cv->err, cv->errlen, "out of memory");
			rc = -1;
			break;
		}
		rc = conv_add(cv, JT_NUMBER, copy, (uint32_t)n, v);
		break;
	}
	case JSON_ARRAY: {
		uint32_t at = cv->doc->count;
		if ((rc = conv_add(cv, JT_ARRAY, NULL, (uint32_t)json_array_size(v), v)) < 0)
			break;
		size_t i;
		const json_t *el;
		json_array_foreach((json_t *)v, i, el) {
			if ((rc = conv_value(cv, el)) < 0)
				break;
		}
		cv->doc->nodes[at].size = cv->doc->count - at;
		break;
	}
	case JSON_OBJECT: {
		uint32_t at = cv->doc->count;
		if ((rc = conv_add(cv, JT_OBJECT, NULL, (uint32_t)json_object_size(v), v)) < 0)
			break;
		const char *k;
		const json_t *el;
		json_object_foreach((json_t *)v, k, el) {
			if ((rc = conv_str(cv, k, strlen(k), el)) < 0)
				break;
			if ((rc = conv_value(cv, el)) < 0)
				break;
		}
		cv->doc->nodes[at].size = cv->doc->count - at;
		break;
	}
	}
	cv->depth--;
	return rc;
}

int jdoc_from_jansson(struct jdoc *doc, const json_t *root, jdoc_line_fn lines, void *ctx,
		      char *err, size_t errlen)
{
	struct conv cv = { doc, lines, ctx, err, errlen, 0 };
	if (conv_value(&cv, root) < 0) {
		doc->count = 0;
		return -1;
	}
	return 0;
}
