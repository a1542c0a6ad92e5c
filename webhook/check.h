/* check.h - `posture check`'s engine apart from argv: streams manifests (files, directories, stdin,
 * memory) through the YAML reader, judges every object as the webhook judges a CREATE, and writes
 * findings as text, JSON or SARIF. cmd_check (check.c) drives it; tests and the fuzz target call it
 * on memory buffers.
 *
 * Memory: one document (or List item) at a time, plus compact summaries that outlive it: a table
 * of namespaces (enrolment from Namespace objects and --namespace-mode), the findings of objects
 * whose namespace's enrolment is not known yet (see "Namespaces" in check.c), and the cross-object
 * audit's per-object summaries (audit.h), which run as one pass at check_finish.
 *
 * Ownership: every pointer in struct check_options is borrowed and must outlive the struct check;
 * out is borrowed (not closed). */
#ifndef POSTURE_CHECK_H
#define POSTURE_CHECK_H

#include <stdio.h>

#include "nsmode.h"
#include "policy.h"

enum check_format { CHECK_TEXT = 0, CHECK_JSON, CHECK_SARIF };

struct check_ns_mode {
	const char *ns;        /* borrowed */
	struct nsmode mode;
};

struct check_options {
	const struct policy *policy;            /* borrowed; required */
	enum check_format format;
	bool strict;                            /* exit 1 on any finding, not only deny */
	struct nsmode default_mode;             /* namespaces known from nowhere else */
	const struct check_ns_mode *ns_modes;   /* --namespace-mode NS=MODE, borrowed; later wins */
	size_t n_ns_modes;
	const char *own_namespace;              /* the webhook's namespace (skipped), or NULL */
	const char *version;                    /* for SARIF's tool.driver.version; NULL: "dev" */
	size_t max_errors_kept;                 /* errors kept for JSON/SARIF; 0: 1000 */
};

struct check;

/* New checker writing to out (the format's opening is written here). NULL on OOM. */
struct check *check_new(const struct check_options *o, FILE *out);
/* Read PATH: "-" is stdin; a directory is walked recursively (*.yaml, *.yml, *.json, sorted by
 * name, symlinked directories followed unless they loop); anything else is read as a file whatever
 * its name. Errors (unreadable paths, broken documents) are reported in the output and counted. */
void check_path(struct check *c, const char *path);
/* Read data[0..len) (borrowed for the call) as a file named name. */
void check_mem(struct check *c, const char *name, const char *data, size_t len);
/* End of input: resolve the namespaces still unknown, write the rest, the summary and the format's
 * closing; before them the cross-object audit's findings and its notes (audits not checked for
 * want of a kind). Returns the exit status: 2 if any input error (or OOM), else 1 if any deny
 * finding, cross-object ones included (with strict: any finding), else 0. Call once. */
int check_finish(struct check *c);
void check_free(struct check *c);

#endif
