/* test_log.c - log lines: one JSON object each, escaping, truncation, levels, the review line. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "review.h"
#include "test.h"

static FILE *capture;

/* Point the log at a fresh temporary file. */
static void capture_begin(void)
{
	capture = tmpfile();
	log_set_fd(fileno(capture));
}

/* Everything logged since capture_begin, as a new string. */
static char *capture_end(void)
{
	long n = ftell(capture);
	char *s = calloc(1, (size_t)n + 1);
	rewind(capture);
	if (n > 0 && fread(s, 1, (size_t)n, capture) != (size_t)n)
		s[0] = '\0';
	fclose(capture);
	log_set_fd(2);
	return s;
}

static void test_line_shape(void)
{
	capture_begin();
	struct log_line l;
	log_begin(&l, LOG_INFO, "hello %d", 42);
	log_str(&l, "k", "v");
	log_int(&l, "n", -7);
	log_uint(&l, "u", 7);
	log_bool(&l, "b", true);
	log_str(&l, "null", NULL);
	log_emit(&l);
	char *s = capture_end();
	CHECK(strncmp(s, "{\"time\":\"", 9) == 0);
	/* 2026-01-02T03:04:05.678Z */
	CHECK(strlen(s) > 33 && s[19] == 'T' && s[28] == '.' && s[32] == 'Z');
	CHECK_CONTAINS(s, "\",\"level\":\"info\",\"msg\":\"hello 42\",\"k\":\"v\",\"n\":-7,\"u\":7,\"b\":true,"
			  "\"null\":null}\n");
	CHECK_INT(strchr(s, '\n') - s + 1, (long long)strlen(s));
	free(s);
}

static void test_escaping(void)
{
	capture_begin();
	struct log_line l;
	log_begin(&l, LOG_WARN, "quote \" backslash \\ newline \n tab \t");
	log_strn(&l, "bin", "a\0b\x01\x7f", 5);
	log_str(&l, "utf8", "caf\xc3\xa9 \xe2\x9c\x93");
	log_str(&l, "bad", "x\xff\xc3(y\xed\xa0\x80z");
	log_emit(&l);
	char *s = capture_end();
	CHECK_CONTAINS(s, "\"msg\":\"quote \\\" backslash \\\\ newline \\u000a tab \\u0009\"");
	CHECK_CONTAINS(s, "\"bin\":\"a\\u0000b\\u0001\\u007f\"");
	CHECK_CONTAINS(s, "\"utf8\":\"caf\xc3\xa9 \xe2\x9c\x93\"");
	CHECK_CONTAINS(s, "\"bad\":\"x\\ufffd\\ufffd(y\\ufffd\\ufffd\\ufffdz\"");
	free(s);
}

static void test_truncation(void)
{
	capture_begin();
	static char big[3000];
	memset(big, 'a', sizeof(big) - 1);
	struct log_line l;
	log_begin(&l, LOG_ERROR, "big");
	log_str(&l, "one", big);
	log_str(&l, "two", big);   /* does not fit: dropped whole */
	log_int(&l, "three", 3);   /* after a truncation nothing more is added */
	log_emit(&l);
	char *s = capture_end();
	size_t n = strlen(s);
	CHECK(n <= LOG_LINE_MAX);
	CHECK_CONTAINS(s, "\"one\":\"aaa");
	CHECK(strstr(s, "\"two\"") == NULL);
	CHECK(strstr(s, "\"three\"") == NULL);
	CHECK(n > 20 && strcmp(s + n - 19, ",\"truncated\":true}\n") == 0);
	free(s);
}

static void test_levels(void)
{
	enum log_level lv;
	CHECK_INT(log_level_parse("warn", &lv), 0);
	CHECK_INT(lv, LOG_WARN);
	CHECK_INT(log_level_parse("verbose", &lv), -1);
	capture_begin();
	log_set_level(LOG_WARN);
	log_info("dropped");
	log_error("kept %s", "line");
	log_set_level(LOG_INFO);
	char *s = capture_end();
	CHECK(strstr(s, "dropped") == NULL);
	CHECK_CONTAINS(s, "\"level\":\"error\",\"msg\":\"kept line\"}");
	free(s);
}

static void test_review_line(void)
{
	struct review_result res;
	memset(&res, 0, sizeof(res));
	res.http_status = 200;
	fmt_buf(res.uid, sizeof(res.uid), "u-1");
	fmt_buf(res.kind, sizeof(res.kind), "Pod");
	fmt_buf(res.namespace, sizeof(res.namespace), "shop");
	fmt_buf(res.name, sizeof(res.name), "web");
	fmt_buf(res.operation, sizeof(res.operation), "CREATE");
	fmt_buf(res.rules, sizeof(res.rules), "default-service-account");
	fmt_buf(res.exemptions, sizeof(res.exemptions), "mesh-injection monitoring/DaemonSet/x: why");
	res.n_exempt = 1;
	res.n_warn = 2;
	res.dry_run = true;
	capture_begin();
	log_review(&res, "/validate", 123);
	char *s = capture_end();
	CHECK_CONTAINS(s, "\"msg\":\"review\",\"uid\":\"u-1\",\"kind\":\"Pod\",\"namespace\":\"shop\","
			  "\"name\":\"web\",\"operation\":\"CREATE\",\"dryRun\":true,\"decision\":\"deny\","
			  "\"rules\":\"default-service-account\",\"warnings\":2,"
			  "\"exemptions\":\"mesh-injection monitoring/DaemonSet/x: why\","
			  "\"path\":\"/validate\",\"latency_us\":123}\n");
	free(s);
}

/* A clean allow is a debug line; any finding or exemption makes it an info line. */
static void test_review_levels(void)
{
	struct review_result res;
	memset(&res, 0, sizeof(res));
	res.http_status = 200;
	res.allowed = true;
	fmt_buf(res.uid, sizeof(res.uid), "u-2");
	capture_begin();
	log_review(&res, "/validate", 5);          /* info: not shown */
	res.n_audit = 1;
	log_review(&res, "/validate", 6);          /* an audit finding: shown */
	res.n_audit = 0;
	res.n_exempt = 1;
	log_review(&res, "/validate", 7);          /* an exemption used: shown */
	res.n_exempt = 0;
	log_set_level(LOG_DEBUG);
	log_review(&res, "/validate", 8);          /* debug: shown */
	log_set_level(LOG_INFO);
	char *s = capture_end();
	CHECK(strstr(s, "\"latency_us\":5}") == NULL);
	CHECK_CONTAINS(s, "\"level\":\"info\",\"msg\":\"review\",\"uid\":\"u-2\"");
	CHECK_CONTAINS(s, "\"audits\":1,\"path\":\"/validate\",\"latency_us\":6}");
	CHECK_CONTAINS(s, "\"latency_us\":7}");
	CHECK_CONTAINS(s, "\"level\":\"debug\",\"msg\":\"review\",\"uid\":\"u-2\"");
	CHECK_CONTAINS(s, "\"latency_us\":8}");
	free(s);
}

static void test_format_time(void)
{
	char buf[40];
	log_format_time(buf, sizeof(buf), 1767225600);   /* 2026-01-01 */
	CHECK_STR(buf, "2026-01-01T00:00:00.000Z");
}

int main(void)
{
	RUN(test_line_shape);
	RUN(test_escaping);
	RUN(test_truncation);
	RUN(test_levels);
	RUN(test_review_line);
	RUN(test_review_levels);
	RUN(test_format_time);
	return test_summary("log");
}
