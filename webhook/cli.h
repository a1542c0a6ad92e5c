/* cli.h - the subcommands. main.c parses the subcommand name and calls one of these with the
 * remaining arguments (argv[0] is the subcommand's name); each returns the process exit status:
 * 0 ok, 1 a finding/verdict the caller asked to fail on, 2 usage or input error. Only main.c
 * exits. */
#ifndef POSTURE_CLI_H
#define POSTURE_CLI_H

int cmd_serve(int argc, char **argv);      /* server.c / cli_serve.c */
int cmd_review(int argc, char **argv);     /* cli_review.c */
int cmd_check(int argc, char **argv);      /* check.c */
int cmd_certs(int argc, char **argv);      /* cli_certs.c */
int cmd_policy(int argc, char **argv);     /* cli_policy.c: "policy check FILE" */
int cmd_manifests(int argc, char **argv);  /* manifests.c: render the VWC from a policy */

#endif
