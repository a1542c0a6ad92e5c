/* test_corpus.c - real AdmissionReviews from other projects (tests/corpus/admission-reviews),
 * posted as to /validate/namespace/sidecar, give the verdicts of their expected.tsv; rows marked
 * unsure where posture decides otherwise are in tests/fixtures/corpus-overrides.tsv with the
 * reason. */
#include <stdio.h>
#include <stdlib.h>

#include "review.h"
#include "test.h"

#define DIR_REVIEWS "tests/corpus/admission-reviews"

/* Split a TSV line in place into at most max fields. */
static int split_tsv(char *line, char **fields, int max)
{
	int n = 0;
	char *p = line;
	line[strcspn(line, "\r\n")] = 0;
	while (n < max) {
		fields[n++] = p;
		char *tab = strchr(p, '\t');
		if (!tab)
			break;
		*tab = 0;
		p = tab + 1;
	}
	return n;
}

/* Is ",item," in ",list,"? */
static bool in_list(const char *list, const char *item, size_t n)
{
	for (const char *p = list; *p;) {
		size_t l = strcspn(p, ",");
		if (l == n && memcmp(p, item, n) == 0)
			return true;
		p += l;
		if (*p == ',')
			p++;
	}
	return false;
}

/* "a,b" vs the rule ids found ("x,y"): the same set. "-" is the empty set. */
static bool same_rules(const char *want, const char *got)
{
	if (strcmp(want, "-") == 0)
		want = "";
	for (int pass = 0; pass < 2; pass++) {
		const char *a = pass ? got : want, *b = pass ? want : got;
		for (const char *p = a; *p;) {
			size_t l = strcspn(p, ",");
			if (!in_list(b, p, l))
				return false;
			p += l;
			if (*p == ',')
				p++;
		}
	}
	return true;
}

static void rule_list(const struct review_result *res, int outcome, char *out, size_t size)
{
	size_t n = 0;
	out[0] = 0;
	for (int r = 0; r < RULE_COUNT; r++)
		if (res->rule_counts[r][outcome])
			n += fmt_buf(out + n, size - n, "%s%s", n ? "," : "", rule_name((enum rule_id)r));
}

struct override {
	char file[128], verdict[16], rules[128], warn[128];
};

int main(void)
{
	struct override ov[16];
	int n_ov = 0;
	char line[4096];
	FILE *f = fopen("tests/fixtures/corpus-overrides.tsv", "r");
	if (f) {
		if (!fgets(line, sizeof line, f))
			line[0] = 0;
		while (n_ov < 16 && fgets(line, sizeof line, f)) {
			char *c[5];
			if (split_tsv(line, c, 5) < 4)
				continue;
			fmt_buf(ov[n_ov].file, sizeof ov[0].file, "%s", c[0]);
			fmt_buf(ov[n_ov].verdict, sizeof ov[0].verdict, "%s", c[1]);
			fmt_buf(ov[n_ov].rules, sizeof ov[0].rules, "%s", c[2]);
			fmt_buf(ov[n_ov].warn, sizeof ov[0].warn, "%s", c[3]);
			n_ov++;
		}
		fclose(f);
	}
	f = fopen(DIR_REVIEWS "/expected.tsv", "r");
	test_begin("expected.tsv readable");
	CHECK(f != NULL);
	test_end();
	if (!f)
		return test_summary("corpus-reviews");
	struct policy *pol = policy_defaults_new();
	struct nsmode mode = { INJ_SIDECAR, false };
	int rows = 0;
	if (!fgets(line, sizeof line, f))   /* header */
		line[0] = 0;
	while (fgets(line, sizeof line, f)) {
		char *c[10];
		if (split_tsv(line, c, 10) < 8)
			continue;
		const char *file = c[0], *verdict = c[5], *rules = c[6], *warn = c[7];
		for (int i = 0; i < n_ov; i++)
			if (strcmp(ov[i].file, file) == 0) {
				verdict = ov[i].verdict;
				rules = ov[i].rules;
				warn = ov[i].warn;
			}
		char path[512], err[256];
		fmt_buf(path, sizeof path, "%s/%s", DIR_REVIEWS, file);
		test_begin(file);
		rows++;
		size_t len;
		char *body = file_read(path, 1 << 24, &len, err, sizeof err);
		CHECK(body != NULL);
		if (!body) {
			test_end();
			continue;
		}
		struct buf out;
		struct review_result res;
		buf_init(&out, 1 << 20);
		review_handle(pol, body, len, mode, sv_null, &out, &res);
		if (strcmp(verdict, "http400") == 0) {
			CHECK_INT(res.http_status, 400);
		} else {
			CHECK_INT(res.http_status, 200);
			CHECK(res.allowed == (strcmp(verdict, "allow") == 0));
			char got[256];
			rule_list(&res, OUT_DENY, got, sizeof got);
			if (!same_rules(rules, got))
				fprintf(stderr, "%s: deny rules %s, expected %s\n", file, got, rules);
			CHECK(same_rules(rules, got));
			rule_list(&res, OUT_WARN, got, sizeof got);
			if (!same_rules(warn, got))
				fprintf(stderr, "%s: warning rules %s, expected %s\n", file, got, warn);
			CHECK(same_rules(warn, got));
		}
		buf_release(&out);
		xfree(body);
		test_end();
	}
	fclose(f);
	test_begin("41 corpus reviews");
	CHECK_INT(rows, 41);
	test_end();
	policy_unref(pol);
	return test_summary("corpus-reviews");
}
