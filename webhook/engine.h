/* engine.h - judges one admission: runs the enabled rules for the object's kind, applies actions,
 * exemptions, lowering of controller-made objects and ratcheting, and folds the results into a
 * verdict. Knows nothing of HTTP or of the JSON library. */
#ifndef POSTURE_ENGINE_H
#define POSTURE_ENGINE_H

#include "rules.h"

enum operation { OP_OTHER = 0, OP_CREATE, OP_UPDATE, OP_DELETE, OP_CONNECT };
const char *operation_name(enum operation op);
enum operation operation_parse(struct sv s);

/* What is judged (all borrowed). */
struct admission {
	enum operation op;
	bool dry_run;
	struct sv username;            /* request.userInfo.username */
	struct sv namespace;           /* request.namespace, else the object's */
	struct sv name;                /* the object's name, else request.name, else generateName */
	enum kind_id kind;
	const struct subject *object;       /* NULL: nothing to judge */
	const struct subject *old_object;   /* UPDATE only; NULL when absent */
	struct nsmode mode;
	bool offline;                  /* posture check: no lowering, no ratcheting */
	struct sv own_namespace;       /* the webhook's namespace (POD_NAMESPACE), may be sv_null */
};

enum outcome { OUT_DENY = 0, OUT_WARN, OUT_AUDIT, OUT_EXEMPT };
const char *outcome_name(enum outcome o);

#define FINDING_RATCHETED 1u   /* the old object had it: lowered to a warning */
#define FINDING_LOWERED 2u     /* made by a Kubernetes controller: lowered to a warning */

struct finding {
	struct violation v;
	enum action action;                 /* the rule's configured action */
	enum outcome outcome;               /* what happens to the request */
	unsigned flags;
	const struct exemption *exemption;  /* borrowed from the policy when OUT_EXEMPT */
};

struct verdict {
	bool allowed;
	const char *skipped;   /* static reason nothing was judged, or NULL */
	struct finding *f;     /* owned */
	size_t n, cap;
	size_t n_deny, n_warn, n_audit, n_exempt;
};

void verdict_init(struct verdict *v);
void verdict_release(struct verdict *v);

/* Judge adm under pol. Returns 0, or -1 when memory ran out (verdict unusable). */
int engine_judge(const struct policy *pol, const struct admission *adm, struct verdict *out);

/* True when username is a Kubernetes controller allowed to create objects of kind k owned by a
 * controller of kind owner (the lowering table in SEMANTICS.md). */
bool engine_controller_made(struct sv username, enum kind_id k, struct sv owner_kind);

/* Text. "[rule] Kind ns/name: what (at path). Fix: fix" into buf (always terminated). */
size_t finding_format_line(const struct finding *f, const struct admission *adm, char *buf,
			   size_t size);
/* A warning: one line, no newline, at most 256 bytes, short where possible. */
size_t finding_format_warning(const struct finding *f, const struct admission *adm, char *buf,
			      size_t size);
/* The denial message: every OUT_DENY finding, one per line, at most 1024 bytes; past that the last
 * line is "... and N more violations (posture check shows all)". */
struct buf;
void verdict_format_denial(const struct verdict *v, const struct admission *adm, struct buf *out);

#endif
