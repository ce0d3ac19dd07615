/* A minimal assertion vocabulary for the unit tests: each failed check prints
 * file:line and what differed; main returns check_failures() != 0. */
#ifndef INNA_CHECK_H
#define INNA_CHECK_H
#include <math.h>
#include <stdio.h>

static int check_failed_count;

#define CHECK(cond) do { if (!(cond)) { \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    check_failed_count++; } } while (0)

/* |a - b| <= tol * max(1, |b|) */
#define CHECK_CLOSE(a, b, tol) do { double _a = (a), _b = (b); \
    if (!(fabs(_a - _b) <= (tol) * fmax(1.0, fabs(_b)))) { \
    fprintf(stderr, "%s:%d: %s = %.9g, expected %s = %.9g (tol %g)\n", \
            __FILE__, __LINE__, #a, _a, #b, _b, (double)(tol)); \
    check_failed_count++; } } while (0)

static inline int check_report(const char *name)
{
    if (check_failed_count) fprintf(stderr, "%s: %d check(s) failed\n", name, check_failed_count);
    else printf("%s: all checks passed\n", name);
    return check_failed_count != 0;
}
#endif
