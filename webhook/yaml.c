/* yaml.c - libyaml events into jansson trees: two scalar schemas, node positions, hard limits,
 * multi-document recovery by chunking at document markers, and streamed `kind: List` items. */
#define POSTURE_YAML_IMPL
#include <yaml.h>   /* webhook/yaml.h (found through -Iwebhook), which includes libyaml's */

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

const struct ylimits ylimits_manifest = {
	.max_input = 0,
	.max_doc = 64u << 20,
	.max_depth = 100,
	.max_nodes = 4000000,
	.max_alias_nodes = 100000,
	.max_scalar = 4u << 20,
};

const struct ylimits ylimits_policy = {
	.max_input = 1u << 20,
	.max_doc = 1u << 20,
	.max_depth = 100,
	.max_nodes = 100000,
	.max_alias_nodes = 10000,
	.max_scalar = 64u << 10,
};

#define NONE UINT32_MAX
#define CORE_PREFIX "tag:yaml.org,2002:"

/* ======================================================================================== */
/* documents: a tree plus one position entry per node, in document order                     */
/* ======================================================================================== */

enum {
	E_MEMBER = 1,   /* value of a mapping member (key, kline, kcol set) */
	E_DEAD = 2,     /* discarded by a merge key: skip it and its subtree */
	E_PASS = 4,     /* a merge key's value (a source): not in the tree; its members may be */
};

/* Entries sit in document (pre-)order; a subtree is [i, i + size). */
struct yent {
	const json_t *node;     /* NULL once discarded */
	const json_t *parent;   /* container holding it; NULL for the root */
	const char *key;        /* member key (doc arena); NULL otherwise */
	uint32_t index;         /* sequence element index */
	uint32_t size;
	uint32_t line, col;     /* where the value starts */
	uint32_t kline, kcol;   /* where its key starts (members) */
	uint32_t flags;
};

struct ydoc {
	json_t *root;           /* owned */
	char *name;             /* owned */
	uint32_t index;
	int64_t item, streamed;
	struct yent *ents;      /* owned */
	uint32_t n_ents, cap_ents;
	uint32_t *node_map;     /* node pointer -> entry + 1 (open addressing) */
	uint32_t *slot_map;     /* (parent, key or index) -> entry + 1 */
	uint32_t map_mask;
	struct arena arena;     /* keys */
	uint32_t cursor;        /* ydoc_line_fn's walk */
	bool phase;             /* cursor's member had its key call */
};

static atomic_long ydoc_count;

long ydoc_live(void)
{
	return atomic_load(&ydoc_count);
}

static bool is_singleton(const json_t *n)
{
	return n == json_true() || n == json_false() || n == json_null();
}

static uint32_t hash_ptr(const void *p)
{
	uint64_t x = (uint64_t)(uintptr_t)p;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return (uint32_t)x;
}

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static uint32_t hash_slot(const json_t *parent, const char *key, uint32_t index)
{
	return hash_ptr(parent) ^ (key ? hash_str(key) : (index + 1u) * 2654435761u);
}

static struct ydoc *ydoc_new(const char *name, uint32_t index, int64_t item)
{
	struct ydoc *d = xcalloc(1, sizeof *d);
	if (!d)
		return NULL;
	d->name = xstrdup(name);
	if (!d->name) {
		xfree(d);
		return NULL;
	}
	d->index = index;
	d->item = item;
	d->streamed = -1;
	arena_init(&d->arena, 0);
	atomic_fetch_add(&ydoc_count, 1);
	return d;
}

void ydoc_free(struct ydoc *d)
{
	if (!d)
		return;
	json_decref(d->root);
	xfree(d->ents);
	xfree(d->node_map);
	xfree(d->slot_map);
	arena_release(&d->arena);
	xfree(d->name);
	xfree(d);
	atomic_fetch_sub(&ydoc_count, 1);
}

/* Append e; its index, or NONE on OOM. */
static uint32_t ents_push(struct ydoc *d, const struct yent *e)
{
	if (d->n_ents == d->cap_ents) {
		uint32_t cap = d->cap_ents ? d->cap_ents * 2 : 64;
		struct yent *n = xrealloc(d->ents, (size_t)cap * sizeof *n);
		if (!n)
			return NONE;
		d->ents = n;
		d->cap_ents = cap;
	}
	d->ents[d->n_ents] = *e;
	return d->n_ents++;
}

/* Build both lookup maps once the document is complete. 0 or -1 (OOM). */
static int ydoc_finish(struct ydoc *d)
{
	uint32_t cap = 16;
	while (cap < d->n_ents * 2u)
		cap <<= 1;
	d->node_map = xcalloc(cap, sizeof *d->node_map);
	d->slot_map = xcalloc(cap, sizeof *d->slot_map);
	if (!d->node_map || !d->slot_map)
		return -1;
	d->map_mask = cap - 1;
	for (uint32_t i = 0; i < d->n_ents;) {
		const struct yent *e = &d->ents[i];
		if (e->flags & E_DEAD) {
			i += e->size;
			continue;
		}
		if (!(e->flags & E_PASS)) {
			if (!is_singleton(e->node)) {
				uint32_t h = hash_ptr(e->node) & d->map_mask;
				while (d->node_map[h])
					h = (h + 1) & d->map_mask;
				d->node_map[h] = i + 1;
			}
			if (e->parent) {
				uint32_t h = hash_slot(e->parent, e->key, e->index) & d->map_mask;
				while (d->slot_map[h])
					h = (h + 1) & d->map_mask;
				d->slot_map[h] = i + 1;
			}
		}
		i++;
	}
	d->cursor = 0;
	d->phase = false;
	return 0;
}

static uint32_t node_lookup(const struct ydoc *d, const json_t *node)
{
	if (!d->node_map || !node)
		return NONE;
	for (uint32_t h = hash_ptr(node) & d->map_mask; d->node_map[h]; h = (h + 1) & d->map_mask)
		if (d->ents[d->node_map[h] - 1].node == node)
			return d->node_map[h] - 1;
	return NONE;
}

static uint32_t slot_lookup(const struct ydoc *d, const json_t *parent, const char *key,
			    uint32_t index)
{
	if (!d->slot_map || !parent)
		return NONE;
	uint32_t h = hash_slot(parent, key, index) & d->map_mask;
	for (; d->slot_map[h]; h = (h + 1) & d->map_mask) {
		const struct yent *e = &d->ents[d->slot_map[h] - 1];
		if (e->parent != parent)
			continue;
		if (key ? (e->key && strcmp(e->key, key) == 0) : (!e->key && e->index == index))
			return d->slot_map[h] - 1;
	}
	return NONE;
}

const json_t *ydoc_root(const struct ydoc *d)
{
	return d->root;
}

const char *ydoc_name(const struct ydoc *d)
{
	return d->name;
}

uint32_t ydoc_index(const struct ydoc *d)
{
	return d->index;
}

int64_t ydoc_item(const struct ydoc *d)
{
	return d->item;
}

int64_t ydoc_streamed_items(const struct ydoc *d)
{
	return d->streamed;
}

uint32_t ydoc_line(const struct ydoc *d)
{
	return d->n_ents ? d->ents[0].line : 0;
}

static bool give_pos(const struct yent *e, bool key, uint32_t *line, uint32_t *col)
{
	if (line)
		*line = key ? e->kline : e->line;
	if (col)
		*col = key ? e->kcol : e->col;
	return true;
}

bool ydoc_pos(const struct ydoc *d, const json_t *node, uint32_t *line, uint32_t *col)
{
	if (is_singleton(node))
		return false;
	uint32_t i = node_lookup(d, node);
	return i != NONE && give_pos(&d->ents[i], false, line, col);
}

bool ydoc_key_pos(const struct ydoc *d, const json_t *obj, const char *key, uint32_t *line,
		  uint32_t *col)
{
	uint32_t i = key ? slot_lookup(d, obj, key, 0) : NONE;
	return i != NONE && give_pos(&d->ents[i], true, line, col);
}

bool ydoc_member_pos(const struct ydoc *d, const json_t *obj, const char *key, uint32_t *line,
		     uint32_t *col)
{
	uint32_t i = key ? slot_lookup(d, obj, key, 0) : NONE;
	return i != NONE && give_pos(&d->ents[i], false, line, col);
}

bool ydoc_index_pos(const struct ydoc *d, const json_t *arr, size_t i, uint32_t *line,
		    uint32_t *col)
{
	uint32_t e = i < UINT32_MAX ? slot_lookup(d, arr, NULL, (uint32_t)i) : NONE;
	return e != NONE && give_pos(&d->ents[e], false, line, col);
}

/* The next entry at or after i that is in the tree. */
static uint32_t live_from(const struct ydoc *d, uint32_t i)
{
	while (i < d->n_ents) {
		if (d->ents[i].flags & E_DEAD)
			i += d->ents[i].size;
		else if (d->ents[i].flags & E_PASS)
			i++;
		else
			break;
	}
	return i;
}

uint32_t ydoc_line_fn(void *ctx, const json_t *node)
{
	struct ydoc *d = ctx;
	if (!d || !node)
		return 0;
	if (!is_singleton(node)) {
		uint32_t i = node_lookup(d, node);
		if (i == NONE) {
			d->cursor = NONE;
			return 0;
		}
		const struct yent *e = &d->ents[i];
		if ((e->flags & E_MEMBER) && !(d->cursor == i && d->phase)) {
			d->cursor = i;   /* the key's call */
			d->phase = true;
			return e->kline;
		}
		d->cursor = live_from(d, i + 1);
		d->phase = false;
		return e->line;
	}
	if (d->cursor >= d->n_ents)
		return 0;
	const struct yent *e = &d->ents[d->cursor];
	if (d->phase) {
		d->phase = false;
		d->cursor = live_from(d, d->cursor + 1);
		if (e->node == node)
			return e->line;   /* the value's call */
		if (d->cursor >= d->n_ents)
			return 0;
		e = &d->ents[d->cursor];   /* the converter called once for that member */
	}
	if (e->node != node) {
		d->cursor = NONE;
		return 0;
	}
	if (e->flags & E_MEMBER) {
		d->phase = true;
		return e->kline;
	}
	d->cursor = live_from(d, d->cursor + 1);
	return e->line;
}

/* ======================================================================================== */
/* scalars                                                                                   */
/* ======================================================================================== */

enum rtype { R_NULL, R_BOOL, R_INT, R_FLOAT, R_STR, R_NONFINITE };

struct rval {
	enum rtype t;
	bool b;
	long long i;
	double f;
};

static bool in_list(const char *s, size_t n, const char *const *list, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (list[i][0] == (n ? s[0] : '\0') && strlen(list[i]) == n &&
		    memcmp(list[i], s, n) == 0)
			return true;
	return false;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static size_t digits(const char *p, size_t n, size_t *i)
{
	size_t start = *i;
	while (*i < n && is_digit(p[*i]))
		(*i)++;
	return *i - start;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? : YAML 1.2 core and goyaml's floats. */
static bool match_float(const char *p, size_t n)
{
	size_t i = 0;
	if (i < n && (p[i] == '+' || p[i] == '-'))
		i++;
	if (i < n && p[i] == '.') {
		i++;
		if (!digits(p, n, &i))
			return false;
	} else {
		if (!digits(p, n, &i))
			return false;
		if (i < n && p[i] == '.') {
			i++;
			digits(p, n, &i);
		}
	}
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		if (!digits(p, n, &i))
			return false;
	}
	return i == n;
}

/* strtod over exactly p[0..n) (p[n] is NUL). false when out of range (goyaml: not a float). */
static bool to_double(const char *p, size_t n, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(p, &end);
	if ((size_t)(end - p) != n || isinf(v) || isnan(v))
		return false;
	*out = v;
	return true;
}

static int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	return 99;
}

/* Unsigned magnitude of p[0..n) in base; false on a bad digit, no digit or overflow. */
static bool parse_uint(const char *p, size_t n, unsigned base, unsigned long long *out)
{
	unsigned long long v = 0;
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		int dv = digit_value(p[i]);
		if (dv < 0 || (unsigned)dv >= base)
			return false;
		if (v > (ULLONG_MAX - (unsigned)dv) / base)
			return false;
		v = v * base + (unsigned)dv;
	}
	*out = v;
	return true;
}

/* Go's strconv.ParseInt(s, 0, 64), falling back to ParseUint: 1 int (*iv), 2 unsigned beyond
 * int64 (*uv), 0 not an integer. */
static int go_parse_int(const char *p, size_t n, long long *iv, unsigned long long *uv)
{
	size_t i = 0;
	bool neg = false, sign = false;
	if (i < n && (p[i] == '+' || p[i] == '-')) {
		neg = p[i] == '-';
		sign = true;
		i++;
	}
	unsigned base = 10;
	if (n - i >= 2 && p[i] == '0') {
		char c = (char)(p[i + 1] | 0x20);
		if (c == 'x' || c == 'o' || c == 'b') {
			base = c == 'x' ? 16 : c == 'o' ? 8 : 2;
			i += 2;
		} else {
			base = 8;
			i += 1;
		}
	}
	unsigned long long v;
	if (!parse_uint(p + i, n - i, base, &v))
		return 0;
	if (neg) {
		if (v > 9223372036854775808ull)
			return 0;
		*iv = v == 9223372036854775808ull ? LLONG_MIN : -(long long)v;
		return 1;
	}
	if (v <= (unsigned long long)LLONG_MAX) {
		*iv = (long long)v;
		return 1;
	}
	if (sign)
		return 0;   /* ParseUint takes no sign */
	*uv = v;
	return 2;
}

/* YAML 1.2 core schema. */
static void core_resolve(const char *s, size_t n, struct rval *v)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };
	static const char *const trues[] = { "true", "True", "TRUE" };
	static const char *const falses[] = { "false", "False", "FALSE" };
	static const char *const infs[] = { ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF",
					    "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN" };
	unsigned long long u;
	v->t = R_STR;
	if (in_list(s, n, nulls, ARRAY_LEN(nulls))) {
		v->t = R_NULL;
	} else if (in_list(s, n, trues, ARRAY_LEN(trues)) || in_list(s, n, falses, ARRAY_LEN(falses))) {
		v->t = R_BOOL;
		v->b = s[0] == 't' || s[0] == 'T';
	} else if (in_list(s, n, infs, ARRAY_LEN(infs))) {
		v->t = R_NONFINITE;
	} else if (n > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
		if (parse_uint(s + 2, n - 2, s[1] == 'o' ? 8 : 16, &u)) {
			if (u <= (unsigned long long)LLONG_MAX) {
				v->t = R_INT;
				v->i = (long long)u;
			} else {
				v->t = R_FLOAT;
				v->f = (double)u;
			}
		}
	} else if (match_float(s, n)) {
		size_t i = (s[0] == '+' || s[0] == '-') ? 1 : 0;
		size_t j = i;
		bool integer = digits(s, n, &j) == n - i && n > i;
		if (integer && parse_uint(s + i, n - i, 10, &u) &&
		    u <= (unsigned long long)LLONG_MAX + (s[0] == '-')) {
			v->t = R_INT;
			v->i = s[0] == '-' ? (u == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN
										      : -(long long)u)
					   : (long long)u;
		} else if (to_double(s, n, &v->f)) {
			v->t = R_FLOAT;
		} else {
			v->t = R_NONFINITE;   /* 1e999 */
		}
	}
}

/* goyaml.v2's resolve(), as sigs.k8s.io/yaml uses it. 0, or -1 on OOM. */
static int k8s_resolve(const char *s, size_t n, struct rval *v)
{
	static const char *const trues[] = { "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE",
					     "on", "On", "ON" };
	static const char *const falses[] = { "n", "N", "no", "No", "NO", "false", "False",
					      "FALSE", "off", "Off", "OFF" };
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };
	static const char *const nonfinite[] = { ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF",
						 "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf",
						 "-.INF" };
	v->t = R_STR;
	if (n == 0) {
		v->t = R_NULL;
		return 0;
	}
	char c = s[0];
	bool digit_or_sign = is_digit(c) || c == '+' || c == '-';
	if (!digit_or_sign && c != '.' && !strchr("yYnNtTfFoO~", c))
		return 0;   /* goyaml's hint 0: a string, not even looked up */
	if (in_list(s, n, trues, ARRAY_LEN(trues)) || in_list(s, n, falses, ARRAY_LEN(falses))) {
		v->t = R_BOOL;
		v->b = in_list(s, n, trues, ARRAY_LEN(trues));
		return 0;
	}
	if (in_list(s, n, nulls, ARRAY_LEN(nulls))) {
		v->t = R_NULL;
		return 0;
	}
	if (in_list(s, n, nonfinite, ARRAY_LEN(nonfinite))) {
		v->t = R_NONFINITE;
		return 0;
	}
	if (!digit_or_sign && c != '.')
		return 0;
	/* numbers: goyaml removes every '_' first */
	char *plain = NULL;
	const char *p = s;
	size_t m = n;
	if (memchr(s, '_', n)) {
		plain = xmalloc(n + 1);
		if (!plain)
			return -1;
		m = 0;
		for (size_t i = 0; i < n; i++)
			if (s[i] != '_')
				plain[m++] = s[i];
		plain[m] = '\0';
		p = plain;
	}
	long long iv;
	unsigned long long uv;
	int k = digit_or_sign ? go_parse_int(p, m, &iv, &uv) : 0;
	if (k == 1) {
		v->t = R_INT;
		v->i = iv;
	} else if (k == 2) {
		v->t = R_FLOAT;   /* a uint64 beyond int64: jansson holds it as a real */
		v->f = (double)uv;
	} else if (m > 0 && match_float(p, m) && (digit_or_sign || p[0] == '.') &&
		   to_double(p, m, &v->f)) {
		v->t = R_FLOAT;
	}
	xfree(plain);
	return 0;
}

/* ======================================================================================== */
/* the tree builder                                                                          */
/* ======================================================================================== */

enum bstatus { B_MORE = 0, B_DONE, B_ERR, B_ABORT, B_OOM };

struct yframe {
	json_t *node;        /* borrowed: held by the tree or by the parent frame's merges */
	uint32_t ent;
	uint32_t count;      /* sequence elements so far */
	uint32_t height;     /* tallest child container */
	uint32_t anchor;     /* anchor slot completed by this frame, or NONE */
	bool map;
	bool has_key;        /* mapping: a key was read, its value comes next */
	bool key_merge;      /* that key is << */
	const char *key;     /* that key (doc arena) */
	uint32_t kline, kcol;
	json_t *merges;      /* mapping: the << values (owned), NULL if none */
};

struct yanchor {
	uint32_t start, end;   /* entries [start, end); end 0 while the node is open */
	uint32_t height;
};

struct ybuild {
	enum yschema schema;
	const struct ylimits *lim;
	const char *name;          /* borrowed from the reader */
	struct ydoc *doc;          /* being built (owned); NULL when idle */
	struct yframe *frames;     /* owned, max_depth + 1 */
	uint32_t n_frames;
	json_t *anchor_names;      /* name -> slot (owned) */
	struct yanchor *anchors;   /* owned */
	uint32_t n_anchors, cap_anchors;
	uint32_t alias_nodes;
	uint64_t line_off;         /* line of the chunk's first line */
	bool in_item;              /* anchors do not cross List items */
	bool dropped_items;        /* the top-level `items` key was taken for streaming */
	uint32_t dropped_line, dropped_col;
	/* the last error */
	uint32_t eline, ecol;
	uint32_t skip;             /* containers the failed event leaves open */
	char emsg[320];
};

static uint32_t clamp_u32(uint64_t v)
{
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static void mark_pos(const struct ybuild *b, const yaml_mark_t *m, uint32_t *line, uint32_t *col)
{
	*line = clamp_u32(b->line_off + m->line);
	*col = clamp_u32((uint64_t)m->column + 1);
}

static int berr(struct ybuild *b, uint32_t line, uint32_t col, int status, const char *fmt, ...)
	PRINTF_LIKE(5, 6);
static int berr(struct ybuild *b, uint32_t line, uint32_t col, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b->emsg, sizeof b->emsg, fmt, ap);
	va_end(ap);
	b->eline = line;
	b->ecol = col;
	return status;
}

static int boom(struct ybuild *b)
{
	return berr(b, 0, 0, B_OOM, "out of memory");
}

/* A scalar's text for a message: at most 40 bytes, control bytes as '?'. */
static void snip(char *out, size_t size, const char *s, size_t n)
{
	size_t max = size > 44 ? 40 : size - 4, k = 0;
	for (size_t i = 0; i < n && k < max; i++)
		out[k++] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
	if (n > max) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = '\0';
}

static int ybuild_init(struct ybuild *b, enum yschema schema, const struct ylimits *lim,
		       const char *name)
{
	memset(b, 0, sizeof *b);
	b->schema = schema;
	b->lim = lim;
	b->name = name;
	b->frames = xcalloc((size_t)lim->max_depth + 1, sizeof *b->frames);
	b->anchor_names = json_object();
	return b->frames && b->anchor_names ? 0 : -1;
}

static void ybuild_abort(struct ybuild *b)
{
	for (uint32_t i = 0; i < b->n_frames; i++)
		json_decref(b->frames[i].merges);
	b->n_frames = 0;
	ydoc_free(b->doc);
	b->doc = NULL;
}

static void ybuild_release(struct ybuild *b)
{
	ybuild_abort(b);
	xfree(b->frames);
	xfree(b->anchors);
	json_decref(b->anchor_names);
	b->frames = NULL;
	b->anchors = NULL;
	b->anchor_names = NULL;
}

static int ybuild_begin(struct ybuild *b, uint32_t index, int64_t item, uint64_t line_off)
{
	ybuild_abort(b);
	b->doc = ydoc_new(b->name, index, item);
	if (!b->doc)
		return -1;
	b->n_anchors = 0;
	json_object_clear(b->anchor_names);
	b->alias_nodes = 0;
	b->line_off = line_off;
	b->in_item = item >= 0;
	b->dropped_items = false;
	return 0;
}

/* Hand the finished document over (the caller owns it). NULL on OOM (the doc is freed). */
static struct ydoc *ybuild_take(struct ybuild *b)
{
	struct ydoc *d = b->doc;
	b->doc = NULL;
	if (ydoc_finish(d) < 0) {
		ydoc_free(d);
		return NULL;
	}
	return d;
}

static struct yframe *top(struct ybuild *b)
{
	return b->n_frames ? &b->frames[b->n_frames - 1] : NULL;
}

static uint32_t anchor_define(struct ybuild *b, const char *name, uint32_t ent)
{
	if (b->n_anchors == b->cap_anchors) {
		uint32_t cap = b->cap_anchors ? b->cap_anchors * 2 : 16;
		struct yanchor *a = xrealloc(b->anchors, (size_t)cap * sizeof *a);
		if (!a)
			return NONE;
		b->anchors = a;
		b->cap_anchors = cap;
	}
	if (json_object_set_new(b->anchor_names, name, json_integer(b->n_anchors)) < 0)
		return NONE;
	b->anchors[b->n_anchors] = (struct yanchor){ ent, 0, 0 };
	return b->n_anchors++;
}

/* Attach node (steals it) where the document is: the root, the pending key of the mapping on
 * top, or the next element of the sequence on top; record its entry. */
static int add_node(struct ybuild *b, json_t *node, uint32_t line, uint32_t col)
{
	struct ydoc *d = b->doc;
	struct yframe *f = top(b);
	if (d->n_ents >= b->lim->max_nodes) {
		json_decref(node);
		return berr(b, line, col, B_ERR, "document has more than %u nodes",
			    b->lim->max_nodes);
	}
	struct yent e = { node, NULL, NULL, 0, 1, line, col, 0, 0, 0 };
	if (!f) {
		d->root = node;
	} else if (f->map) {
		e.parent = f->node;
		e.key = f->key;
		e.kline = f->kline;
		e.kcol = f->kcol;
		e.flags = E_MEMBER;
		bool merge = f->key_merge;
		f->has_key = f->key_merge = false;
		if (merge) {
			e.flags |= E_PASS;
			if (!f->merges && !(f->merges = json_array())) {
				json_decref(node);
				return boom(b);
			}
			if (json_array_append_new(f->merges, node) < 0)
				return boom(b);
		} else if (json_object_set_new_nocheck(f->node, e.key, node) < 0) {
			return boom(b);
		}
	} else {
		e.parent = f->node;
		e.index = f->count++;
		if (json_array_append_new(f->node, node) < 0)
			return boom(b);
	}
	if (ents_push(d, &e) == NONE)
		return boom(b);
	return B_MORE;
}

/* What a tag asks of a scalar. */
enum want { W_ANY, W_STR, W_INT, W_FLOAT, W_BOOL, W_NULL };

static int scalar_want(struct ybuild *b, const yaml_event_t *ev, uint32_t line, uint32_t col,
		       enum want *w)
{
	const char *tag = (const char *)ev->data.scalar.tag;
	bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	if (!tag) {
		*w = plain ? W_ANY : W_STR;
		return B_MORE;
	}
	if (strcmp(tag, "!") == 0) {
		*w = W_STR;
		return B_MORE;
	}
	if (strncmp(tag, CORE_PREFIX, strlen(CORE_PREFIX)) == 0) {
		const char *t = tag + strlen(CORE_PREFIX);
		if (strcmp(t, "str") == 0 || (strcmp(t, "timestamp") == 0 && b->schema == YSCHEMA_K8S))
			*w = W_STR;
		else if (strcmp(t, "int") == 0)
			*w = W_INT;
		else if (strcmp(t, "float") == 0)
			*w = W_FLOAT;
		else if (strcmp(t, "bool") == 0)
			*w = W_BOOL;
		else if (strcmp(t, "null") == 0)
			*w = W_NULL;
		else
			return berr(b, line, col, B_ERR,
				    "tag '!!%.40s' is not supported (expected !!str, !!int, !!float, "
				    "!!bool or !!null, or no tag)", t);
		return B_MORE;
	}
	return berr(b, line, col, B_ERR,
		    "unknown tag '%.60s' (expected !!str, !!int, !!float, !!bool or !!null, or no tag)",
		    tag);
}

/* The JSON value of a scalar event (new), or NULL with the error set in *status. */
static json_t *make_scalar(struct ybuild *b, const yaml_event_t *ev, uint32_t line, uint32_t col,
			   int *status)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	enum want w = W_ANY;
	char text[48];
	if ((*status = scalar_want(b, ev, line, col, &w)) != B_MORE)
		return NULL;
	json_t *j = NULL;
	if (w == W_STR) {
		j = json_stringn_nocheck(s, n);   /* libyaml's output is valid UTF-8 */
		if (!j)
			*status = boom(b);
		return j;
	}
	struct rval v = { R_STR, false, 0, 0 };
	if (b->schema == YSCHEMA_K8S) {
		if (k8s_resolve(s, n, &v) < 0) {
			*status = boom(b);
			return NULL;
		}
	} else {
		core_resolve(s, n, &v);
	}
	static const char *const wname[] = { "", "", "!!int", "!!float", "!!bool", "!!null" };
	bool ok = w == W_ANY || (w == W_INT && v.t == R_INT) ||
		  (w == W_FLOAT && (v.t == R_INT || v.t == R_FLOAT || v.t == R_NONFINITE)) ||
		  (w == W_BOOL && v.t == R_BOOL) || (w == W_NULL && v.t == R_NULL);
	if (!ok) {
		static const char *const what[] = { "", "", "an integer", "a number", "a boolean",
						    "null" };
		snip(text, sizeof text, s, n);
		*status = berr(b, line, col, B_ERR, "'%s' is tagged %s but is not %s", text,
			       wname[w], what[w]);
		return NULL;
	}
	switch (v.t) {
	case R_NULL: j = json_null(); break;
	case R_BOOL: j = json_boolean(v.b); break;
	case R_INT: j = w == W_FLOAT ? json_real((double)v.i) : json_integer(v.i); break;
	case R_FLOAT: j = json_real(v.f); break;
	case R_STR: j = json_stringn_nocheck(s, n); break;
	case R_NONFINITE:
		snip(text, sizeof text, s, n);
		*status = berr(b, line, col, B_ERR,
			       "'%s' is not a finite number and JSON cannot hold it (quote it for a "
			       "string)", text);
		return NULL;
	}
	if (!j)
		*status = boom(b);
	return j;
}

/* Go's strconv.FormatFloat(f, 'g', -1, 32), as sigs.k8s.io/yaml turns a float key into text:
 * the shortest digits that read back as the same float32; %e form when the exponent is < -4 or
 * >= 6. */
static void fmt_float32(char *buf, size_t size, double v)
{
	float f = (float)v;
	char e[48];
	int p = 1;
	for (; p < 9; p++) {
		fmt_buf(e, sizeof e, "%.*e", p - 1, (double)f);
		if (strtof(e, NULL) == f)
			break;
	}
	fmt_buf(e, sizeof e, "%.*e", p - 1, (double)f);
	const char *x = strchr(e, 'e');
	long exp = x ? strtol(x + 1, NULL, 10) : 0;
	if (exp < -4 || exp >= 6) {
		fmt_buf(buf, size, "%s", e);
	} else {
		long dec = p - 1 - exp;
		fmt_buf(buf, size, "%.*f", (int)(dec < 0 ? 0 : dec), (double)f);
	}
}

const char *yaml_type_phrase(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "a mapping";
	case JSON_ARRAY: return "a sequence";
	case JSON_STRING: return "a string";
	case JSON_INTEGER:
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

/* Record the pending key of the mapping on top (after the duplicate check). */
static int set_key(struct ybuild *b, struct yframe *f, const char *s, size_t n, uint32_t line,
		   uint32_t col, bool merge)
{
	struct ydoc *d = b->doc;
	char text[48];
	if (n > b->lim->max_scalar)
		return berr(b, line, col, B_ERR, "mapping key is longer than %zu bytes",
			    b->lim->max_scalar);
	if (memchr(s, 0, n))
		return berr(b, line, col, B_ERR, "mapping key contains a NUL character");
	char *k = arena_strndup(&d->arena, s, n);
	if (!k)
		return boom(b);
	if (!merge && json_object_get(f->node, k)) {
		uint32_t end = d->n_ents, kl = 0, kc = 0;
		for (uint32_t i = f->ent + 1; i < end; i += d->ents[i].size) {
			const struct yent *e = &d->ents[i];
			if (e->parent == f->node && !(e->flags & E_PASS) && strcmp(e->key, k) == 0) {
				kl = e->kline;
				kc = e->kcol;
				break;
			}
		}
		snip(text, sizeof text, s, n);
		return berr(b, line, col, B_ERR, "duplicate key '%s' (first at %u:%u)", text, kl, kc);
	}
	if (!merge && b->dropped_items && b->n_frames == 1 && strcmp(k, "items") == 0)
		return berr(b, line, col, B_ERR, "duplicate key 'items' (first at %u:%u)",
			    b->dropped_line, b->dropped_col);
	f->has_key = true;
	f->key_merge = merge;
	f->key = k;
	f->kline = line;
	f->kcol = col;
	return B_MORE;
}

/* A mapping key from a resolved node: sigs.k8s.io/yaml's stringification. */
static int key_from_node(struct ybuild *b, struct yframe *f, const json_t *v, uint32_t line,
			 uint32_t col)
{
	char tmp[64];
	size_t n;
	switch (json_typeof(v)) {
	case JSON_STRING:
		return set_key(b, f, json_string_value(v), json_string_length(v), line, col, false);
	case JSON_TRUE: return set_key(b, f, "true", 4, line, col, false);
	case JSON_FALSE: return set_key(b, f, "false", 5, line, col, false);
	case JSON_INTEGER:
		n = fmt_buf(tmp, sizeof tmp, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return set_key(b, f, tmp, n, line, col, false);
	case JSON_REAL:
		fmt_float32(tmp, sizeof tmp, json_real_value(v));
		return set_key(b, f, tmp, strlen(tmp), line, col, false);
	case JSON_NULL:
		return berr(b, line, col, B_ERR,
			    "a null mapping key cannot be converted to JSON (quote it for a string)");
	default:
		return berr(b, line, col, B_ERR,
			    "expected a scalar mapping key, found %s (complex keys are not supported)",
			    yaml_type_phrase(v));
	}
}

static int key_scalar(struct ybuild *b, struct yframe *f, const yaml_event_t *ev, uint32_t line,
		      uint32_t col)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	if (ev->data.scalar.anchor)
		return berr(b, line, col, B_ERR, "anchors on mapping keys are not supported");
	if (b->schema == YSCHEMA_CORE)
		return set_key(b, f, s, n, line, col, false);
	if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev->data.scalar.tag && n == 2 &&
	    memcmp(s, "<<", 2) == 0)
		return set_key(b, f, s, n, line, col, true);
	if (!ev->data.scalar.tag) {   /* the common case: a key that is a string as written */
		struct rval v = { R_STR, false, 0, 0 };
		if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && k8s_resolve(s, n, &v) < 0)
			return boom(b);
		if (v.t == R_STR)
			return set_key(b, f, s, n, line, col, false);
	}
	int st;
	json_t *v = make_scalar(b, ev, line, col, &st);
	if (!v)
		return st;
	st = key_from_node(b, f, v, line, col);
	json_decref(v);
	return st;
}

static int on_scalar(struct ybuild *b, const yaml_event_t *ev)
{
	uint32_t line, col;
	mark_pos(b, &ev->start_mark, &line, &col);
	struct yframe *f = top(b);
	if (ev->data.scalar.length > b->lim->max_scalar)
		return berr(b, line, col, B_ERR, "scalar is longer than %zu bytes",
			    b->lim->max_scalar);
	if (f && f->map && !f->has_key)
		return key_scalar(b, f, ev, line, col);
	int st;
	json_t *v = make_scalar(b, ev, line, col, &st);
	if (!v)
		return st;
	if ((st = add_node(b, v, line, col)) != B_MORE)
		return st;
	if (ev->data.scalar.anchor) {
		uint32_t a = anchor_define(b, (const char *)ev->data.scalar.anchor,
					   b->doc->n_ents - 1);
		if (a == NONE)
			return boom(b);
		b->anchors[a].end = b->doc->n_ents;
	}
	return f ? B_MORE : B_DONE;
}

static int on_start(struct ybuild *b, const yaml_event_t *ev, bool map)
{
	uint32_t line, col;
	mark_pos(b, &ev->start_mark, &line, &col);
	struct yframe *f = top(b);
	const char *what = map ? "mapping" : "sequence";
	if (f && f->map && !f->has_key)
		return berr(b, line, col, B_ERR,
			    "expected a scalar mapping key, found a %s (complex keys are not supported)",
			    what);
	if (b->n_frames >= b->lim->max_depth)
		return berr(b, line, col, B_ABORT, "nesting deeper than %u levels",
			    b->lim->max_depth);
	const char *tag = (const char *)(map ? ev->data.mapping_start.tag
					     : ev->data.sequence_start.tag);
	const char *anchor = (const char *)(map ? ev->data.mapping_start.anchor
						: ev->data.sequence_start.anchor);
	if (tag && strcmp(tag, "!") != 0 &&
	    strcmp(tag, map ? CORE_PREFIX "map" : CORE_PREFIX "seq") != 0)
		return berr(b, line, col, B_ERR, "tag '%.60s' is not allowed on a %s (expected %s)",
			    tag, what, map ? "!!map or no tag" : "!!seq or no tag");
	json_t *node = map ? json_object() : json_array();
	if (!node)
		return boom(b);
	int st = add_node(b, node, line, col);
	if (st != B_MORE)
		return st;
	uint32_t ent = b->doc->n_ents - 1, a = NONE;
	if (anchor && (a = anchor_define(b, anchor, ent)) == NONE)
		return boom(b);
	b->frames[b->n_frames++] = (struct yframe){ .node = node, .ent = ent, .anchor = a,
						    .map = map };
	return B_MORE;
}

/* Record, in win (key -> entry), the members of the merge source at entry src: later calls
 * override earlier ones, as goyaml.v2 applies them. */
static int win_members(struct ybuild *b, json_t *win, uint32_t src)
{
	const struct ydoc *d = b->doc;
	const json_t *s = d->ents[src].node;
	uint32_t end = src + d->ents[src].size;
	for (uint32_t j = src + 1; j < end;) {
		const struct yent *e = &d->ents[j];
		if (e->flags & E_DEAD) {
			j += e->size;
			continue;
		}
		if (e->flags & E_PASS) {
			j++;
			continue;
		}
		if (e->parent == s && json_object_set_new(win, e->key, json_integer(j)) < 0)
			return boom(b);
		j += e->size;
	}
	return B_MORE;
}

/* Apply the << keys of the mapping fr just closed (goyaml.v2 order: a merge overrides explicit
 * keys before it, explicit keys after it win, in a sequence of sources the first wins). The
 * mapping is rebuilt with its winners in document order; losers and sources leave the tree, and
 * their entries are marked so lookups and the line walk skip them. */
static int apply_merges(struct ybuild *b, const struct yframe *fr)
{
	struct ydoc *d = b->doc;
	uint32_t end = fr->ent + d->ents[fr->ent].size;
	json_t *win = json_object(), *ordered = json_object();
	int st = B_MORE;
	if (!win || !ordered) {
		st = boom(b);
		goto out;
	}
	for (uint32_t i = fr->ent + 1; i < end && st == B_MORE;) {
		struct yent *e = &d->ents[i];
		if (e->flags & E_DEAD) {
			i += e->size;
			continue;
		}
		if (!(e->flags & E_PASS)) {
			if (json_object_set_new(win, e->key, json_integer(i)) < 0)
				st = boom(b);
			i += e->size;
			continue;
		}
		const json_t *v = e->node;
		uint32_t next = i + e->size;
		if (json_is_object(v)) {
			st = win_members(b, win, i);
		} else if (json_is_array(v)) {
			uint32_t n = (uint32_t)json_array_size(v), k = 0;
			uint32_t *src = xmalloc(((size_t)n + 1) * sizeof *src);
			if (!src) {
				st = boom(b);
				break;
			}
			for (uint32_t j = i + 1; j < next && k < n; j += d->ents[j].size)
				src[k++] = j;
			while (k-- > 0 && st == B_MORE) {
				struct yent *s = &d->ents[src[k]];
				if (!json_is_object(s->node)) {
					st = berr(b, s->line, s->col, B_ERR,
						  "merge key << expects mappings, found %s",
						  yaml_type_phrase(s->node));
					break;
				}
				s->flags |= E_PASS;
				st = win_members(b, win, src[k]);
			}
			xfree(src);
		} else {
			st = berr(b, e->line, e->col, B_ERR,
				  "merge key << expects a mapping or a sequence of mappings, found %s",
				  yaml_type_phrase(v));
		}
		i = next;
	}
	if (st != B_MORE)
		goto out;
	for (uint32_t i = fr->ent + 1; i < end;) {
		struct yent *e = &d->ents[i];
		if (e->flags & E_DEAD) {
			i += e->size;
			continue;
		}
		if (e->flags & E_PASS) {
			e->node = NULL;   /* the source is freed with fr->merges */
			i++;
			continue;
		}
		if (json_integer_value(json_object_get(win, e->key)) == (json_int_t)i) {
			if (json_object_set_nocheck(ordered, e->key, (json_t *)e->node) < 0) {
				st = boom(b);
				goto out;
			}
			e->parent = fr->node;
		} else {
			e->flags |= E_DEAD;
			e->node = NULL;
		}
		i += e->size;
	}
	json_object_clear(fr->node);
	if (json_object_update(fr->node, ordered) < 0)
		st = boom(b);
out:
	json_decref(win);
	json_decref(ordered);
	return st;
}

static int on_end(struct ybuild *b)
{
	struct ydoc *d = b->doc;
	if (!b->n_frames)
		return B_MORE;
	struct yframe fr = b->frames[--b->n_frames];
	d->ents[fr.ent].size = d->n_ents - fr.ent;
	uint32_t height = fr.height + 1;
	if (fr.merges) {
		int st = apply_merges(b, &fr);
		json_decref(fr.merges);
		if (st != B_MORE)
			return st;
	}
	if (fr.anchor != NONE) {
		b->anchors[fr.anchor].end = d->n_ents;
		b->anchors[fr.anchor].height = height;
	}
	struct yframe *p = top(b);
	if (p && p->height < height)
		p->height = height;
	return p ? B_MORE : B_DONE;
}

static json_t *shallow_copy(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return json_object();
	case JSON_ARRAY: return json_array();
	case JSON_STRING: return json_stringn_nocheck(json_string_value(v), json_string_length(v));
	case JSON_INTEGER: return json_integer(json_integer_value(v));
	case JSON_REAL: return json_real(json_real_value(v));
	default: return (json_t *)v;   /* the true/false/null singletons */
	}
}

/* Expand an alias: copy the anchored entries (and nodes) where the document is. Iterative; the
 * caller checked the node, alias and depth budgets. */
static int alias_copy(struct ybuild *b, const struct yanchor *a, uint32_t line, uint32_t col)
{
	struct ydoc *d = b->doc;
	struct cframe {
		const json_t *old;
		json_t *copy;
		uint32_t end, ent;
	} *st = xmalloc(((size_t)a->height + 1) * sizeof *st);
	uint32_t n_st = 0;
	int rc = B_MORE;
	if (!st)
		return boom(b);
	for (uint32_t i = a->start; i < a->end && rc == B_MORE;) {
		struct yent e = d->ents[i];
		if (i != a->start && (e.flags & E_DEAD)) {
			i += e.size;
			continue;
		}
		if (i != a->start && (e.flags & E_PASS)) {
			i++;
			continue;
		}
		while (n_st && st[n_st - 1].end <= i) {
			n_st--;
			d->ents[st[n_st].ent].size = d->n_ents - st[n_st].ent;
		}
		json_t *c = shallow_copy(e.node);
		if (!c) {
			rc = boom(b);
			break;
		}
		if (i == a->start) {
			rc = add_node(b, c, line, col);
		} else {
			json_t *p = NULL;
			for (uint32_t k = n_st; k-- > 0;)
				if (st[k].old == e.parent) {
					p = st[k].copy;
					break;
				}
			struct yent ne = e;
			ne.node = c;
			ne.parent = p;
			ne.size = 1;
			ne.flags &= E_MEMBER;
			if (!p) {   /* cannot happen: entries are in document order */
				json_decref(c);
				rc = berr(b, line, col, B_ERR, "internal error expanding an alias");
			} else if (json_is_object(p) ? json_object_set_new_nocheck(p, e.key, c) < 0
						     : (ne.index = (uint32_t)json_array_size(p),
							json_array_append_new(p, c) < 0)) {
				rc = boom(b);
			} else if (ents_push(d, &ne) == NONE) {
				rc = boom(b);
			}
		}
		if (rc == B_MORE && (json_is_object(e.node) || json_is_array(e.node)))
			st[n_st++] = (struct cframe){ e.node, c, i + e.size, d->n_ents - 1 };
		i++;
	}
	while (n_st) {
		n_st--;
		d->ents[st[n_st].ent].size = d->n_ents - st[n_st].ent;
	}
	xfree(st);
	if (rc != B_MORE)
		return rc;
	return top(b) ? B_MORE : B_DONE;
}

static int on_alias(struct ybuild *b, const yaml_event_t *ev)
{
	uint32_t line, col;
	mark_pos(b, &ev->start_mark, &line, &col);
	const char *name = (const char *)ev->data.alias.anchor;
	json_t *slot = json_object_get(b->anchor_names, name);
	if (!slot)
		return berr(b, line, col, B_ERR,
			    b->in_item ? "alias *%.60s refers to an anchor outside this List item "
					 "(anchors do not cross items while a List is streamed)"
				       : "alias *%.60s refers to an undefined anchor",
			    name);
	const struct yanchor a = b->anchors[json_integer_value(slot)];
	if (!a.end)
		return berr(b, line, col, B_ERR, "alias *%.60s refers to a node that contains it",
			    name);
	const struct yent *src = &b->doc->ents[a.start];
	if (src->flags & (E_DEAD | E_PASS))
		return berr(b, line, col, B_ERR,
			    "alias *%.60s refers to a node consumed by a merge key (<<)", name);
	struct yframe *f = top(b);
	if (f && f->map && !f->has_key)
		return key_from_node(b, f, src->node, line, col);
	uint32_t cost = a.end - a.start;
	if (cost > b->lim->max_nodes - b->doc->n_ents)
		return berr(b, line, col, B_ERR,
			    "document has more than %u nodes (counting what aliases expand to)",
			    b->lim->max_nodes);
	if (cost > b->lim->max_alias_nodes - b->alias_nodes)
		return berr(b, line, col, B_ERR,
			    "aliases expand to more than %u nodes (an alias bomb?)",
			    b->lim->max_alias_nodes);
	if (b->n_frames + a.height > b->lim->max_depth)
		return berr(b, line, col, B_ERR, "nesting deeper than %u levels (through alias *%.60s)",
			    b->lim->max_depth, name);
	b->alias_nodes += cost;
	if (f && f->height < a.height)
		f->height = a.height;
	return alias_copy(b, &a, line, col);
}

/* Feed one libyaml event. B_ERR leaves b->skip = containers still open in the input. */
static int ybuild_event(struct ybuild *b, const yaml_event_t *ev)
{
	uint32_t before = b->n_frames;
	bool start = false;
	int st;
	switch (ev->type) {
	case YAML_SCALAR_EVENT: st = on_scalar(b, ev); break;
	case YAML_ALIAS_EVENT: st = on_alias(b, ev); break;
	case YAML_MAPPING_START_EVENT:
		start = true;
		st = on_start(b, ev, true);
		break;
	case YAML_SEQUENCE_START_EVENT:
		start = true;
		st = on_start(b, ev, false);
		break;
	case YAML_MAPPING_END_EVENT:
	case YAML_SEQUENCE_END_EVENT: st = on_end(b); break;
	default: return B_MORE;
	}
	if (st == B_ERR)
		b->skip = b->n_frames + (start && b->n_frames == before ? 1 : 0);
	return st;
}

/* ======================================================================================== */
/* the feeder: input read incrementally, cut into chunks at document markers                 */
/* ======================================================================================== */

#define FEED_BUF (64u << 10)
#define RING 256

struct yfeed {
	int fd;                        /* source when fp and mem are not used */
	FILE *fp;
	unsigned char *own;            /* owned buffer (fd, fp); NULL for memory */
	const unsigned char *buf;      /* bytes [pos, len) are available */
	size_t pos, len;
	bool src_eof, io_error, input_over, unit_over, counting;
	int err_no;
	uint64_t consumed, max_input;  /* bytes handed out (to parsers or skipped) */
	uint64_t chars;                /* characters handed to the current chunk's parser */
	uint64_t unit_start;           /* where the current document / item starts (chars) */
	size_t unit_max;               /* its limit (ylimits.max_doc), 0: none */
	uint64_t line;                 /* line of the next byte */
	unsigned pend;                 /* bytes left of a multi-byte line break */
	bool at_bol, line_ws, started, end_after_line, chunk_end, bom_done;
	uint64_t chunk_line, chunk_start;
	struct {
		uint64_t off, line;
	} ring[RING];                  /* where the last RING lines started */
	unsigned ring_n;
};

static void feed_refill(struct yfeed *f)
{
	if (!f->own) {
		f->src_eof = true;
		return;
	}
	if (f->src_eof || f->io_error)
		return;
	if (f->pos) {
		memmove(f->own, f->own + f->pos, f->len - f->pos);
		f->len -= f->pos;
		f->pos = 0;
	}
	while (f->len < FEED_BUF) {
		if (f->fp) {
			size_t n = fread(f->own + f->len, 1, FEED_BUF - f->len, f->fp);
			if (n == 0) {
				if (ferror(f->fp)) {
					f->io_error = true;
					f->err_no = errno;
				} else {
					f->src_eof = true;
				}
			}
			f->len += n;
			return;
		}
		ssize_t r = read(f->fd, f->own + f->len, FEED_BUF - f->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			f->io_error = true;
			f->err_no = errno;
		} else if (r == 0) {
			f->src_eof = true;
		} else {
			f->len += (size_t)r;
		}
		return;
	}
}

static bool is_marker(const unsigned char *p, size_t a, bool eof, unsigned char c)
{
	if (a < 3 || p[0] != c || p[1] != c || p[2] != c)
		return false;
	if (a == 3)
		return eof;
	return p[3] == ' ' || p[3] == '\t' || p[3] == '\r' || p[3] == '\n';
}

/* Up to size bytes of the current chunk into out: the count, 0 at the end of the chunk, -1 on a
 * read error or a limit (flags say which). */
static bool is_break_lead(unsigned char c)
{
	return c == '\n' || c == '\r' || c == 0xC2 || c == 0xE2;
}

/* A line starts at absolute offset off. */
static void note_line(struct yfeed *f, uint64_t off)
{
	f->line++;
	f->at_bol = true;
	f->ring[f->ring_n % RING].off = off;
	f->ring[f->ring_n % RING].line = f->line;
	f->ring_n++;
}

static long feed_read(struct yfeed *f, unsigned char *out, size_t size)
{
	size_t n = 0;
	uint64_t cap = f->counting && f->unit_max ? f->unit_start + f->unit_max : UINT64_MAX;
	while (n < size && !f->chunk_end) {
		if (f->len - f->pos < 4 && !f->src_eof) {
			feed_refill(f);
			if (f->io_error)
				return -1;
		}
		size_t a = f->len - f->pos;
		if (!a)
			break;
		const unsigned char *p = f->buf + f->pos;
		unsigned char c = p[0];
		if (f->pend) {   /* the rest of a multi-byte line break */
			out[n++] = c;
			f->pos++;
			f->chars += (c & 0xC0) != 0x80;   /* CRLF is two characters to libyaml */
			if (--f->pend == 0)
				note_line(f, f->consumed + n);
			continue;
		}
		if (f->at_bol) {
			if (f->end_after_line) {
				f->chunk_end = true;
				break;
			}
			if (!f->bom_done) {
				f->bom_done = true;
				if (a >= 3 && c == 0xEF && p[1] == 0xBB && p[2] == 0xBF && size - n >= 3) {
					/* a BOM: libyaml skips it without counting a character */
					memcpy(out + n, p, 3);
					n += 3;
					f->pos += 3;
					continue;
				}
			}
			if (is_marker(p, a, f->src_eof, '-')) {
				if (f->started) {
					f->chunk_end = true;
					break;
				}
				f->started = true;
			} else if (is_marker(p, a, f->src_eof, '.')) {
				f->end_after_line = true;
			}
			f->at_bol = false;
			f->line_ws = true;
		}
		if (f->chars >= cap) {   /* the document (or item) reached its limit */
			if (n)
				break;   /* let the parser use what it has first */
			f->unit_over = true;
			return -1;
		}
		if (f->line_ws && (c == ' ' || c == '\t')) {
			/* indentation: a run of single-byte blanks at once */
			size_t k = 0, lim = a < size - n ? a : size - n;
			while (k < lim && (p[k] == ' ' || p[k] == '\t') && f->chars < cap) {
				f->chars++;
				k++;
			}
			memcpy(out + n, p, k);
			n += k;
			f->pos += k;
			continue;
		}
		if (!f->line_ws && !is_break_lead(c)) {
			/* fast path: up to the next byte that may break a line */
			size_t k = 0, lim = a < size - n ? a : size - n;
			while (k < lim && !is_break_lead(p[k]) && f->chars < cap) {
				f->chars += (p[k] & 0xC0) != 0x80;
				k++;
			}
			memcpy(out + n, p, k);
			n += k;
			f->pos += k;
			continue;
		}
		f->chars += (c & 0xC0) != 0x80;
		unsigned w = 0;   /* bytes of a line break starting here */
		if (c == '\n')
			w = 1;
		else if (c == '\r')
			w = a > 1 && p[1] == '\n' ? 2 : 1;
		else if (c == 0xC2 && a > 1 && p[1] == 0x85)
			w = 2;
		else if (c == 0xE2 && a > 2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9))
			w = 3;
		else if (f->line_ws && c != ' ' && c != '\t') {
			f->line_ws = false;
			if (c != '#' && c != '%')
				f->started = true;
		}
		out[n++] = c;
		f->pos++;
		if (w == 1)
			note_line(f, f->consumed + n);
		else if (w > 1)
			f->pend = w - 1;
	}
	f->consumed += n;
	if (f->max_input && f->consumed > f->max_input) {
		f->input_over = true;
		return -1;
	}
	return (long)n;
}

/* Start the next chunk; false at the end of the input. */
static bool feed_next_chunk(struct yfeed *f)
{
	f->chunk_end = f->started = f->end_after_line = false;
	if (f->len == f->pos && !f->src_eof)
		feed_refill(f);
	if (f->len == f->pos)
		return false;
	f->chunk_line = f->line;
	f->chunk_start = f->consumed;
	f->chars = 0;
	f->unit_start = 0;
	f->counting = true;
	return true;
}

/* Discard the rest of the current chunk. */
static void feed_skip_chunk(struct yfeed *f)
{
	unsigned char scratch[4096];
	f->counting = false;
	while (feed_read(f, scratch, sizeof scratch) > 0)
		;
}

/* Line and (byte) column of the absolute offset off, if it is within the last RING lines. */
static bool feed_pos_of(const struct yfeed *f, uint64_t off, uint32_t *line, uint32_t *col)
{
	unsigned n = f->ring_n < RING ? f->ring_n : RING;
	uint64_t best_off = 0, best_line = 0;
	bool found = false;
	if (f->ring_n < RING) {   /* line 1 starts at offset 0 */
		best_off = 0;
		best_line = 1;
		found = true;
	}
	for (unsigned i = 0; i < n; i++) {
		unsigned k = (f->ring_n - 1 - i) % RING;
		if (f->ring[k].off <= off && (!found || f->ring[k].off >= best_off)) {
			best_off = f->ring[k].off;
			best_line = f->ring[k].line;
			found = true;
		}
	}
	if (!found)
		return false;
	*line = clamp_u32(best_line);
	*col = clamp_u32(off - best_off + 1);
	return true;
}

/* ======================================================================================== */
/* the reader                                                                                */
/* ======================================================================================== */

enum rstate { RS_OUT, RS_DOC, RS_SKIP_DOC, RS_ITEMS, RS_SKIP_ITEM };
#define RC_CONTINUE (-1)

struct yreader {
	char *name;              /* owned */
	enum yschema schema;
	struct ylimits lim;
	unsigned flags;
	struct yfeed feed;
	yaml_parser_t parser;
	bool parser_live, done, first_chunk;
	struct ybuild env, item;  /* the document, and the List item being built */
	enum rstate state;
	bool item_open;
	uint32_t doc_index;
	int64_t item_index;
	uint32_t skip;            /* containers to close before the skipped part ends */
	uint32_t unit_line, unit_col;
	struct ystats st;
};

static void set_err(const struct yreader *r, struct yerror *err, uint32_t line, uint32_t col,
		    int64_t item, const char *msg)
{
	if (!err)
		return;
	err->line = line;
	err->col = col;
	err->doc = r->doc_index;
	err->item = item;
	fmt_buf(err->msg, sizeof err->msg, "%s", msg);
	if (line)
		fmt_buf(err->text, sizeof err->text, "%s:%u:%u: %s", r->name, line, col, msg);
	else
		fmt_buf(err->text, sizeof err->text, "%s: %s", r->name, msg);
}

static void reader_stop_parser(struct yreader *r)
{
	if (r->parser_live)
		yaml_parser_delete(&r->parser);
	r->parser_live = false;
}

static void reader_abort_chunk(struct yreader *r)
{
	ybuild_abort(&r->env);
	ybuild_abort(&r->item);
	r->item_open = false;
	reader_stop_parser(r);
	feed_skip_chunk(&r->feed);
	r->state = RS_OUT;
}

static int reader_fatal(struct yreader *r, struct yerror *err, const char *msg)
{
	char m[160];
	if (r->feed.input_over)
		fmt_buf(m, sizeof m, "input is larger than %llu bytes",
			(unsigned long long)r->lim.max_input);
	else if (r->feed.io_error)
		fmt_buf(m, sizeof m, "read error: %s", strerror(r->feed.err_no));
	else
		fmt_buf(m, sizeof m, "%s", msg ? msg : "out of memory");
	set_err(r, err, 0, 0, -1, m);
	ybuild_abort(&r->env);
	ybuild_abort(&r->item);
	r->item_open = false;
	reader_stop_parser(r);
	r->done = true;
	return YR_FATAL;
}

static int read_handler(void *data, unsigned char *buffer, size_t size, size_t *size_read)
{
	struct yreader *r = data;
	long n = feed_read(&r->feed, buffer, size);
	*size_read = n > 0 ? (size_t)n : 0;
	return n >= 0;
}

/* libyaml's problem, said as what was expected. */
static void describe_parse_error(struct yreader *r, uint32_t *line, uint32_t *col, char *msg,
				 size_t size)
{
	static const struct {
		const char *problem, *say;
	} table[] = {
		{ "mapping values are not allowed in this context",
		  "found ':' where no mapping value is allowed (quote a value that contains ': ', or "
		  "fix the indentation)" },
		{ "did not find expected key",
		  "expected a mapping key at this indentation (check the indentation above)" },
		{ "did not find expected '-' indicator",
		  "expected a '-' sequence entry at this indentation" },
		{ "did not find expected ',' or ']'", "expected ',' or ']'" },
		{ "did not find expected ',' or '}'", "expected ',' or '}'" },
		{ "did not find expected node content", "expected a value" },
		{ "found unexpected end of stream", "unexpected end of the document" },
		{ "block sequence entries are not allowed in this context",
		  "found '-' where a sequence entry is not allowed (fix the indentation)" },
		{ "did not find expected <document start>",
		  "expected '---' before another document" },
		{ "could not find expected ':'", "expected ':' after a mapping key" },
		{ "found a tab character that violates indentation",
		  "found a tab character where indentation was expected (indent with spaces)" },
		{ "found a tab character that violate indentation",
		  "found a tab character where indentation was expected (indent with spaces)" },
	};
	const yaml_parser_t *p = &r->parser;
	const char *prob = p->problem ? p->problem : "invalid YAML";
	uint64_t off = r->feed.chunk_line;
	if (p->error == YAML_READER_ERROR) {
		if (!feed_pos_of(&r->feed, r->feed.chunk_start + p->problem_offset, line, col)) {
			*line = clamp_u32(off + p->mark.line);
			*col = clamp_u32((uint64_t)p->mark.column + 1);
		}
		fmt_buf(msg, size, "%s (expected UTF-8 text)", prob);
		return;
	}
	*line = clamp_u32(off + p->problem_mark.line);
	*col = clamp_u32((uint64_t)p->problem_mark.column + 1);
	const char *say = NULL;
	for (size_t i = 0; i < ARRAY_LEN(table); i++)
		if (strcmp(prob, table[i].problem) == 0)
			say = table[i].say;
	char cbuf[96];
	if (strcmp(prob, "found character that cannot start any token") == 0) {
		int c = -1;
		if (p->problem_mark.index == p->mark.index && p->buffer.pointer &&
		    p->buffer.pointer < p->buffer.last)
			c = *p->buffer.pointer;
		if (c == '\t') {
			say = "found a tab character where indentation was expected (indent with spaces)";
		} else if (c > 0x20 && c < 0x7f) {
			fmt_buf(cbuf, sizeof cbuf,
				"found '%c', which cannot start a value (quote the value)", c);
			say = cbuf;
		}
	}
	char ctx[160] = "";
	bool tab = say && strstr(say, "tab character");
	uint32_t cl = clamp_u32(off + p->context_mark.line);
	uint32_t cc = clamp_u32((uint64_t)p->context_mark.column + 1);
	if (p->context && !tab && strcmp(p->context, "while scanning for the next token") != 0 &&
	    (cl != *line || cc != *col)) {
		/* "while parsing a block mapping" -> "in the block mapping that starts at L:C" */
		const char *what = p->context;
		if (strncmp(what, "while parsing ", 14) == 0 || strncmp(what, "while scanning ", 15) == 0)
			what = strchr(what + 6, ' ') + 1;
		if (strncmp(what, "a ", 2) == 0 || strncmp(what, "an ", 3) == 0)
			what = strchr(what, ' ') + 1;
		fmt_buf(ctx, sizeof ctx, " (in the %s that starts at %u:%u)", what, cl, cc);
	}
	fmt_buf(msg, size, "%s%s", say ? say : prob, ctx);
}

static int reader_parse_error(struct yreader *r, struct yerror *err)
{
	struct yfeed *f = &r->feed;
	if (f->input_over || f->io_error || r->parser.error == YAML_MEMORY_ERROR)
		return reader_fatal(r, err, "out of memory");
	uint32_t line, col;
	char msg[320];
	int64_t item = r->item_open ? r->item_index : -1;
	if (f->unit_over && r->unit_line) {
		line = r->unit_line;
		col = r->unit_col;
		fmt_buf(msg, sizeof msg, "%s starting here is longer than %zu characters",
			r->state == RS_DOC ? "document" : "List item", r->lim.max_doc);
	} else if (f->unit_over) {   /* an item whose first event never came */
		if (!feed_pos_of(f, f->consumed, &line, &col))
			line = clamp_u32(f->line), col = 0;
		fmt_buf(msg, sizeof msg, "List item is longer than %zu characters (reading stopped here)",
			r->lim.max_doc);
	} else {
		describe_parse_error(r, &line, &col, msg, sizeof msg);
	}
	set_err(r, err, line, col, item, msg);
	reader_abort_chunk(r);
	f->unit_over = false;
	r->doc_index++;
	r->st.broken++;
	return YR_BROKEN;
}

static void unit_reset(struct yreader *r, const yaml_event_t *ev)
{
	r->feed.unit_start = ev->start_mark.index;
	r->unit_line = clamp_u32(r->feed.chunk_line + ev->start_mark.line);
	r->unit_col = clamp_u32((uint64_t)ev->start_mark.column + 1);
}

/* The previous item ended at ev: the next one's budget starts there. */
static void unit_between_items(struct yreader *r, const yaml_event_t *ev)
{
	r->feed.unit_start = ev->end_mark.index;
	r->unit_line = r->unit_col = 0;
}

static void note_peak(struct yreader *r)
{
	uint32_t n = (r->env.doc ? r->env.doc->n_ents : 0) + (r->item.doc ? r->item.doc->n_ents : 0);
	if (n > r->st.peak_nodes)
		r->st.peak_nodes = n;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* Does this sequence start the top-level `items` of a List to stream? */
static bool list_begins(struct yreader *r, const yaml_event_t *ev)
{
	if (!(r->flags & YREADER_STREAM_ITEMS) || r->env.n_frames != 1)
		return false;
	const struct yframe *f = top(&r->env);
	const char *tag = (const char *)ev->data.sequence_start.tag;
	if (!f->map || !f->has_key || f->key_merge || strcmp(f->key, "items") != 0 ||
	    ev->data.sequence_start.anchor ||
	    (tag && strcmp(tag, "!") != 0 && strcmp(tag, CORE_PREFIX "seq") != 0))
		return false;
	const json_t *kind = json_object_get(f->node, "kind");
	return !kind || (json_is_string(kind) && ends_with(json_string_value(kind), "List"));
}

static int reader_doc_end(struct yreader *r, struct ydoc **out, struct yerror *err)
{
	enum rstate state = r->state;
	r->state = RS_OUT;
	r->doc_index++;
	if (state != RS_DOC)
		return RC_CONTINUE;   /* skipped: its error was reported */
	struct ydoc *d = r->env.doc;
	if (!d || !d->root || (json_is_null(d->root) && d->streamed < 0)) {
		ybuild_abort(&r->env);
		r->st.empty++;
		return RC_CONTINUE;
	}
	if (!(d = ybuild_take(&r->env)))
		return reader_fatal(r, err, "out of memory");
	*out = d;
	r->st.docs++;
	return YR_DOC;
}

static int reader_item_event(struct yreader *r, const yaml_event_t *ev, struct ydoc **out,
			     struct yerror *err)
{
	struct ybuild *b = &r->item;
	if (!r->item_open) {
		if (ev->type == YAML_SEQUENCE_END_EVENT) {
			r->state = RS_DOC;
			r->env.doc->streamed = r->item_index;
			return RC_CONTINUE;
		}
		if (ybuild_begin(b, r->doc_index, r->item_index, r->feed.chunk_line) < 0)
			return reader_fatal(r, err, "out of memory");
		r->item_open = true;
		unit_reset(r, ev);
	}
	int st = ybuild_event(b, ev);
	note_peak(r);
	switch (st) {
	case B_MORE:
		return RC_CONTINUE;
	case B_DONE: {
		struct ydoc *d = ybuild_take(b);
		r->item_open = false;
		r->item_index++;
		unit_between_items(r, ev);
		if (!d)
			return reader_fatal(r, err, "out of memory");
		*out = d;
		r->st.items++;
		return YR_ITEM;
	}
	case B_ERR:
		set_err(r, err, b->eline, b->ecol, r->item_index, b->emsg);
		r->skip = b->skip;
		ybuild_abort(b);
		r->item_open = false;
		r->item_index++;
		r->st.broken++;
		r->state = r->skip ? RS_SKIP_ITEM : RS_ITEMS;
		if (!r->skip)
			unit_between_items(r, ev);
		return YR_BROKEN;
	case B_ABORT:
		set_err(r, err, b->eline, b->ecol, r->item_index, b->emsg);
		reader_abort_chunk(r);
		r->doc_index++;
		r->st.broken++;
		return YR_BROKEN;
	default:
		return reader_fatal(r, err, "out of memory");
	}
}

static int reader_event(struct yreader *r, const yaml_event_t *ev, struct ydoc **out,
			struct yerror *err)
{
	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		reader_stop_parser(r);
		return RC_CONTINUE;
	case YAML_DOCUMENT_START_EVENT:
		if (ybuild_begin(&r->env, r->doc_index, -1, r->feed.chunk_line) < 0)
			return reader_fatal(r, err, "out of memory");
		r->state = RS_DOC;
		unit_reset(r, ev);
		return RC_CONTINUE;
	case YAML_DOCUMENT_END_EVENT:
		return reader_doc_end(r, out, err);
	case YAML_SCALAR_EVENT:
	case YAML_ALIAS_EVENT:
	case YAML_MAPPING_START_EVENT:
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_END_EVENT:
	case YAML_SEQUENCE_END_EVENT:
		break;
	default:
		return RC_CONTINUE;
	}
	bool start = ev->type == YAML_MAPPING_START_EVENT || ev->type == YAML_SEQUENCE_START_EVENT;
	bool end = ev->type == YAML_MAPPING_END_EVENT || ev->type == YAML_SEQUENCE_END_EVENT;
	switch (r->state) {
	case RS_SKIP_DOC:
	case RS_SKIP_ITEM:
		if (start && ++r->skip > r->lim.max_depth) {
			/* too deep to follow: give up the chunk (the document's error was reported
			 * already when skipping a document; a skipped item's List is lost here) */
			bool item = r->state == RS_SKIP_ITEM;
			reader_abort_chunk(r);
			r->doc_index++;
			if (!item)
				return RC_CONTINUE;
			char m[96];
			fmt_buf(m, sizeof m, "nesting deeper than %u levels", r->lim.max_depth);
			uint32_t l, c;
			mark_pos(&r->env, &ev->start_mark, &l, &c);
			set_err(r, err, l, c, -1, m);
			r->st.broken++;
			return YR_BROKEN;
		}
		if (end && r->skip)
			r->skip--;
		if (r->state == RS_SKIP_ITEM && r->skip == 0) {
			r->state = RS_ITEMS;
			unit_between_items(r, ev);
		}
		return RC_CONTINUE;
	case RS_ITEMS:
		return reader_item_event(r, ev, out, err);
	case RS_DOC:
		break;
	default:
		return RC_CONTINUE;
	}
	struct ybuild *b = &r->env;
	if (ev->type == YAML_SEQUENCE_START_EVENT && list_begins(r, ev)) {
		struct yframe *f = top(b);
		f->has_key = false;
		b->dropped_items = true;
		b->dropped_line = f->kline;
		b->dropped_col = f->kcol;
		b->doc->streamed = 0;
		r->item_index = 0;
		r->state = RS_ITEMS;
		unit_between_items(r, ev);
		return RC_CONTINUE;
	}
	int st = ybuild_event(b, ev);
	note_peak(r);
	switch (st) {
	case B_MORE:
	case B_DONE:
		return RC_CONTINUE;
	case B_ERR:
		set_err(r, err, b->eline, b->ecol, -1, b->emsg);
		r->skip = b->skip;
		ybuild_abort(b);
		r->state = RS_SKIP_DOC;
		r->st.broken++;
		return YR_BROKEN;
	case B_ABORT:
		set_err(r, err, b->eline, b->ecol, -1, b->emsg);
		reader_abort_chunk(r);
		r->doc_index++;
		r->st.broken++;
		return YR_BROKEN;
	default:
		return reader_fatal(r, err, "out of memory");
	}
}

enum yread yreader_next(struct yreader *r, struct ydoc **out, struct yerror *err)
{
	*out = NULL;
	if (err) {
		err->line = err->col = err->doc = 0;
		err->item = -1;
		err->msg[0] = err->text[0] = '\0';
	}
	if (r->done)
		return YR_END;
	for (;;) {
		if (!r->parser_live) {
			struct yfeed *f = &r->feed;
			if (f->io_error || f->input_over)
				return (enum yread)reader_fatal(r, err, NULL);
			if (r->first_chunk) {
				feed_refill(f);
				size_t a = f->len - f->pos;
				const unsigned char *p = f->buf + f->pos;
				if (a >= 2 && ((p[0] == 0xFF && p[1] == 0xFE) ||
					       (p[0] == 0xFE && p[1] == 0xFF)))
					return (enum yread)reader_fatal(
						r, err, "input is UTF-16 (expected UTF-8 text)");
			}
			if (!feed_next_chunk(f)) {
				if (f->io_error)
					return (enum yread)reader_fatal(r, err, NULL);
				r->done = true;
				return YR_END;
			}
			if (!yaml_parser_initialize(&r->parser))
				return (enum yread)reader_fatal(r, err, "out of memory");
			r->parser_live = true;
			yaml_parser_set_input(&r->parser, read_handler, r);
			if (!r->first_chunk)
				yaml_parser_set_encoding(&r->parser, YAML_UTF8_ENCODING);
			r->first_chunk = false;
			r->state = RS_OUT;
		}
		yaml_event_t ev;
		if (!yaml_parser_parse(&r->parser, &ev))
			return (enum yread)reader_parse_error(r, err);
		int rc = reader_event(r, &ev, out, err);
		yaml_event_delete(&ev);
		if (rc != RC_CONTINUE)
			return (enum yread)rc;
	}
}

static struct yreader *reader_new(const char *name, enum yschema schema,
				  const struct ylimits *lim, unsigned flags)
{
	struct yreader *r = xcalloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->schema = schema;
	r->lim = lim ? *lim : schema == YSCHEMA_CORE ? ylimits_policy : ylimits_manifest;
	if (r->lim.max_depth == 0)
		r->lim.max_depth = 1;
	r->flags = flags;
	r->first_chunk = true;
	r->feed.fd = -1;
	r->feed.line = 1;
	r->feed.at_bol = true;
	r->feed.max_input = r->lim.max_input;
	r->feed.unit_max = r->lim.max_doc;
	r->name = xstrdup(name ? name : "-");
	int a = ybuild_init(&r->env, schema, &r->lim, r->name ? r->name : "-");
	int b = ybuild_init(&r->item, schema, &r->lim, r->name ? r->name : "-");
	if (!r->name || a < 0 || b < 0) {
		yreader_free(r);
		return NULL;
	}
	return r;
}

struct yreader *yreader_new_fd(int fd, const char *name, enum yschema schema,
			       const struct ylimits *lim, unsigned flags)
{
	struct yreader *r = reader_new(name, schema, lim, flags);
	if (!r)
		return NULL;
	r->feed.fd = fd;
	r->feed.own = xmalloc(FEED_BUF);
	if (!r->feed.own) {
		yreader_free(r);
		return NULL;
	}
	r->feed.buf = r->feed.own;
	return r;
}

struct yreader *yreader_new_file(FILE *fp, const char *name, enum yschema schema,
				 const struct ylimits *lim, unsigned flags)
{
	struct yreader *r = yreader_new_fd(-1, name, schema, lim, flags);
	if (r)
		r->feed.fp = fp;
	return r;
}

struct yreader *yreader_new_mem(const char *data, size_t len, const char *name,
				enum yschema schema, const struct ylimits *lim, unsigned flags)
{
	struct yreader *r = reader_new(name, schema, lim, flags);
	if (!r)
		return NULL;
	r->feed.buf = (const unsigned char *)(data ? data : "");
	r->feed.len = data ? len : 0;
	r->feed.src_eof = true;
	return r;
}

void yreader_stats(const struct yreader *r, struct ystats *out)
{
	*out = r->st;
	out->bytes = r->feed.consumed;
}

void yreader_free(struct yreader *r)
{
	if (!r)
		return;
	reader_stop_parser(r);
	ybuild_release(&r->env);
	ybuild_release(&r->item);
	xfree(r->feed.own);
	xfree(r->name);
	xfree(r);
}

struct ydoc *ydoc_load_mem(const char *name, const char *data, size_t len, enum yschema schema,
			   const struct ylimits *lim, char *err, size_t errlen)
{
	const struct ylimits *l = lim ? lim : schema == YSCHEMA_CORE ? &ylimits_policy
								      : &ylimits_manifest;
	if (l->max_input && len > l->max_input) {
		fmt_buf(err, errlen, "%s: file is larger than %llu bytes", name,
			(unsigned long long)l->max_input);
		return NULL;
	}
	struct yreader *r = yreader_new_mem(data, len, name, schema, l, 0);
	if (!r) {
		fmt_buf(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	struct ydoc *one = NULL, *d;
	struct yerror *e = xmalloc(sizeof *e);
	if (!e) {
		yreader_free(r);
		fmt_buf(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	for (;;) {
		enum yread rc = yreader_next(r, &d, e);
		if (rc == YR_END)
			break;
		if (rc == YR_DOC || rc == YR_ITEM) {
			if (!one) {
				one = d;
				continue;
			}
			fmt_buf(err, errlen, "%s:%u:1: expected a single document, found another one",
				name, ydoc_line(d));
			ydoc_free(d);
		} else {
			fmt_buf(err, errlen, "%s", e->text);
		}
		ydoc_free(one);
		one = NULL;
		goto out;
	}
	if (!one)
		fmt_buf(err, errlen, "%s:1:1: expected a YAML document, found none", name);
out:
	xfree(e);
	yreader_free(r);
	return one;
}
