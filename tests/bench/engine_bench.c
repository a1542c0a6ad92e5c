/* engine_bench.c - micro-benchmark of a review without TLS or HTTP: review_handle() over each body
 * (decode, judge, encode), posture's JSON parser alone, and jansson's json_loadb on the same bytes.
 *
 * usage: engine_bench [--policy FILE] [--mode sidecar] [--runs 7] [--min-ms 200] BODY...
 *
 * review_handle parses in place, so every iteration first copies the body into a scratch buffer;
 * the copy is timed on its own and subtracted (reported apart). Each figure is the median of
 * --runs runs, each run long enough (--min-ms) for the clock not to matter. Allocations per review
 * come from the allocation hooks in util.h (xalloc_count, xalloc_bytes), jansson included (it is
 * pointed at them), counted over one review after warm-up; bytes are the sizes asked for.
 *
 * Time is the thread's CPU time (CLOCK_THREAD_CPUTIME_ID), not wall time, so other processes on
 * a busy machine do not add their time slices to ours (they still share the caches).
 *
 * Output: a line per body on stdout, "ENGINE_RESULT {...}", and a readable table on stderr. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "json.h"
#include "policy.h"
#include "review.h"

#define BODY_MAX ((size_t)64 << 20)
#define MAX_RUNS 51

struct opts {
	const char *policy_file;
	struct nsmode mode;
	unsigned runs;
	double min_ms;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* keep the compiler from dropping work whose result is unused */
static inline void clobber(const void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

enum work { W_COPY, W_REVIEW, W_PARSE, W_JANSSON };

struct ctx {
	const struct policy *pol;
	struct nsmode mode;
	const char *body;
	size_t len;
	char *scratch;
	struct review_result res;
	int last_status;
	bool failed;
};

/* One iteration of w (each includes the copy into the scratch buffer, so W_COPY is the baseline). */
static void step(struct ctx *c, enum work w)
{
	memcpy(c->scratch, c->body, c->len);
	c->scratch[c->len] = '\0';
	clobber(c->scratch);
	switch (w) {
	case W_COPY:
		break;
	case W_REVIEW: {
		struct buf out;
		buf_init(&out, BODY_MAX);
		review_handle(c->pol, c->scratch, c->len, c->mode, sv_null, &out, &c->res);
		c->last_status = c->res.http_status;
		clobber(out.data);
		buf_release(&out);
		break;
	}
	case W_PARSE: {
		struct jdoc doc;
		char err[256];
		jdoc_init(&doc);
		if (json_parse(&doc, c->scratch, c->len, &jlimits_default, err, sizeof err) < 0)
			c->failed = true;
		clobber(doc.nodes);
		jdoc_release(&doc);
		break;
	}
	case W_JANSSON: {
		json_error_t jerr;
		/* what the review decoder would need from jansson: strict, duplicate keys refused */
		json_t *root = json_loadb(c->body, c->len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
		if (!root)
			c->failed = true;
		clobber(root);
		json_decref(root);
		break;
	}
	}
}

struct figure {
	double ns_median, ns_min, ns_max;   /* per iteration */
	long allocs, bytes;                 /* per iteration (one, after warm-up) */
};

static struct figure measure(struct ctx *c, enum work w, const struct opts *o)
{
	struct figure f = { 0 };
	/* warm up and calibrate: iterations per run so a run lasts min_ms */
	uint64_t iters = 1, t0, dt;
	for (;;) {
		t0 = now_ns();
		for (uint64_t i = 0; i < iters; i++)
			step(c, w);
		dt = now_ns() - t0;
		if (dt >= (uint64_t)(o->min_ms * 1e6) / 4 || iters > (1u << 30))
			break;
		iters *= 2;
	}
	iters = (uint64_t)((double)iters * (o->min_ms * 1e6) / (double)(dt ? dt : 1)) + 1;
	double per[MAX_RUNS];
	for (unsigned r = 0; r < o->runs; r++) {
		t0 = now_ns();
		for (uint64_t i = 0; i < iters; i++)
			step(c, w);
		per[r] = (double)(now_ns() - t0) / (double)iters;
	}
	qsort(per, o->runs, sizeof per[0], cmp_double);
	f.ns_median = per[o->runs / 2];
	f.ns_min = per[0];
	f.ns_max = per[o->runs - 1];
	xalloc_fail_at(0);   /* resets the counters, fails nothing */
	step(c, w);
	f.allocs = xalloc_count();
	f.bytes = xalloc_bytes();
	return f;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

static void usage(FILE *to)
{
	fprintf(to, "usage: engine_bench [--policy FILE] [--mode MODE] [--runs N] [--min-ms MS] BODY...\n");
}

int main(int argc, char **argv)
{
	struct opts o = { NULL, { INJ_SIDECAR, false }, 7, 200 };
	int first_file = argc;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-') {
			first_file = i;
			break;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (i + 1 >= argc) {
			usage(stderr);
			return 2;
		}
		const char *v = argv[++i];
		char *end;
		errno = 0;
		if (strcmp(a, "--policy") == 0) {
			o.policy_file = v;
		} else if (strcmp(a, "--mode") == 0) {
			if (nsmode_parse(v, strlen(v), &o.mode) < 0) {
				fprintf(stderr, "engine_bench: --mode: unknown mode \"%s\"\n", v);
				return 2;
			}
		} else if (strcmp(a, "--runs") == 0) {
			unsigned long n = strtoul(v, &end, 10);
			if (errno || *end || n < 1 || n > MAX_RUNS) {
				fprintf(stderr, "engine_bench: --runs: 1..%d\n", MAX_RUNS);
				return 2;
			}
			o.runs = (unsigned)n;
		} else if (strcmp(a, "--min-ms") == 0) {
			o.min_ms = strtod(v, &end);
			if (errno || *end || !(o.min_ms >= 1 && o.min_ms <= 60000)) {
				fprintf(stderr, "engine_bench: --min-ms: 1..60000\n");
				return 2;
			}
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (first_file >= argc) {
		usage(stderr);
		return 2;
	}
	xalloc_install_jansson();
	char err[1024];
	struct policy *pol = o.policy_file ? policy_load(o.policy_file, err, sizeof err)
					   : policy_defaults_new();
	if (!pol) {
		fprintf(stderr, "engine_bench: %s\n", o.policy_file ? err : "out of memory");
		return 2;
	}
	fprintf(stderr, "%-20s %8s %10s %9s %9s %11s %10s %9s %11s %11s\n", "body", "bytes",
		"review_us", "allocs", "bytes", "jparse_us", "copy_us", "jansson", "j_allocs", "j_bytes");
	int rc = 0;
	for (int i = first_file; i < argc; i++) {
		size_t len;
		char *body = file_read(argv[i], BODY_MAX, &len, err, sizeof err);
		if (!body) {
			fprintf(stderr, "engine_bench: %s\n", err);
			rc = 2;
			continue;
		}
		struct ctx c = { pol, o.mode, body, len, xmalloc(len + 1), { 0 }, 0, false };
		if (!c.scratch) {
			fprintf(stderr, "engine_bench: out of memory\n");
			return 2;
		}
		struct figure copy = measure(&c, W_COPY, &o);
		struct figure rev = measure(&c, W_REVIEW, &o);
		int status = c.last_status;
		bool allowed = c.res.allowed;
		struct figure parse = measure(&c, W_PARSE, &o);
		struct figure jan = measure(&c, W_JANSSON, &o);
		if (c.failed || status != 200) {
			fprintf(stderr, "engine_bench: %s: not a usable review (HTTP %d: %s)\n", argv[i],
				status, c.res.error);
			rc = 1;
		}
		double cu = copy.ns_median / 1e3;
		double ru = rev.ns_median / 1e3 - cu, pu = parse.ns_median / 1e3 - cu;
		double ju = jan.ns_median / 1e3 - cu;
		fprintf(stderr, "%-20s %8zu %10.2f %9ld %9ld %11.2f %10.3f %9.2f %11ld %11ld\n",
			base_name(argv[i]), len, ru, rev.allocs, rev.bytes, pu, cu, ju, jan.allocs,
			jan.bytes);
		printf("ENGINE_RESULT {\"body\":\"%s\",\"bytes\":%zu,\"http_status\":%d,\"allowed\":%s,"
		       "\"runs\":%u,\"copy_us\":%.3f,"
		       "\"review_us\":%.3f,\"review_us_min\":%.3f,\"review_us_max\":%.3f,"
		       "\"review_allocs\":%ld,\"review_alloc_bytes\":%ld,"
		       "\"parse_us\":%.3f,\"parse_allocs\":%ld,\"parse_alloc_bytes\":%ld,"
		       "\"jansson_us\":%.3f,\"jansson_allocs\":%ld,\"jansson_alloc_bytes\":%ld}\n",
		       base_name(argv[i]), len, status, allowed ? "true" : "false", o.runs, cu, ru,
		       rev.ns_min / 1e3 - cu, rev.ns_max / 1e3 - cu, rev.allocs, rev.bytes, pu,
		       parse.allocs, parse.bytes, ju, jan.allocs, jan.bytes);
		fflush(stdout);
		xfree(c.scratch);
		xfree(body);
	}
	policy_unref(pol);
	return rc;
}
