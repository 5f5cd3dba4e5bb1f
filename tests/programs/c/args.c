/*
 * args: prints what a program is given at start.
 *
 *   args [ARG...]
 *
 * Prints argc, every argv[i] (argv[0] too) in brackets, so spaces and empty arguments
 * show, every environment entry sorted, and getenv() of WEFT_GREETING and PATH (PATH
 * shows that the host's environment does not leak into the guest).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void print_getenv(const char *name) {
    const char *value = getenv(name);
    if (value)
        printf("getenv(%s)=[%s]\n", name, value);
    else
        printf("getenv(%s)=(null)\n", name);
}

int main(int argc, char **argv) {
    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++)
        printf("argv[%d]=[%s]\n", i, argv[i]);

    size_t count = 0;
    while (environ && environ[count])
        count++;
    char **sorted = malloc((count + 1) * sizeof *sorted);
    if (!sorted) {
        perror("malloc");
        return 1;
    }
    memcpy(sorted, environ, count * sizeof *sorted);
    qsort(sorted, count, sizeof *sorted, compare_strings);
    printf("environ count=%zu\n", count);
    for (size_t i = 0; i < count; i++)
        printf("environ[%zu]=[%s]\n", i, sorted[i]);
    free(sorted);

    print_getenv("WEFT_GREETING");
    print_getenv("PATH");
    return 0;
}
