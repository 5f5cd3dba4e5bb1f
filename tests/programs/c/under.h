/*
 * Helpers shared by the test programs that work in a directory they are given: `root`
 * (set from the command line), `at()` for a path under it, and `check()`, which calls the
 * program's own `fail()` when a step did not work.
 */
#include <stdarg.h>
#include <stdio.h>

static const char *root;

static void fail(const char *what);

static void check(int ok, const char *what) {
    if (!ok)
        fail(what);
}

/* A path under `root`; each call returns a fresh buffer from a small ring. */
static const char *at(const char *fmt, ...) {
    static char ring[4][512];
    static int next;
    char *out = ring[next++ % 4];
    int n = snprintf(out, sizeof ring[0], "%s/", root);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out + n, sizeof ring[0] - (size_t)n, fmt, ap);
    va_end(ap);
    return out;
}
