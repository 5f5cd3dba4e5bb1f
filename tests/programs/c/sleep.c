/*
 * sleep: sleeps three ways and checks, against CLOCK_MONOTONIC, that each returned no
 * earlier than asked. In wasi-libc all three are poll_oneoff with a clock subscription.
 *
 *   sleep MILLISECONDS
 *
 * Prints "nanosleep ok", "usleep ok", "poll timeout ok" (or "FAIL ..." on stderr, exit 1).
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int failed;

static int64_t now_ns(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        perror("clock_gettime");
        exit(1);
    }
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void report(int64_t start, int64_t wanted_ns, int rc, const char *what) {
    int64_t elapsed = now_ns() - start;
    if (rc != 0) {
        fprintf(stderr, "FAIL %s: %s\n", what, strerror(errno));
        failed = 1;
    } else if (elapsed < wanted_ns) {
        fprintf(stderr, "FAIL %s: returned after %lld ns, wanted %lld\n", what,
                (long long)elapsed, (long long)wanted_ns);
        failed = 1;
    } else {
        printf("%s ok\n", what);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: sleep MILLISECONDS\n");
        return 2;
    }
    long ms = atol(argv[1]);
    int64_t wanted = (int64_t)ms * 1000000;

    struct timespec req = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    int64_t start = now_ns();
    report(start, wanted, nanosleep(&req, NULL), "nanosleep");

    start = now_ns();
    report(start, wanted, usleep((useconds_t)(ms * 1000)), "usleep");

    start = now_ns();
    int n = poll(NULL, 0, (int)ms);
    report(start, wanted, n == 0 ? 0 : -1, "poll timeout");
    return failed;
}
