/* util.c - string views, the arena, allocation hooks (with fail-the-Nth for tests), formatting. */
#include "util.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <time.h>

const struct sv sv_null = { "", 0, 0, false };

bool sv_has_prefix(struct sv s, const char *prefix)
{
	size_t n = strlen(prefix);
	return s.n >= n && memcmp(s.p, prefix, n) == 0;
}

bool sv_contains_byte(struct sv s, char c)
{
	return s.n && memchr(s.p, c, s.n) != NULL;
}

/* ---- allocation hooks ---- */

/* Counters are per thread (a test or benchmark counts on its own thread, and the server's hot
 * path pays no locked instruction per allocation); the failure point is global. */
static _Thread_local long alloc_count;
static _Thread_local long alloc_bytes;   /* bytes asked for (a realloc counts its new size) */
static _Thread_local bool alloc_did_fail;
static atomic_long alloc_fail_at;        /* fail when alloc_count reaches this; 0 = never */

static inline bool alloc_should_fail(size_t bytes)
{
	alloc_bytes += (long)bytes;
	long n = ++alloc_count;
	long at = atomic_load_explicit(&alloc_fail_at, memory_order_relaxed);
	if (__builtin_expect(at > 0, 0) && n == at) {
		alloc_did_fail = true;
		return true;
	}
	return false;
}

void *xmalloc(size_t n)
{
	if (alloc_should_fail(n))
		return NULL;
	return malloc(n ? n : 1);
}

void *xcalloc(size_t count, size_t n)
{
	if (alloc_should_fail(count * n))
		return NULL;
	return calloc(count ? count : 1, n ? n : 1);
}

void *xrealloc(void *p, size_t n)
{
	if (alloc_should_fail(n))
		return NULL;
	return realloc(p, n ? n : 1);
}

void xfree(void *p)
{
	free(p);
}

char *xstrndup(const char *s, size_t n)
{
	char *d = xmalloc(n + 1);
	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

void xalloc_install_jansson(void)
{
	json_set_alloc_funcs(xmalloc, xfree);
}

void xalloc_fail_at(long nth)
{
	alloc_count = 0;
	alloc_bytes = 0;
	alloc_did_fail = false;
	atomic_store(&alloc_fail_at, nth);
}

long xalloc_count(void)
{
	return alloc_count;
}

long xalloc_bytes(void)
{
	return alloc_bytes;
}

bool xalloc_failed(void)
{
	return alloc_did_fail;
}

/* ---- arena ---- */

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, cap;
	_Alignas(16) unsigned char data[];
};

#define ARENA_MIN_CHUNK 4096

void arena_init(struct arena *a, size_t limit)
{
	a->head = NULL;
	a->total = 0;
	a->limit = limit;
}

void *arena_alloc(struct arena *a, size_t size)
{
	size = (size + 15) & ~(size_t)15;
	if (size == 0)
		size = 16;
	struct arena_chunk *c = a->head;
	if (!c || c->cap - c->used < size) {
		size_t cap = c ? c->cap * 2 : ARENA_MIN_CHUNK;
		if (cap < size)
			cap = size;
		if (cap > (1u << 20) && size <= (1u << 20))
			cap = 1u << 20;
		if (a->limit && a->total + cap > a->limit)
			return NULL;
		c = xmalloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->next = a->head;
		c->used = 0;
		c->cap = cap;
		a->head = c;
		a->total += cap;
	}
	void *p = c->data + c->used;
	c->used += size;
	return p;
}

void *arena_calloc(struct arena *a, size_t count, size_t size)
{
	if (size && count > SIZE_MAX / size)
		return NULL;
	void *p = arena_alloc(a, count * size);
	if (p)
		memset(p, 0, count * size);
	return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *d = arena_alloc(a, n + 1);
	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

void arena_release(struct arena *a)
{
	struct arena_chunk *c = a->head;
	while (c) {
		struct arena_chunk *next = c->next;
		xfree(c);
		c = next;
	}
	a->head = NULL;
	a->total = 0;
}

/* ---- formatting ---- */

size_t fmt_buf(char *buf, size_t size, const char *fmt, ...)
{
	if (size == 0)
		return 0;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0) {
		buf[0] = '\0';
		return 0;
	}
	if ((size_t)n >= size) {
		if (size > 4)
			memcpy(buf + size - 4, "...", 4);
		return size - 1;
	}
	return (size_t)n;
}

void sv_to_buf(struct sv s, char *buf, size_t size)
{
	if (size == 0)
		return;
	size_t n = s.n;
	bool cut = false;
	if (n > size - 1) {
		n = size > 4 ? size - 4 : size - 1;
		cut = true;
	}
	for (size_t i = 0; i < n; i++)
		buf[i] = s.p[i] ? s.p[i] : '?';
	if (cut && size > 4) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
}

uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

char *file_read(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
	bool is_stdin = strcmp(path, "-") == 0;
	FILE *f = is_stdin ? stdin : fopen(path, "rb");
	if (!f) {
		fmt_buf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	size_t cap = 64 * 1024, n = 0;
	char *data = xmalloc(cap + 1);
	if (!data)
		goto out_oom;
	for (;;) {
		if (n == cap) {
			if (cap >= max)
				break;
			size_t ncap = cap * 2 > max ? max : cap * 2;
			char *d = xrealloc(data, ncap + 1);
			if (!d)
				goto out_oom;
			data = d;
			cap = ncap;
		}
		size_t got = fread(data + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		fmt_buf(err, errlen, "%s: read error: %s", is_stdin ? "stdin" : path, strerror(errno));
		goto out_free;
	}
	if (n == cap && n >= max && fgetc(f) != EOF) {
		fmt_buf(err, errlen, "%s: larger than %zu bytes", is_stdin ? "stdin" : path, max);
		goto out_free;
	}
	if (!is_stdin)
		fclose(f);
	data[n] = '\0';
	*len = n;
	return data;
out_oom:
	fmt_buf(err, errlen, "%s: out of memory", path);
out_free:
	xfree(data);
	if (!is_stdin)
		fclose(f);
	return NULL;
}

bool dns1123_label(const char *s, size_t n)
{
	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

bool dns1123_subdomain(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253)
		return false;
	for (const char *p = s;;) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		if (!dns1123_label(p, len))
			return false;
		if (!dot)
			return true;
		p = dot + 1;
	}
}
