/* util.h - string views, an arena allocator and small helpers shared by every module.
 *
 * Ownership rule for the whole code base (jansson's, the reverse of jq's): parameters are borrowed;
 * a function whose name ends in _new, _load or _dup returns a new reference/allocation the caller
 * owns; a parameter documented as "steals" is owned by the callee from the call on. */
#ifndef POSTURE_UTIL_H
#define POSTURE_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A borrowed string: bytes p[0..n) (may hold NUL bytes; p[n] is always NUL), and the source line it
 * came from (0 when unknown: requests over the wire carry no lines). p is never NULL: an absent
 * string is sv_null (p = "", n = 0, present = false). */
struct sv {
	const char *p;
	uint32_t n;
	uint32_t line;
	bool present;
};

static inline struct sv sv_make(const char *p, uint32_t n, uint32_t line)
{
	struct sv s = { p, n, line, true };
	return s;
}
static inline struct sv sv_cstr(const char *p)
{
	return sv_make(p, (uint32_t)strlen(p), 0);
}
extern const struct sv sv_null;

static inline bool sv_eq(struct sv s, const char *lit)
{
	size_t n = strlen(lit);
	return s.present && s.n == n && memcmp(s.p, lit, n) == 0;
}
static inline bool sv_eqsv(struct sv a, struct sv b)
{
	return a.n == b.n && memcmp(a.p, b.p, a.n) == 0;
}
/* true when s is present and not the empty string */
static inline bool sv_set(struct sv s)
{
	return s.present && s.n > 0;
}
bool sv_has_prefix(struct sv s, const char *prefix);
bool sv_contains_byte(struct sv s, char c);

/* Length of the valid UTF-8 sequence at s[0..n) (n >= 1): 1 for an ASCII byte, 2 to 4 for a
 * well-formed multi-byte character (no overlong forms, surrogates or code points past U+10FFFF),
 * 0 when the bytes are not one. The JSON parser, the JSON and log encoders and the denial text
 * all decide "valid UTF-8" with this one function. */
static inline size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0) || (c == 0xF0 && s[1] < 0x90) ||
	    (c == 0xF4 && s[1] >= 0x90))
		return 0;
	return len;
}

/* Arena: many small allocations freed at once. Allocations are 16-byte aligned. A failed
 * allocation returns NULL and leaves the arena usable. */
struct arena_chunk;
struct arena {
	struct arena_chunk *head;
	size_t total;   /* bytes obtained from malloc */
	size_t limit;   /* 0: no limit; else refuse to grow past it */
};
void arena_init(struct arena *a, size_t limit);
void *arena_alloc(struct arena *a, size_t size);
void *arena_calloc(struct arena *a, size_t count, size_t size);
char *arena_strndup(struct arena *a, const char *s, size_t n);
void arena_release(struct arena *a);

/* Allocation hooks: every malloc/realloc/free in posture goes through these, so tests can fail
 * the Nth allocation (jansson is pointed at them too by xalloc_install_jansson). */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
void xfree(void *p);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void xalloc_install_jansson(void);
/* test support: fail the nth allocation from now (1 = the next one) of the calling thread; 0
 * disables. xalloc_count: allocations the calling thread attempted since the last
 * xalloc_fail_at. */
void xalloc_fail_at(long nth);
long xalloc_count(void);
/* bytes asked for by the allocations xalloc_count counts (a realloc counts its new size); reset by
 * xalloc_fail_at. For benchmarks: bytes allocated per review. */
long xalloc_bytes(void);
bool xalloc_failed(void);

/* snprintf that always terminates and reports truncation; returns bytes written (<= size-1). */
size_t fmt_buf(char *buf, size_t size, const char *fmt, ...) PRINTF_LIKE(3, 4);

/* Copy a sv into a bounded C buffer (NUL bytes replaced by '?', truncated with "..."). */
void sv_to_buf(struct sv s, char *buf, size_t size);

/* Read a whole file ("-": stdin) into a new NUL-terminated buffer of at most max bytes. NULL
 * with a one-line reason in err ("FILE: No such file or directory", "FILE: larger than N bytes"). */
char *file_read(const char *path, size_t max, size_t *len, char *err, size_t errlen);

/* DNS-1123 label ([a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63) over s[0..n): namespace and Service
 * names. */
bool dns1123_label(const char *s, size_t n);
/* DNS-1123 subdomain (labels joined by '.', at most 253): most object names. */
bool dns1123_subdomain(const char *s);

/* Monotonic time in microseconds. */
uint64_t now_us(void);

#endif
