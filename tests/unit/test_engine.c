/* test_engine.c - the engine's text limits, on verdicts built by hand: the 1 KiB denial message with
 * its "... and N more" line, single lines longer than the cap, warnings of at most 256 bytes, and
 * the controller lowering table. (Rule behaviour is in the fixture table, test_rules.c.) */
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"
#include "engine.h"
#include "test.h"

static struct admission adm_named(const char *ns, const char *name)
{
	struct admission a;
	memset(&a, 0, sizeof a);
	a.op = OP_CREATE;
	a.kind = K_DEPLOYMENT;
	a.namespace = sv_cstr(ns);
	a.name = sv_cstr(name);
	return a;
}

static struct finding finding_of(enum rule_id rule, enum outcome o, size_t what_len, size_t fix_len,
				  size_t path_len)
{
	struct finding f;
	memset(&f, 0, sizeof f);
	f.v.rule = rule;
	f.outcome = o;
	f.action = ACTION_DENY;
	memset(f.v.what, 'w', what_len);
	memset(f.v.fix, 'f', fix_len);
	memset(f.v.path, 'p', path_len);
	fmt_buf(f.v.cause, sizeof f.v.cause, "test");
	return f;
}

static void add(struct verdict *v, const struct finding *f)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 8;
		v->f = xrealloc(v->f, v->cap * sizeof(*v->f));
	}
	v->f[v->n++] = *f;
	if (f->outcome == OUT_DENY)
		v->n_deny++;
	else if (f->outcome == OUT_WARN)
		v->n_warn++;
	v->allowed = v->n_deny == 0;
}

static const char *denial(const struct verdict *v, const struct admission *a, struct buf *b)
{
	buf_reset(b);
	verdict_format_denial(v, a, b);
	return buf_cstr(b);
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);
	return n >= t && strcmp(s + n - t, tail) == 0;
}

static size_t count_lines(const char *s)
{
	size_t n = 1;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* The longest line a finding can make: every field at its maximum, a long namespace and name. */
static void test_single_line_longer_than_the_cap(void)
{
	char name[254];
	memset(name, 'n', 253);
	name[253] = 0;
	struct admission a = adm_named("ns-6789012345678901234567890123456789012345678901234567890123", name);
	struct verdict v;
	struct buf b;
	verdict_init(&v);
	buf_init(&b, 1 << 16);
	struct finding f = finding_of(RULE_MESH_INJECTION, OUT_DENY, VIOL_WHAT_MAX - 1, VIOL_FIX_MAX - 1,
				      VIOL_PATH_MAX - 1);
	add(&v, &f);
	char line[2048];
	size_t full = finding_format_line(&f, &a, line, sizeof line);
	CHECK(full > 1024);   /* the premise: this line does not fit */
	const char *m = denial(&v, &a, &b);
	CHECK(m != NULL);
	CHECK_INT(strlen(m), 1024);
	CHECK(strncmp(m, "[mesh-injection] Deployment ns-67890", 36) == 0);
	CHECK(ends_with(m, "..."));
	CHECK(!strchr(m, '\n'));

	/* a second one: the first is cut to leave room for the count line */
	add(&v, &f);
	m = denial(&v, &a, &b);
	CHECK(strlen(m) <= 1024);
	CHECK(ends_with(m, "...\n... and 1 more violation (posture check shows all)"));
	CHECK_INT(count_lines(m), 2);
	verdict_release(&v);
	buf_release(&b);
}

/* A line of exactly 1024 bytes is shown whole: no cut, no count line. */
static void test_line_of_exactly_the_cap(void)
{
	char name[254];
	memset(name, 'n', 253);
	name[253] = 0;
	struct admission a = adm_named("ns-6789012345678901234567890123456789012345678901234567890123", name);
	struct verdict v;
	struct buf b;
	verdict_init(&v);
	buf_init(&b, 1 << 16);
	struct finding f = finding_of(RULE_DEFAULT_SERVICE_ACCOUNT, OUT_DENY, 0, VIOL_FIX_MAX - 1,
				      VIOL_PATH_MAX - 1);
	char line[2048];
	size_t base = finding_format_line(&f, &a, line, sizeof line);
	CHECK(base < 1024 && 1024 - base < VIOL_WHAT_MAX);
	if (base >= 1024 || 1024 - base >= VIOL_WHAT_MAX)
		return;
	size_t what = 1024 - base;
	f = finding_of(RULE_DEFAULT_SERVICE_ACCOUNT, OUT_DENY, what, VIOL_FIX_MAX - 1, VIOL_PATH_MAX - 1);
	CHECK_INT(finding_format_line(&f, &a, line, sizeof line), 1024);
	add(&v, &f);
	const char *m = denial(&v, &a, &b);
	CHECK_INT(strlen(m), 1024);
	CHECK(ends_with(m, "ffffffff"));   /* the whole fix, not cut */
	CHECK(!ends_with(m, "..."));
	verdict_release(&v);
	buf_release(&b);
}

/* Many short findings: as many whole lines as fit, then the count of the rest. */
static void test_many_findings(void)
{
	struct admission a = adm_named("shop", "web");
	struct verdict v;
	struct buf b;
	verdict_init(&v);
	buf_init(&b, 1 << 16);
	for (int i = 0; i < 50; i++) {
		struct finding f = finding_of(RULE_AUTHZ_WILDCARD, OUT_DENY, 40, 40, 30);
		add(&v, &f);
	}
	const char *m = denial(&v, &a, &b);
	CHECK(strlen(m) <= 1024);
	size_t lines = count_lines(m);
	char tail[96];
	fmt_buf(tail, sizeof tail, "\n... and %zu more violations (posture check shows all)", 50 - (lines - 1));
	CHECK(ends_with(m, tail));
	CHECK(lines > 3 && lines < 50);
	/* every shown line is whole */
	char *copy = xstrdup(m), *save = NULL;
	size_t whole = 0;
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		whole += strncmp(l, "[authorization-policy-wildcard] Deployment shop/web: ", 53) == 0 &&
			 ends_with(l, "Fix: " "ffffffffffffffffffffffffffffffffffffffff");
	CHECK_INT(whole, lines - 1);
	xfree(copy);
	verdict_release(&v);
	buf_release(&b);
}

/* Lines that fit exactly with the count line reserved; warnings never enter the denial. */
static void test_only_denials_in_the_message(void)
{
	struct admission a = adm_named("shop", "web");
	struct verdict v;
	struct buf b;
	verdict_init(&v);
	buf_init(&b, 1 << 16);
	struct finding w = finding_of(RULE_DEFAULT_SERVICE_ACCOUNT, OUT_WARN, 30, 30, 20);
	struct finding d = finding_of(RULE_MESH_INJECTION, OUT_DENY, 30, 30, 20);
	add(&v, &w);
	add(&v, &d);
	add(&v, &w);
	const char *m = denial(&v, &a, &b);
	CHECK(strncmp(m, "[mesh-injection] Deployment shop/web: ", 38) == 0);
	CHECK_INT(count_lines(m), 1);
	CHECK(strstr(m, "more violation") == NULL);
	verdict_release(&v);
	buf_release(&b);
}

static void test_warning_limits(void)
{
	char name[254];
	memset(name, 'n', 253);
	name[253] = 0;
	struct admission a = adm_named("ns-6789012345678901234567890123456789012345678901234567890123", name);
	struct finding f = finding_of(RULE_DEFAULT_SERVICE_ACCOUNT, OUT_WARN, VIOL_WHAT_MAX - 1, 10,
				      VIOL_PATH_MAX - 1);
	f.flags = FINDING_RATCHETED;
	char w[512];
	size_t n = finding_format_warning(&f, &a, w, sizeof w);
	CHECK(n <= 256);
	CHECK_INT(strlen(w), n);
	CHECK(!strchr(w, '\n'));

	/* short: the field and the note are both there */
	struct admission s = adm_named("shop", "web");
	f = finding_of(RULE_MESH_INJECTION, OUT_WARN, 20, 10, 12);
	f.flags = FINDING_LOWERED;
	n = finding_format_warning(&f, &s, w, sizeof w);
	CHECK_STR(w, "[mesh-injection] Deployment shop/web: wwwwwwwwwwwwwwwwwwww (at pppppppppppp) "
		     "[made by a controller: fix its owner]");
	CHECK_INT(n, strlen(w));
}

static void test_controller_table(void)
{
	const char *sa = "system:serviceaccount:kube-system:";
	static const struct {
		const char *user;
		enum kind_id kind;
		const char *owner;
		bool made;
		bool kcm;   /* a pair some controller makes: system:kube-controller-manager may */
	} t[] = {
		{ "deployment-controller", K_REPLICASET, "Deployment", true, true },
		{ "cronjob-controller", K_JOB, "CronJob", true, true },
		{ "replicaset-controller", K_POD, "ReplicaSet", true, true },
		{ "replication-controller", K_POD, "ReplicationController", true, true },
		{ "daemon-set-controller", K_POD, "DaemonSet", true, true },
		{ "statefulset-controller", K_POD, "StatefulSet", true, true },
		{ "job-controller", K_POD, "Job", true, true },
		{ "deployment-controller", K_POD, "Deployment", false, false },
		{ "replicaset-controller", K_POD, "DaemonSet", false, true },
		{ "job-controller", K_JOB, "CronJob", false, true },
		{ "cronjob-controller", K_POD, "Job", false, true },
		{ "replicaset-controller", K_REPLICASET, "Deployment", false, true },
		{ "daemonset-controller", K_POD, "DaemonSet", false, true },
		{ "statefulset-controller", K_POD, "Statefulset", false, false },
	};
	char user[128];
	for (size_t i = 0; i < ARRAY_LEN(t); i++) {
		fmt_buf(user, sizeof user, "%s%s", sa, t[i].user);
		test_current = t[i].user;
		CHECK(engine_controller_made(sv_cstr(user), t[i].kind, sv_cstr(t[i].owner)) == t[i].made);
		/* the controller-manager's own identity stands for all of them */
		CHECK(engine_controller_made(sv_cstr("system:kube-controller-manager"), t[i].kind,
					     sv_cstr(t[i].owner)) == t[i].kcm);
		/* the same name in another namespace, or a prefix of it, is someone else */
		fmt_buf(user, sizeof user, "system:serviceaccount:default:%s", t[i].user);
		CHECK(!engine_controller_made(sv_cstr(user), t[i].kind, sv_cstr(t[i].owner)));
		fmt_buf(user, sizeof user, "%s%s-x", sa, t[i].user);
		CHECK(!engine_controller_made(sv_cstr(user), t[i].kind, sv_cstr(t[i].owner)));
	}
	test_current = "test_controller_table";
	CHECK(!engine_controller_made(sv_null, K_POD, sv_cstr("ReplicaSet")));
	CHECK(!engine_controller_made(sv_cstr("system:kube-controller-manager"), K_DEPLOYMENT,
				      sv_cstr("ReplicaSet")));
}

int main(void)
{
	RUN(test_single_line_longer_than_the_cap);
	RUN(test_line_of_exactly_the_cap);
	RUN(test_many_findings);
	RUN(test_only_denials_in_the_message);
	RUN(test_warning_limits);
	RUN(test_controller_table);
	return test_summary("engine");
}
