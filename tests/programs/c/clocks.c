/*
 * clocks: checks the clocks a program can read.
 *
 * Prints "... ok" per check, or "FAIL ..." on stderr and exits 1:
 *   monotonic: CLOCK_MONOTONIC never goes back and advances across some work;
 *   realtime:  time() is after 2020-01-01 and before 2200, and agrees with
 *              CLOCK_REALTIME and gettimeofday() to within 2 seconds;
 *   resolution: clock_getres() of both clocks is positive and at most 1 ms;
 *   cputime:   CLOCK_PROCESS_CPUTIME_ID counts the program's own running: it advances
 *              across work, and by less than half of a 300 ms sleep.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static int failed;

static void report(int ok, const char *what) {
    if (ok) {
        printf("%s ok\n", what);
    } else {
        fprintf(stderr, "FAIL %s\n", what);
        failed = 1;
    }
}

static int64_t ns(clockid_t id) {
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0) {
        perror("clock_gettime");
        exit(1);
    }
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(void) {
    int64_t first = ns(CLOCK_MONOTONIC), prev = first;
    int backwards = 0;
    volatile uint32_t x = 1;
    /* Keep reading until the clock moves, with work in between, for at most ~1e6 rounds. */
    for (int round = 0; round < 1000000 && prev == first; round++) {
        for (int i = 0; i < 100; i++)
            x = x * 1664525u + 1013904223u;
        int64_t now = ns(CLOCK_MONOTONIC);
        if (now < prev)
            backwards = 1;
        prev = now;
    }
    report(!backwards && prev > first, "monotonic");

    time_t t = time(NULL);
    int64_t real = ns(CLOCK_REALTIME);
    struct timeval tv;
    int tv_ok = gettimeofday(&tv, NULL) == 0;
    /* 2020-01-01T00:00:00Z and 2200-01-01T00:00:00Z. */
    report(t > 1577836800 && t < 7258118400LL, "realtime");
    int64_t diff = real / 1000000000 - (int64_t)t;
    report(diff >= -2 && diff <= 2, "clock_gettime realtime agrees with time");
    int64_t tv_diff = (int64_t)tv.tv_sec - (int64_t)t;
    report(tv_ok && tv_diff >= -2 && tv_diff <= 2, "gettimeofday agrees with time");

    struct timespec res;
    int64_t r;
    r = clock_getres(CLOCK_MONOTONIC, &res) == 0 ? (int64_t)res.tv_sec * 1000000000 + res.tv_nsec : -1;
    report(r > 0 && r <= 1000000, "monotonic resolution");
    r = clock_getres(CLOCK_REALTIME, &res) == 0 ? (int64_t)res.tv_sec * 1000000000 + res.tv_nsec : -1;
    report(r > 0 && r <= 1000000, "realtime resolution");

    int64_t cpu0 = ns(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 0; i < 20000000; i++)
        x = x * 1664525u + 1013904223u;
    int64_t cpu1 = ns(CLOCK_PROCESS_CPUTIME_ID);
    report(cpu1 > cpu0, "cputime advances across work");
    int64_t wall1 = ns(CLOCK_MONOTONIC);
    struct timespec nap = {0, 300000000};
    nanosleep(&nap, NULL);
    int64_t cpu2 = ns(CLOCK_PROCESS_CPUTIME_ID);
    int64_t wall2 = ns(CLOCK_MONOTONIC);
    report(wall2 - wall1 >= 300000000 && cpu2 - cpu1 < 150000000, "cputime excludes sleep");
    return failed;
}
