/* log.c - one JSON object per line on stderr: time, level, msg, then fields. */
#include "log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "review.h"

static atomic_int log_min = LOG_INFO;
static atomic_int log_fd = 2;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

/* Room kept free for the closing `,"truncated":true}\n`. */
#define LOG_TAIL 24

void log_set_level(enum log_level min)
{
	atomic_store(&log_min, (int)min);
}

bool log_enabled(enum log_level level)
{
	return (int)level >= atomic_load(&log_min);
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < ARRAY_LEN(level_names); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

void log_set_fd(int fd)
{
	atomic_store(&log_fd, fd);
}

void log_format_time(char *buf, size_t size, int64_t t)
{
	struct timespec ts;
	if (t < 0) {
		clock_gettime(CLOCK_REALTIME, &ts);
	} else {
		ts.tv_sec = (time_t)t;
		ts.tv_nsec = 0;
	}
	struct tm tm;
	time_t secs = ts.tv_sec;
	if (!gmtime_r(&secs, &tm)) {
		fmt_buf(buf, size, "1970-01-01T00:00:00.000Z");
		return;
	}
	fmt_buf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)(ts.tv_nsec / 1000000));
}

/* Append raw bytes if they fit below the tail reserve; else mark the line truncated. */
static bool put(struct log_line *l, const char *p, size_t n)
{
	if (l->truncated || l->len + n > sizeof(l->buf) - LOG_TAIL) {
		l->truncated = true;
		return false;
	}
	memcpy(l->buf + l->len, p, n);
	l->len += n;
	return true;
}

/* Append s as a JSON string literal (with quotes). All or nothing. */
static bool put_json_str(struct log_line *l, const char *s, size_t n)
{
	size_t start = l->len;
	const unsigned char *u = (const unsigned char *)s;
	if (!put(l, "\"", 1))
		return false;
	for (size_t i = 0; i < n;) {
		unsigned char c = u[i];
		char esc[8];
		bool ok;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			ok = put(l, esc, 2);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			size_t k = fmt_buf(esc, sizeof(esc), "\\u%04x", c);
			ok = put(l, esc, k);
			i++;
		} else {
			size_t k = utf8_seq(u + i, n - i);
			if (k == 0) {
				ok = put(l, "\\ufffd", 6);
				i++;
			} else {
				ok = put(l, s + i, k);
				i += k;
			}
		}
		if (!ok) {
			l->len = start;
			return false;
		}
	}
	if (!put(l, "\"", 1)) {
		l->len = start;
		return false;
	}
	return true;
}

/* Append `,"key":` ; on failure later, the caller rolls back to the returned mark. */
static bool put_key(struct log_line *l, const char *key, size_t *mark)
{
	*mark = l->len;
	if (l->skip || l->truncated)
		return false;
	if (!put(l, ",", 1) || !put_json_str(l, key, strlen(key)) || !put(l, ":", 1)) {
		l->len = *mark;
		l->truncated = true;
		return false;
	}
	return true;
}

void log_begin(struct log_line *l, enum log_level level, const char *msg_fmt, ...)
{
	l->len = 0;
	l->truncated = false;
	l->skip = !log_enabled(level);
	if (l->skip)
		return;
	char ts[40], msg[1024];
	log_format_time(ts, sizeof(ts), -1);
	va_list ap;
	va_start(ap, msg_fmt);
	int n = vsnprintf(msg, sizeof(msg), msg_fmt, ap);
	va_end(ap);
	if (n < 0)
		msg[0] = '\0';
	size_t mlen = n < 0 ? 0 : ((size_t)n >= sizeof(msg) ? sizeof(msg) - 1 : (size_t)n);
	put(l, "{\"time\":", 8);
	put_json_str(l, ts, strlen(ts));
	put(l, ",\"level\":", 9);
	put_json_str(l, level_names[level], strlen(level_names[level]));
	put(l, ",\"msg\":", 7);
	put_json_str(l, msg, mlen);
}

void log_strn(struct log_line *l, const char *key, const char *value, size_t n)
{
	size_t mark;
	if (!put_key(l, key, &mark))
		return;
	bool ok = value ? put_json_str(l, value, n) : put(l, "null", 4);
	if (!ok) {
		l->len = mark;
		l->truncated = true;
	}
}

void log_str(struct log_line *l, const char *key, const char *value)
{
	log_strn(l, key, value, value ? strlen(value) : 0);
}

void log_strf(struct log_line *l, const char *key, const char *fmt, ...)
{
	if (l->skip || l->truncated)
		return;
	char tmp[LOG_LINE_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	log_strn(l, key, tmp, (size_t)n >= sizeof(tmp) ? sizeof(tmp) - 1 : (size_t)n);
}

void log_int(struct log_line *l, const char *key, long long value)
{
	size_t mark;
	if (!put_key(l, key, &mark))
		return;
	char num[32];
	size_t k = fmt_buf(num, sizeof(num), "%lld", value);
	if (!put(l, num, k)) {
		l->len = mark;
		l->truncated = true;
	}
}

void log_uint(struct log_line *l, const char *key, unsigned long long value)
{
	size_t mark;
	if (!put_key(l, key, &mark))
		return;
	char num[32];
	size_t k = fmt_buf(num, sizeof(num), "%llu", value);
	if (!put(l, num, k)) {
		l->len = mark;
		l->truncated = true;
	}
}

void log_bool(struct log_line *l, const char *key, bool value)
{
	size_t mark;
	if (!put_key(l, key, &mark))
		return;
	if (!put(l, value ? "true" : "false", value ? 4 : 5)) {
		l->len = mark;
		l->truncated = true;
	}
}

void log_emit(struct log_line *l)
{
	if (l->skip)
		return;
	/* the tail reserve guarantees room for this */
	if (l->truncated) {
		memcpy(l->buf + l->len, ",\"truncated\":true", 17);
		l->len += 17;
	}
	l->buf[l->len++] = '}';
	l->buf[l->len++] = '\n';
	int fd = atomic_load(&log_fd);
	size_t off = 0;
	while (off < l->len) {
		ssize_t w = write(fd, l->buf + off, l->len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		off += (size_t)w;
	}
	l->skip = true;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (!log_enabled(level))
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		msg[0] = '\0';
	struct log_line l;
	log_begin(&l, level, "%s", msg);
	log_emit(&l);
}

void log_review(const struct review_result *res, const char *path, uint64_t latency_us)
{
	/* A review that is allowed with nothing to say (no finding, no exemption used) is the common
	 * case and the apiserver's audit log already has it: debug. Anything a person may need to
	 * find later (a denial, a warning, an audit finding, an exemption) is info. */
	bool clean = res->allowed && !res->n_deny && !res->n_warn && !res->n_audit && !res->n_exempt;
	struct log_line l;
	log_begin(&l, clean ? LOG_DEBUG : LOG_INFO, "review");
	if (l.skip)
		return;
	log_str(&l, "uid", res->uid);
	log_str(&l, "kind", res->kind);
	log_str(&l, "namespace", res->namespace);
	log_str(&l, "name", res->name);
	log_str(&l, "operation", res->operation);
	log_bool(&l, "dryRun", res->dry_run);
	log_str(&l, "decision", res->allowed ? "allow" : "deny");
	log_str(&l, "rules", res->rules);
	if (res->n_warn)
		log_uint(&l, "warnings", res->n_warn);
	if (res->n_audit)
		log_uint(&l, "audits", res->n_audit);
	if (res->n_exempt && res->exemptions[0])
		log_str(&l, "exemptions", res->exemptions);
	if (res->skipped)
		log_str(&l, "skipped", res->skipped);
	if (path)
		log_str(&l, "path", path);
	log_uint(&l, "latency_us", latency_us);
	log_emit(&l);
}
