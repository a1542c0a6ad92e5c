/* authz_wildcard.c - rule authorization-policy-wildcard: open ALLOW rules, wildcard identities. */
#include "rules.h"

/* Past this many violations in one policy the rest are summed up in one last violation: a hostile
 * policy of 100,000 `{}` rules must not cost 100,000 violations of ~800 bytes each. */
#define AW_MAX_VIOLATIONS 1000

struct aw {
	struct violations *out;
	size_t n;        /* violations reported by this run */
	size_t dropped;  /* past AW_MAX_VIOLATIONS */
};

static void aw_add(struct aw *a, const char *path, uint32_t line, const char *cause,
		   const char *fix, const char *what)
{
	if (a->n >= AW_MAX_VIOLATIONS) {
		a->dropped++;
		return;
	}
	a->n++;
	violation_add(a->out, path, line, cause, fix, "%s", what);
}

/* A user's value, quoted safely for a one-line message: control bytes become '?', and long values
 * are cut at a UTF-8 character boundary with "...". */
static void aw_show(struct sv s, char *buf, size_t size)
{
	size_t max = size - 4, n = 0;
	bool cut = s.n > size - 1;
	size_t lim = cut ? max : s.n;
	if (cut)
		while (lim > 0 && ((unsigned char)s.p[lim] & 0xC0) == 0x80)
			lim--;
	for (size_t i = 0; i < lim; i++) {
		unsigned char c = (unsigned char)s.p[i];
		buf[n++] = (c < 0x20 || c == 0x7f || c == '"' || c == '\\') ? '?' : (char)c;
	}
	if (cut) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
}

/* ---- CIDR blocks ---- */

struct u128 {
	uint64_t hi, lo;
};

static int u128_cmp(struct u128 a, struct u128 b)
{
	if (a.hi != b.hi)
		return a.hi < b.hi ? -1 : 1;
	if (a.lo != b.lo)
		return a.lo < b.lo ? -1 : 1;
	return 0;
}

struct block {
	unsigned fam;            /* 4 or 6 */
	struct u128 start, end;  /* inclusive; IPv4 in the low 32 bits */
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Dotted quad, exactly n bytes. Leading zeros are accepted (parsing more than Istio accepts can
 * only turn a catch-all that Istio would reject anyway into a violation). */
static bool parse_v4(const char *s, size_t n, uint32_t *out)
{
	uint32_t v = 0;
	size_t i = 0;
	for (int part = 0; part < 4; part++) {
		if (part > 0) {
			if (i >= n || s[i] != '.')
				return false;
			i++;
		}
		unsigned x = 0, digits = 0;
		while (i < n && is_digit(s[i]) && digits < 4) {
			x = x * 10 + (unsigned)(s[i] - '0');
			i++;
			digits++;
		}
		if (digits == 0 || digits > 3 || x > 255)
			return false;
		v = v << 8 | x;
	}
	if (i != n)
		return false;
	*out = v;
	return true;
}

/* RFC 4291 text: hex groups, at most one "::", an optional dotted-quad tail. */
static bool parse_v6(const char *s, size_t n, struct u128 *out)
{
	uint16_t g[8];
	int ng = 0, gap = -1;   /* gap: index in g where "::" stands */
	size_t i = 0;
	if (n >= 2 && s[0] == ':' && s[1] == ':') {
		gap = 0;
		i = 2;
	} else if (n > 0 && s[0] == ':') {
		return false;
	}
	while (i < n) {
		size_t j = i;
		unsigned v = 0;
		while (j < n && j - i < 5 && hex_val(s[j]) >= 0) {
			v = v << 4 | (unsigned)hex_val(s[j]);
			j++;
		}
		if (j < n && s[j] == '.') {   /* IPv4 tail: the last 32 bits */
			uint32_t v4;
			if (ng > 6 || !parse_v4(s + i, n - i, &v4))
				return false;
			g[ng++] = (uint16_t)(v4 >> 16);
			g[ng++] = (uint16_t)(v4 & 0xffff);
			i = n;
			break;
		}
		if (j == i || j - i > 4 || ng >= 8)
			return false;
		g[ng++] = (uint16_t)v;
		i = j;
		if (i == n)
			break;
		if (s[i] != ':')
			return false;
		i++;
		if (i < n && s[i] == ':') {
			if (gap >= 0)
				return false;
			gap = ng;
			i++;
		} else if (i == n) {
			return false;   /* a trailing single ':' */
		}
	}
	if (gap >= 0 ? ng > 7 : ng != 8)
		return false;
	uint16_t full[8] = { 0 };
	if (gap < 0) {
		memcpy(full, g, sizeof(full));
	} else {
		int tail = ng - gap;
		for (int k = 0; k < gap; k++)
			full[k] = g[k];
		for (int k = 0; k < tail; k++)
			full[8 - tail + k] = g[gap + k];
	}
	out->hi = out->lo = 0;
	for (int k = 0; k < 4; k++) {
		out->hi = out->hi << 16 | full[k];
		out->lo = out->lo << 16 | full[4 + k];
	}
	return true;
}

/* A block as Istio writes it: an address (a /32 or /128) or address/prefix. false when the text is
 * not one: such a value is not a catch-all, so it pins. */
static bool parse_block(struct sv s, struct block *b)
{
	const char *slash = memchr(s.p, '/', s.n);
	size_t alen = slash ? (size_t)(slash - s.p) : s.n;
	struct u128 a = { 0, 0 };
	uint32_t v4;
	unsigned bits;
	if (parse_v4(s.p, alen, &v4)) {
		b->fam = 4;
		a.lo = v4;
		bits = 32;
	} else if (parse_v6(s.p, alen, &a)) {
		b->fam = 6;
		bits = 128;
	} else {
		return false;
	}
	unsigned len = bits;
	if (slash) {
		size_t i = alen + 1, digits = 0;
		len = 0;
		while (i < s.n && is_digit(s.p[i]) && digits < 4) {
			len = len * 10 + (unsigned)(s.p[i] - '0');
			i++;
			digits++;
		}
		if (digits == 0 || digits > 3 || i != s.n || len > bits)
			return false;
	}
	/* host mask: the low (bits - len) bits of the family's range */
	unsigned host = bits - len;
	struct u128 m = { 0, 0 };
	if (host >= 64) {
		m.lo = ~(uint64_t)0;
		m.hi = host >= 128 ? ~(uint64_t)0 : (((uint64_t)1 << (host - 64)) - 1);
	} else {
		m.lo = host ? (((uint64_t)1 << host) - 1) : 0;
	}
	b->start.hi = a.hi & ~m.hi;
	b->start.lo = a.lo & ~m.lo;
	b->end.hi = a.hi | m.hi;
	b->end.lo = a.lo | m.lo;
	if (b->fam == 4) {   /* the v4 range lives in 32 bits */
		b->start.hi = b->end.hi = 0;
		b->start.lo &= 0xffffffffu;
		b->end.lo &= 0xffffffffu;
	}
	return true;
}

static int block_cmp(const struct block *a, const struct block *b)
{
	if (a->fam != b->fam)
		return a->fam < b->fam ? -1 : 1;
	return u128_cmp(a->start, b->start);
}

static void block_sift(struct block *bs, size_t root, size_t n)
{
	for (;;) {
		size_t child = 2 * root + 1;
		if (child >= n)
			return;
		if (child + 1 < n && block_cmp(&bs[child], &bs[child + 1]) < 0)
			child++;
		if (block_cmp(&bs[root], &bs[child]) >= 0)
			return;
		struct block t = bs[root];
		bs[root] = bs[child];
		bs[child] = t;
		root = child;
	}
}

/* Heapsort: O(n log n), in place, no recursion and no allocation behind our back (glibc's qsort
 * may malloc). */
static void blocks_sort(struct block *bs, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		block_sift(bs, i, n);
	for (size_t end = n; end-- > 1;) {
		struct block t = bs[0];
		bs[0] = bs[end];
		bs[end] = t;
		block_sift(bs, 0, end);
	}
}

/* Do the blocks of one family (sorted by start, bs[0..n)) together cover the family's space? */
static bool blocks_cover(const struct block *bs, size_t n, unsigned fam)
{
	struct u128 max = fam == 4 ? (struct u128){ 0, 0xffffffffu }
				   : (struct u128){ ~(uint64_t)0, ~(uint64_t)0 };
	struct u128 next = { 0, 0 };   /* lowest address not yet covered */
	for (size_t i = 0; i < n; i++) {
		if (u128_cmp(bs[i].start, next) > 0)
			return false;   /* a gap */
		if (u128_cmp(bs[i].end, next) >= 0) {
			if (u128_cmp(bs[i].end, max) == 0)
				return true;
			next = bs[i].end;
			if (++next.lo == 0)
				next.hi++;
		}
	}
	return false;
}

/* true when the list of blocks admits every address of one family: a bare "*", a /0, or blocks
 * that together cover all of IPv4 or all of IPv6. Sets *oom when scratch memory ran out. */
static bool ip_catch_all(const struct strlist *l, bool *oom)
{
	struct block stack[16], *bs = stack;
	size_t nb = 0;
	if (l->n > ARRAY_LEN(stack)) {
		bs = xmalloc((size_t)l->n * sizeof(*bs));
		if (!bs) {
			*oom = true;
			return false;
		}
	}
	bool all = false;
	for (uint32_t i = 0; i < l->n && !all; i++) {
		if (sv_eq(l->v[i], "*")) {
			all = true;
			break;
		}
		struct block b;
		if (!parse_block(l->v[i], &b))
			continue;
		bool top = b.fam == 4 ? b.end.lo == 0xffffffffu
				      : (b.end.hi == ~(uint64_t)0 && b.end.lo == ~(uint64_t)0);
		if (b.start.hi == 0 && b.start.lo == 0 && top)
			all = true;   /* a /0 */
		bs[nb++] = b;
	}
	if (!all && nb > 1) {
		blocks_sort(bs, nb);
		size_t v6 = 0;
		while (v6 < nb && bs[v6].fam == 4)
			v6++;
		all = blocks_cover(bs, v6, 4) || blocks_cover(bs + v6, nb - v6, 6);
	}
	if (bs != stack)
		xfree(bs);
	return all;
}

/* ---- pinning ---- */

static bool list_has_star(const struct strlist *l)
{
	for (uint32_t i = 0; i < l->n; i++)
		if (sv_eq(l->v[i], "*"))
			return true;
	return false;
}

/* A list that narrows: set, not empty (Istio treats an empty list as unset), and without a bare
 * "*" (the values are ORed, so one "*" matches everything). */
static bool list_pins(const struct strlist *l)
{
	return l->present && l->n > 0 && !list_has_star(l);
}

static bool ip_list_pins(const struct strlist *l, bool *oom)
{
	return list_pins(l) && !ip_catch_all(l, oom);
}

/* The identity fields of a source that narrow it, trustDomains apart. requestPrincipals ["*"]
 * pins: it demands a valid JWT. */
static bool source_pins_besides_td(const struct ap_source *s, bool *oom)
{
	if (!s->present)
		return false;
	if (s->request_principals.present && s->request_principals.n > 0)
		return true;
	return list_pins(&s->principals) || list_pins(&s->namespaces) ||
	       list_pins(&s->service_accounts) || ip_list_pins(&s->ip_blocks, oom) ||
	       ip_list_pins(&s->remote_ip_blocks, oom);
}

static bool operation_pins(const struct ap_operation *o)
{
	if (!o->present)
		return false;
	if (list_pins(&o->hosts) || list_pins(&o->ports) || list_pins(&o->methods))
		return true;
	if (!list_pins(&o->paths))
		return false;
	for (uint32_t i = 0; i < o->paths.n; i++)
		if (sv_eq(o->paths.v[i], "/*"))
			return false;
	return true;
}

/* A condition pins through values that do not include a bare "*"; notValues alone pin nothing. */
static bool condition_pins(const struct ap_condition *c)
{
	return list_pins(&c->values);
}

/* "<td>/ns/<name>/..." with a non-empty <name> free of '*'. */
static bool principal_names_namespace(struct sv p)
{
	const char *slash = memchr(p.p, '/', p.n);
	if (!slash)
		return false;
	size_t i = (size_t)(slash - p.p) + 1;
	if (p.n - i < 3 || memcmp(p.p + i, "ns/", 3) != 0)
		return false;
	i += 3;
	size_t start = i;
	while (i < p.n && p.p[i] != '/') {
		if (p.p[i] == '*')
			return false;
		i++;
	}
	return i > start && i < p.n;
}

/* ---- the checks ---- */

static const char FIX_PRINCIPAL[] =
	"name the callers: \"cluster.local/ns/<ns>/sa/<sa>\", or remove the rule";
static const char FIX_OPEN[] = "pin the callers (principals, namespaces, ...) or the operations "
			       "(paths, methods, ...), or remove the rule";
static const char FIX_NO_SOURCE[] =
	"add from: [{source: {principals: [\"cluster.local/ns/<ns>/sa/<sa>\"]}}] naming the callers";

static void check_identities(struct aw *a, const struct ap_source *s, uint32_t ri, uint32_t fj,
			     bool *oom)
{
	char path[VIOL_PATH_MAX], val[56], what[VIOL_WHAT_MAX];
	for (uint32_t k = 0; k < s->principals.n; k++) {
		struct sv p = s->principals.v[k];
		if (!sv_contains_byte(p, '*'))
			continue;   /* exact: one identity at most */
		fmt_buf(path, sizeof(path), "spec.rules[%u].from[%u].source.principals[%u]", ri, fj, k);
		if (sv_eq(p, "*")) {
			aw_add(a, path, p.line, "wildcard-principal",
			       FIX_PRINCIPAL,
			       "principal \"*\" admits any authenticated workload in the mesh");
		} else if (!principal_names_namespace(p)) {
			aw_show(p, val, sizeof(val));
			fmt_buf(what, sizeof(what), "principal \"%s\" admits workloads of any namespace", val);
			aw_add(a, path, p.line, "principal-any-namespace",
			       "spell the namespace: \"<td>/ns/<ns>/sa/<sa>\", no * in <ns>",
			       what);
		}
	}
	for (uint32_t k = 0; k < s->namespaces.n; k++) {
		struct sv ns = s->namespaces.v[k];
		if (!sv_eq(ns, "*"))
			continue;
		fmt_buf(path, sizeof(path), "spec.rules[%u].from[%u].source.namespaces[%u]", ri, fj, k);
		aw_add(a, path, ns.line, "wildcard-namespace",
		       "list the callers' namespaces, or remove the rule",
		       "namespace \"*\" admits workloads of every namespace");
	}
	if (list_pins(&s->trust_domains) && !source_pins_besides_td(s, oom)) {
		fmt_buf(path, sizeof(path), "spec.rules[%u].from[%u].source.trustDomains", ri, fj);
		aw_show(s->trust_domains.v[0], val, sizeof(val));
		if (s->trust_domains.n > 1)
			fmt_buf(what, sizeof(what),
				"source pinned only by trustDomains admits every workload of trust domain "
				"\"%s\" (+%u more)", val, s->trust_domains.n - 1);
		else
			fmt_buf(what, sizeof(what),
				"source pinned only by trustDomains admits every workload of trust domain \"%s\"",
				val);
		aw_add(a, path, s->trust_domains.line, "trust-domain-only",
		       "name the callers too: principals or namespaces, or remove the source", what);
	}
}

static bool source_pins(const struct ap_source *s, bool *oom)
{
	return source_pins_besides_td(s, oom) || (s->present && list_pins(&s->trust_domains));
}

static void check_rule(struct aw *a, const struct ap_rule *r, uint32_t ri, bool require_source,
		       bool *oom)
{
	char path[VIOL_PATH_MAX], what[VIOL_WHAT_MAX], who[32], ops[32];

	for (uint32_t j = 0; j < r->n_from; j++)
		check_identities(a, &r->from[j], ri, j, oom);

	/* the caller side: no from, or the first source that pins nothing */
	bool any_caller = r->n_from == 0;
	uint32_t open_from = 0;
	for (uint32_t j = 0; j < r->n_from && !any_caller; j++) {
		if (!source_pins(&r->from[j], oom)) {
			any_caller = true;
			open_from = j;
		}
	}
	bool any_op = r->n_to == 0;
	uint32_t open_to = 0;
	for (uint32_t j = 0; j < r->n_to && !any_op; j++) {
		if (!operation_pins(&r->to[j])) {
			any_op = true;
			open_to = j;
		}
	}
	bool when_pins = false;
	for (uint32_t k = 0; k < r->n_when && !when_pins; k++)
		when_pins = condition_pins(&r->when[k]);

	if (any_caller && any_op && !when_pins) {
		fmt_buf(path, sizeof(path), "spec.rules[%u]", ri);
		if (r->n_from == 0 && r->n_to == 0 && r->n_when == 0) {
			aw_add(a, path, r->line, "open-rule",
			       "remove the rule (a policy with no rules admits nothing), or name the callers in from",
			       "empty rule {} admits every request from any caller, authenticated or not");
			return;
		}
		if (r->n_from)
			fmt_buf(who, sizeof(who), "from[%u] pins no caller", open_from);
		else
			fmt_buf(who, sizeof(who), "no from");
		if (r->n_to)
			fmt_buf(ops, sizeof(ops), "to[%u] pins no operation", open_to);
		else
			fmt_buf(ops, sizeof(ops), "no to");
		fmt_buf(what, sizeof(what), "rule admits any caller to any operation (%s; %s%s)", who, ops,
			r->n_when ? "; when pins nothing" : "");
		aw_add(a, path, r->line, "open-rule", FIX_OPEN, what);
		return;
	}

	if (require_source && any_caller) {
		uint32_t line = r->line;
		if (r->n_from) {
			fmt_buf(path, sizeof(path), "spec.rules[%u].from[%u]", ri, open_from);
			line = r->from[open_from].line;
			fmt_buf(what, sizeof(what),
				"from[%u] pins no caller, so anyone may make these requests (requireSource is on)",
				open_from);
		} else {
			if (r->n_to) {
				fmt_buf(path, sizeof(path), "spec.rules[%u].to", ri);
				line = r->to[0].line;
			} else {
				fmt_buf(path, sizeof(path), "spec.rules[%u].when", ri);
				line = r->when[0].line;
			}
			fmt_buf(what, sizeof(what), "%s",
				"rule has no from: anyone, authenticated or not, may make these requests "
				"(requireSource is on)");
		}
		aw_add(a, path, line, "no-source", FIX_NO_SOURCE, what);
	}
}

/* True when the action is judged: unset or ALLOW. DENY, AUDIT and CUSTOM never are; any other
 * (invalid) spelling is judged, erring on the side of a denial Istio's schema would give anyway. */
static bool action_judged(struct sv action)
{
	return !(sv_eq(action, "DENY") || sv_eq(action, "AUDIT") || sv_eq(action, "CUSTOM"));
}

/* Report every open rule, wildcard identity and (with requireSource) sourceless rule of an ALLOW
 * AuthorizationPolicy. Reads ctx->subject->u.ap (borrowed) and ctx->policy->require_source. */
static void authz_wildcard_check(const struct rule_ctx *ctx, struct violations *out)
{
	if (!ctx->subject || ctx->subject->kind != K_AUTHORIZATIONPOLICY)
		return;
	const struct authz_view *ap = &ctx->subject->u.ap;
	if (!action_judged(ap->action) || ap->n_rules == 0)
		return;
	bool require_source = ctx->policy && ctx->policy->require_source;
	struct aw a = { out, 0, 0 };
	bool oom = false;
	for (uint32_t i = 0; i < ap->n_rules; i++)
		check_rule(&a, &ap->rules[i], i, require_source, &oom);
	if (a.dropped) {
		char what[VIOL_WHAT_MAX];
		fmt_buf(what, sizeof(what), "%zu more violations not listed (the first %d are)", a.dropped,
			AW_MAX_VIOLATIONS);
		violation_add(out, "spec.rules", ap->spec_line, "too-many-violations",
			      "fix the violations listed, then check again", "%s", what);
	}
	if (oom)
		out->oom = true;
}

const struct rule_def rule_authz_wildcard = {
	.id = RULE_AUTHZ_WILDCARD,
	.name = "authorization-policy-wildcard",
	.summary = "ALLOW AuthorizationPolicies admit neither anyone to anything nor wildcard identities",
	.kinds = KIND_BIT(K_AUTHORIZATIONPOLICY),
	.workload_scoped = false,
	.default_action = ACTION_DENY,
	.check = authz_wildcard_check,
};
