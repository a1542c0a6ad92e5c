/* review.h - AdmissionReview (admission.k8s.io v1 and v1beta1) in, response out. Decodes the body
 * into borrowed views, hands them to the engine, encodes the response without a JSON tree. */
#ifndef POSTURE_REVIEW_H
#define POSTURE_REVIEW_H

#include "buf.h"
#include "engine.h"

struct review {
	bool v1beta1;              /* answer in the request's version */
	struct sv uid;
	struct admission adm;
	struct subject object, old_object;
	struct jdoc doc;           /* owns nodes and arena; strings point into the body */
};

/* Decode body (modified in place; must outlive r). Returns 0, or -1 with a one-line reason for a
 * 400 in err ("request.uid: expected string, got number"; a uid longer than 256 bytes is refused
 * too: it is echoed). r needs review_release either way. */
int review_decode(struct review *r, char *body, size_t len, struct nsmode mode,
		  struct sv own_namespace, char *err, size_t errlen);
void review_release(struct review *r);
/* Encode the AdmissionReview response for verdict v into out (appended). */
void review_encode(const struct review *r, const struct verdict *v, struct buf *out);

/* Everything a request needs: decode, judge, encode. */
struct review_result {
	int http_status;           /* 200, 400 or 500 */
	char error[256];           /* reason for a non-200 */
	/* for the log line and metrics (valid when http_status == 200) */
	char uid[80], kind[48], namespace[80], name[128], operation[16];
	bool dry_run, allowed;
	const char *skipped;
	char rules[160];           /* comma-separated rule ids with a finding */
	size_t n_deny, n_warn, n_audit, n_exempt;
	uint32_t rule_counts[RULE_COUNT][4];   /* findings by rule and outcome */
	char exemptions[256];      /* "rule ns/kind/name: reason; ..." when an exemption applied */
};
/* body is modified in place. out receives the response body (200) or nothing. */
void review_handle(const struct policy *pol, char *body, size_t len, struct nsmode mode,
		   struct sv own_namespace, struct buf *out, struct review_result *res);

#endif
