/* json.h - jdoc: a strict, fast JSON parser into a flat, read-only tree; the only JSON model the
 * decoders (review.c, workload.c, authz.c, ...) read. Requests are parsed in place (json_parse);
 * trees built by jansson (policy, YAML manifests) are converted with jdoc_from_jansson.
 *
 * Layout: nodes sit in one array in document order. A container's first child is node+1 and a
 * node's next sibling is node+node->size. An object's children alternate key (JT_STRING), value. */
#ifndef POSTURE_JSON_H
#define POSTURE_JSON_H

#include <jansson.h>

#include "util.h"

enum jtype { JT_NULL, JT_FALSE, JT_TRUE, JT_NUMBER, JT_STRING, JT_ARRAY, JT_OBJECT };

struct jnode {
	uint8_t type;   /* enum jtype */
	uint32_t len;   /* string/number: bytes; array: elements; object: members (key/value pairs) */
	uint32_t size;  /* nodes in this subtree, itself included (>= 1) */
	uint32_t line;  /* 1-based source line, 0 when unknown */
	const char *s;  /* string: decoded bytes, NUL-terminated at s[len]; number: its text (not
	                   terminated); else NULL */
};

struct jlimits {
	uint32_t max_depth;   /* nesting of arrays/objects; default 512 */
	uint32_t max_nodes;   /* default 4,000,000 */
};
extern const struct jlimits jlimits_default;

struct jdoc {
	struct jnode *nodes;   /* owned */
	uint32_t count, cap;
	struct arena arena;    /* strings copied by jdoc_from_jansson, and the decoders' views */
};

/* Parse buf[0..len) as one JSON value. Strict: RFC 8259 grammar, UTF-8 validated, no lone
 * surrogates, duplicate object keys rejected, limits enforced. "\u0000" is accepted (strings carry
 * lengths). Numbers are validated but not converted. buf is modified in place (strings are
 * unescaped and terminated where they lie) and must outlive the doc. On error returns -1 and
 * writes a one-line reason ("invalid JSON at byte 17: expected ':'") to err; doc is left empty
 * but still needs jdoc_release. */
int json_parse(struct jdoc *doc, char *buf, size_t len, const struct jlimits *lim, char *err,
	       size_t errlen);

/* Build a jdoc from a jansson tree (borrowed). lines (may be NULL) maps a jansson node to its
 * source line: return 0 when unknown. */
typedef uint32_t (*jdoc_line_fn)(void *ctx, const json_t *node);
int jdoc_from_jansson(struct jdoc *doc, const json_t *root, jdoc_line_fn lines, void *ctx,
		      char *err, size_t errlen);

void jdoc_init(struct jdoc *doc);
void jdoc_release(struct jdoc *doc);

static inline const struct jnode *jdoc_root(const struct jdoc *doc)
{
	return doc->count ? &doc->nodes[0] : NULL;
}
static inline const struct jnode *jn_first(const struct jnode *n)
{
	return n + 1;
}
static inline const struct jnode *jn_next(const struct jnode *n)
{
	return n + n->size;
}
/* Object member value by key, or NULL (also NULL when obj is NULL or not an object). */
const struct jnode *jn_get(const struct jnode *obj, const char *key);
static inline bool jn_is(const struct jnode *n, enum jtype t)
{
	return n && n->type == t;
}
/* A string node as a sv (sv_null when n is NULL or not a string). */
struct sv jn_sv(const struct jnode *n);
/* For diagnostics: "object", "array", "string", ... */
const char *jn_type_name(const struct jnode *n);

/* A field path built while a decoder descends, rendered only when an error message needs it
 * (formatting every path eagerly cost more than parsing). Lives on the stack of the caller. */
struct jpath {
	const struct jpath *up;
	const char *key;             /* a member name, or NULL */
	uint32_t index;              /* an array index, when key and map_key are NULL */
	const struct sv *map_key;    /* a key of a user map (a port of portLevelMtls), or NULL */
};
static inline struct jpath jpath_key(const struct jpath *up, const char *key)
{
	struct jpath p = { up, key, 0, NULL };
	return p;
}
static inline struct jpath jpath_index(const struct jpath *up, uint32_t index)
{
	struct jpath p = { up, NULL, index, NULL };
	return p;
}
static inline struct jpath jpath_map_key(const struct jpath *up, const struct sv *key)
{
	struct jpath p = { up, NULL, 0, key };
	return p;
}
/* "spec.rules[0].from[1].source" into buf (always terminated); returns its length. A map key is
 * ".8080" when it is a plain port number (1-5 digits), else ["key"] with its first 23 bytes and
 * control bytes, quotes and backslashes shown as '?': one line that check.c's path reader parses. */
size_t jpath_format(const struct jpath *p, char *buf, size_t size);

/* Iterate an array's elements (a container's subtree is contiguous, so it ends at arr + size):
 *   uint32_t i = 0;
 *   for (JN_EACH(arr, el)) { ...; i++; }
 * arr must be a JT_ARRAY node (check with jn_is first). */
#define JN_EACH(arr, el)                                                                     \
	const struct jnode *el = (arr) + 1, *el##_end_ = (arr) + (arr)->size; el < el##_end_;  \
	el = jn_next(el)
/* Iterate an object's members: key is a JT_STRING node, its value is key + 1. */
#define JN_EACH_MEMBER(obj, key)                                                             \
	const struct jnode *key = (obj) + 1, *key##_end_ = (obj) + (obj)->size;                 \
	key < key##_end_; key = jn_next(key + 1)

/* Append s as a JSON string literal (with quotes, escaped) to out; see buf.h. */
#endif
