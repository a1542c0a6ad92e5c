/* cli_review.c - `posture review`: judge one AdmissionReview from a file or stdin and print the
 * response the server would send. For debugging a verdict, and for tests. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "review.h"

#define REVIEW_MAX_BYTES (64u << 20)

static void usage(FILE *to)
{
	fprintf(to,
		"usage: posture review [FILE|-] [--namespace-mode MODE] [--policy FILE]\n"
		"\n"
		"Reads one AdmissionReview (admission.k8s.io/v1 or v1beta1) from FILE or stdin, judges it\n"
		"as the webhook would, and prints the response JSON.\n"
		"\n"
		"  --namespace-mode MODE  the namespace's enrolment, as the webhook's URL path says it:\n"
		"                         sidecar, disabled or none, each optionally /ambient\n"
		"                         (default none: what plain /validate assumes)\n"
		"  --policy FILE          policy file (default: built-in defaults, as policies/default.yaml)\n"
		"\n"
		"The webhook's own namespace comes from $POD_NAMESPACE, as in the server.\n"
		"Exit status: 0 allowed, 1 denied, 2 not a usable review (the reason the server would\n"
		"answer with HTTP 400) or a usage error.\n");
}

int cmd_review(int argc, char **argv)
{
	const char *file = "-", *policy_file = NULL;
	struct nsmode mode = { INJ_NONE, false };
	bool have_file = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--namespace-mode") == 0 || strcmp(a, "--policy") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "posture review: %s needs a value\n", a);
				return 2;
			}
			const char *val = argv[++i];
			if (a[2] == 'p') {
				policy_file = val;
			} else if (nsmode_parse(val, strlen(val), &mode) < 0) {
				fprintf(stderr, "posture review: --namespace-mode: unknown mode \"%s\" "
						"(sidecar, disabled, none, each optionally /ambient)\n", val);
				return 2;
			}
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "posture review: unknown flag %s (see --help)\n", a);
			return 2;
		} else if (!have_file) {
			file = a;
			have_file = true;
		} else {
			fprintf(stderr, "posture review: one review at a time (got %s and %s)\n", file, a);
			return 2;
		}
	}

	char err[512];
	struct policy *pol = policy_file ? policy_load(policy_file, err, sizeof err) : policy_defaults_new();
	if (!pol) {
		fprintf(stderr, "%s\n", policy_file ? err : "posture review: out of memory");
		return 2;
	}
	size_t len;
	char *body = file_read(file, REVIEW_MAX_BYTES, &len, err, sizeof err);
	if (!body) {
		fprintf(stderr, "posture review: %s\n", err);
		policy_unref(pol);
		return 2;
	}
	const char *own = getenv("POD_NAMESPACE");
	struct buf out;
	struct review_result res;
	buf_init(&out, 64u << 20);
	review_handle(pol, body, len, mode, own ? sv_cstr(own) : sv_null, &out, &res);
	int rc;
	if (res.http_status != 200) {
		fprintf(stderr, "posture review: %s: %s (HTTP %d)\n", strcmp(file, "-") ? file : "stdin",
			res.error, res.http_status);
		rc = 2;
	} else {
		fwrite(out.data, 1, out.len, stdout);
		fputc('\n', stdout);
		rc = res.allowed ? 0 : 1;
	}
	buf_release(&out);
	xfree(body);
	policy_unref(pol);
	return rc;
}
