/* main.c - posture's entry point: picks the subcommand; the only place that exits. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "util.h"

#ifndef POSTURE_VERSION
#define POSTURE_VERSION "dev"
#endif

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
} commands[] = {
	{ "serve", cmd_serve, "serve the admission webhook over HTTPS" },
	{ "review", cmd_review, "judge one AdmissionReview from a file or stdin; print the response" },
	{ "check", cmd_check, "judge manifests (files, directories, stdin) as the webhook would; text, JSON or SARIF" },
	{ "certs", cmd_certs, "generate, inspect or check TLS certificates" },
	{ "manifests", cmd_manifests, "render the ValidatingWebhookConfiguration from a policy" },
	{ "policy", cmd_policy, "policy check FILE: validate a policy file (like nginx -t)" },
};

static void usage(FILE *to)
{
	fprintf(to, "posture %s - keeps a service mesh's security posture from drifting\n\n"
		    "usage: posture COMMAND [ARGS]   (posture COMMAND --help for details)\n\n",
		POSTURE_VERSION);
	for (size_t i = 0; i < ARRAY_LEN(commands); i++)
		fprintf(to, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(to, "  %-10s %s\n", "version", "print the version");
}

int main(int argc, char **argv)
{
	xalloc_install_jansson();
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("posture %s\n", POSTURE_VERSION);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_LEN(commands); i++)
		if (strcmp(cmd, commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "posture: unknown command \"%s\" (see posture --help)\n", cmd);
	return 2;
}
