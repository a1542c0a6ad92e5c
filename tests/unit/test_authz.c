/* test_authz.c - unit tests of the AuthorizationPolicy decoder and authorization-policy-wildcard. */
#include <stdio.h>
#include <stdlib.h>

#include "rules.h"
#include "test.h"

/* Cases are written with single quotes for readability; they become double quotes before parsing
 * (no case needs an apostrophe). R(rules) wraps rules, joined by ",", in a policy with no action. */
#define R(rules) "{'spec':{'rules':[" rules "]}}"
#define RA(action, rules) "{'spec':{'action':'" action "','rules':[" rules "]}}"
#define GET "'to':[{'operation':{'methods':['GET']}}]"

#define MAX_WANT 12

struct acase {
	const char *name;
	const char *json;
	bool require_source;
	const char *want[MAX_WANT];   /* "path cause", in any order */
};

static char *dup_quotes(const char *s)
{
	size_t n = strlen(s);
	char *d = xmalloc(n + 1);
	if (!d)
		return NULL;
	for (size_t i = 0; i <= n; i++)
		d[i] = s[i] == '\'' ? '"' : s[i];
	return d;
}

/* A parsed and decoded policy. */
struct parsed {
	char *buf;
	struct jdoc doc;
	struct subject subj;
	char err[256];
	int rc;   /* -1: JSON error, -2: decode error, 0: ok */
};

static void parsed_open(struct parsed *p, const char *json_sq, bool convert)
{
	memset(p, 0, sizeof(*p));
	jdoc_init(&p->doc);
	p->buf = convert ? dup_quotes(json_sq) : xstrdup(json_sq);
	if (!p->buf) {
		p->rc = -1;
		fmt_buf(p->err, sizeof(p->err), "out of memory");
		return;
	}
	if (json_parse(&p->doc, p->buf, strlen(p->buf), &jlimits_default, p->err, sizeof(p->err)) < 0) {
		p->rc = -1;
		return;
	}
	if (subject_decode(&p->subj, K_AUTHORIZATIONPOLICY, jdoc_root(&p->doc), &p->doc.arena, p->err,
			   sizeof(p->err)) < 0)
		p->rc = -2;
}

static void parsed_close(struct parsed *p)
{
	jdoc_release(&p->doc);
	xfree(p->buf);
}

static void run_rule(const struct subject *subj, bool require_source, struct violations *vs)
{
	struct policy pol;
	memset(&pol, 0, sizeof(pol));
	pol.require_source = require_source;
	struct rule_ctx ctx;
	memset(&ctx, 0, sizeof(ctx));
	ctx.policy = &pol;
	ctx.subject = subj;
	violations_init(vs);
	vs->current = RULE_AUTHZ_WILDCARD;
	rule_authz_wildcard.check(&ctx, vs);
}

static void dump(const struct violations *vs)
{
	for (size_t i = 0; i < vs->n; i++)
		fprintf(stderr, "    got: %s %s | %s | Fix: %s\n", vs->v[i].path, vs->v[i].cause,
			vs->v[i].what, vs->v[i].fix);
}

/* Every violation is well formed: short text, one line, the rule's id. */
static void check_text(const struct violations *vs)
{
	for (size_t i = 0; i < vs->n; i++) {
		const struct violation *v = &vs->v[i];
		CHECK(v->rule == RULE_AUTHZ_WILDCARD);
		CHECK(strlen(v->what) > 10 && strlen(v->what) < 200);
		CHECK(strlen(v->fix) > 10 && strlen(v->fix) < 200);
		CHECK(!strchr(v->what, '\n') && !strchr(v->fix, '\n'));
		CHECK(strncmp(v->path, "spec", 4) == 0);
		CHECK(v->cause[0] != '\0');
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(v->path, vs->v[j].path) != 0 || strcmp(v->cause, vs->v[j].cause) != 0);
	}
}

/* The violations are exactly want (a list of "path cause"). */
static void check_set(const struct violations *vs, const char *const *want, size_t nwant)
{
	bool bad = vs->n != nwant || vs->oom;
	for (size_t w = 0; w < nwant; w++) {
		int hits = 0;
		for (size_t i = 0; i < vs->n; i++) {
			char pc[VIOL_PATH_MAX + VIOL_CAUSE_MAX + 2];
			fmt_buf(pc, sizeof(pc), "%s %s", vs->v[i].path, vs->v[i].cause);
			if (strcmp(pc, want[w]) == 0)
				hits++;
		}
		if (hits != 1) {
			fprintf(stderr, "  %s: expected once: %s (found %d)\n", test_current, want[w], hits);
			bad = true;
		}
	}
	if (bad) {
		test_current_failed = 1;
		fprintf(stderr, "%s: violations differ (%zu, expected %zu)\n", test_current, vs->n, nwant);
		dump(vs);
	}
	check_text(vs);
}

static void run_acase(const struct acase *c)
{
	test_begin(c->name);
	struct parsed p;
	parsed_open(&p, c->json, true);
	if (p.rc != 0) {
		test_current_failed = 1;
		fprintf(stderr, "%s: %s\n", c->name, p.err);
	} else {
		struct violations vs;
		run_rule(&p.subj, c->require_source, &vs);
		size_t n = 0;
		while (n < MAX_WANT && c->want[n])
			n++;
		check_set(&vs, c->want, n);
		violations_release(&vs);
	}
	parsed_close(&p);
	test_end();
}

/* ---- the rule, case by case (SEMANTICS.md "authorization-policy-wildcard") ---- */

static const struct acase cases[] = {
	/* which actions are judged */
	{ "action ALLOW, open", RA("ALLOW", "{}"), false, { "spec.rules[0] open-rule" } },
	{ "action unset, open", R("{}"), false, { "spec.rules[0] open-rule" } },
	{ "action DENY not judged", RA("DENY", "{}"), false, { NULL } },
	{ "action AUDIT not judged", RA("AUDIT", "{}," "{'from':[{'source':{'principals':['*']}}]}"), false, { NULL } },
	{ "action CUSTOM not judged",
	  "{'spec':{'action':'CUSTOM','provider':{'name':'ext-authz'},'rules':[{}]}}", false, { NULL } },
	{ "action null counts as unset", "{'spec':{'action':null,'rules':[{}]}}", false,
	  { "spec.rules[0] open-rule" } },
	{ "action misspelt is judged", RA("allow", "{}"), false, { "spec.rules[0] open-rule" } },
	{ "DENY with wildcards not judged",
	  RA("DENY", "{'from':[{'source':{'principals':['*'],'namespaces':['*'],'trustDomains':['td']}}]}"),
	  true, { NULL } },

	/* no rules: deny-all, allowed */
	{ "spec {}", "{'spec':{}}", false, { NULL } },
	{ "no spec", "{'metadata':{'name':'x'}}", false, { NULL } },
	{ "spec null", "{'spec':null}", false, { NULL } },
	{ "selector without rules", "{'spec':{'selector':{'matchLabels':{'app':'x'}}}}", false, { NULL } },
	{ "rules []", "{'spec':{'rules':[]}}", false, { NULL } },
	{ "rules null", "{'spec':{'action':'ALLOW','rules':null}}", false, { NULL } },
	{ "no rules, requireSource", "{'spec':{'action':'ALLOW'}}", true, { NULL } },

	/* empty and open rules */
	{ "empty rule", R("{}"), false, { "spec.rules[0] open-rule" } },
	{ "empty lists rule", R("{'from':[],'to':[],'when':[]}"), false, { "spec.rules[0] open-rule" } },
	{ "second rule empty", R("{'from':[{'source':{'namespaces':['a']}}]}," "{}"), false,
	  { "spec.rules[1] open-rule" } },
	{ "two empty rules", R("{}," "{}"), false, { "spec.rules[0] open-rule", "spec.rules[1] open-rule" } },
	{ "from null to null", R("{'from':null,'to':null,'when':null}"), false, { "spec.rules[0] open-rule" } },

	/* each source field pins */
	{ "principals pin", R("{'from':[{'source':{'principals':['cluster.local/ns/a/sa/b']}}]}"), false, { NULL } },
	{ "requestPrincipals * pins", R("{'from':[{'source':{'requestPrincipals':['*']}}]}"), false, { NULL } },
	{ "requestPrincipals issuer pins", R("{'from':[{'source':{'requestPrincipals':['iss/sub']}}]}"), false, { NULL } },
	{ "namespaces pin", R("{'from':[{'source':{'namespaces':['foo']}}]}"), false, { NULL } },
	{ "namespace pattern pins", R("{'from':[{'source':{'namespaces':['prod-*']}}]}"), false, { NULL } },
	{ "serviceAccounts pin", R("{'from':[{'source':{'serviceAccounts':['ns/sa']}}]}"), false, { NULL } },
	{ "ipBlocks pin", R("{'from':[{'source':{'ipBlocks':['10.0.0.0/8']}}]}"), false, { NULL } },
	{ "remoteIpBlocks pin", R("{'from':[{'source':{'remoteIpBlocks':['1.2.3.4']}}]}"), false, { NULL } },
	{ "trustDomains pin but alone is a wildcard identity", R("{'from':[{'source':{'trustDomains':['cluster.local']}}]}"),
	  false, { "spec.rules[0].from[0].source.trustDomains trust-domain-only" } },

	/* each source field pinning nothing */
	{ "principals * pins nothing", R("{'from':[{'source':{'principals':['*']}}]}"), false,
	  { "spec.rules[0] open-rule", "spec.rules[0].from[0].source.principals[0] wildcard-principal" } },
	{ "namespaces * pins nothing", R("{'from':[{'source':{'namespaces':['*']}}]}"), false,
	  { "spec.rules[0] open-rule", "spec.rules[0].from[0].source.namespaces[0] wildcard-namespace" } },
	{ "serviceAccounts * pins nothing", R("{'from':[{'source':{'serviceAccounts':['*']}}]}"), false,
	  { "spec.rules[0] open-rule" } },
	{ "ipBlocks * pins nothing", R("{'from':[{'source':{'ipBlocks':['*']}}]}"), false, { "spec.rules[0] open-rule" } },
	{ "remoteIpBlocks * pins nothing", R("{'from':[{'source':{'remoteIpBlocks':['*']}}]}"), false,
	  { "spec.rules[0] open-rule" } },
	{ "trustDomains * pins nothing", R("{'from':[{'source':{'trustDomains':['*']}}]}"), false,
	  { "spec.rules[0] open-rule" } },
	{ "principals [] pins nothing", R("{'from':[{'source':{'principals':[]}}]}"), false, { "spec.rules[0] open-rule" } },
	{ "requestPrincipals [] pins nothing", R("{'from':[{'source':{'requestPrincipals':[]}}]}"), false,
	  { "spec.rules[0] open-rule" } },
	{ "source {} pins nothing", R("{'from':[{'source':{}}]}"), false, { "spec.rules[0] open-rule" } },
	{ "from entry without source", R("{'from':[{}]}"), false, { "spec.rules[0] open-rule" } },
	{ "source null", R("{'from':[{'source':null}]}"), false, { "spec.rules[0] open-rule" } },
	{ "principals null", R("{'from':[{'source':{'principals':null}}]}"), false, { "spec.rules[0] open-rule" } },
	{ "notPrincipals alone", R("{'from':[{'source':{'notPrincipals':['a/ns/b/sa/c']}}]}"), false,
	  { "spec.rules[0] open-rule" } },
	{ "notRequestPrincipals alone", R("{'from':[{'source':{'notRequestPrincipals':['*']}}]}"), false,
	  { "spec.rules[0] open-rule" } },
	{ "notNamespaces alone", R("{'from':[{'source':{'notNamespaces':['kube-system']}}]}"), false,
	  { "spec.rules[0] open-rule" } },
	{ "notNamespaces * alone", R("{'from':[{'source':{'notNamespaces':['*']}}]}"), false,
	  { "spec.rules[0] open-rule" } },
	{ "notIpBlocks alone", R("{'from':[{'source':{'notIpBlocks':['10.0.0.0/8']}}]}"), false,
	  { "spec.rules[0] open-rule" } },
	{ "notRemoteIpBlocks alone", R("{'from':[{'source':{'notRemoteIpBlocks':['10.0.0.0/8']}}]}"), false,
	  { "spec.rules[0] open-rule" } },
	{ "notServiceAccounts alone", R("{'from':[{'source':{'notServiceAccounts':['ns/sa']}}]}"), false,
	  { "spec.rules[0] open-rule" } },
	{ "notTrustDomains alone", R("{'from':[{'source':{'notTrustDomains':['evil.td']}}]}"), false,
	  { "spec.rules[0] open-rule" } },
	{ "unknown source field ignored", R("{'from':[{'source':{'hosts':['example.com']}}]}"), false,
	  { "spec.rules[0] open-rule" } },

	/* lists holding a bare * */
	{ "namespaces with *", R("{'from':[{'source':{'namespaces':['foo','*']}}]}"), false,
	  { "spec.rules[0] open-rule", "spec.rules[0].from[0].source.namespaces[1] wildcard-namespace" } },
	{ "principals with *", R("{'from':[{'source':{'principals':['cluster.local/ns/a/sa/b','*']}}]}"), false,
	  { "spec.rules[0] open-rule", "spec.rules[0].from[0].source.principals[1] wildcard-principal" } },
	{ "principals * twice", R("{'from':[{'source':{'principals':['*','*']}}]," GET "}"), false,
	  { "spec.rules[0].from[0].source.principals[0] wildcard-principal",
	    "spec.rules[0].from[0].source.principals[1] wildcard-principal" } },
	{ "ipBlocks with *", R("{'from':[{'source':{'ipBlocks':['10.0.0.1','*']}}]}"), false, { "spec.rules[0] open-rule" } },
	{ "* field and a pinning field", R("{'from':[{'source':{'serviceAccounts':['*'],'namespaces':['foo']}}]}"), false,
	  { NULL } },

	/* CIDR catch-alls */
	{ "0.0.0.0/0", R("{'from':[{'source':{'ipBlocks':['0.0.0.0/0']}}]}"), false, { "spec.rules[0] open-rule" } },
	{ "::/0", R("{'from':[{'source':{'ipBlocks':['::/0']}}]}"), false, { "spec.rules[0] open-rule" } },
	{ "0::/0", R("{'from':[{'source':{'ipBlocks':['0::/0']}}]}"), false, { "spec.rules[0] open-rule" } },
	{ "remote 0.0.0.0/0", R("{'from':[{'source':{'remoteIpBlocks':['10.1.0.0/16','0.0.0.0/0']}}]}"), false,
	  { "spec.rules[0] open-rule" } },
	{ "/0 with host bits", R("{'from':[{'source':{'ipBlocks':['10.1.2.3/0']}}]}"), false, { "spec.rules[0] open-rule" } },
	{ "v6 /0 with host bits", R("{'from':[{'source':{'ipBlocks':['2001:db8::1/0']}}]}"), false,
	  { "spec.rules[0] open-rule" } },
	{ "/00", R("{'from':[{'source':{'ipBlocks':['0.0.0.0/00']}}]}"), false, { "spec.rules[0] open-rule" } },
	{ "IPv4 halves", R("{'from':[{'source':{'ipBlocks':['0.0.0.0/1','128.0.0.0/1']}}]}"), false,
	  { "spec.rules[0] open-rule" } },
	{ "IPv4 halves, host bits set", R("{'from':[{'source':{'ipBlocks':['127.1.2.3/1','200.0.0.0/1']}}]}"), false,
	  { "spec.rules[0] open-rule" } },
	{ "IPv6 halves", R("{'from':[{'source':{'ipBlocks':['::/1','8000::/1']}}]}"), false, { "spec.rules[0] open-rule" } },
	{ "IPv6 quarters unsorted",
	  R("{'from':[{'source':{'ipBlocks':['c000::/2','4000::/2','::/2','8000::/2']}}]}"), false,
	  { "spec.rules[0] open-rule" } },
	{ "IPv4 unsorted overlapping cover",
	  R("{'from':[{'source':{'ipBlocks':['128.0.0.0/1','0.0.0.0/2','64.0.0.0/3','96.0.0.0/3','10.0.0.0/8']}}]}"),
	  false, { "spec.rules[0] open-rule" } },
	{ "IPv4 not covered", R("{'from':[{'source':{'ipBlocks':['0.0.0.0/1','128.0.0.0/2']}}]}"), false, { NULL } },
	{ "IPv4 gap at the start", R("{'from':[{'source':{'ipBlocks':['0.0.0.1/32','0.0.0.2/31','0.0.0.4/30','0.0.0.8/29',"
				     "'0.0.0.16/28','0.0.0.32/27','0.0.0.64/26','0.0.0.128/25','0.0.1.0/24','0.0.2.0/23',"
				     "'0.0.4.0/22','0.0.8.0/21','0.0.16.0/20','0.0.32.0/19','0.0.64.0/18','0.0.128.0/17',"
				     "'0.1.0.0/16','0.2.0.0/15','0.4.0.0/14','0.8.0.0/13','0.16.0.0/12','0.32.0.0/11',"
				     "'0.64.0.0/10','0.128.0.0/9','1.0.0.0/8','2.0.0.0/7','4.0.0.0/6','8.0.0.0/5',"
				     "'16.0.0.0/4','32.0.0.0/3','64.0.0.0/2','128.0.0.0/1']}}]}"), false, { NULL } },
	{ "IPv4 covered with a plain address", R("{'from':[{'source':{'ipBlocks':['0.0.0.0','0.0.0.2/31','0.0.0.4/30',"
				     "'0.0.0.8/29','0.0.0.16/28','0.0.0.32/27','0.0.0.64/26','0.0.0.128/25','0.0.1.0/24',"
				     "'0.0.2.0/23','0.0.4.0/22','0.0.8.0/21','0.0.16.0/20','0.0.32.0/19','0.0.64.0/18',"
				     "'0.0.128.0/17','0.1.0.0/16','0.2.0.0/15','0.4.0.0/14','0.8.0.0/13','0.16.0.0/12',"
				     "'0.32.0.0/11','0.64.0.0/10','0.128.0.0/9','1.0.0.0/8','2.0.0.0/7','4.0.0.0/6',"
				     "'8.0.0.0/5','16.0.0.0/4','32.0.0.0/3','64.0.0.0/2','128.0.0.0/1','0.0.0.1']}}]}"),
	  false, { "spec.rules[0] open-rule" } },
	{ "IPv4 missing the last address", R("{'from':[{'source':{'ipBlocks':['0.0.0.0/1','128.0.0.0/2','192.0.0.0/3',"
				     "'224.0.0.0/4','240.0.0.0/5','248.0.0.0/6','252.0.0.0/7','254.0.0.0/8','255.0.0.0/9',"
				     "'255.128.0.0/10','255.192.0.0/11','255.224.0.0/12','255.240.0.0/13','255.248.0.0/14',"
				     "'255.252.0.0/15','255.254.0.0/16','255.255.0.0/17','255.255.128.0/18','255.255.192.0/19',"
				     "'255.255.224.0/20','255.255.240.0/21','255.255.248.0/22','255.255.252.0/23',"
				     "'255.255.254.0/24','255.255.255.0/25','255.255.255.128/26','255.255.255.192/27',"
				     "'255.255.255.224/28','255.255.255.240/29','255.255.255.248/30','255.255.255.252/31',"
				     "'255.255.255.254/32']}}]}"), false, { NULL } },
	{ "IPv4 and the last address", R("{'from':[{'source':{'ipBlocks':['0.0.0.0/1','128.0.0.0/2','192.0.0.0/3',"
				     "'224.0.0.0/4','240.0.0.0/5','248.0.0.0/6','252.0.0.0/7','254.0.0.0/8','255.0.0.0/9',"
				     "'255.128.0.0/10','255.192.0.0/11','255.224.0.0/12','255.240.0.0/13','255.248.0.0/14',"
				     "'255.252.0.0/15','255.254.0.0/16','255.255.0.0/17','255.255.128.0/18','255.255.192.0/19',"
				     "'255.255.224.0/20','255.255.240.0/21','255.255.248.0/22','255.255.252.0/23',"
				     "'255.255.254.0/24','255.255.255.0/25','255.255.255.128/26','255.255.255.192/27',"
				     "'255.255.255.224/28','255.255.255.240/29','255.255.255.248/30','255.255.255.252/31',"
				     "'255.255.255.254/32','255.255.255.255']}}]}"), false, { "spec.rules[0] open-rule" } },
	{ "IPv6 gap at the top", R("{'from':[{'source':{'ipBlocks':['::/1','8000::/2','c000::/3','e000::/4',"
				     "'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127']}}]}"), false, { NULL } },
	{ "IPv6 cover, then more blocks", R("{'from':[{'source':{'ipBlocks':['e000::/3','::/1','8000::/2','c000::/3',"
				     "'ffff::/16','ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff']}}]}"), false,
	  { "spec.rules[0] open-rule" } },
	{ "halves split across families", R("{'from':[{'source':{'ipBlocks':['0.0.0.0/1','8000::/1']}}]}"), false, { NULL } },
	{ "IPv4 cover beside IPv6 blocks",
	  R("{'from':[{'source':{'ipBlocks':['2001:db8::/32','0.0.0.0/1','fd00::/8','128.0.0.0/1']}}]}"), false,
	  { "spec.rules[0] open-rule" } },
	{ "unparsable block pins", R("{'from':[{'source':{'ipBlocks':['$CLIENT_IP','0.0.0.0/1']}}]}"), false, { NULL } },
	{ "/0 with a space pins", R("{'from':[{'source':{'ipBlocks':['0.0.0.0/0 ']}}]}"), false, { NULL } },
	{ "prefix too long pins", R("{'from':[{'source':{'ipBlocks':['0.0.0.0/33','::/129']}}]}"), false, { NULL } },
	{ "bad v6 pins", R("{'from':[{'source':{'ipBlocks':[':/0','::1::/0','1:2:3:4:5:6:7:8:9/0','12345::/0','::g/0']}}]}"),
	  false, { NULL } },
	{ "v4-mapped /96 pins", R("{'from':[{'source':{'ipBlocks':['::ffff:0.0.0.0/96']}}]}"), false, { NULL } },
	{ "v4-tail v6 /0", R("{'from':[{'source':{'ipBlocks':['::1.2.3.4/0']}}]}"), false, { "spec.rules[0] open-rule" } },
	{ "full v6 /0", R("{'from':[{'source':{'ipBlocks':['1:2:3:4:5:6:7:8/0']}}]}"), false, { "spec.rules[0] open-rule" } },
	{ "remote halves", R("{'from':[{'source':{'remoteIpBlocks':['0.0.0.0/1','128.0.0.0/1']}}]}"), false,
	  { "spec.rules[0] open-rule" } },
	{ "catch-all ipBlocks, pinned remoteIpBlocks",
	  R("{'from':[{'source':{'ipBlocks':['0.0.0.0/0'],'remoteIpBlocks':['10.0.0.0/8']}}]}"), false, { NULL } },
	{ "catch-all ipBlocks, pinned principals",
	  R("{'from':[{'source':{'ipBlocks':['0.0.0.0/0','::/0'],'principals':['cluster.local/ns/a/sa/b']}}]}"), false,
	  { NULL } },

	/* operations */
	{ "hosts pin", R("{'to':[{'operation':{'hosts':['example.com']}}]}"), false, { NULL } },
	{ "ports pin", R("{'to':[{'operation':{'ports':['8080']}}]}"), false, { NULL } },
	{ "methods pin", R("{" GET "}"), false, { NULL } },
	{ "paths pin", R("{'to':[{'operation':{'paths':['/api/*']}}]}"), false, { NULL } },
	{ "hosts * pins nothing", R("{'to':[{'operation':{'hosts':['*']}}]}"), false, { "spec.rules[0] open-rule" } },
	{ "ports * pins nothing", R("{'to':[{'operation':{'ports':['*']}}]}"), false, { "spec.rules[0] open-rule" } },
	{ "methods * pins nothing", R("{'to':[{'operation':{'methods':['GET','*']}}]}"), false, { "spec.rules[0] open-rule" } },
	{ "paths * pins nothing", R("{'to':[{'operation':{'paths':['*']}}]}"), false, { "spec.rules[0] open-rule" } },
	{ "paths /* pins nothing", R("{'to':[{'operation':{'paths':['/*']}}]}"), false, { "spec.rules[0] open-rule" } },
	{ "paths with /* pins nothing", R("{'to':[{'operation':{'paths':['/api','/*']}}]}"), false,
	  { "spec.rules[0] open-rule" } },
	{ "one * field, one pinning field", R("{'to':[{'operation':{'hosts':['*'],'paths':['/api']}}]}"), false, { NULL } },
	{ "notPaths alone", R("{'to':[{'operation':{'notPaths':['/healthz']}}]}"), false, { "spec.rules[0] open-rule" } },
	{ "not* operation fields alone",
	  R("{'to':[{'operation':{'notHosts':['a'],'notPorts':['1'],'notMethods':['GET'],'notPaths':['/x']}}]}"), false,
	  { "spec.rules[0] open-rule" } },
	{ "operation {}", R("{'to':[{'operation':{}}]}"), false, { "spec.rules[0] open-rule" } },
	{ "to entry without operation", R("{'to':[{}]}"), false, { "spec.rules[0] open-rule" } },
	{ "one of two operations open", R("{'to':[{'operation':{'methods':['GET']}},{'operation':{'paths':['/*']}}]}"), false,
	  { "spec.rules[0] open-rule" } },
	{ "operations pin, source open", R("{'from':[{'source':{'notNamespaces':['x']}}]," GET "}"), false, { NULL } },
	{ "source pins, operation open", R("{'from':[{'source':{'namespaces':['x']}}],'to':[{'operation':{'paths':['/*']}}]}"),
	  false, { NULL } },

	/* when */
	{ "when values pin", R("{'when':[{'key':'request.headers[x]','values':['v1']}]}"), false, { NULL } },
	{ "when values * pin nothing", R("{'when':[{'key':'request.headers[x]','values':['*']}]}"), false,
	  { "spec.rules[0] open-rule" } },
	{ "when values with * pin nothing", R("{'when':[{'key':'request.headers[x]','values':['a','*']}]}"), false,
	  { "spec.rules[0] open-rule" } },
	{ "when notValues alone", R("{'when':[{'key':'request.headers[x]','notValues':['bad']}]}"), false,
	  { "spec.rules[0] open-rule" } },
	{ "when values []", R("{'when':[{'key':'request.headers[x]','values':[]}]}"), false, { "spec.rules[0] open-rule" } },
	{ "when: one of two pins",
	  R("{'when':[{'key':'a','values':['*']},{'key':'source.ip','values':['10.0.0.0/8']}]}"), false, { NULL } },
	{ "when pins an open source and operation",
	  R("{'from':[{'source':{'principals':['*']}}],'to':[{'operation':{'paths':['/*']}}],"
	    "'when':[{'key':'request.auth.claims[iss]','values':['https://accounts.google.com']}]}"), false,
	  { "spec.rules[0].from[0].source.principals[0] wildcard-principal" } },

	/* open through one of several sources or operations */
	{ "open via second source", R("{'from':[{'source':{'namespaces':['foo']}},{'source':{'notNamespaces':['bar']}}]}"),
	  false, { "spec.rules[0] open-rule" } },
	{ "all sources pin", R("{'from':[{'source':{'namespaces':['foo']}},{'source':{'ipBlocks':['10.0.0.0/8']}}]}"), false,
	  { NULL } },

	/* wildcard identities */
	{ "principal * with pinned operations", R("{'from':[{'source':{'principals':['*']}}]," GET "}"), false,
	  { "spec.rules[0].from[0].source.principals[0] wildcard-principal" } },
	{ "principal cluster.local/*", R("{'from':[{'source':{'principals':['cluster.local/*']}}]," GET "}"), false,
	  { "spec.rules[0].from[0].source.principals[0] principal-any-namespace" } },
	{ "principal cluster.local/ns/*", R("{'from':[{'source':{'principals':['cluster.local/ns/*']}}]}"), false,
	  { "spec.rules[0].from[0].source.principals[0] principal-any-namespace" } },
	{ "principal */sa/x", R("{'from':[{'source':{'principals':['*/sa/x']}}]}"), false,
	  { "spec.rules[0].from[0].source.principals[0] principal-any-namespace" } },
	{ "principal principal-prefix-*", R("{'from':[{'source':{'principals':['principal-prefix-*']}}]}"), false,
	  { "spec.rules[0].from[0].source.principals[0] principal-any-namespace" } },
	{ "principal *-suffix", R("{'from':[{'source':{'principals':['*-suffix-principal']}}]}"), false,
	  { "spec.rules[0].from[0].source.principals[0] principal-any-namespace" } },
	{ "principal namespace pattern", R("{'from':[{'source':{'principals':['cluster.local/ns/prod-*/sa/x']}}]}"), false,
	  { "spec.rules[0].from[0].source.principals[0] principal-any-namespace" } },
	{ "principal namespace prefix", R("{'from':[{'source':{'principals':['cluster.local/ns/foo*']}}]}"), false,
	  { "spec.rules[0].from[0].source.principals[0] principal-any-namespace" } },
	{ "principal empty namespace", R("{'from':[{'source':{'principals':['cluster.local/ns//sa/*']}}]}"), false,
	  { "spec.rules[0].from[0].source.principals[0] principal-any-namespace" } },
	{ "principal */ns/foo/sa/x is fine", R("{'from':[{'source':{'principals':['*/ns/foo/sa/x']}}]}"), false, { NULL } },
	{ "principal *bar/ns/foo/sa/x is fine", R("{'from':[{'source':{'principals':['*bar/ns/foo/sa/x']}}]}"), false,
	  { NULL } },
	{ "principal .../ns/foo/sa/* is fine", R("{'from':[{'source':{'principals':['cluster.local/ns/foo/sa/*']}}]}"), false,
	  { NULL } },
	{ "principal literal is fine", R("{'from':[{'source':{'principals':['principal','spiffe-ish']}}]}"), false, { NULL } },
	{ "several wildcard principals",
	  R("{'from':[{'source':{'principals':['a/ns/b/sa/c','cluster.local/*','*']}},"
	    "{'source':{'principals':['x/ns/*/sa/y']}}]," GET "}"), false,
	  { "spec.rules[0].from[0].source.principals[1] principal-any-namespace",
	    "spec.rules[0].from[0].source.principals[2] wildcard-principal",
	    "spec.rules[0].from[1].source.principals[0] principal-any-namespace" } },
	{ "namespace * with pinned operations", R("{'from':[{'source':{'namespaces':['*']}}]," GET "}"), false,
	  { "spec.rules[0].from[0].source.namespaces[0] wildcard-namespace" } },
	{ "namespace * beside a pinned principal",
	  R("{'from':[{'source':{'principals':['td/ns/a/sa/b'],'namespaces':['*']}}]}"), false,
	  { "spec.rules[0].from[0].source.namespaces[0] wildcard-namespace" } },
	{ "namespace prod-* is fine", R("{'from':[{'source':{'namespaces':['prod-*','*-test']}}]," GET "}"), false, { NULL } },
	{ "notNamespaces * with a pinned principal is fine",
	  R("{'from':[{'source':{'principals':['td/ns/a/sa/b'],'notNamespaces':['*']}}]}"), false, { NULL } },
	{ "notPrincipals * is not an identity",
	  R("{'from':[{'source':{'namespaces':['a'],'notPrincipals':['*','cluster.local/*']}}]}"), false, { NULL } },
	{ "trustDomains only, pinned operations", R("{'from':[{'source':{'trustDomains':['td1','td2']}}]," GET "}"), false,
	  { "spec.rules[0].from[0].source.trustDomains trust-domain-only" } },
	{ "trustDomains plus principals", R("{'from':[{'source':{'trustDomains':['td'],'principals':['td/ns/a/sa/b']}}]}"),
	  false, { NULL } },
	{ "trustDomains plus namespaces", R("{'from':[{'source':{'trustDomains':['td'],'namespaces':['a']}}]}"), false,
	  { NULL } },
	{ "trustDomains plus requestPrincipals *",
	  R("{'from':[{'source':{'trustDomains':['td'],'requestPrincipals':['*']}}]}"), false, { NULL } },
	{ "trustDomains plus principal *", R("{'from':[{'source':{'trustDomains':['td'],'principals':['*']}}]}"), false,
	  { "spec.rules[0].from[0].source.trustDomains trust-domain-only",
	    "spec.rules[0].from[0].source.principals[0] wildcard-principal" } },
	{ "trustDomains plus notPrincipals", R("{'from':[{'source':{'trustDomains':['td'],'notPrincipals':['x']}}]}"), false,
	  { "spec.rules[0].from[0].source.trustDomains trust-domain-only" } },
	{ "trustDomains plus catch-all ipBlocks",
	  R("{'from':[{'source':{'trustDomains':['td'],'ipBlocks':['0.0.0.0/0']}}]}"), false,
	  { "spec.rules[0].from[0].source.trustDomains trust-domain-only" } },
	{ "trustDomains plus pinned ipBlocks", R("{'from':[{'source':{'trustDomains':['td'],'ipBlocks':['10.0.0.0/8']}}]}"),
	  false, { NULL } },

	/* requireSource */
	{ "public endpoint allowed", R("{" GET "}"), false, { NULL } },
	{ "public endpoint, requireSource", R("{" GET "}"), true, { "spec.rules[0].to no-source" } },
	{ "sourced rule, requireSource", R("{'from':[{'source':{'namespaces':['a']}}]," GET "}"), true, { NULL } },
	{ "source pinning nothing, requireSource", R("{'from':[{'source':{'notNamespaces':['a']}}]," GET "}"), true,
	  { "spec.rules[0].from[0] no-source" } },
	{ "second source pinning nothing, requireSource",
	  R("{'from':[{'source':{'namespaces':['a']}},{'source':{'ipBlocks':['0.0.0.0/0']}}]," GET "}"), true,
	  { "spec.rules[0].from[1] no-source" } },
	{ "open rule, requireSource: reported once", R("{}"), true, { "spec.rules[0] open-rule" } },
	{ "when only, requireSource", R("{'when':[{'key':'request.headers[x]','values':['v']}]}"), true,
	  { "spec.rules[0].when no-source" } },
	{ "wildcard principal, requireSource", R("{'from':[{'source':{'principals':['*']}}]," GET "}"), true,
	  { "spec.rules[0].from[0].source.principals[0] wildcard-principal", "spec.rules[0].from[0] no-source" } },
	{ "trustDomains only, requireSource", R("{'from':[{'source':{'trustDomains':['td']}}]," GET "}"), true,
	  { "spec.rules[0].from[0].source.trustDomains trust-domain-only" } },

	/* every violation of a policy */
	{ "violations across rules",
	  R("{'from':[{'source':{'namespaces':['a']}}]," GET "},"
	    "{'from':[{'source':{'principals':['*']}},{'source':{'namespaces':['*']}}]," GET "},"
	    "{},"
	    "{'to':[{'operation':{'paths':['/admin']}}]},"
	    "{'from':[{'source':{'trustDomains':['td']}},{'source':{'notIpBlocks':['10.0.0.0/8']}}]}"),
	  true,
	  { "spec.rules[1].from[0].source.principals[0] wildcard-principal",
	    "spec.rules[1].from[1].source.namespaces[0] wildcard-namespace", "spec.rules[1].from[0] no-source",
	    "spec.rules[2] open-rule", "spec.rules[3].to no-source",
	    "spec.rules[4].from[0].source.trustDomains trust-domain-only", "spec.rules[4] open-rule" } },
};

static void test_cases(void)
{
	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		run_acase(&cases[i]);
}

/* The built-in defaults: requireSource is off, the rule denies, and it judges every namespace. */
static void test_defaults(void)
{
	struct policy *pol = policy_defaults_new();
	CHECK(pol != NULL);
	if (!pol)
		return;
	CHECK(!pol->require_source);
	CHECK_INT(pol->actions[RULE_AUTHZ_WILDCARD], ACTION_DENY);
	CHECK_INT(rule_authz_wildcard.default_action, ACTION_DENY);
	CHECK(!rule_authz_wildcard.workload_scoped);
	CHECK_INT(rule_authz_wildcard.kinds, KIND_BIT(K_AUTHORIZATIONPOLICY));
	CHECK(rule_by_name("authorization-policy-wildcard") == &rule_authz_wildcard);
	struct parsed p;
	parsed_open(&p, R("{" GET "},{}"), true);
	CHECK_INT(p.rc, 0);
	struct rule_ctx ctx;
	memset(&ctx, 0, sizeof(ctx));
	ctx.policy = pol;
	ctx.subject = &p.subj;
	struct violations vs;
	violations_init(&vs);
	vs.current = RULE_AUTHZ_WILDCARD;
	rule_authz_wildcard.check(&ctx, &vs);
	const char *want[] = { "spec.rules[1] open-rule" };
	check_set(&vs, want, 1);
	violations_release(&vs);
	parsed_close(&p);
	policy_unref(pol);
}

/* ---- messages ---- */

static const struct violation *find_cause(const struct violations *vs, const char *cause)
{
	for (size_t i = 0; i < vs->n; i++)
		if (strcmp(vs->v[i].cause, cause) == 0)
			return &vs->v[i];
	return NULL;
}

static void test_messages(void)
{
	struct parsed p;
	struct violations vs;
	parsed_open(&p, R("{'from':[{'source':{'namespaces':['a']}},{'source':{'notNamespaces':['b']}}],"
			  "'to':[{'operation':{'methods':['GET']}},{'operation':{'notPaths':['/x']}}]},"
			  "{},"
			  "{'from':[{'source':{'principals':['*','cluster.local/*','cluster\\n\\u0001\\\"x*'],"
			  "'namespaces':['*']}}]," GET "},"
			  "{'from':[{'source':{'trustDomains':['only.td','other.td']}}]," GET "}"),
		    true);
	CHECK_INT(p.rc, 0);
	run_rule(&p.subj, false, &vs);
	check_text(&vs);
	CHECK_INT(vs.n, 7);
	const struct violation *v = find_cause(&vs, "open-rule");
	if (v) {
		CHECK_STR(v->path, "spec.rules[0]");
		CHECK_CONTAINS(v->what, "from[1]");
		CHECK_CONTAINS(v->what, "to[1]");
	}
	if (vs.n > 1) {
		CHECK_STR(vs.v[1].path, "spec.rules[1]");
		CHECK_CONTAINS(vs.v[1].what, "empty rule");
	}
	v = find_cause(&vs, "wildcard-principal");
	CHECK(v != NULL);
	if (v) {
		CHECK_STR(v->what, "principal \"*\" admits any authenticated workload in the mesh");
		CHECK_CONTAINS(v->fix, "cluster.local/ns/<ns>/sa/<sa>");
	}
	v = find_cause(&vs, "principal-any-namespace");
	if (v) {
		CHECK_STR(v->path, "spec.rules[2].from[0].source.principals[1]");
		CHECK_CONTAINS(v->what, "\"cluster.local/*\"");
	}
	/* a hostile value is shown on one line, without quotes or control bytes */
	bool seen = false;
	for (size_t i = 0; i < vs.n; i++) {
		if (strcmp(vs.v[i].path, "spec.rules[2].from[0].source.principals[2]") == 0) {
			seen = true;
			CHECK_CONTAINS(vs.v[i].what, "\"cluster???x*\"");
		}
	}
	CHECK(seen);
	v = find_cause(&vs, "wildcard-namespace");
	if (v)
		CHECK_STR(v->what, "namespace \"*\" admits workloads of every namespace");
	v = find_cause(&vs, "trust-domain-only");
	if (v) {
		CHECK_STR(v->path, "spec.rules[3].from[0].source.trustDomains");
		CHECK_CONTAINS(v->what, "\"only.td\" (+1 more)");
	}
	violations_release(&vs);
	parsed_close(&p);

	/* a long non-ASCII value is cut at a character boundary */
	char json[600];
	size_t n = fmt_buf(json, sizeof(json), "{'spec':{'rules':[{'from':[{'source':{'principals':['");
	for (int i = 0; i < 100; i++)
		n += fmt_buf(json + n, sizeof(json) - n, "\xc3\xa9");
	fmt_buf(json + n, sizeof(json) - n, "*']}}]," GET "}]}}");
	parsed_open(&p, json, true);
	CHECK_INT(p.rc, 0);
	run_rule(&p.subj, false, &vs);
	CHECK_INT(vs.n, 1);
	if (vs.n == 1) {
		check_text(&vs);
		CHECK_CONTAINS(vs.v[0].what, "\xc3\xa9...\"");
	}
	violations_release(&vs);
	parsed_close(&p);
}

/* ---- decoding ---- */

static void test_decode_fields(void)
{
	struct parsed p;
	parsed_open(&p,
		    "{'apiVersion':'security.istio.io/v1','kind':'AuthorizationPolicy','metadata':{'name':'x'},"
		    "'spec':{'action':'CUSTOM','provider':{'name':'ext'},'selector':{'matchLabels':{'app':'a'}},"
		    "'targetRefs':[{'kind':'Gateway','name':'g'}],'rules':[{'from':[{'source':{"
		    "'principals':['p0','p1'],'notPrincipals':['np'],'requestPrincipals':['rp'],"
		    "'notRequestPrincipals':['nrp'],'namespaces':['ns'],'notNamespaces':['nns'],"
		    "'ipBlocks':['1.2.3.4'],'notIpBlocks':['5.6.7.8'],'remoteIpBlocks':['9.9.9.9'],"
		    "'notRemoteIpBlocks':['8.8.8.8'],'serviceAccounts':['a/b'],'notServiceAccounts':['c/d'],"
		    "'trustDomains':['td'],'notTrustDomains':['ntd'],'unknown':[1]}},{}],"
		    "'to':[{'operation':{'hosts':['h'],'notHosts':['nh'],'ports':['80'],'notPorts':['81'],"
		    "'methods':['GET'],'notMethods':['PUT'],'paths':['/a'],'notPaths':['/b']}}],"
		    "'when':[{'key':'k','values':['v'],'notValues':['nv']},{'key':'k2'}]},{}]}}",
		    true);
	CHECK_INT(p.rc, 0);
	const struct authz_view *ap = &p.subj.u.ap;
	CHECK(sv_eq(ap->action, "CUSTOM"));
	CHECK(sv_eq(ap->provider, "ext"));
	CHECK(ap->has_selector && ap->match_labels.obj != NULL);
	CHECK(ap->has_target_refs);
	CHECK(ap->has_rules);
	CHECK_INT(ap->n_rules, 2);
	if (ap->n_rules == 2) {
		const struct ap_rule *r = &ap->rules[0];
		CHECK(r->has_from && r->has_to && r->has_when);
		CHECK_INT(r->n_from, 2);
		CHECK_INT(r->n_to, 1);
		CHECK_INT(r->n_when, 2);
		const struct ap_source *s = &r->from[0];
		CHECK(s->present);
		CHECK(s->principals.present && s->principals.n == 2 && sv_eq(s->principals.v[1], "p1"));
		CHECK(sv_eq(s->not_principals.v[0], "np"));
		CHECK(sv_eq(s->request_principals.v[0], "rp"));
		CHECK(sv_eq(s->not_request_principals.v[0], "nrp"));
		CHECK(sv_eq(s->namespaces.v[0], "ns"));
		CHECK(sv_eq(s->not_namespaces.v[0], "nns"));
		CHECK(sv_eq(s->ip_blocks.v[0], "1.2.3.4"));
		CHECK(sv_eq(s->not_ip_blocks.v[0], "5.6.7.8"));
		CHECK(sv_eq(s->remote_ip_blocks.v[0], "9.9.9.9"));
		CHECK(sv_eq(s->not_remote_ip_blocks.v[0], "8.8.8.8"));
		CHECK(sv_eq(s->service_accounts.v[0], "a/b"));
		CHECK(sv_eq(s->not_service_accounts.v[0], "c/d"));
		CHECK(sv_eq(s->trust_domains.v[0], "td"));
		CHECK(sv_eq(s->not_trust_domains.v[0], "ntd"));
		CHECK(!r->from[1].present);
		const struct ap_operation *o = &r->to[0];
		CHECK(o->present);
		CHECK(sv_eq(o->hosts.v[0], "h") && sv_eq(o->not_hosts.v[0], "nh"));
		CHECK(sv_eq(o->ports.v[0], "80") && sv_eq(o->not_ports.v[0], "81"));
		CHECK(sv_eq(o->methods.v[0], "GET") && sv_eq(o->not_methods.v[0], "PUT"));
		CHECK(sv_eq(o->paths.v[0], "/a") && sv_eq(o->not_paths.v[0], "/b"));
		CHECK(sv_eq(r->when[0].key, "k"));
		CHECK(sv_eq(r->when[0].values.v[0], "v") && sv_eq(r->when[0].not_values.v[0], "nv"));
		CHECK(sv_eq(r->when[1].key, "k2") && !r->when[1].values.present);
		const struct ap_rule *r1 = &ap->rules[1];
		CHECK(!r1->has_from && !r1->has_to && !r1->has_when && r1->n_from == 0);
	}
	parsed_close(&p);

	parsed_open(&p, "{'spec':{'targetRef':{'kind':'Service','name':'s'},'action':null,'provider':null,"
			"'selector':null,'rules':[{'from':[],'to':null}]}}", true);
	CHECK_INT(p.rc, 0);
	CHECK(p.subj.u.ap.has_target_refs);
	CHECK(!p.subj.u.ap.action.present && !p.subj.u.ap.provider.present);
	CHECK(!p.subj.u.ap.has_selector);
	CHECK(p.subj.u.ap.n_rules == 1 && p.subj.u.ap.rules[0].has_from && !p.subj.u.ap.rules[0].has_to);
	parsed_close(&p);

	parsed_open(&p, "{'spec':{'selector':{}}}", true);
	CHECK_INT(p.rc, 0);
	CHECK(!p.subj.u.ap.has_selector && !p.subj.u.ap.has_rules && !p.subj.u.ap.has_target_refs);
	parsed_close(&p);

	/* called directly on something that is not an object */
	char buf[] = "[1]", err[128];
	struct jdoc doc;
	struct authz_view ap2;
	jdoc_init(&doc);
	CHECK_INT(json_parse(&doc, buf, strlen(buf), &jlimits_default, err, sizeof(err)), 0);
	CHECK_INT(authz_decode(&ap2, jdoc_root(&doc), &doc.arena, err, sizeof(err)), -1);
	CHECK_STR(err, "expected object, got array");
	CHECK_INT(authz_decode(&ap2, NULL, &doc.arena, err, sizeof(err)), -1);
	jdoc_release(&doc);
}

struct bad_case {
	const char *json;
	const char *err;
};

static const struct bad_case bad_cases[] = {
	{ "{'spec':'x'}", "spec: expected object, got string" },
	{ "{'spec':{'action':1}}", "spec.action: expected string, got number" },
	{ "{'spec':{'provider':'x'}}", "spec.provider: expected object, got string" },
	{ "{'spec':{'provider':{'name':[]}}}", "spec.provider.name: expected string, got array" },
	{ "{'spec':{'selector':'x'}}", "spec.selector: expected object, got string" },
	{ "{'spec':{'selector':{'matchLabels':[]}}}", "spec.selector.matchLabels: expected object, got array" },
	{ "{'spec':{'selector':{'matchLabels':{'app':'a','v':1}}}}", "spec.selector.matchLabels.v: expected string, got number" },
	{ "{'spec':{'targetRef':'x'}}", "spec.targetRef: expected object, got string" },
	{ "{'spec':{'targetRefs':{}}}", "spec.targetRefs: expected array, got object" },
	{ "{'spec':{'rules':{}}}", "spec.rules: expected array, got object" },
	{ "{'spec':{'rules':'x'}}", "spec.rules: expected array, got string" },
	{ "{'spec':{'rules':[{},'x']}}", "spec.rules[1]: expected object, got string" },
	{ "{'spec':{'rules':[null]}}", "spec.rules[0]: expected object, got null" },
	{ "{'spec':{'rules':[{'from':{}}]}}", "spec.rules[0].from: expected array, got object" },
	{ "{'spec':{'rules':[{'from':[{},3]}]}}", "spec.rules[0].from[1]: expected object, got number" },
	{ "{'spec':{'rules':[{'from':[{'source':[]}]}]}}", "spec.rules[0].from[0].source: expected object, got array" },
	{ "{'spec':{'rules':[{'from':[{},{'source':{'principals':'x'}}]}]}}",
	  "spec.rules[0].from[1].source.principals: expected array, got string" },
	{ "{'spec':{'rules':[{'from':[{},{'source':{'principals':['a','b',3]}}]}]}}",
	  "spec.rules[0].from[1].source.principals[2]: expected string, got number" },
	{ "{'spec':{'rules':[{'from':[{'source':{'principals':[null]}}]}]}}",
	  "spec.rules[0].from[0].source.principals[0]: expected string, got null" },
	{ "{'spec':{'rules':[{},{'from':[{'source':{'notTrustDomains':[true]}}]}]}}",
	  "spec.rules[1].from[0].source.notTrustDomains[0]: expected string, got boolean" },
	{ "{'spec':{'rules':[{'from':[{'source':{'ipBlocks':{}}}]}]}}",
	  "spec.rules[0].from[0].source.ipBlocks: expected array, got object" },
	{ "{'spec':{'rules':[{'to':'x'}]}}", "spec.rules[0].to: expected array, got string" },
	{ "{'spec':{'rules':[{'to':[[]]}]}}", "spec.rules[0].to[0]: expected object, got array" },
	{ "{'spec':{'rules':[{'to':[{'operation':1}]}]}}", "spec.rules[0].to[0].operation: expected object, got number" },
	{ "{'spec':{'rules':[{'to':[{'operation':{'paths':[{}]}}]}]}}",
	  "spec.rules[0].to[0].operation.paths[0]: expected string, got object" },
	{ "{'spec':{'rules':[{'to':[{'operation':{'ports':[8080]}}]}]}}",
	  "spec.rules[0].to[0].operation.ports[0]: expected string, got number" },
	{ "{'spec':{'rules':[{'to':[{'operation':{'notMethods':false}}]}]}}",
	  "spec.rules[0].to[0].operation.notMethods: expected array, got boolean" },
	{ "{'spec':{'rules':[{'when':{}}]}}", "spec.rules[0].when: expected array, got object" },
	{ "{'spec':{'rules':[{'when':['x']}]}}", "spec.rules[0].when[0]: expected object, got string" },
	{ "{'spec':{'rules':[{'when':[{'key':1}]}]}}", "spec.rules[0].when[0].key: expected string, got number" },
	{ "{'spec':{'rules':[{'when':[{'key':'k','values':'v'}]}]}}", "spec.rules[0].when[0].values: expected array, got string" },
	{ "{'spec':{'rules':[{'when':[{'key':'k','notValues':['a',2]}]}]}}",
	  "spec.rules[0].when[0].notValues[1]: expected string, got number" },
};

static void test_decode_errors(void)
{
	for (size_t i = 0; i < ARRAY_LEN(bad_cases); i++) {
		char name[96];
		fmt_buf(name, sizeof(name), "decode error: %s", bad_cases[i].err);
		test_begin(name);
		struct parsed p;
		parsed_open(&p, bad_cases[i].json, true);
		CHECK_INT(p.rc, -2);
		CHECK_STR(p.err, bad_cases[i].err);
		parsed_close(&p);
		test_end();
	}
}

/* Lines come from the jdoc (filled from YAML by posture check): every element keeps its own. */
static uint32_t fake_line(void *ctx, const json_t *node)
{
	(void)ctx;
	if (json_is_string(node))
		return 100 + (uint32_t)json_string_length(node);
	if (json_is_array(node))
		return 50 + (uint32_t)json_array_size(node);
	return 7;
}

static void test_lines(void)
{
	json_error_t jerr;
	json_t *root = json_loads("{\"spec\":{\"rules\":[{\"from\":[{\"source\":{\"principals\":[\"ab\",\"*\"],"
				  "\"trustDomains\":[\"abcd\"]}}]}, {}]}}", 0, &jerr);
	CHECK(root != NULL);
	if (!root)
		return;
	struct jdoc doc;
	jdoc_init(&doc);
	char err[256];
	CHECK_INT(jdoc_from_jansson(&doc, root, fake_line, NULL, err, sizeof(err)), 0);
	struct subject subj;
	memset(&subj, 0, sizeof(subj));
	subj.kind = K_AUTHORIZATIONPOLICY;
	CHECK_INT(authz_decode(&subj.u.ap, jdoc_root(&doc), &doc.arena, err, sizeof(err)), 0);
	const struct authz_view *ap = &subj.u.ap;
	CHECK_INT(ap->spec_line, 7);
	if (ap->n_rules == 2) {
		CHECK_INT(ap->rules[0].line, 7);
		CHECK_INT(ap->rules[0].from[0].principals.line, 52);
		CHECK_INT(ap->rules[0].from[0].principals.v[0].line, 102);
		CHECK_INT(ap->rules[0].from[0].principals.v[1].line, 101);
	}
	struct violations vs;
	run_rule(&subj, false, &vs);
	/* principals[1] "*" pins nothing, so the source is pinned only by trustDomains; rule 1 is {} */
	CHECK_INT(vs.n, 3);
	for (size_t i = 0; i < vs.n; i++) {
		if (strcmp(vs.v[i].cause, "wildcard-principal") == 0)
			CHECK_INT(vs.v[i].line, 101);
		else if (strcmp(vs.v[i].cause, "trust-domain-only") == 0)
			CHECK_INT(vs.v[i].line, 51);
		else
			CHECK_INT(vs.v[i].line, 7);
	}
	violations_release(&vs);
	jdoc_release(&doc);
	json_decref(root);
}

/* ---- the corpus: real policies and their expected verdicts ---- */

#define CORPUS_DIR "tests/fixtures/authz-corpus/"

/* The violations of each corpus policy whose verdict is deny, in the terms of its reason column. */
struct corpus_expect {
	const char *file;
	const char *want[MAX_WANT];
};

static const struct corpus_expect corpus_expect[] = {
	{ "api-proto-allow-all-foo.json", { "spec.rules[0] open-rule" } },
	{ "concepts-allow-all.json", { "spec.rules[0] open-rule" } },
	{ "istio-testdata-builder-allow-empty-rule.json", { "spec.rules[0] open-rule" } },
	/* rule[0].from[0] wildcard principal "*" */
	{ "concepts-httpbin-authenticated-principals-star.json",
	  { "spec.rules[0].from[0].source.principals[0] wildcard-principal" } },
	/* rule[0].from[1] namespace "*" */
	{ "istio-testdata-analyzer-httpbin-bogus-ns.json",
	  { "spec.rules[0].from[1].source.namespaces[4] wildcard-namespace" } },
	/* rule[1].from[0] principals "principal-prefix-*", "*-suffix-principal", "*"; namespace "*" */
	{ "istio-testdata-builder-allow-full-rule.json",
	  { "spec.rules[1].from[0].source.principals[1] principal-any-namespace",
	    "spec.rules[1].from[0].source.principals[2] principal-any-namespace",
	    "spec.rules[1].from[0].source.principals[3] wildcard-principal",
	    "spec.rules[1].from[0].source.namespaces[3] wildcard-namespace" } },
	/* rule[0].from[0] wildcard principal "*" (with no to, the rule is open too) */
	{ "istio-testdata-builder-simple-policy-principal-with-wildcard.json",
	  { "spec.rules[0].from[0].source.principals[0] wildcard-principal", "spec.rules[0] open-rule" } },
	/* rule[0].from[0] pinned only by trustDomains; rule[0].from[1] pins nothing, so rule[0] is open */
	{ "istio-testdata-builder-trust-domains.json",
	  { "spec.rules[0].from[0].source.trustDomains trust-domain-only", "spec.rules[0] open-rule" } },
};

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	char *b = xmalloc(cap);
	while (b) {
		size_t got = fread(b + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
		if (cap - n - 1 == 0) {
			char *nb = xrealloc(b, cap * 2);
			if (!nb) {
				xfree(b);
				b = NULL;
				break;
			}
			b = nb;
			cap *= 2;
		}
	}
	fclose(f);
	if (b)
		b[n] = '\0';
	*len = n;
	return b;
}

static void test_corpus(void)
{
	size_t len;
	char *tsv = read_file(CORPUS_DIR "verdicts.tsv", &len);
	test_begin("corpus: verdicts.tsv");
	CHECK(tsv != NULL);
	test_end();
	if (!tsv)
		return;
	int files = 0, denies = 0;
	bool used[ARRAY_LEN(corpus_expect)] = { false };
	for (char *line = tsv, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		char *tab = strchr(line, '\t');
		if (!tab)
			continue;
		*tab = '\0';
		const char *file = line, *verdict = tab + 1;
		char *tab2 = strchr(verdict, '\t');
		if (tab2)
			*tab2 = '\0';
		char name[160], path[256];
		fmt_buf(name, sizeof(name), "corpus: %s", file);
		fmt_buf(path, sizeof(path), CORPUS_DIR "%s", file);
		test_begin(name);
		files++;
		size_t jl;
		char *json = read_file(path, &jl);
		CHECK(json != NULL);
		if (json) {
			struct parsed p;
			parsed_open(&p, json, false);
			CHECK_INT(p.rc, 0);
			if (p.rc)
				fprintf(stderr, "  %s: %s\n", file, p.err);
			struct violations vs;
			run_rule(&p.subj, false, &vs);
			if (strcmp(verdict, "deny") == 0) {
				denies++;
				const struct corpus_expect *ce = NULL;
				for (size_t i = 0; i < ARRAY_LEN(corpus_expect); i++)
					if (strcmp(corpus_expect[i].file, file) == 0) {
						ce = &corpus_expect[i];
						used[i] = true;
					}
				CHECK(ce != NULL);
				CHECK(vs.n > 0);
				if (ce) {
					size_t n = 0;
					while (n < MAX_WANT && ce->want[n])
						n++;
					check_set(&vs, ce->want, n);
				}
			} else {
				CHECK_STR(verdict, "allow");
				if (vs.n) {
					test_current_failed = 1;
					dump(&vs);
				}
			}
			/* requireSource changes nothing for a policy with no rule lacking a source */
			violations_release(&vs);
			parsed_close(&p);
			xfree(json);
		}
		test_end();
	}
	test_begin("corpus: every policy and every expectation seen");
	CHECK_INT(files, 72);   /* 70 istio-authz files and 2 kyverno-istio AuthorizationPolicies */
	CHECK_INT(denies, (int)ARRAY_LEN(corpus_expect));
	for (size_t i = 0; i < ARRAY_LEN(corpus_expect); i++)
		CHECK(used[i]);
	test_end();
	xfree(tsv);
}

/* ---- hostile input ---- */

struct sbuf {
	char *p;
	size_t n, cap;
};

static void sb_add(struct sbuf *b, const char *s)
{
	size_t n = strlen(s);
	if (!b->p)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap * 2 + n + 1;
		char *np = xrealloc(b->p, cap);
		if (!np) {
			xfree(b->p);
			b->p = NULL;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n + 1);
	b->n += n;
}

static void big_case(const char *name, struct sbuf *b, bool rs, size_t want_min, size_t want_max,
		     uint64_t max_us)
{
	test_begin(name);
	CHECK(b->p != NULL);
	if (b->p) {
		uint64_t t0 = now_us();
		struct parsed p;
		parsed_open(&p, b->p, false);
		CHECK_INT(p.rc, 0);
		struct violations vs;
		run_rule(&p.subj, rs, &vs);
		uint64_t dt = now_us() - t0;
		CHECK(vs.n >= want_min && vs.n <= want_max);
		if (vs.n < want_min || vs.n > want_max)
			fprintf(stderr, "  %s: %zu violations\n", name, vs.n);
		CHECK(!vs.oom);
		if (dt > max_us)
			fprintf(stderr, "  %s: took %llu us\n", name, (unsigned long long)dt);
		CHECK(dt <= max_us);
		violations_release(&vs);
		parsed_close(&p);
	}
	xfree(b->p);
	test_end();
}

static void sb_init(struct sbuf *b)
{
	b->cap = 1 << 16;
	b->n = 0;
	b->p = xmalloc(b->cap);
	if (b->p)
		b->p[0] = '\0';
}

static void test_hostile(void)
{
	struct sbuf b;
	char item[64];
	/* sanitizers slow everything; these bounds catch quadratic blow-ups, not micro-costs */
	const uint64_t slow = 20u * 1000 * 1000;

	sb_init(&b);
	sb_add(&b, "{\"spec\":{\"rules\":[{\"from\":[{\"source\":{\"principals\":[");
	for (int i = 0; i < 10000; i++)
		sb_add(&b, i ? ",\"*\"" : "\"*\"");
	sb_add(&b, "]}}]}]}}");
	big_case("hostile: 10,000 principals *", &b, false, 1001, 1002, slow);

	sb_init(&b);
	sb_add(&b, "{\"spec\":{\"rules\":[{\"from\":[{\"source\":{\"principals\":[");
	for (int i = 0; i < 100000; i++) {
		fmt_buf(item, sizeof(item), "%s\"cluster.local/ns/n%d/sa/s\"", i ? "," : "", i);
		sb_add(&b, item);
	}
	sb_add(&b, "]}}]}]}}");
	big_case("hostile: 100,000 literal principals", &b, true, 0, 0, slow);

	sb_init(&b);
	sb_add(&b, "{\"spec\":{\"rules\":[");
	for (int i = 0; i < 10000; i++)
		sb_add(&b, i ? ",{}" : "{}");
	sb_add(&b, "]}}");
	big_case("hostile: 10,000 empty rules", &b, true, 1001, 1001, slow);

	/* 16,384 /14 blocks in a scrambled order cover IPv4: one open rule */
	sb_init(&b);
	sb_add(&b, "{\"spec\":{\"rules\":[{\"from\":[{\"source\":{\"ipBlocks\":[");
	for (unsigned i = 0; i < 16384; i++) {
		unsigned k = (i * 7919u) % 16384u;   /* a permutation: 7919 is odd */
		unsigned a = k << 18;                /* the block's 14 bits, as bits 31..18 */
		fmt_buf(item, sizeof(item), "%s\"%u.%u.%u.0/14\"", i ? "," : "", a >> 24, (a >> 16) & 255,
			(a >> 8) & 255);
		sb_add(&b, item);
	}
	sb_add(&b, "]}}]}]}}");
	big_case("hostile: 16,384 blocks covering IPv4", &b, false, 1, 1, slow);

	/* 100,000 IPv6 /128 addresses: not a cover */
	sb_init(&b);
	sb_add(&b, "{\"spec\":{\"rules\":[{\"from\":[{\"source\":{\"remoteIpBlocks\":[");
	for (unsigned i = 0; i < 100000; i++) {
		fmt_buf(item, sizeof(item), "%s\"2001:db8::%x:%x\"", i ? "," : "", i >> 16, i & 0xffff);
		sb_add(&b, item);
	}
	sb_add(&b, "]}}]}]}}");
	big_case("hostile: 100,000 IPv6 addresses", &b, false, 0, 0, slow);

	/* 10,000 sources of 10 trust domains each, and 10,000 operations */
	sb_init(&b);
	sb_add(&b, "{\"spec\":{\"rules\":[{\"from\":[");
	for (int i = 0; i < 10000; i++)
		sb_add(&b, i ? ",{\"source\":{\"namespaces\":[\"a\"],\"trustDomains\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\"]}}"
			     : "{\"source\":{\"namespaces\":[\"a\"],\"trustDomains\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\"]}}");
	sb_add(&b, "],\"to\":[");
	for (int i = 0; i < 10000; i++)
		sb_add(&b, i ? ",{\"operation\":{\"paths\":[\"/a\"]}}" : "{\"operation\":{\"paths\":[\"/a\"]}}");
	sb_add(&b, "]}]}}");
	big_case("hostile: 10,000 sources and operations", &b, true, 0, 0, slow);
}

/* ---- running out of memory at every allocation ---- */

static void test_alloc_failures(void)
{
	const char *json = R("{'from':[{'source':{'principals':['*','cluster.local/*'],'namespaces':['*'],"
			     "'trustDomains':['td'],'ipBlocks':['0.0.0.0/2','64.0.0.0/2','128.0.0.0/2','192.0.0.0/3',"
			     "'224.0.0.0/4','240.0.0.0/5','248.0.0.0/6','252.0.0.0/7','254.0.0.0/8','255.0.0.0/8',"
			     "'1.1.1.1','2.2.2.2','3.3.3.3','4.4.4.4','5.5.5.5','6.6.6.6','7.7.7.7','8.8.8.8']}}]}"
			     ",{},{" GET "}");
	bool clean_run = false;
	for (long nth = 1; nth < 2000 && !clean_run; nth++) {
		xalloc_fail_at(nth);
		struct parsed p;
		parsed_open(&p, json, true);
		if (p.rc == 0) {
			struct violations vs;
			run_rule(&p.subj, true, &vs);
			violations_release(&vs);
		}
		parsed_close(&p);
		clean_run = !xalloc_failed();
	}
	xalloc_fail_at(0);
	test_begin("alloc failures: every allocation failed once without a crash or a leak");
	CHECK(clean_run);
	test_end();
}

int main(void)
{
	test_cases();
	RUN(test_defaults);
	RUN(test_messages);
	RUN(test_decode_fields);
	test_decode_errors();
	RUN(test_lines);
	test_corpus();
	test_hostile();
	test_alloc_failures();
	return test_summary("authz");
}
