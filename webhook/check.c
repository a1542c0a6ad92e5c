/* check.c - `posture check`: judge manifests as the webhook judges a CREATE; text, JSON or SARIF. */
#include "check.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "buf.h"
#include "cli.h"
#include "engine.h"
#include "json.h"
#include "yaml.h"

/*
 * Namespaces. Some verdicts depend on the namespace's enrolment (mesh-injection, gateway-bypass),
 * which comes from a Namespace object in the input, else --namespace-mode NS=MODE, else the
 * default mode; and a namespace labelled posture.dev/ignore=true is never routed to the webhook's
 * workload entries. A Namespace object may come after the objects in it (a directory of files in
 * any order), and the input is read once, one document at a time. So an object whose namespace has
 * not been seen yet is judged under each of the six modes (rules cost microseconds) and waits: its
 * record keeps the distinct finding lists (usually one to three) and a map from mode to list; an
 * object without a finding in any mode keeps only a count in its namespace. When the Namespace
 * arrives, or the input ends, the enrolment is final and the waiting records resolve. Memory: one
 * document at a time, plus the namespace table and the findings (strings only) of records that
 * wait or stand behind one that waits.
 *
 * Order. Records with something to say (findings, input errors) go through one queue in input
 * order and are written once every record before them is resolved: the output is in input order
 * whatever the order of Namespace objects, and it streams when namespaces come first (as in
 * `kubectl get namespaces,... -A -o yaml`).
 *
 * Exit status: 2 when any input error happened (unreadable path, broken document, out of memory),
 * whatever was found; else 1 when a finding is a deny (with --strict: any finding); else 0. An
 * input error wins because a document that could not be read was not judged: "nothing denied"
 * would not be true. Every finding is still written.
 *
 * Cross-object audit (issue 9, audit.c): every decoded object of a judged kind and every
 * ServiceAccount leave a compact summary in the audit (names, label sets, a few flags); at the end
 * of the input check_finish gives it each namespace's resolved enrolment and runs the pass. Its
 * findings are written after the per-object ones (in input order of what they are about; those
 * about a namespace with no Namespace object in the input have no location and come last), then
 * one notice per audit not checked because the input lacks a kind it needs.
 */

#define NMODES 6
#define ERRORS_KEPT_DEFAULT 1000
#define DIR_DEPTH_MAX 64
#define POOL_MAX (64u << 20)
#define LINE_MAX_OUT (64u << 20)
#define MSG_MAX (VIOL_PATH_MAX + VIOL_WHAT_MAX + VIOL_FIX_MAX + 512)

#define KEY_INJECTION "istio-injection"
#define KEY_REV "istio.io/rev"
#define KEY_DATAPLANE "istio.io/dataplane-mode"
#define KEY_IGNORE "posture.dev/ignore"
#define KEY_MIRROR "kubernetes.io/config.mirror"

#ifndef POSTURE_VERSION
#define POSTURE_VERSION "dev"
#endif

#define INFO_URI "https://posture.dev"
#define RULES_URI "https://posture.dev/docs/semantics.md#"
#define AUDIT_URI "https://posture.dev/docs/audit.md#"
#define SARIF_SCHEMA "https://json.schemastore.org/sarif-2.1.0.json"

#define SKIP_KIND "kind not judged"
#define SKIP_NOT_OBJECT "not a Kubernetes object"
#define SKIP_IGNORED "namespace labelled posture.dev/ignore"

static unsigned mode_index(struct nsmode m)
{
	return (unsigned)m.injection * 2u + (m.ambient ? 1u : 0u);
}

static struct nsmode mode_at(unsigned i)
{
	struct nsmode m = { (enum injection)(i / 2), (i & 1u) != 0 };
	return m;
}

/* ---- records ---- */

struct cfind {                 /* one finding; strings are offsets into the record's pool */
	uint8_t rule, outcome;
	uint32_t line;
	uint32_t path, cause, what, fix;
};

struct flist {
	struct cfind *f;       /* owned */
	uint32_t n;
};

enum rec_type { REC_OBJECT, REC_BROKEN, REC_INPUT_ERROR };

struct nsinfo;

struct rec {
	struct rec *next;          /* the output queue */
	struct rec *ns_next;       /* its namespace's waiting list */
	enum rec_type type;
	const char *file;          /* borrowed from check.files */
	uint32_t doc, line, col;
	int64_t item;              /* List item index, else -1 */
	enum kind_id kind;
	struct nsinfo *ns;         /* borrowed from the namespace table */
	char *name;                /* owned */
	const char *skip;          /* static: why nothing was judged, or NULL */
	bool pending;              /* waiting for its namespace's enrolment */
	bool per_mode;             /* judged under every mode: list_of maps a mode to its list */
	bool cluster_scoped;       /* a Namespace: no namespace shown; ns is itself */
	bool ignored;              /* resolved: namespace labelled posture.dev/ignore */
	struct nsmode mode;        /* resolved: the namespace's enrolment */
	uint8_t list_of[NMODES];   /* mode index -> list */
	uint8_t n_lists;
	struct flist lists[NMODES];
	struct buf pool;           /* finding strings; the message of an error record */
};

/* ---- namespaces ---- */

struct nsinfo {
	char *name;                /* owned */
	bool seen;                 /* a Namespace object was read: its enrolment is final */
	bool ignored;              /* it carries posture.dev/ignore: "true" */
	struct nsmode mode;        /* from the Namespace object */
	const char *file;          /* where it was (borrowed from check.files) */
	uint32_t line;
	bool has_flag;             /* --namespace-mode NS=MODE */
	struct nsmode flag_mode;
	struct rec *waiting;       /* records waiting for the enrolment (ns_next) */
	struct deferred {          /* objects waiting with no finding in any mode: counts only */
		const char *skip;      /* the engine's reason nothing was judged, or NULL */
		bool scoped_only;      /* every rule for its kind skips break-glass namespaces */
		uint64_t n;
	} deferred[8];
	size_t n_deferred;
};

struct kept_error {
	const char *file;          /* borrowed from check.files */
	uint32_t line, col, doc;
	int64_t item;
	bool document;             /* a broken document (else an unreadable input) */
	char *msg;                 /* owned */
};

struct skip_count {
	const char *reason;        /* static */
	uint64_t n;
};

struct check {
	struct check_options o;
	FILE *out;
	struct rec *head, *tail;
	struct nsinfo **ns;        /* open addressing by name; owned */
	size_t ns_cap, ns_n;
	char **files;              /* owned names of every input, for records and errors */
	size_t n_files, cap_files;
	struct kept_error *errors;
	size_t n_errors, cap_errors, errors_dropped;
	struct skip_count skips[8];
	size_t n_skips;
	uint64_t n_docs, n_judged, n_skipped, n_broken, n_unreadable;
	uint64_t n_out[4];         /* findings by outcome (enum outcome) */
	uint64_t n_written;        /* entries written to the JSON/SARIF array */
	struct audit *audit;       /* owned: the cross-object audit's summaries */
	const struct audit_notice *notices;   /* borrowed from audit, after check_finish's pass */
	size_t n_notices;
	bool oom;
	struct buf line;           /* one output entry */
};

static uint64_t hash_name(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* The namespace named name (created when absent). NULL on OOM. */
static struct nsinfo *ns_get(struct check *c, const char *name)
{
	if (c->ns_n * 2 >= c->ns_cap) {
		size_t cap = c->ns_cap ? c->ns_cap * 2 : 64;
		struct nsinfo **t = xcalloc(cap, sizeof(*t));
		if (!t) {
			c->oom = true;
			return NULL;
		}
		for (size_t i = 0; i < c->ns_cap; i++) {
			if (!c->ns[i])
				continue;
			size_t j = (size_t)hash_name(c->ns[i]->name) & (cap - 1);
			while (t[j])
				j = (j + 1) & (cap - 1);
			t[j] = c->ns[i];
		}
		xfree(c->ns);
		c->ns = t;
		c->ns_cap = cap;
	}
	size_t j = (size_t)hash_name(name) & (c->ns_cap - 1);
	for (; c->ns[j]; j = (j + 1) & (c->ns_cap - 1))
		if (strcmp(c->ns[j]->name, name) == 0)
			return c->ns[j];
	struct nsinfo *n = xcalloc(1, sizeof(*n));
	if (!n || !(n->name = xstrdup(name))) {
		xfree(n);
		c->oom = true;
		return NULL;
	}
	c->ns[j] = n;
	c->ns_n++;
	return n;
}

/* The enrolment a record's namespace resolves to, now. */
static void resolve(const struct check *c, struct rec *r)
{
	const struct nsinfo *ns = r->ns;
	r->pending = false;
	if (ns->seen) {
		r->mode = ns->mode;
		r->ignored = ns->ignored;
	} else if (ns->has_flag) {
		r->mode = ns->flag_mode;
	} else {
		r->mode = c->o.default_mode;
	}
}

static void count_object(struct check *c, const char *skip, uint64_t n);
static const char *resolved_skip(bool ignored, bool cluster_scoped, bool scoped_only, const char *skip);

/* The namespace's enrolment is final: resolve what waits for it. */
static void resolve_waiting(struct check *c, struct nsinfo *ns)
{
	for (struct rec *r = ns->waiting; r; r = r->ns_next)
		resolve(c, r);
	ns->waiting = NULL;
	for (size_t i = 0; i < ns->n_deferred; i++) {
		const struct deferred *d = &ns->deferred[i];
		bool ignored = ns->seen && ns->ignored;
		count_object(c, resolved_skip(ignored, false, d->scoped_only, d->skip), d->n);
	}
	ns->n_deferred = 0;
}

/* Count an object judged under every mode without a finding in any, once its namespace resolves. */
static void defer_count(struct nsinfo *ns, const char *skip, bool scoped_only)
{
	size_t i = 0;
	for (; i < ns->n_deferred; i++)
		if (ns->deferred[i].skip == skip && ns->deferred[i].scoped_only == scoped_only)
			break;
	if (i == ns->n_deferred) {
		if (i == ARRAY_LEN(ns->deferred))
			i--;   /* cannot happen: fewer (reason, scope) pairs than slots */
		else
			ns->n_deferred++;
		ns->deferred[i].skip = skip;
		ns->deferred[i].scoped_only = scoped_only;
		ns->deferred[i].n = 0;
	}
	ns->deferred[i].n++;
}

/* ---- files ---- */

/* Keep a copy of an input's name for the records that cite it. NULL on OOM. */
static const char *file_add(struct check *c, const char *name)
{
	if (c->n_files == c->cap_files) {
		size_t cap = c->cap_files ? c->cap_files * 2 : 16;
		char **f = xrealloc(c->files, cap * sizeof(*f));
		if (!f) {
			c->oom = true;
			return NULL;
		}
		c->files = f;
		c->cap_files = cap;
	}
	char *s = xstrdup(name);
	if (!s) {
		c->oom = true;
		return NULL;
	}
	c->files[c->n_files++] = s;
	return s;
}

/* ---- output ---- */

/* Control bytes would forge lines of the text output: show them as '?'. */
static void clean(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

static void out_write(struct check *c)
{
	if (c->line.failed)
		c->oom = true;
	else if (c->line.len)
		fwrite(c->line.data, 1, c->line.len, c->out);
	buf_reset(&c->line);
}

static void add_json(struct buf *b, const char *s)
{
	buf_add_json_str(b, s, strlen(s));
}

/* A relative path as a SARIF uri (RFC 3986: percent-encode what a path segment cannot hold). */
static void add_uri(struct buf *b, const char *path)
{
	static const char ok[] = "-._~!$&'()*+,;=:@/";
	struct buf u;
	buf_init(&u, 1u << 16);
	if (path[0] == '/')
		buf_adds(&u, "file://");
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    (*p && strchr(ok, *p)))
			buf_addc(&u, (char)*p);
		else
			buf_printf(&u, "%%%02X", *p);
	}
	buf_add_json_str(b, u.data ? u.data : "", u.len);
	if (u.failed)
		b->failed = true;
	buf_release(&u);
}

static const char *sarif_level(enum outcome o)
{
	return o == OUT_DENY ? "error" : o == OUT_WARN ? "warning" : "note";
}

static const char *sarif_action_level(enum action a)
{
	return a == ACTION_DENY ? "error" : a == ACTION_WARN ? "warning" : a == ACTION_AUDIT ? "note" : "none";
}

static void write_opening(struct check *c)
{
	struct buf *b = &c->line;
	if (c->o.format == CHECK_JSON) {
		buf_adds(b, "{\"findings\":[");
	} else if (c->o.format == CHECK_SARIF) {
		buf_adds(b, "{\"$schema\":\"" SARIF_SCHEMA "\",\"version\":\"2.1.0\",\"runs\":[{\"tool\":{\"driver\":"
			    "{\"name\":\"posture\",\"version\":");
		add_json(b, c->o.version ? c->o.version : "dev");
		buf_adds(b, ",\"informationUri\":\"" INFO_URI "\",\"rules\":[");
		for (size_t i = 0; i < RULE_COUNT; i++) {
			const struct rule_def *r = rule_table[i];
			buf_adds(b, i ? ",\n" : "\n");
			buf_adds(b, "{\"id\":");
			add_json(b, r->name);
			buf_adds(b, ",\"shortDescription\":{\"text\":");
			add_json(b, r->summary);
			buf_printf(b, "},\"helpUri\":\"%s%s\",\"defaultConfiguration\":{\"level\":\"%s\"}}",
				   r->kinds ? RULES_URI : AUDIT_URI, r->name,
				   sarif_action_level(c->o.policy->actions[r->id]));
		}
		buf_adds(b, "\n]}},\n\"results\":[");
	}
	out_write(c);
}

static const char *pool_str(const struct rec *r, uint32_t off)
{
	return r->pool.data ? r->pool.data + off : "";
}

static void emit_finding(struct check *c, const struct rec *r, const struct cfind *f)
{
	c->n_out[f->outcome]++;
	if (f->outcome == OUT_EXEMPT)
		return;
	struct finding fd;
	struct admission adm;
	memset(&fd, 0, sizeof fd);
	memset(&adm, 0, sizeof adm);
	fd.v.rule = (enum rule_id)f->rule;
	fd.v.line = f->line;
	fmt_buf(fd.v.path, sizeof fd.v.path, "%s", pool_str(r, f->path));
	fmt_buf(fd.v.cause, sizeof fd.v.cause, "%s", pool_str(r, f->cause));
	fmt_buf(fd.v.what, sizeof fd.v.what, "%s", pool_str(r, f->what));
	fmt_buf(fd.v.fix, sizeof fd.v.fix, "%s", pool_str(r, f->fix));
	fd.outcome = (enum outcome)f->outcome;
	adm.kind = r->kind;
	adm.namespace = r->cluster_scoped ? sv_null : sv_cstr(r->ns->name);
	adm.name = sv_cstr(r->name);
	char msg[MSG_MAX];
	finding_format_line(&fd, &adm, msg, sizeof msg);
	struct buf *b = &c->line;
	const char *action = outcome_name(fd.outcome);
	switch (c->o.format) {
	case CHECK_TEXT:
		/* a cross-object finding about a namespace with no Namespace object has no location */
		if (r->file)
			buf_printf(b, "%s:%u: ", r->file, f->line);
		buf_printf(b, "%s%s", fd.outcome == OUT_WARN ? "warning: " : fd.outcome == OUT_AUDIT ? "audit: " : "",
			   msg);
		if (!b->failed)
			clean(b->data);   /* one finding, one line: whatever the names hold */
		buf_addc(b, '\n');
		break;
	case CHECK_JSON:
		buf_adds(b, c->n_written++ ? ",\n{" : "\n{");
		if (r->file) {
			buf_adds(b, "\"file\":");
			add_json(b, r->file);
			buf_printf(b, ",\"line\":%u,\"doc\":%u", f->line, r->doc);
			if (r->item >= 0)
				buf_printf(b, ",\"item\":%lld", (long long)r->item);
			buf_addc(b, ',');
		}
		buf_printf(b, "\"rule\":\"%s\",\"action\":\"%s\",\"kind\":\"%s\",\"namespace\":",
			   rule_name(fd.v.rule), action, kind_name(r->kind));
		add_json(b, r->cluster_scoped ? "" : r->ns->name);
		buf_adds(b, ",\"name\":");
		add_json(b, r->name);
		if (!r->cluster_scoped) {
			buf_adds(b, ",\"namespaceMode\":");
			add_json(b, nsmode_name(r->mode));
		}
		buf_adds(b, ",\"path\":");
		add_json(b, fd.v.path);
		buf_adds(b, ",\"cause\":");
		add_json(b, fd.v.cause);
		buf_adds(b, ",\"message\":");
		add_json(b, fd.v.what);
		buf_adds(b, ",\"fix\":");
		add_json(b, fd.v.fix);
		buf_addc(b, '}');
		break;
	case CHECK_SARIF:
		buf_adds(b, c->n_written++ ? ",\n{\"ruleId\":" : "\n{\"ruleId\":");
		add_json(b, rule_name(fd.v.rule));
		buf_printf(b, ",\"ruleIndex\":%u,\"level\":\"%s\",\"message\":{\"text\":", (unsigned)fd.v.rule,
			   sarif_level(fd.outcome));
		add_json(b, msg);
		if (r->file) {
			buf_adds(b, "},\"locations\":[{\"physicalLocation\":{\"artifactLocation\":{\"uri\":");
			add_uri(b, r->file);
			buf_printf(b, "},\"region\":{\"startLine\":%u}}}]", f->line ? f->line : 1);
		} else {
			/* no file holds it: the namespace, as a logical location */
			buf_adds(b, "},\"locations\":[{\"logicalLocations\":[{\"name\":");
			add_json(b, r->ns->name);
			buf_adds(b, ",\"kind\":\"namespace\"}]}]");
		}
		buf_printf(b, ",\"properties\":{\"action\":\"%s\",\"kind\":\"%s\",\"namespace\":", action,
			   kind_name(r->kind));
		add_json(b, r->cluster_scoped ? "" : r->ns->name);
		buf_adds(b, ",\"name\":");
		add_json(b, r->name);
		buf_adds(b, ",\"path\":");
		add_json(b, fd.v.path);
		if (r->file)
			buf_printf(b, ",\"doc\":%u", r->doc);
		buf_adds(b, "}}");
		break;
	}
	out_write(c);
}

/* "FILE:LINE:COL" of an error, as far as it is known, into b. */
static void add_where(struct buf *b, const char *file, uint32_t line, uint32_t col)
{
	buf_adds(b, file);
	if (line)
		buf_printf(b, ":%u", line);
	if (line && col)
		buf_printf(b, ":%u", col);
}

static void emit_error(struct check *c, const struct rec *r)
{
	const char *msg = pool_str(r, 0);
	if (c->o.format == CHECK_TEXT) {
		struct buf *b = &c->line;
		add_where(b, r->file, r->line, r->col);
		buf_adds(b, ": error: ");
		buf_adds(b, msg);
		if (!b->failed)
			clean(b->data);
		buf_addc(b, '\n');
		out_write(c);
		return;
	}
	size_t max = c->o.max_errors_kept ? c->o.max_errors_kept : ERRORS_KEPT_DEFAULT;
	if (c->n_errors >= max) {
		c->errors_dropped++;
		return;
	}
	if (c->n_errors == c->cap_errors) {
		size_t cap = c->cap_errors ? c->cap_errors * 2 : 8;
		struct kept_error *e = xrealloc(c->errors, cap * sizeof(*e));
		if (!e) {
			c->oom = true;
			return;
		}
		c->errors = e;
		c->cap_errors = cap;
	}
	struct kept_error *e = &c->errors[c->n_errors];
	e->msg = xstrdup(msg);
	if (!e->msg) {
		c->oom = true;
		return;
	}
	e->file = r->file;
	e->line = r->line;
	e->col = r->col;
	e->doc = r->doc;
	e->item = r->item;
	e->document = r->type == REC_BROKEN;
	c->n_errors++;
}

static void count_skip(struct check *c, const char *reason, uint64_t n)
{
	c->n_skipped += n;
	for (size_t i = 0; i < c->n_skips; i++)
		if (strcmp(c->skips[i].reason, reason) == 0) {
			c->skips[i].n += n;
			return;
		}
	if (c->n_skips < ARRAY_LEN(c->skips)) {
		c->skips[c->n_skips].reason = reason;
		c->skips[c->n_skips++].n = n;
	} else {
		c->skips[c->n_skips - 1].n += n;   /* more reasons than slots: lumped with the last */
	}
}

static void rec_free(struct rec *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_lists; i++)
		xfree(r->lists[i].f);
	buf_release(&r->pool);
	xfree(r->name);
	xfree(r);
}

/* Every enabled rule that judges kind k skips break-glass namespaces (so the object is not judged). */
static bool only_scoped_rules(const struct policy *pol, enum kind_id k)
{
	for (size_t i = 0; i < RULE_COUNT; i++)
		if ((rule_table[i]->kinds & KIND_BIT(k)) && pol->actions[rule_table[i]->id] != ACTION_OFF &&
		    !rule_table[i]->workload_scoped)
			return false;
	return true;
}

/* Why a resolved object was not judged, or NULL. A namespace labelled posture.dev/ignore=true is
 * excluded from every entry that carries the workload exclusions (the rules marked
 * workload_scoped); the Namespace entry still sees the Namespace itself. */
static const char *resolved_skip(bool ignored, bool cluster_scoped, bool scoped_only, const char *skip)
{
	if (ignored && !cluster_scoped && scoped_only)
		return SKIP_IGNORED;
	return skip;
}

static void count_object(struct check *c, const char *skip, uint64_t n)
{
	if (skip)
		count_skip(c, skip, n);
	else
		c->n_judged += n;
}

/* Count a resolved record and write its findings (and errors). */
static void emit_rec(struct check *c, struct rec *r)
{
	if (r->type != REC_OBJECT) {
		if (r->type == REC_BROKEN)
			c->n_broken++;
		else
			c->n_unreadable++;
		emit_error(c, r);
		return;
	}
	const char *skip = resolved_skip(r->ignored, r->cluster_scoped,
					 only_scoped_rules(c->o.policy, r->kind), r->skip);
	count_object(c, skip, 1);
	if (skip || !r->n_lists)
		return;
	bool drop_scoped = r->ignored && !r->cluster_scoped;
	const struct flist *l = &r->lists[r->list_of[r->per_mode ? mode_index(r->mode) : 0]];
	for (uint32_t i = 0; i < l->n; i++)
		if (!(drop_scoped && rule_table[l->f[i].rule]->workload_scoped))
			emit_finding(c, r, &l->f[i]);
}

/* Write every record whose turn has come. */
static void flush(struct check *c)
{
	while (c->head && !c->head->pending) {
		struct rec *r = c->head;
		c->head = r->next;
		if (!c->head)
			c->tail = NULL;
		emit_rec(c, r);
		rec_free(r);
	}
}

static void enqueue(struct check *c, struct rec *r)
{
	if (c->tail)
		c->tail->next = r;
	else
		c->head = r;
	c->tail = r;
}

static struct rec *rec_new(struct check *c, enum rec_type type, const char *file, uint32_t doc,
			   int64_t item, uint32_t line, uint32_t col)
{
	struct rec *r = xcalloc(1, sizeof(*r));
	if (!r) {
		c->oom = true;
		return NULL;
	}
	r->type = type;
	r->file = file;
	r->doc = doc;
	r->item = item;
	r->line = line;
	r->col = col;
	buf_init(&r->pool, POOL_MAX);
	return r;
}

/* Queue an input error: a broken document (type REC_BROKEN) or an unreadable input. */
static void add_error(struct check *c, enum rec_type type, const char *file, uint32_t doc,
		      int64_t item, uint32_t line, uint32_t col, const char *fmt, ...) PRINTF_LIKE(8, 9);
static void add_error(struct check *c, enum rec_type type, const char *file, uint32_t doc,
		      int64_t item, uint32_t line, uint32_t col, const char *fmt, ...)
{
	struct rec *r = rec_new(c, type, file, doc, item, line, col);
	if (!r)
		return;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&r->pool, fmt, ap);
	va_end(ap);
	if (r->pool.failed) {
		c->oom = true;
		rec_free(r);
		return;
	}
	enqueue(c, r);
}

/* ---- positions ---- */

/* Where the field named by path (as the decoders and rules write paths: a.b[2]["k"].c, relative to
 * the object) starts in d: the deepest part of the path that exists. False when not even its first
 * step exists. */
static bool path_pos(struct ydoc *d, const char *path, size_t n, uint32_t *line, uint32_t *col)
{
	const json_t *node = ydoc_root(d);
	bool found = false;
	size_t i = 0;
	while (i < n && node) {
		const json_t *parent = node;
		char key[VIOL_PATH_MAX];
		size_t idx = 0;
		bool is_index = false;
		if (path[i] == '.')
			i++;
		if (i < n && path[i] == '[' && i + 1 < n && path[i + 1] == '"') {
			size_t s = i + 2, e = s;
			while (e + 1 < n && !(path[e] == '"' && path[e + 1] == ']'))
				e++;
			if (e + 1 >= n || e - s >= sizeof key)
				break;
			memcpy(key, path + s, e - s);
			key[e - s] = '\0';
			i = e + 2;
		} else if (i < n && path[i] == '[') {
			size_t e = i + 1;
			if (e >= n || path[e] < '0' || path[e] > '9')
				break;
			for (; e < n && path[e] >= '0' && path[e] <= '9'; e++)
				idx = idx > SIZE_MAX / 10 - 10 ? SIZE_MAX : idx * 10 + (size_t)(path[e] - '0');
			if (e >= n || path[e] != ']')
				break;
			is_index = true;
			i = e + 1;
		} else {
			size_t s = i;
			while (i < n && path[i] != '.' && path[i] != '[')
				i++;
			if (i == s || i - s >= sizeof key)
				break;
			memcpy(key, path + s, i - s);
			key[i - s] = '\0';
		}
		uint32_t l, cl;
		if (is_index) {
			node = json_is_array(parent) ? json_array_get(parent, idx) : NULL;
			if (!node || !ydoc_index_pos(d, parent, idx, &l, &cl))
				break;
		} else {
			node = json_is_object(parent) ? json_object_get(parent, key) : NULL;
			if (!node || !ydoc_member_pos(d, parent, key, &l, &cl))
				break;
		}
		*line = l;
		*col = cl;
		found = true;
	}
	return found;
}

/* The position of an error from subject_decode ("PATH: expected T, got U"). */
static void error_pos(struct ydoc *d, const char *err, uint32_t *line, uint32_t *col)
{
	/* the path ends at the first ": " outside ["..."] */
	size_t n = 0;
	bool quoted = false;
	for (; err[n]; n++) {
		if (err[n] == '[' && err[n + 1] == '"')
			quoted = true;
		else if (quoted && err[n] == '"' && err[n + 1] == ']')
			quoted = false;
		else if (!quoted && err[n] == ':' && err[n + 1] == ' ')
			break;
	}
	*line = ydoc_line(d);
	*col = 0;
	if (!err[n] || !path_pos(d, err, n, line, col))
		ydoc_pos(d, ydoc_root(d), line, col);
}

/* ---- documents ---- */

static const char *jstr(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static const char *json_type_word(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "object";
	case JSON_ARRAY: return "array";
	case JSON_STRING: return "string";
	case JSON_INTEGER:
	case JSON_REAL: return "number";
	case JSON_TRUE:
	case JSON_FALSE: return "boolean";
	default: return "null";
	}
}

/* "Kind ns/name: " of a document, for error messages (best effort on a broken one). */
static void doc_ref(const json_t *root, char *buf, size_t size)
{
	const json_t *meta = json_object_get(root, "metadata");
	const char *kind = jstr(root, "kind"), *name = jstr(meta, "name"), *ns = jstr(meta, "namespace");
	if (!kind) {
		buf[0] = '\0';
		return;
	}
	if (!name)
		name = jstr(meta, "generateName");
	fmt_buf(buf, size, "%s %s/%s: ", kind, ns && *ns ? ns : "default", name && *name ? name : "(unnamed)");
}

/* Labels and annotations must be maps of strings (null reads as "": the apiserver decodes it so).
 * Anything else makes the document one the apiserver rejects. Returns -1 after queueing the
 * error. meta may be NULL or not an object (the decoders report that). */
static int check_string_maps(struct check *c, struct ydoc *d, const char *file, const json_t *meta,
			     const char *meta_path)
{
	static const char *const maps[] = { "labels", "annotations" };
	if (!json_is_object(meta))
		return 0;
	for (size_t i = 0; i < ARRAY_LEN(maps); i++) {
		const json_t *m = json_object_get(meta, maps[i]);
		uint32_t line = 0, col = 0;
		char ref[400];
		if (!m || json_is_null(m))
			continue;
		doc_ref(ydoc_root(d), ref, sizeof ref);
		if (!json_is_object(m)) {
			ydoc_member_pos(d, meta, maps[i], &line, &col);
			add_error(c, REC_BROKEN, file, ydoc_index(d), ydoc_item(d), line, col,
				  "%s%s.%s: expected a map of strings, got %s", ref, meta_path, maps[i],
				  json_type_word(m));
			return -1;
		}
		const char *key;
		json_t *v;
		json_object_foreach((json_t *)m, key, v) {
			if (json_is_string(v) || json_is_null(v))
				continue;
			ydoc_member_pos(d, m, key, &line, &col);
			const char *hint = json_is_boolean(v)
				? " (quote it: Kubernetes reads unquoted y, yes, on, true, n, no, off and false as booleans)"
				: json_is_number(v) ? " (quote it)" : "";
			char k[128];
			fmt_buf(k, sizeof k, "%s", key);
			add_error(c, REC_BROKEN, file, ydoc_index(d), ydoc_item(d), line, col,
				  "%s%s.%s[\"%s\"]: expected string, got %s%s", ref, meta_path, maps[i], k,
				  json_type_word(v), hint);
			return -1;
		}
	}
	return 0;
}

/* The pod template's metadata of a workload kind (NULL for a Pod or when the path is not objects). */
static const json_t *template_meta(const json_t *root, enum kind_id k, const char **path)
{
	const json_t *spec = json_object_get(root, "spec");
	if (k == K_POD || !json_is_object(spec))
		return NULL;
	if (k == K_CRONJOB) {
		const json_t *jt = json_object_get(spec, "jobTemplate");
		spec = json_is_object(jt) ? json_object_get(jt, "spec") : NULL;
		if (!json_is_object(spec))
			return NULL;
		*path = "spec.jobTemplate.spec.template.metadata";
	} else {
		*path = "spec.template.metadata";
	}
	const json_t *tpl = json_object_get(spec, "template");
	return json_is_object(tpl) ? json_object_get(tpl, "metadata") : NULL;
}

/* In the jdoc, turn null label/annotation values into "" (what the apiserver stores). */
static void jdoc_null_labels(struct jdoc *jd, const struct jnode *meta)
{
	static const char *const maps[] = { "labels", "annotations" };
	for (size_t i = 0; jn_is(meta, JT_OBJECT) && i < ARRAY_LEN(maps); i++) {
		const struct jnode *m = jn_get(meta, maps[i]);
		if (!jn_is(m, JT_OBJECT))
			continue;
		for (JN_EACH_MEMBER(m, key)) {
			struct jnode *v = &jd->nodes[(key + 1) - jd->nodes];
			if (v->type == JT_NULL) {
				v->type = JT_STRING;
				v->s = "";
				v->len = 0;
			}
		}
	}
}

static void jdoc_null_labels_all(struct jdoc *jd, enum kind_id k)
{
	const struct jnode *root = jdoc_root(jd);
	jdoc_null_labels(jd, jn_get(root, "metadata"));
	if (!kind_is_workload(k) || k == K_POD)
		return;
	const struct jnode *spec = jn_get(root, "spec");
	if (k == K_CRONJOB)
		spec = jn_get(jn_get(spec, "jobTemplate"), "spec");
	jdoc_null_labels(jd, jn_get(jn_get(spec, "template"), "metadata"));
}

/* A Namespace object: record its enrolment, with the injector's precedence, as the shipped
 * namespaceSelectors route it (SEMANTICS.md): istio-injection beats istio.io/rev; an istio.io/rev
 * the policy's revisions do not list injects nothing (disabled). */
static void observe_namespace(struct check *c, struct ydoc *d, const char *file)
{
	const json_t *meta = json_object_get(ydoc_root(d), "metadata");
	const json_t *labels = json_object_get(meta, "labels");
	const char *name = jstr(meta, "name");
	if (!name || !*name)
		return;
	/* values were checked: strings, or null (which the apiserver stores as "") */
	const json_t *inj = json_object_get(labels, KEY_INJECTION);
	const json_t *rev = json_object_get(labels, KEY_REV);
	const char *dm = jstr(labels, KEY_DATAPLANE), *ign = jstr(labels, KEY_IGNORE);
	struct nsmode m = { INJ_NONE, dm && strcmp(dm, "ambient") == 0 };
	if (inj) {
		const char *v = json_string_value(inj);
		m.injection = v && strcmp(v, "enabled") == 0 ? INJ_SIDECAR : INJ_DISABLED;
	} else if (rev) {
		const char *v = json_is_string(rev) ? json_string_value(rev) : "";
		struct sv s = sv_make(v, json_is_string(rev) ? (uint32_t)json_string_length(rev) : 0, 0);
		m.injection = policy_revision_known(c->o.policy, s) ? INJ_SIDECAR : INJ_DISABLED;
	}
	bool ignored = ign && strcmp(ign, "true") == 0;
	struct nsinfo *ns = ns_get(c, name);
	if (!ns)
		return;
	if (ns->seen) {
		if (mode_index(ns->mode) != mode_index(m) || ns->ignored != ignored)
			fprintf(stderr, "posture check: %s:%u: Namespace \"%s\" again with another enrolment "
				"(%s%s); the first, at %s:%u, is used\n", file, ydoc_line(d), name,
				nsmode_name(m), ignored ? ", posture.dev/ignore" : "", ns->file, ns->line);
		return;
	}
	ns->seen = true;
	ns->mode = m;
	ns->ignored = ignored;
	ns->file = file;
	ns->line = ydoc_line(d);
	resolve_waiting(c, ns);
}

/* A ServiceAccount: its (namespace, name), for stale-principal. Its namespace is known from here on. */
static void observe_service_account(struct check *c, const json_t *root)
{
	const json_t *meta = json_object_get(root, "metadata");
	const char *name = jstr(meta, "name"), *ns = jstr(meta, "namespace");
	if (!name || !*name)
		return;
	if (!ns || !*ns)
		ns = "default";
	if (!ns_get(c, ns) || audit_service_account(c->audit, ns, name) < 0)
		c->oom = true;
}

static bool same_verdict(const struct verdict *a, const struct verdict *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct finding *x = &a->f[i], *y = &b->f[i];
		if (x->v.rule != y->v.rule || x->outcome != y->outcome || x->v.line != y->v.line ||
		    strcmp(x->v.path, y->v.path) || strcmp(x->v.cause, y->v.cause) ||
		    strcmp(x->v.what, y->v.what) || strcmp(x->v.fix, y->v.fix))
			return false;
	}
	return true;
}

static uint32_t pool_add(struct rec *r, const char *s)
{
	uint32_t off = (uint32_t)r->pool.len;
	buf_add(&r->pool, s, strlen(s) + 1);
	return off;
}

/* Copy a verdict's findings into the record as list number r->n_lists. -1 on OOM. */
static int take_list(struct rec *r, const struct verdict *v, struct ydoc *d)
{
	struct flist *l = &r->lists[r->n_lists];
	l->n = 0;
	l->f = NULL;
	if (v->n) {
		l->f = xcalloc(v->n, sizeof(*l->f));
		if (!l->f)
			return -1;
	}
	for (size_t i = 0; i < v->n; i++) {
		const struct finding *f = &v->f[i];
		struct cfind *cf = &l->f[l->n++];
		uint32_t line = f->v.line, col;
		/* no line from the rule: the field's own, else the document's */
		if (!line && !path_pos(d, f->v.path, strlen(f->v.path), &line, &col))
			line = ydoc_line(d);
		cf->rule = (uint8_t)f->v.rule;
		cf->outcome = (uint8_t)f->outcome;
		cf->line = line;
		cf->path = pool_add(r, f->v.path);
		cf->cause = pool_add(r, f->v.cause);
		cf->what = pool_add(r, f->v.what);
		cf->fix = pool_add(r, f->v.fix);
	}
	r->n_lists++;
	return r->pool.failed ? -1 : 0;
}

/* Judge a decoded object into r: once when its namespace's enrolment is known or does not matter,
 * else under every mode. -1 on OOM. */
static int judge_into(struct check *c, struct rec *r, struct ydoc *d, struct admission *adm)
{
	struct verdict v[NMODES];
	unsigned n_modes = r->per_mode ? NMODES : 1;
	int rc = 0;
	for (unsigned m = 0; m < NMODES; m++)
		verdict_init(&v[m]);
	for (unsigned m = 0; m < n_modes; m++) {
		adm->mode = r->per_mode ? mode_at(m) : r->mode;
		if (engine_judge(c->o.policy, adm, &v[m]) < 0) {
			rc = -1;
			goto out_release;
		}
		if (m == 0)
			r->skip = v[0].skipped;
		unsigned same = m;
		for (unsigned k = 0; k < m; k++)
			if (same_verdict(&v[k], &v[m])) {
				same = k;
				break;
			}
		if (same < m) {
			r->list_of[m] = r->list_of[same];
			continue;
		}
		r->list_of[m] = r->n_lists;
		if (take_list(r, &v[m], d) < 0) {
			rc = -1;
			goto out_release;
		}
	}
out_release:
	for (unsigned m = 0; m < NMODES; m++)
		verdict_release(&v[m]);
	return rc;
}

/* What the decoders read of an object: a new object sharing (not copying) root's metadata, minus
 * managedFields, and spec. In a dump, managedFields and status are most of a Pod's nodes, and
 * converting them to a jdoc would cost more than judging. The new containers are not in the ydoc:
 * they get line 0, and ydoc_line_fn finds every node below them by pointer. NULL on OOM. */
static json_t *judged_part(const json_t *root)
{
	static const char *const keys[] = { "apiVersion", "kind", "metadata", "spec" };
	json_t *view = json_object();
	if (!view)
		return NULL;
	for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
		json_t *v = json_object_get(root, keys[i]);
		if (!v)
			continue;
		if (i == 2 && json_is_object(v) && json_object_get(v, "managedFields")) {
			json_t *meta = json_object();
			const char *k;
			json_t *el;
			if (!meta || json_object_set_new(view, keys[i], meta) < 0)
				goto out_oom;
			json_object_foreach(v, k, el)
				if (strcmp(k, "managedFields") != 0 && json_object_set(meta, k, el) < 0)
					goto out_oom;
			continue;
		}
		if (json_object_set(view, keys[i], v) < 0)
			goto out_oom;
	}
	return view;
out_oom:
	json_decref(view);
	return NULL;
}

static void judge(struct check *c, struct ydoc *d, const char *file, enum kind_id k)
{
	const json_t *root = ydoc_root(d);
	const char *tpath = NULL;
	const json_t *tmeta = template_meta(root, k, &tpath);
	if (tmeta && check_string_maps(c, d, file, tmeta, tpath) < 0)
		return;

	struct jdoc jd;
	struct subject s;
	char err[512], ref[400];
	uint32_t line, col;
	jdoc_init(&jd);
	json_t *view = judged_part(root);
	if (!view) {
		c->oom = true;
		goto out_release;
	}
	int conv = jdoc_from_jansson(&jd, view, ydoc_line_fn, d, err, sizeof err);
	json_decref(view);
	if (conv < 0) {
		add_error(c, REC_BROKEN, file, ydoc_index(d), ydoc_item(d), ydoc_line(d), 0, "%s", err);
		goto out_release;
	}
	jdoc_null_labels_all(&jd, k);
	if (subject_decode(&s, k, jdoc_root(&jd), &jd.arena, err, sizeof err) < 0) {
		error_pos(d, err, &line, &col);
		doc_ref(root, ref, sizeof ref);
		add_error(c, REC_BROKEN, file, ydoc_index(d), ydoc_item(d), line, col, "%s%s", ref, err);
		goto out_release;
	}

	struct admission adm;
	memset(&adm, 0, sizeof adm);
	adm.op = OP_CREATE;
	adm.kind = k;
	adm.object = &s;
	adm.offline = true;
	adm.own_namespace = c->o.own_namespace ? sv_cstr(c->o.own_namespace) : sv_null;
	adm.namespace = sv_set(s.meta.namespace) ? s.meta.namespace : sv_cstr("default");
	adm.name = sv_set(s.meta.name) ? s.meta.name : s.meta.generate_name;
	/* A mirror pod in a dump carries the annotation and the controller ownerReference to its Node
	 * that the kubelet writes: take it as created by that node, so it is skipped as the webhook
	 * skips mirror pods. A manifest with only the annotation is judged, as kubectl apply of it. */
	char node_user[320];
	if (k == K_POD && kv_has(&s.meta.annotations, KEY_MIRROR) && s.meta.controller.present &&
	    sv_eq(s.meta.controller.kind, "Node") && sv_set(s.meta.controller.name)) {
		char node[256];
		sv_to_buf(s.meta.controller.name, node, sizeof node);
		fmt_buf(node_user, sizeof node_user, "system:node:%s", node);
		adm.username = sv_cstr(node_user);
	}

	/* a Namespace is cluster-scoped: its own enrolment and break-glass label are its scope */
	bool cluster = k == K_NAMESPACE;
	char nsname[256], name[256];
	if (cluster)
		adm.namespace = sv_null;
	sv_to_buf(cluster ? adm.name : adm.namespace, nsname, sizeof nsname);
	sv_to_buf(adm.name, name, sizeof name);
	/* the cross-object audit's summary of it */
	struct audit_where where = { file, (uint32_t)c->n_docs, ydoc_index(d), ydoc_item(d), ydoc_line(d), 0 };
	if (k == K_AUTHORIZATIONPOLICY) {
		const json_t *spec = json_object_get(root, "spec");
		if (json_is_object(spec))
			ydoc_key_pos(d, spec, "selector", &where.selector_line, &col);
	}
	if (audit_object(c->audit, &s, nsname, name, &where) < 0) {
		c->oom = true;
		goto out_release;
	}
	struct rec *r = rec_new(c, REC_OBJECT, file, ydoc_index(d), ydoc_item(d), ydoc_line(d), 0);
	if (!r)
		goto out_release;
	r->kind = k;
	r->cluster_scoped = cluster;
	r->ns = ns_get(c, nsname);
	r->name = xstrdup(name);
	if (!r->ns || !r->name)
		goto out_oom;
	/* Until its namespace is seen, an object is judged under every mode (rules may read the
	 * enrolment: mesh-injection, gateway-bypass) and waits. */
	if (!r->ns->seen) {
		r->pending = true;
		r->per_mode = true;
		r->mode = c->o.default_mode;
	} else {
		resolve(c, r);
	}
	if (judge_into(c, r, d, &adm) < 0)
		goto out_oom;
	bool nothing = r->n_lists == 1 && r->lists[0].n == 0;
	if (nothing && r->pending) {
		/* no finding whatever the mode: only its count waits */
		defer_count(r->ns, r->skip, only_scoped_rules(c->o.policy, k));
		rec_free(r);
	} else if (nothing) {
		emit_rec(c, r);
		rec_free(r);
	} else {
		if (r->pending) {
			r->ns_next = r->ns->waiting;
			r->ns->waiting = r;
		}
		enqueue(c, r);
	}
	goto out_release;
out_oom:
	c->oom = true;
	rec_free(r);
out_release:
	jdoc_release(&jd);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* One document or List item. Every document passes here: the place to collect per-object
 * summaries for cross-object audits. */
static void observe(struct check *c, struct ydoc *d, const char *file)
{
	const json_t *root = ydoc_root(d);
	const char *kind = jstr(root, "kind"), *api = jstr(root, "apiVersion");
	if (ydoc_streamed_items(d) >= 0 && (!kind || ends_with(kind, "List")))
		return;   /* a List whose items were read one by one: not an object itself */
	c->n_docs++;
	if (!json_is_object(root) || !kind || !api) {
		count_skip(c, SKIP_NOT_OBJECT, 1);
		return;
	}
	enum kind_id k = kind_lookup_api_version(sv_cstr(api), sv_cstr(kind));
	/* every object: the apiserver rejects labels and annotations that are not strings */
	if (check_string_maps(c, d, file, json_object_get(root, "metadata"), "metadata") < 0)
		return;
	if (strcmp(kind, "Namespace") == 0 && strcmp(api, "v1") == 0)
		observe_namespace(c, d, file);   /* before judging it: a Namespace's scope is itself */
	if (strcmp(kind, "ServiceAccount") == 0 && strcmp(api, "v1") == 0)
		observe_service_account(c, root);   /* for the audit; no rule judges it */
	if (k != K_UNKNOWN)
		judge(c, d, file, k);
	else
		count_skip(c, SKIP_KIND, 1);
}

/* ---- input ---- */

static void read_stream(struct check *c, struct yreader *yr, const char *file)
{
	for (;;) {
		struct ydoc *d = NULL;
		struct yerror e;
		enum yread rc = yreader_next(yr, &d, &e);
		if (rc == YR_END)
			break;
		if (rc == YR_DOC || rc == YR_ITEM) {
			observe(c, d, file);
			ydoc_free(d);
		} else if (rc == YR_BROKEN) {
			c->n_docs++;
			add_error(c, REC_BROKEN, file, e.doc, e.item, e.line, e.col, "%s", e.msg);
		} else {
			add_error(c, REC_INPUT_ERROR, file, e.doc, -1, e.line, e.col, "%s", e.msg);
		}
		flush(c);
		if (c->oom)
			break;
	}
}

static void read_fd(struct check *c, int fd, const char *name)
{
	const char *file = file_add(c, name);
	if (!file)
		return;
	struct yreader *yr = yreader_new_fd(fd, file, YSCHEMA_K8S, NULL, YREADER_STREAM_ITEMS);
	if (!yr) {
		c->oom = true;
		return;
	}
	read_stream(c, yr, file);
	yreader_free(yr);
}

void check_mem(struct check *c, const char *name, const char *data, size_t len)
{
	const char *file = file_add(c, name);
	if (!file)
		return;
	struct yreader *yr = yreader_new_mem(data, len, file, YSCHEMA_K8S, NULL, YREADER_STREAM_ITEMS);
	if (!yr) {
		c->oom = true;
		return;
	}
	read_stream(c, yr, file);
	yreader_free(yr);
}

static void input_error(struct check *c, const char *path, const char *what)
{
	const char *file = file_add(c, path);
	if (file)
		add_error(c, REC_INPUT_ERROR, file, 0, -1, 0, 0, "%s", what);
	flush(c);
}

static void read_file(struct check *c, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		input_error(c, path, strerror(errno));
		return;
	}
	read_fd(c, fd, path);
	close(fd);
}

static bool wanted_name(const char *name)
{
	return ends_with(name, ".yaml") || ends_with(name, ".yml") || ends_with(name, ".json");
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct dir_id {
	dev_t dev;
	ino_t ino;
};

/* Walk a directory: entries sorted by name (bytes), subdirectories first-come as sorted; a
 * directory already on the path from the top (a symlink loop) is not entered again. */
static void walk_dir(struct check *c, const char *path, struct dir_id *stack, int depth)
{
	DIR *dir = opendir(path);
	if (!dir) {
		input_error(c, path, strerror(errno));
		return;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 32;
			char **nn = xrealloc(names, nc * sizeof(*nn));
			if (!nn)
				goto out_oom;
			names = nn;
			cap = nc;
		}
		if (!(names[n] = xstrdup(de->d_name)))
			goto out_oom;
		n++;
	}
	closedir(dir);
	dir = NULL;
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	size_t plen = strlen(path);
	bool slash = plen && path[plen - 1] == '/';
	for (size_t i = 0; i < n && !c->oom; i++) {
		size_t len = plen + 1 + strlen(names[i]) + 1;
		char *child = xmalloc(len);
		if (!child)
			goto out_oom;
		fmt_buf(child, len, "%s%s%s", path, slash ? "" : "/", names[i]);
		struct stat st;
		if (stat(child, &st) < 0) {
			if (wanted_name(names[i]))
				input_error(c, child, strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			bool loop = false;
			for (int k = 0; k <= depth; k++)
				if (stack[k].dev == st.st_dev && stack[k].ino == st.st_ino)
					loop = true;
			if (loop) {
				/* a symlink back up the tree: its files are read already */
			} else if (depth + 1 >= DIR_DEPTH_MAX) {
				input_error(c, child, "directories nested too deeply (more than 64 levels)");
			} else {
				stack[depth + 1].dev = st.st_dev;
				stack[depth + 1].ino = st.st_ino;
				walk_dir(c, child, stack, depth + 1);
			}
		} else if (S_ISREG(st.st_mode) && wanted_name(names[i])) {
			read_file(c, child);
		}
		xfree(child);
	}
	goto out_free;
out_oom:
	c->oom = true;
out_free:
	if (dir)
		closedir(dir);
	for (size_t i = 0; i < n; i++)
		xfree(names[i]);
	xfree(names);
}

void check_path(struct check *c, const char *path)
{
	if (c->oom)
		return;
	if (strcmp(path, "-") == 0) {
		read_fd(c, STDIN_FILENO, "stdin");
		return;
	}
	struct stat st;
	if (stat(path, &st) < 0) {
		input_error(c, path, strerror(errno));
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		struct dir_id stack[DIR_DEPTH_MAX];
		stack[0].dev = st.st_dev;
		stack[0].ino = st.st_ino;
		walk_dir(c, path, stack, 0);
		return;
	}
	read_file(c, path);
}

/* ---- lifecycle ---- */

struct check *check_new(const struct check_options *o, FILE *out)
{
	struct check *c = xcalloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->o = *o;
	c->out = out;
	buf_init(&c->line, LINE_MAX_OUT);
	c->audit = audit_new(o->policy);
	if (!c->audit) {
		check_free(c);
		return NULL;
	}
	/* --namespace-mode NS=MODE: known before any input; a Namespace object still wins */
	for (size_t i = 0; i < o->n_ns_modes; i++) {
		struct nsinfo *ns = ns_get(c, o->ns_modes[i].ns);
		if (!ns) {
			check_free(c);
			return NULL;
		}
		ns->has_flag = true;
		ns->flag_mode = o->ns_modes[i].mode;
	}
	write_opening(c);
	return c;
}

static void add_summary_json(struct check *c, struct buf *b, int rc)
{
	buf_printf(b, "{\"files\":%zu,\"documents\":%llu,\"judged\":%llu,\"skipped\":%llu,\"broken\":%llu,"
		   "\"unreadable\":%llu,\"deny\":%llu,\"warn\":%llu,\"audit\":%llu,\"exempted\":%llu,"
		   "\"skippedReasons\":{",
		   c->n_files, (unsigned long long)c->n_docs, (unsigned long long)c->n_judged,
		   (unsigned long long)c->n_skipped, (unsigned long long)c->n_broken,
		   (unsigned long long)c->n_unreadable, (unsigned long long)c->n_out[OUT_DENY],
		   (unsigned long long)c->n_out[OUT_WARN], (unsigned long long)c->n_out[OUT_AUDIT],
		   (unsigned long long)c->n_out[OUT_EXEMPT]);
	for (size_t i = 0; i < c->n_skips; i++) {
		if (i)
			buf_addc(b, ',');
		add_json(b, c->skips[i].reason);
		buf_printf(b, ":%llu", (unsigned long long)c->skips[i].n);
	}
	buf_printf(b, "},\"errorsNotListed\":%zu,\"exitStatus\":%d}", c->errors_dropped, rc);
}

/* The kinds of AUDIT_SAW_* bits, as JSON strings, comma-separated. */
static void add_missing_kinds(struct buf *b, uint32_t missing)
{
	static const struct {
		uint32_t bit;
		const char *kinds;
	} names[] = {
		{ AUDIT_SAW_NAMESPACE, "\"Namespace\"" },
		{ AUDIT_SAW_SERVICEACCOUNT, "\"ServiceAccount\"" },
		{ AUDIT_SAW_AUTHZ, "\"AuthorizationPolicy\"" },
		{ AUDIT_SAW_PEERAUTHN, "\"PeerAuthentication\"" },
		{ AUDIT_SAW_WORKLOAD, "\"Pod\",\"Deployment\",\"StatefulSet\",\"DaemonSet\",\"ReplicaSet\",\"Job\","
				      "\"CronJob\",\"ReplicationController\"" },
	};
	bool first = true;
	for (size_t i = 0; i < ARRAY_LEN(names); i++)
		if (missing & names[i].bit) {
			buf_printf(b, "%s%s", first ? "" : ",", names[i].kinds);
			first = false;
		}
}

static void write_closing(struct check *c, int rc)
{
	struct buf *b = &c->line;
	if (c->o.format == CHECK_TEXT) {
		buf_printf(b, "posture check: %zu input%s, %llu document%s: %llu judged, %llu skipped, %llu broken",
			   c->n_files, c->n_files == 1 ? "" : "s", (unsigned long long)c->n_docs,
			   c->n_docs == 1 ? "" : "s", (unsigned long long)c->n_judged,
			   (unsigned long long)c->n_skipped, (unsigned long long)c->n_broken);
		if (c->n_unreadable)
			buf_printf(b, ", %llu unreadable", (unsigned long long)c->n_unreadable);
		buf_printf(b, "; findings: %llu deny, %llu warn, %llu audit",
			   (unsigned long long)c->n_out[OUT_DENY], (unsigned long long)c->n_out[OUT_WARN],
			   (unsigned long long)c->n_out[OUT_AUDIT]);
		if (c->n_out[OUT_EXEMPT])
			buf_printf(b, ", %llu exempted", (unsigned long long)c->n_out[OUT_EXEMPT]);
		if (c->n_skips) {
			buf_adds(b, "; skipped: ");
			for (size_t i = 0; i < c->n_skips; i++)
				buf_printf(b, "%s%llu %s", i ? ", " : "", (unsigned long long)c->skips[i].n,
					   c->skips[i].reason);
		}
		buf_addc(b, '\n');
		out_write(c);
		return;
	}
	if (c->o.format == CHECK_JSON) {
		buf_adds(b, c->n_written ? "\n],\n\"errors\":[" : "],\n\"errors\":[");
	} else {
		buf_printf(b, "%s],\n\"invocations\":[{\"executionSuccessful\":%s,\"exitCode\":%d,"
			   "\"toolExecutionNotifications\":[", c->n_written ? "\n" : "",
			   c->n_errors || c->errors_dropped || c->oom ? "false" : "true", rc);
	}
	for (size_t i = 0; i < c->n_errors; i++) {
		const struct kept_error *e = &c->errors[i];
		buf_adds(b, i ? ",\n" : "\n");
		if (c->o.format == CHECK_JSON) {
			buf_adds(b, "{\"file\":");
			add_json(b, e->file);
			if (e->line)
				buf_printf(b, ",\"line\":%u", e->line);
			if (e->line && e->col)
				buf_printf(b, ",\"column\":%u", e->col);
			if (e->document) {
				buf_printf(b, ",\"doc\":%u", e->doc);
				if (e->item >= 0)
					buf_printf(b, ",\"item\":%lld", (long long)e->item);
			}
			buf_adds(b, ",\"message\":");
			add_json(b, e->msg);
			buf_addc(b, '}');
		} else {
			buf_adds(b, "{\"level\":\"error\",\"message\":{\"text\":");
			add_json(b, e->msg);
			buf_adds(b, "},\"locations\":[{\"physicalLocation\":{\"artifactLocation\":{\"uri\":");
			add_uri(b, e->file);
			buf_addc(b, '}');
			if (e->line) {
				buf_printf(b, ",\"region\":{\"startLine\":%u", e->line);
				if (e->col)
					buf_printf(b, ",\"startColumn\":%u", e->col);
				buf_addc(b, '}');
			}
			buf_adds(b, "}}]}");
		}
		out_write(c);
	}
	/* audits not checked for want of a kind: JSON's notices, SARIF's notifications after the errors */
	if (c->o.format == CHECK_JSON)
		buf_adds(b, c->n_errors ? "\n],\n\"notices\":[" : "],\n\"notices\":[");
	for (size_t i = 0; i < c->n_notices; i++) {
		const struct audit_notice *n = &c->notices[i];
		buf_adds(b, i || (c->o.format == CHECK_SARIF && c->n_errors) ? ",\n" : "\n");
		if (c->o.format == CHECK_JSON) {
			buf_printf(b, "{\"rule\":\"%s\",\"missingKinds\":[", rule_name(n->rule));
			add_missing_kinds(b, n->missing);
			buf_adds(b, "],\"message\":");
			add_json(b, n->text);
			buf_addc(b, '}');
		} else {
			buf_adds(b, "{\"level\":\"note\",\"message\":{\"text\":");
			add_json(b, n->text);
			buf_printf(b, "},\"associatedRule\":{\"id\":\"%s\",\"index\":%u},\"properties\":"
				   "{\"missingKinds\":[", rule_name(n->rule), (unsigned)n->rule);
			add_missing_kinds(b, n->missing);
			buf_adds(b, "]}}");
		}
		out_write(c);
	}
	bool listed = c->n_notices || (c->o.format == CHECK_SARIF && c->n_errors);
	if (c->o.format == CHECK_JSON) {
		buf_adds(b, listed ? "\n],\n\"summary\":" : "],\n\"summary\":");
		add_summary_json(c, b, rc);
		buf_adds(b, "}\n");
	} else {
		buf_adds(b, listed ? "\n]}],\n\"properties\":{\"summary\":" : "]}],\n\"properties\":{\"summary\":");
		add_summary_json(c, b, rc);
		buf_adds(b, "}}]}\n");
	}
	out_write(c);
}

/* Write a cross-object finding as a record of its own. */
static void emit_audit_finding(struct check *c, const struct audit_finding *f)
{
	struct rec *r = rec_new(c, REC_OBJECT, f->where.file, f->where.doc, f->where.item, f->line, 0);
	if (!r)
		return;
	r->kind = f->kind;
	r->cluster_scoped = f->kind == K_NAMESPACE;
	r->ns = ns_get(c, f->ns);
	r->name = xstrdup(f->name);
	r->mode = f->mode;
	struct cfind cf;
	memset(&cf, 0, sizeof cf);
	cf.rule = (uint8_t)f->rule;
	cf.outcome = (uint8_t)f->outcome;
	cf.line = f->line;
	cf.path = pool_add(r, f->path);
	cf.cause = pool_add(r, f->cause);
	cf.what = pool_add(r, f->what);
	cf.fix = pool_add(r, f->fix);
	if (!r->ns || !r->name || r->pool.failed)
		c->oom = true;
	else
		emit_finding(c, r, &cf);
	rec_free(r);
}

/* The cross-object audit: every namespace's enrolment as resolved, the pass, its findings, and
 * (text) its notices; JSON and SARIF write the notices with the closing. */
static void run_audit(struct check *c)
{
	const struct audit_finding *f;
	size_t n_f;
	for (size_t i = 0; i < c->ns_cap && !c->oom; i++) {
		const struct nsinfo *ns = c->ns[i];
		if (!ns)
			continue;
		struct audit_ns facts;
		memset(&facts, 0, sizeof facts);
		facts.mode = ns->seen ? ns->mode : ns->has_flag ? ns->flag_mode : c->o.default_mode;
		/* where the workload rules judge nothing, the namespace's audits do not either */
		facts.skip = (ns->seen && ns->ignored) || policy_namespace_exempt(c->o.policy, sv_cstr(ns->name)) ||
			     (c->o.own_namespace && strcmp(c->o.own_namespace, ns->name) == 0);
		if (audit_namespace(c->audit, ns->name, &facts) < 0)
			c->oom = true;
	}
	if (c->oom || audit_run(c->audit, &f, &n_f, &c->notices, &c->n_notices) < 0) {
		c->oom = true;
		c->n_notices = 0;
		return;
	}
	for (size_t i = 0; i < n_f && !c->oom; i++)
		emit_audit_finding(c, &f[i]);
	if (c->o.format != CHECK_TEXT)
		return;
	for (size_t i = 0; i < c->n_notices; i++) {
		buf_printf(&c->line, "note: %s\n", c->notices[i].text);
		out_write(c);
	}
}

int check_finish(struct check *c)
{
	/* the input has ended: a namespace without a Namespace object takes the flag or default */
	for (size_t i = 0; i < c->ns_cap; i++)
		if (c->ns[i] && (c->ns[i]->waiting || c->ns[i]->n_deferred))
			resolve_waiting(c, c->ns[i]);
	flush(c);
	if (!c->oom)
		run_audit(c);
	int rc = 0;
	uint64_t findings = c->n_out[OUT_DENY] + c->n_out[OUT_WARN] + c->n_out[OUT_AUDIT];
	if (c->oom || c->n_broken || c->n_unreadable)
		rc = 2;
	else if (c->n_out[OUT_DENY] || (c->o.strict && findings))
		rc = 1;
	write_closing(c, rc);
	if (c->oom) {
		fprintf(stderr, "posture check: out of memory\n");
		rc = 2;
	}
	return rc;
}

void check_free(struct check *c)
{
	if (!c)
		return;
	while (c->head) {
		struct rec *r = c->head;
		c->head = r->next;
		rec_free(r);
	}
	for (size_t i = 0; i < c->ns_cap; i++) {
		if (!c->ns[i])
			continue;
		xfree(c->ns[i]->name);
		xfree(c->ns[i]);
	}
	xfree(c->ns);
	for (size_t i = 0; i < c->n_files; i++)
		xfree(c->files[i]);
	xfree(c->files);
	for (size_t i = 0; i < c->n_errors; i++)
		xfree(c->errors[i].msg);
	xfree(c->errors);
	audit_free(c->audit);
	buf_release(&c->line);
	xfree(c);
}

/* ---- the command ---- */

static void usage(FILE *to)
{
	fprintf(to,
		"usage: posture check [--policy FILE] [--namespace-mode [NS=]MODE]... [--own-namespace NS]\n"
		"                     [-o text|json|sarif] [--strict] PATH... | -\n"
		"\n"
		"Judges Kubernetes manifests as the webhook judges a CREATE of them: the same rules, actions\n"
		"and exemptions (no ratcheting, and no lowering for objects Kubernetes' controllers make).\n"
		"For CI, and for auditing a live cluster:\n"
		"  kubectl get namespaces,serviceaccounts,services,pods,deployments,statefulsets,daemonsets,\\\n"
		"    replicasets,replicationcontrollers,jobs,cronjobs,authorizationpolicies,\\\n"
		"    peerauthentications,destinationrules -A -o yaml | posture check -\n"
		"\n"
		"PATH is a YAML or JSON file (several documents each; kind: List expanded item by item), a\n"
		"directory (read recursively: *.yaml, *.yml, *.json, in name order), or - for stdin.\n"
		"Scalars are read as Kubernetes reads them (YAML 1.1: unquoted yes/no/on/off are booleans).\n"
		"Objects without a namespace are in \"default\".\n"
		"\n"
		"  --policy FILE           policy file (default: built-in defaults, as policies/default.yaml)\n"
		"  --namespace-mode [NS=]MODE\n"
		"                          a namespace's mesh enrolment, as the webhook's paths spell it:\n"
		"                          sidecar, disabled or none, each optionally /ambient. NS=MODE for\n"
		"                          one namespace (repeatable); a bare MODE for every namespace known\n"
		"                          from nowhere else (default: none). A Namespace object in the input\n"
		"                          wins over both: its istio-injection, istio.io/rev (with the\n"
		"                          policy's revisions) and istio.io/dataplane-mode labels route it as\n"
		"                          the shipped webhook configuration does, wherever it is in the input.\n"
		"                          In a namespace labelled posture.dev/ignore=true the workload rules\n"
		"                          judge nothing, as the webhook never sees those objects.\n"
		"  --own-namespace NS      the webhook's own namespace, whose workloads are not judged\n"
		"                          (default: $POD_NAMESPACE, as in the server)\n"
		"  -o, --output FORMAT     text (default): FILE:LINE: [rule] Kind ns/name: message, one a line\n"
		"                          (\"warning:\" or \"audit:\" before rules whose action is not deny),\n"
		"                          broken input as FILE:LINE:COL: error: ..., then a summary line;\n"
		"                          json: {\"findings\": [...], \"errors\": [...], \"summary\": {...}};\n"
		"                          sarif: SARIF 2.1.0 for code-scanning tools\n"
		"  --strict                exit 1 on any finding (warn and audit too), not only on deny\n"
		"  -h, --help              this text\n"
		"\n"
		"A broken document (YAML error, a label or annotation value that is not a string, a judged\n"
		"field of the wrong type) is reported with FILE:LINE:COL and the rest is still checked.\n"
		"\n"
		"Exit status: 0 nothing denied; 1 a deny finding (with --strict: any finding); 2 a usage\n"
		"error or any input error (unreadable path, broken document). 2 wins over 1: a document\n"
		"that could not be read was not judged. Every finding is reported either way.\n"
		"\n"
		"Rules (their actions come from the policy):\n");
	for (size_t i = 0; i < RULE_COUNT; i++)
		if (rule_table[i]->kinds)
			fprintf(to, "  %-30s %s\n", rule_table[i]->name, rule_table[i]->summary);
	fprintf(to, "\n"
		"Cross-object audits, over the whole input (docs/audit.md); each runs only when the input\n"
		"holds the kinds it needs, else a note says which are missing:\n");
	for (size_t i = 0; i < RULE_COUNT; i++)
		if (!rule_table[i]->kinds)
			fprintf(to, "  %-36s %s\n", rule_table[i]->name, rule_table[i]->summary);
}

static int usage_error(const char *fmt, ...) PRINTF_LIKE(1, 2);
static int usage_error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "posture check: %s (see posture check --help)\n", msg);
	return 2;
}

/* A flag with a value: "--name VALUE", "--name=VALUE" (and "-o VALUE", "-oVALUE" for short).
 * Returns 1 and sets *val when argv[*i] is that flag, 0 when it is not, -1 when the value is
 * missing. */
static int flag_value(int argc, char **argv, int *i, const char *lng, const char *shrt,
		      const char **val)
{
	const char *a = argv[*i];
	size_t n = strlen(lng);
	if (strcmp(a, lng) == 0 || (shrt && strcmp(a, shrt) == 0)) {
		if (*i + 1 >= argc)
			return -1;
		*val = argv[++*i];
		return 1;
	}
	if (strncmp(a, lng, n) == 0 && a[n] == '=') {
		*val = a + n + 1;
		return 1;
	}
	if (shrt && strncmp(a, shrt, strlen(shrt)) == 0 && a[strlen(shrt)]) {
		*val = a + strlen(shrt);
		return 1;
	}
	return 0;
}

struct check_args {
	struct check_options o;
	const char *policy_file;      /* NULL: built-in defaults */
	struct check_ns_mode *modes;  /* owned; names point into argv */
	const char **paths;           /* owned array; strings borrowed from argv */
	size_t n_paths;
};

/* Parse argv into a. Returns -1 to go on, else the exit status (help: 0; usage error: 2, with its
 * one line written). */
static int parse_args(int argc, char **argv, struct check_args *a)
{
	struct check_options *o = &a->o;
	bool flags_done = false, have_stdin = false;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *val = NULL;
		int f;
		if (flags_done || arg[0] != '-' || arg[1] == '\0') {
			if (strcmp(arg, "-") == 0) {
				if (have_stdin)
					return usage_error("stdin (-) given twice");
				have_stdin = true;
			}
			a->paths[a->n_paths++] = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			flags_done = true;
		} else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(arg, "--strict") == 0) {
			o->strict = true;
		} else if ((f = flag_value(argc, argv, &i, "--policy", NULL, &val)) != 0) {
			if (f < 0)
				return usage_error("%s needs a value", arg);
			a->policy_file = val;
		} else if ((f = flag_value(argc, argv, &i, "--own-namespace", NULL, &val)) != 0) {
			if (f < 0)
				return usage_error("%s needs a value", arg);
			if (!dns1123_label(val, strlen(val)))
				return usage_error("--own-namespace: \"%s\" is not a namespace name", val);
			o->own_namespace = val;
		} else if ((f = flag_value(argc, argv, &i, "--output", "-o", &val)) != 0) {
			if (f < 0)
				return usage_error("%s needs a value", arg);
			if (strcmp(val, "text") == 0)
				o->format = CHECK_TEXT;
			else if (strcmp(val, "json") == 0)
				o->format = CHECK_JSON;
			else if (strcmp(val, "sarif") == 0)
				o->format = CHECK_SARIF;
			else
				return usage_error("-o: unknown format \"%s\" (text, json or sarif)", val);
		} else if ((f = flag_value(argc, argv, &i, "--namespace-mode", NULL, &val)) != 0) {
			if (f < 0)
				return usage_error("%s needs a value", arg);
			const char *eq = strchr(val, '=');
			const char *mode = eq ? eq + 1 : val;
			struct nsmode m;
			if (eq && !dns1123_label(val, (size_t)(eq - val)))
				return usage_error("--namespace-mode: \"%.*s\" is not a namespace name",
						   (int)(eq - val), val);
			if (nsmode_parse(mode, strlen(mode), &m) < 0)
				return usage_error("--namespace-mode: unknown mode \"%s\" (sidecar, disabled or "
						   "none, each optionally /ambient)", mode);
			if (!eq) {
				o->default_mode = m;
			} else {
				/* argv is ours to cut: the '=' ends the namespace's name */
				char *name = argv[i] + (val - argv[i]);
				name[eq - val] = '\0';
				a->modes[o->n_ns_modes].ns = name;
				a->modes[o->n_ns_modes++].mode = m;
			}
		} else {
			return usage_error("unknown flag %s", arg);
		}
	}
	if (a->n_paths == 0)
		return usage_error("no input: give files, directories, or - for stdin");
	return -1;
}

int cmd_check(int argc, char **argv)
{
	struct check_args a;
	struct policy *pol = NULL;
	struct check *c = NULL;
	char err[2048];
	int rc = 2;
	memset(&a, 0, sizeof a);
	a.o.default_mode.injection = INJ_NONE;
	a.o.version = POSTURE_VERSION;
	a.o.own_namespace = getenv("POD_NAMESPACE");
	a.modes = xcalloc((size_t)argc, sizeof(*a.modes));
	a.paths = xcalloc((size_t)argc, sizeof(*a.paths));
	if (!a.modes || !a.paths) {
		fprintf(stderr, "posture check: out of memory\n");
		goto out_free_args;
	}
	rc = parse_args(argc, argv, &a);
	if (rc >= 0)
		goto out_free_args;
	rc = 2;
	a.o.ns_modes = a.modes;
	if (a.o.own_namespace && !*a.o.own_namespace)
		a.o.own_namespace = NULL;
	pol = a.policy_file ? policy_load(a.policy_file, err, sizeof err) : policy_defaults_new();
	if (!pol) {
		fprintf(stderr, "%s\n", a.policy_file ? err : "posture check: out of memory");
		goto out_free_args;
	}
	a.o.policy = pol;
	c = check_new(&a.o, stdout);
	if (!c) {
		fprintf(stderr, "posture check: out of memory\n");
		goto out_unref;
	}
	for (size_t i = 0; i < a.n_paths; i++)
		check_path(c, a.paths[i]);
	rc = check_finish(c);
	check_free(c);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "posture check: writing the output: %s\n", strerror(errno));
		rc = 2;
	}
out_unref:
	policy_unref(pol);
out_free_args:
	xfree(a.modes);
	xfree(a.paths);
	return rc;
}
