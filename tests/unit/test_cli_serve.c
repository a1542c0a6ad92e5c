/* test_cli_serve.c - `posture serve` flag checks (exit 2 before anything starts) and HOST:PORT. */
#include <stdio.h>

#include "cli.h"
#include "server.h"
#include "util.h"
#include "test.h"

static int serve(const char *a, const char *b, const char *c)
{
	char *argv[] = { (char *)"serve", (char *)a, (char *)b, (char *)c, NULL };
	int argc = 1 + (a != NULL) + (b != NULL) + (c != NULL);
	return cmd_serve(argc, argv);
}

static void test_addr_split(void)
{
	char host[64], err[128];
	uint16_t port = 0;
	CHECK_INT(server_addr_split("127.0.0.1:8443", host, sizeof(host), &port, err, sizeof(err)), 0);
	CHECK_STR(host, "127.0.0.1");
	CHECK_INT(port, 8443);
	CHECK_INT(server_addr_split(":9090", host, sizeof(host), &port, err, sizeof(err)), 0);
	CHECK_STR(host, "");
	CHECK_INT(port, 9090);
	CHECK_INT(server_addr_split("[::1]:0", host, sizeof(host), &port, err, sizeof(err)), 0);
	CHECK_STR(host, "::1");
	CHECK_INT(port, 0);
	CHECK_INT(server_addr_split("localhost:65535", host, sizeof(host), &port, err, sizeof(err)), 0);
	const char *bad[] = { "8443", "host:", "host:65536", "host:-1", "host:+1", "host:8x", "::1:80",
			      "[::1]80", "[::1" };
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		err[0] = '\0';
		CHECK_INT(server_addr_split(bad[i], host, sizeof(host), &port, err, sizeof(err)), -1);
		CHECK(err[0] != '\0');
	}
}

static void test_flag_errors(void)
{
	/* each exits 2 before reading a certificate or binding a port */
	CHECK_INT(serve("--bogus", NULL, NULL), 2);
	CHECK_INT(serve("positional", NULL, NULL), 2);
	CHECK_INT(serve("--listen", NULL, NULL), 2);
	CHECK_INT(serve("--listen", "nowhere", NULL), 2);
	CHECK_INT(serve("--metrics-listen=1.2.3.4", NULL, NULL), 2);
	CHECK_INT(serve("--shutdown-delay", "-1", NULL), 2);
	CHECK_INT(serve("--shutdown-delay", "soon", NULL), 2);
	CHECK_INT(serve("--max-body-bytes", "12abc", NULL), 2);
	CHECK_INT(serve("--max-body-bytes", "10", NULL), 2);
	CHECK_INT(serve("--request-timeout", "0", NULL), 2);
	CHECK_INT(serve("--threads", "1000", NULL), 2);
	CHECK_INT(serve("--log-level", "loud", NULL), 2);
	CHECK_INT(serve("--tls-cert", "/nonexistent/tls.crt", NULL), 2);
	CHECK_INT(serve("--tls-cert", "/", NULL), 2);   /* a directory */
	CHECK_INT(serve("--tls-cert=/dev/null", "--tls-key=/dev/null", "--client-ca=/nonexistent"), 2);
	CHECK_INT(serve("--tls-cert=/dev/null", "--tls-key=/dev/null", "--policy=/nonexistent"), 2);
}

int main(void)
{
	RUN(test_addr_split);
	RUN(test_flag_errors);
	return test_summary("cli-serve");
}
