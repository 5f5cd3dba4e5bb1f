/*
 * exit: ends in the way it is told, after writing to stdout and stderr.
 *
 *   exit exit CODE     exit(CODE), after an atexit handler ran
 *   exit return CODE   return CODE from main
 *   exit abort         abort(), which in wasi-libc is a trap (`unreachable`)
 *
 * stdout is written with printf and never flushed by hand, so it only appears if the
 * libc's exit path ran (it flushes stdio) before proc_exit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void at_exit(void) {
    printf("atexit handler ran\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: exit exit|return CODE | exit abort\n");
        return 2;
    }
    const char *mode = argv[1];
    int code = argc > 2 ? atoi(argv[2]) : 0;
    printf("stdout before %s\n", mode);
    fprintf(stderr, "stderr before %s\n", mode);
    if (strcmp(mode, "exit") == 0) {
        atexit(at_exit);
        exit(code);
    }
    if (strcmp(mode, "return") == 0)
        return code;
    if (strcmp(mode, "abort") == 0) {
        fflush(stdout);
        abort();
    }
    fprintf(stderr, "exit: unknown mode %s\n", mode);
    return 2;
}
