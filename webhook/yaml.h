/* yaml.h - YAML (libyaml) into jansson trees, with the source position of every node, hard limits,
 * multi-document streams that survive a broken document, and `kind: List` items streamed one at
 * a time. The one YAML module: the policy loader and `posture check` both read through it.
 *
 * Ownership: a struct ydoc owns its tree; jansson nodes reached through it are borrowed and live
 * as long as the ydoc. Do not add or remove keys in a ydoc's tree (positions are keyed by node).
 *
 * Scalars, by schema:
 *   YSCHEMA_CORE (policy files): YAML 1.2 core. null ~ Null NULL and empty are null; true True
 *     TRUE false False FALSE are booleans; [-+]?[0-9]+, 0o[0-7]+, 0x[0-9a-fA-F]+ are integers;
 *     1.2 core floats are reals; everything else is a string. Mapping keys are their text.
 *   YSCHEMA_K8S (manifests): what sigs.k8s.io/yaml (goyaml.v2) makes of it. y Y yes Yes YES n N no
 *     No NO true True TRUE false False FALSE on On ON off Off OFF are booleans; ~ null Null NULL
 *     and empty are null; integers as Go's ParseInt base 0 after removing '_' (0x.., 0o.., 0b..,
 *     leading-0 octal, sign); goyaml's float syntax; .inf/.nan are floats, which JSON cannot hold,
 *     so such a document is broken (as kubectl would fail on it). Base-60 (1:20) and timestamps
 *     stay strings, as in goyaml.v2. Non-string keys are stringified as sigs.k8s.io/yaml does
 *     (yes: -> "true", 0x10: -> "16"); a null key is an error. Merge keys (<<, plain) are applied
 *     with goyaml.v2's order: a `<<` overrides explicit keys before it, explicit keys after it win,
 *     and in `<<: [*a, *b]` the earlier source wins.
 *   Both: quoted scalars, `!!str` and `!` are strings. `!!int`, `!!float`, `!!bool`, `!!null` are
 *     honoured (the text must resolve to that type: `!!int "12"` is 12, `!!int abc` is an error);
 *     `!!map`/`!!seq` on the matching node and (K8S) `!!timestamp` (a string) are accepted; every
 *     other tag (`!!binary`, `!!set`, `!foo`, ...) is an error naming it. Complex (non-scalar)
 *     mapping keys, anchors on keys, duplicate keys (after stringification) are errors.
 *
 * Errors are one line, "FILE:LINE:COL: what was expected" (1-based), e.g.
 * "policy.yaml:7:12: found a tab character where indentation was expected (indent with spaces)".
 *
 * Streams and recovery. Input is read incrementally (64 KiB at a time) and split into chunks at
 * document markers: a line starting with `---` (followed by a space, tab, line break or the end)
 * opens a new chunk unless the current chunk has not started a document yet (only blank, comment
 * and %directive lines so far, or nothing); a line starting with `...` ends its chunk after that
 * line. Each chunk gets a fresh libyaml parser (libyaml errors are sticky) with its line offset, so
 * a syntax error loses only the rest of its chunk; the next chunk is read normally. Edge cases:
 * YAML forbids `---`/`...` at column 0 inside any scalar, so the split never cuts valid content; a
 * chunk may still hold several documents (libyaml finds markers the splitter does not, e.g. after
 * a NEL line break), which are all read; an error in such a chunk loses the documents after it in
 * the same chunk. Line breaks counted: LF, CRLF, CR, NEL, LS, PS (as libyaml does). A UTF-8 BOM is
 * allowed at the start; input starting with a UTF-16 BOM is refused (YR_FATAL), and any other
 * invalid UTF-8 is a syntax error at its position.
 * Errors that are not syntax (limits, duplicate keys, tags, unknown anchors) skip to the end of the
 * document (or List item) with the parser intact. Exceeding max_depth or max_doc abandons the rest
 * of the chunk (libyaml's own stacks and buffers would grow with the input otherwise).
 * A document whose root is null (an empty document, e.g. after a trailing `---`) is skipped and
 * counted in ystats.empty.
 *
 * List streaming (YREADER_STREAM_ITEMS). kubectl prints `apiVersion, items, kind, metadata`, so
 * the kind is not known when items start. The reader streams the elements of a top-level `items`
 * sequence of a top-level mapping, one ydoc per element (YR_ITEM), unless a `kind` that does not end
 * in "List" came before `items` (then the document is read whole). Memory is bounded by the
 * largest item plus the List's other members. After the items, the document itself arrives
 * (YR_DOC) without its `items` member, with ydoc_streamed_items() = the number of elements; if its
 * kind then turns out not to end in "List", the caller decides what that means (in Kubernetes only
 * the list kinds have a top-level `items`). Anchors are scoped to one item while streaming: an alias
 * to an anchor outside its item is an error in that item. A broken item (YR_BROKEN, err->item set)
 * does not stop the others unless it is a syntax/depth/size error, which ends the document. Each
 * item's positions are its real lines in the file; max_doc, max_nodes and max_alias_nodes apply to
 * each item (and to the rest of the List) separately.
 *
 * Use (posture check):
 *   struct yreader *r = yreader_new_fd(fd, path, YSCHEMA_K8S, NULL, YREADER_STREAM_ITEMS);
 *   struct ydoc *d;
 *   struct yerror e;
 *   for (enum yread rc; (rc = yreader_next(r, &d, &e)) != YR_END; ydoc_free(d)) {
 *       if (rc == YR_BROKEN || rc == YR_FATAL) {   // d is NULL
 *           report(e.text);                         // "FILE:LINE:COL: ..."
 *           continue;                               // after YR_FATAL the next call ends
 *       }
 *       // YR_ITEM: one object of a List. YR_DOC: a document; a List's own (without items)
 *       // when ydoc_streamed_items(d) >= 0.
 *       jdoc_from_jansson(&jd, ydoc_root(d), ydoc_line_fn, d, err, sizeof err);
 *       ...
 *   }
 *   yreader_stats(r, &st);   // docs, items, empty, broken, bytes
 *   yreader_free(r); */
#ifdef POSTURE_YAML_IMPL
/* yaml.c defines POSTURE_YAML_IMPL and includes <yaml.h>: with -Iwebhook that finds this file,
 * which then pulls in libyaml's own <yaml.h> (the next one in the include path). */
#include_next <yaml.h>
#endif

#ifndef POSTURE_YAML_H
#define POSTURE_YAML_H

#include <jansson.h>
#include <stdio.h>

#include "util.h"

enum yschema {
	YSCHEMA_CORE = 0,   /* YAML 1.2 core scalars: the policy file */
	YSCHEMA_K8S,        /* Kubernetes' YAML 1.1 scalars (sigs.k8s.io/yaml): manifests */
};

struct ylimits {
	uint64_t max_input;          /* bytes of the whole stream; 0: no limit */
	size_t max_doc;              /* characters of one document (of one item while streaming a
	                                List); a UTF-8 character counts once, so bytes for ASCII */
	uint32_t max_depth;          /* nesting of mappings and sequences */
	uint32_t max_nodes;          /* nodes of one document/item, alias expansions included */
	uint32_t max_alias_nodes;    /* nodes created by expanding aliases, per document/item */
	size_t max_scalar;           /* bytes of one scalar (or key) */
};
/* Manifests: stream unlimited (memory is bounded per document), 64 Mi characters per document,
 * depth 100,
 * 4,000,000 nodes, 100,000 alias-expanded nodes, 4 MiB per scalar. The document limit is
 * approximate by libyaml's look-ahead (about 1 KiB past the end of the previous item). */
extern const struct ylimits ylimits_manifest;
/* Policy files: 1 MiB in all, depth 100, 100,000 nodes, 10,000 alias-expanded nodes, 64 KiB per
 * scalar. */
extern const struct ylimits ylimits_policy;

struct yerror {
	uint32_t line, col;   /* 1-based; 0 when unknown */
	uint32_t doc;         /* 0-based index of the document in the stream */
	int64_t item;         /* index of the List item (streaming), else -1 */
	char msg[320];        /* what was expected, without the position */
	char text[704];       /* "FILE:LINE:COL: msg" (or "FILE: msg" without a position) */
};

/* ---- one document ---- */

struct ydoc;

/* The tree (borrowed; never NULL for a ydoc handed out). */
const json_t *ydoc_root(const struct ydoc *d);
/* The source name given to the reader (borrowed). */
const char *ydoc_name(const struct ydoc *d);
/* 0-based index of the document in the stream (empty and broken documents count). */
uint32_t ydoc_index(const struct ydoc *d);
/* List item index for a YR_ITEM document, else -1. */
int64_t ydoc_item(const struct ydoc *d);
/* For a YR_DOC whose top-level `items` were streamed: how many elements; else -1. */
int64_t ydoc_streamed_items(const struct ydoc *d);
/* Line of the document's root node (1-based). */
uint32_t ydoc_line(const struct ydoc *d);

/* Position (1-based line and column) where node starts: the first key of a block mapping, the
 * '{' or '[' of a flow collection, the first character of a scalar (its quote if quoted), the
 * `*` of an alias (nodes copied from an anchor keep the positions where they were written).
 * Keyed by node pointer, so it does not work for jansson's shared true/false/null singletons:
 * those (and nodes not in d) return false. Use ydoc_member_pos/ydoc_index_pos for them. */
bool ydoc_pos(const struct ydoc *d, const json_t *node, uint32_t *line, uint32_t *col);
/* Position of key in the mapping obj (the key's first character); false if obj has no such key. */
bool ydoc_key_pos(const struct ydoc *d, const json_t *obj, const char *key, uint32_t *line,
		  uint32_t *col);
/* Position of the value of key in obj; works for every node, singletons included. */
bool ydoc_member_pos(const struct ydoc *d, const json_t *obj, const char *key, uint32_t *line,
		     uint32_t *col);
/* Position of element i of the sequence arr; works for every node. */
bool ydoc_index_pos(const struct ydoc *d, const json_t *arr, size_t i, uint32_t *line,
		    uint32_t *col);

/* A jdoc_line_fn (json.h): jdoc_from_jansson(&jd, ydoc_root(d), ydoc_line_fn, d, ...). ctx is
 * the struct ydoc (its lookup cursor is updated, so one conversion at a time per ydoc). Containers,
 * strings and numbers are found by pointer. The shared true/false/null nodes are found by walking
 * the document in order alongside the converter: it must visit nodes depth-first in document
 * (jansson iteration) order, calling once per array element and, for an object member, once for
 * the key node and once for the value (jdoc_from_jansson's order); for a member the key call gets
 * the key's line and the value call the value's. A call out of that order returns 0 (unknown)
 * rather than a wrong line, until the next container call resynchronises. */
uint32_t ydoc_line_fn(void *ctx, const json_t *node);

void ydoc_free(struct ydoc *d);

/* "a mapping", "a sequence", "a string", "a number", "a boolean" or "null": for messages. */
const char *yaml_type_phrase(const json_t *v);   /* NULL is fine */

/* Test support: how many struct ydoc exist right now (in this process). */
long ydoc_live(void);

/* Parse data[0..len) as a stream holding exactly one non-empty document (a policy file). New
 * ydoc, or NULL with "NAME:LINE:COL: message" in err: a syntax or limit error, no document
 * ("expected a YAML document, found none"), or a second document. lim NULL: ylimits_policy for
 * YSCHEMA_CORE, ylimits_manifest for YSCHEMA_K8S. data is borrowed for the call only. */
struct ydoc *ydoc_load_mem(const char *name, const char *data, size_t len, enum yschema schema,
			   const struct ylimits *lim, char *err, size_t errlen);

/* ---- streaming reader ---- */

#define YREADER_STREAM_ITEMS 0x1u   /* stream top-level `items` (kind: List) one by one */

enum yread {
	YR_END = 0,   /* no more documents */
	YR_DOC,       /* *out: a new document (caller frees with ydoc_free) */
	YR_ITEM,      /* *out: a new List item (see List streaming above) */
	YR_BROKEN,    /* a document or item was broken: err filled; call again for the rest */
	YR_FATAL,     /* cannot go on (read error, max_input, out of memory): err filled; every
	                 later call returns YR_END */
};

struct ystats {
	uint64_t bytes;        /* input bytes read */
	uint32_t docs;         /* YR_DOC handed out */
	uint32_t items;        /* YR_ITEM handed out */
	uint32_t empty;        /* empty documents skipped */
	uint32_t broken;       /* YR_BROKEN reported (documents and items) */
	uint32_t peak_nodes;   /* most nodes the reader held at once (the memory bound) */
};

struct yreader;

/* A reader over fd / fp / memory (all borrowed: not closed, must outlive the reader). name is
 * copied and used in messages ("-" for stdin is fine). lim NULL: the schema's default (see
 * ydoc_load_mem). flags: YREADER_*. NULL on OOM. */
struct yreader *yreader_new_fd(int fd, const char *name, enum yschema schema,
			       const struct ylimits *lim, unsigned flags);
struct yreader *yreader_new_file(FILE *fp, const char *name, enum yschema schema,
				 const struct ylimits *lim, unsigned flags);
struct yreader *yreader_new_mem(const char *data, size_t len, const char *name,
				enum yschema schema, const struct ylimits *lim, unsigned flags);
/* Next document or item. On YR_DOC/YR_ITEM *out is new (caller owns); else *out is NULL. err
 * (may be NULL) is filled on YR_BROKEN/YR_FATAL. */
enum yread yreader_next(struct yreader *r, struct ydoc **out, struct yerror *err);
void yreader_stats(const struct yreader *r, struct ystats *out);
void yreader_free(struct yreader *r);

#endif
