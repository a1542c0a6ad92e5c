/* test_metrics.c - the Prometheus exposition: names, labels from closed sets, histogram sums. */
#include <stdio.h>

#include "metrics.h"
#include "test.h"

static char *render(void)
{
	static struct buf b;
	buf_release(&b);
	buf_init(&b, (size_t)1 << 20);
	metrics_render(&b);
	return (char *)buf_cstr(&b);
}

static void test_render(void)
{
	uint32_t counts[RULE_COUNT][4];
	memset(counts, 0, sizeof(counts));
	counts[RULE_DEFAULT_SERVICE_ACCOUNT][OUT_DENY] = 1;
	counts[RULE_MESH_INJECTION][OUT_WARN] = 2;
	metrics_review("Pod", "CREATE", false, counts, 40);        /* bucket 5e-05 */
	metrics_review("Pod", "CREATE", false, counts, 700);       /* bucket 0.001 */
	metrics_review("Deployment", "UPDATE", true, counts, 2000000);   /* past 1 s: +Inf only */
	metrics_review("Evil\"Kind\n", "PATCH", true, counts, 10); /* unknown: other */
	metrics_http_error(413);
	metrics_http_error(418);
	metrics_set_cert_expiry(1767225600);
	metrics_policy_reload(true);
	metrics_policy_reload(false);
	metrics_policy_reload(false);
	char *s = render();
	CHECK_CONTAINS(s, "# TYPE posture_admission_reviews_total counter\n");
	CHECK_CONTAINS(s, "posture_admission_reviews_total{kind=\"Pod\",operation=\"CREATE\",decision=\"deny\"} 2\n");
	CHECK_CONTAINS(s, "posture_admission_reviews_total{kind=\"Deployment\",operation=\"UPDATE\",decision=\"allow\"} 1\n");
	CHECK_CONTAINS(s, "posture_admission_reviews_total{kind=\"other\",operation=\"other\",decision=\"allow\"} 1\n");
	CHECK(strstr(s, "Evil") == NULL);
	CHECK_CONTAINS(s, "posture_rule_violations_total{rule=\"default-service-account\",action=\"deny\"} 4\n");
	CHECK_CONTAINS(s, "posture_rule_violations_total{rule=\"mesh-injection\",action=\"warn\"} 8\n");
	CHECK_CONTAINS(s, "# TYPE posture_admission_duration_seconds histogram\n");
	CHECK_CONTAINS(s, "posture_admission_duration_seconds_bucket{le=\"5e-05\"} 2\n");
	CHECK_CONTAINS(s, "posture_admission_duration_seconds_bucket{le=\"0.0005\"} 2\n");
	CHECK_CONTAINS(s, "posture_admission_duration_seconds_bucket{le=\"0.001\"} 3\n");
	CHECK_CONTAINS(s, "posture_admission_duration_seconds_bucket{le=\"1\"} 3\n");
	CHECK_CONTAINS(s, "posture_admission_duration_seconds_bucket{le=\"+Inf\"} 4\n");
	CHECK_CONTAINS(s, "posture_admission_duration_seconds_sum 2.000750\n");
	CHECK_CONTAINS(s, "posture_admission_duration_seconds_count 4\n");
	CHECK_CONTAINS(s, "posture_http_errors_total{code=\"413\"} 1\n");
	CHECK_CONTAINS(s, "posture_http_errors_total{code=\"other\"} 1\n");
	CHECK_CONTAINS(s, "posture_tls_certificate_expiry_timestamp_seconds 1767225600\n");
	CHECK_CONTAINS(s, "posture_policy_reloads_total{result=\"success\"} 1\n");
	CHECK_CONTAINS(s, "posture_policy_reloads_total{result=\"failure\"} 2\n");
	CHECK_CONTAINS(s, "posture_build_info{version=\"");
	/* every sample line has a # TYPE for its family above it */
	for (char *line = s; *line;) {
		char *nl = strchr(line, '\n');
		CHECK(nl != NULL);
		if (!nl)
			break;
		if (*line != '#') {
			char name[128];
			size_t n = strcspn(line, "{ ");
			CHECK(n < sizeof(name));
			fmt_buf(name, sizeof(name), "%.*s", (int)n, line);
			char *suffix = strstr(name, "_bucket");
			if (!suffix)
				suffix = strstr(name, "_sum");
			if (!suffix && strstr(name, "duration_seconds_count"))
				suffix = strstr(name, "_count");
			if (suffix)
				*suffix = '\0';
			char want[160];
			fmt_buf(want, sizeof(want), "# TYPE %s ", name);
			CHECK_CONTAINS(s, want);
		}
		line = nl + 1;
	}
	render();   /* frees */
}

int main(void)
{
	RUN(test_render);
	return test_summary("metrics");
}
