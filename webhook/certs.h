/* certs.h - certificates with OpenSSL's libcrypto: generate a CA and a serving certificate,
 * inspect one, and check a certificate/key pair before the server uses it. */
#ifndef POSTURE_CERTS_H
#define POSTURE_CERTS_H

#include <time.h>

#include "util.h"

/* Check PEM cert and key: both parse, the key matches the certificate, and now is within its
 * validity. On success returns 0 and sets *not_after (Unix seconds). Else -1 and a one-line reason
 * in err ("certificate expired on 2026-01-02T00:00:00Z", "private key does not match the
 * certificate"). */
int certs_check_pair(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len,
		     time_t now, int64_t *not_after, char *err, size_t errlen);

#endif
