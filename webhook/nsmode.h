/* nsmode.h - a namespace's mesh enrolment, as the webhook's URL path and --namespace-mode spell
 * it: "sidecar", "disabled" or "none", each optionally followed by "/ambient". */
#ifndef POSTURE_NSMODE_H
#define POSTURE_NSMODE_H

#include "util.h"

enum injection { INJ_NONE = 0, INJ_SIDECAR, INJ_DISABLED };

struct nsmode {
	enum injection injection;
	bool ambient;
};

/* Parse "sidecar", "none/ambient", ... (exactly; n bytes of s). 0 or -1. */
int nsmode_parse(const char *s, size_t n, struct nsmode *out);
/* "sidecar", "none/ambient", ...: static strings. */
const char *nsmode_name(struct nsmode m);

#endif
