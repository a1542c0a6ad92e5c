/* buf.h - growable byte buffers with a hard cap (after curl's dynbuf). A failed append (cap or
 * allocation) marks the buffer failed; every later append is a no-op, so callers check once. */
#ifndef POSTURE_BUF_H
#define POSTURE_BUF_H

#include "util.h"

struct buf {
	char *data;     /* owned; NUL-terminated when len > 0 or after buf_cstr */
	size_t len, cap;
	size_t max;     /* hard cap on len */
	bool failed;
};

void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
void buf_reset(struct buf *b);             /* len = 0, keeps the allocation, clears failed */
bool buf_reserve(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *p, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_addc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) PRINTF_LIKE(2, 3);
void buf_vprintf(struct buf *b, const char *fmt, va_list ap) PRINTF_LIKE(2, 0);
/* Append a JSON string literal: quotes, escapes for '"', '\\' and control bytes; bytes >= 0x80
 * are copied as they are (callers pass UTF-8) unless they are not valid UTF-8, in which case
 * they become U+FFFD. */
void buf_add_json_str(struct buf *b, const char *s, size_t n);
/* The contents as a C string ("" when empty); NULL if the buffer failed. */
const char *buf_cstr(struct buf *b);
/* Hand the allocation to the caller (steals; buffer is reset to empty). */
char *buf_steal(struct buf *b, size_t *len);

#endif
