/* log.h - structured logs: one JSON object per line on stderr, written with a single write(2).
 *
 * Every line has "time" (RFC 3339, UTC, milliseconds), "level" and "msg", then fields in the order
 * they were added. Values are JSON-escaped (invalid UTF-8 becomes U+FFFD); a line longer than
 * LOG_LINE_MAX is cut at a field boundary and ends with "truncated":true. Never pass object bodies,
 * keys or other secrets: a log line is for identifiers and decisions. Thread-safe. */
#ifndef POSTURE_LOG_H
#define POSTURE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Lines below min are dropped (default LOG_INFO). */
void log_set_level(enum log_level min);
bool log_enabled(enum log_level level);
/* "debug", "info", "warn", "error": 0, or -1 when s is none of them. */
int log_level_parse(const char *s, enum log_level *out);
/* Write to fd instead of 2 (tests). */
void log_set_fd(int fd);

#define LOG_LINE_MAX 4000   /* below PIPE_BUF: a line is never interleaved with another */

/* A line under construction, on the caller's stack. */
struct log_line {
	char buf[LOG_LINE_MAX];
	size_t len;
	bool skip;        /* below the level: every call is a no-op */
	bool truncated;   /* a field did not fit: later fields are dropped */
};

void log_begin(struct log_line *l, enum log_level level, const char *msg_fmt, ...)
	PRINTF_LIKE(3, 4);
void log_str(struct log_line *l, const char *key, const char *value);   /* NULL: JSON null */
void log_strn(struct log_line *l, const char *key, const char *value, size_t n);
void log_strf(struct log_line *l, const char *key, const char *fmt, ...) PRINTF_LIKE(3, 4);
void log_int(struct log_line *l, const char *key, long long value);
void log_uint(struct log_line *l, const char *key, unsigned long long value);
void log_bool(struct log_line *l, const char *key, bool value);
/* Finish the line and write it. l is unusable afterwards. */
void log_emit(struct log_line *l);

/* A line with a message and no fields. */
void log_msg(enum log_level level, const char *fmt, ...) PRINTF_LIKE(2, 3);
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* The line for one judged review (msg "review"): uid, kind, namespace, name, operation, dryRun,
 * decision, rules, warnings, latency_us, and exemptions / skipped when they apply. path is the
 * URL path it came in on (borrowed). Identifiers only: never the object. */
struct review_result;
/* One line per review: at info when it was denied or has a warning, audit finding or exemption;
 * at debug when it was allowed with nothing to say. */
void log_review(const struct review_result *res, const char *path, uint64_t latency_us);

/* RFC 3339 UTC with milliseconds for a Unix time in seconds ("2026-01-02T03:04:05.000Z"), or for
 * now when t < 0. buf needs 32 bytes. */
void log_format_time(char *buf, size_t size, int64_t t);

#endif
