/* cli_policy.c - `posture policy check FILE`: validate a policy file and print ok with a summary,
 * or every error at FILE:LINE:COL (like `nginx -t`). */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "policy.h"
#include "rules.h"

#define POLICY_ERR_MAX (64u << 10)

static void usage(FILE *to)
{
	fprintf(to,
		"usage: posture policy check FILE|-\n"
		"\n"
		"Validates a policy file (apiVersion posture.dev/v1alpha1, kind PosturePolicy) as the\n"
		"webhook would load it. Prints\n"
		"  ok: FILE (N exemptions, rules: RULE=ACTION, ...)\n"
		"or every error, one a line, as FILE:LINE:COLUMN: what was expected. - reads stdin.\n"
		"\n"
		"Exit status: 0 valid, 2 invalid or a usage error.\n");
}

/* Standard input, at most the policy size limit plus one byte (so too big is seen). New
 * allocation, or NULL with a message in err. */
static char *read_stdin(size_t *len, char *err, size_t errlen)
{
	size_t cap = 16384, max = (1u << 20) + 1;
	char *data = xmalloc(cap);
	*len = 0;
	if (!data) {
		fmt_buf(err, errlen, "<stdin>: out of memory");
		return NULL;
	}
	for (;;) {
		if (*len == cap && cap < max) {
			char *bigger = xrealloc(data, cap * 2 > max ? max : cap * 2);
			if (!bigger) {
				fmt_buf(err, errlen, "<stdin>: out of memory");
				xfree(data);
				return NULL;
			}
			data = bigger;
			cap = cap * 2 > max ? max : cap * 2;
		}
		if (*len == cap)
			break;
		ssize_t n = read(0, data + *len, cap - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fmt_buf(err, errlen, "<stdin>: cannot read: %s", strerror(errno));
			xfree(data);
			return NULL;
		}
		if (n == 0)
			break;
		*len += (size_t)n;
	}
	return data;
}

int cmd_policy(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
	if (argc < 2 || strcmp(argv[1], "check") != 0) {
		if (argc >= 2)
			fprintf(stderr, "posture policy: unknown command '%s'\n", argv[1]);
		usage(stderr);
		return 2;
	}
	if (argc != 3) {
		fprintf(stderr, "posture policy check: expected one FILE\n");
		usage(stderr);
		return 2;
	}
	const char *file = argv[2];
	char *err = xmalloc(POLICY_ERR_MAX);
	if (!err) {
		fprintf(stderr, "posture policy check: out of memory\n");
		return 2;
	}
	err[0] = '\0';
	struct policy *p;
	if (strcmp(file, "-") == 0) {
		size_t len;
		char *data = read_stdin(&len, err, POLICY_ERR_MAX);
		p = data ? policy_load_mem("<stdin>", data, len, err, POLICY_ERR_MAX) : NULL;
		xfree(data);
		file = "<stdin>";
	} else {
		p = policy_load(file, err, POLICY_ERR_MAX);
	}
	if (!p) {
		size_t lines = 1;
		for (const char *s = err; *s; s++)
			lines += *s == '\n';
		fprintf(stderr, "%s\n", err);
		fprintf(stderr, "posture policy check: %s: test failed", file);
		if (!strstr(err, "... and "))
			fprintf(stderr, " (%zu error%s)", lines, lines == 1 ? "" : "s");
		fputc('\n', stderr);
		xfree(err);
		return 2;
	}
	printf("ok: %s (%zu exemption%s, rules:", file, p->n_exemptions,
	       p->n_exemptions == 1 ? "" : "s");
	for (size_t i = 0; i < RULE_COUNT; i++)
		printf("%s %s=%s", i ? "," : "", rule_name((enum rule_id)i), action_name(p->actions[i]));
	printf(")\n");
	policy_unref(p);
	xfree(err);
	return 0;
}
