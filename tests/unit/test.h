/* test.h - a tiny test harness: TEST functions, CHECK assertions, and the suite's result line
 * "SUITE name: P passed, F failed" that tests/run.sh sums. */
#ifndef POSTURE_TEST_H
#define POSTURE_TEST_H

#include <stdio.h>
#include <string.h>

static int test_passed, test_failed, test_current_failed;
static const char *test_current;

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			test_current_failed = 1;                                             \
			fprintf(stderr, "%s:%d: %s: CHECK failed: %s\n", __FILE__, __LINE__,  \
				test_current, #cond);                                        \
		}                                                                            \
	} while (0)

#define CHECK_STR(a, b)                                                                      \
	do {                                                                                 \
		const char *check_a_ = (a), *check_b_ = (b);                                 \
		if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0) {             \
			test_current_failed = 1;                                             \
			fprintf(stderr, "%s:%d: %s: CHECK_STR failed: %s\n  got:      %s\n  expected: %s\n", \
				__FILE__, __LINE__, test_current, #a,                         \
				check_a_ ? check_a_ : "(null)", check_b_ ? check_b_ : "(null)");     \
		}                                                                            \
	} while (0)

#define CHECK_CONTAINS(hay, needle)                                                          \
	do {                                                                                 \
		const char *check_h_ = (hay), *check_n_ = (needle);                          \
		if (!check_h_ || !strstr(check_h_, check_n_)) {                              \
			test_current_failed = 1;                                             \
			fprintf(stderr, "%s:%d: %s: CHECK_CONTAINS failed: %s\n  in:      %s\n  missing: %s\n", \
				__FILE__, __LINE__, test_current, #hay,                       \
				check_h_ ? check_h_ : "(null)", check_n_);                    \
		}                                                                            \
	} while (0)

#define CHECK_INT(a, b)                                                                      \
	do {                                                                                 \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);              \
		if (check_a_ != check_b_) {                                                  \
			test_current_failed = 1;                                             \
			fprintf(stderr, "%s:%d: %s: CHECK_INT failed: %s = %lld, expected %lld\n", \
				__FILE__, __LINE__, test_current, #a, check_a_, check_b_);    \
		}                                                                            \
	} while (0)

/* Run one test function; it passes when no CHECK inside failed. */
#define RUN(fn)                                                                              \
	do {                                                                                 \
		test_current = #fn;                                                          \
		test_current_failed = 0;                                                     \
		fn();                                                                        \
		if (test_current_failed)                                                     \
			test_failed++;                                                       \
		else                                                                         \
			test_passed++;                                                       \
	} while (0)

/* For table-driven tests: start and finish a named case by hand. */
static inline void test_begin(const char *name)
{
	test_current = name;
	test_current_failed = 0;
}
static inline void test_end(void)
{
	if (test_current_failed)
		test_failed++;
	else
		test_passed++;
}

static inline int test_summary(const char *suite)
{
	printf("SUITE %s: %d passed, %d failed\n", suite, test_passed, test_failed);
	return test_failed ? 1 : 0;
}

#endif
