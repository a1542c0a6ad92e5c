/* nsmode.c - namespace enrolment modes as URL paths and --namespace-mode spell them. */
#include "nsmode.h"

static const struct {
	const char *name;
	struct nsmode mode;
} modes[] = {
	{ "sidecar", { INJ_SIDECAR, false } },
	{ "disabled", { INJ_DISABLED, false } },
	{ "none", { INJ_NONE, false } },
	{ "sidecar/ambient", { INJ_SIDECAR, true } },
	{ "disabled/ambient", { INJ_DISABLED, true } },
	{ "none/ambient", { INJ_NONE, true } },
};

int nsmode_parse(const char *s, size_t n, struct nsmode *out)
{
	for (size_t i = 0; i < ARRAY_LEN(modes); i++) {
		if (strlen(modes[i].name) == n && memcmp(modes[i].name, s, n) == 0) {
			*out = modes[i].mode;
			return 0;
		}
	}
	return -1;
}

const char *nsmode_name(struct nsmode m)
{
	for (size_t i = 0; i < ARRAY_LEN(modes); i++)
		if (modes[i].mode.injection == m.injection && modes[i].mode.ambient == m.ambient)
			return modes[i].name;
	return "none";
}
