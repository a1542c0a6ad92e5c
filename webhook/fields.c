/* fields.c - the error paths of view.h's typed-field helpers (authz.c, mesh_objects.c): the field
 * path is formatted here, only when a decode fails. */
#include "view.h"

int fdec_type_err(struct fdec *d, const struct jpath *path, const char *want, const struct jnode *n)
{
	char p[192];
	jpath_format(path, p, sizeof p);
	fmt_buf(d->err, d->errlen, "%s: expected %s, got %s", p, want, jn_type_name(n));
	return -1;
}

int fdec_oom(struct fdec *d, const struct jpath *path)
{
	char p[192];
	jpath_format(path, p, sizeof p);
	fmt_buf(d->err, d->errlen, "%s: out of memory", p);
	return -1;
}
