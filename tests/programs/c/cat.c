/*
 * cat: concatenates files (or stdin, with no arguments) to stdout.
 *
 *   cat [FILE...]
 *
 * A file that cannot be opened gets `cat: FILE: <strerror>` on stderr and exit code 1,
 * after the other files were copied, as POSIX cat does.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

static int copy(FILE *in, const char *name) {
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        if (fwrite(buf, 1, n, stdout) != n) {
            fprintf(stderr, "cat: write: %s\n", strerror(errno));
            return 1;
        }
    }
    if (ferror(in)) {
        fprintf(stderr, "cat: %s: %s\n", name, strerror(errno));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2)
        return copy(stdin, "-");
    int status = 0;
    for (int i = 1; i < argc; i++) {
        FILE *in = fopen(argv[i], "rb");
        if (!in) {
            int saved = errno;
            fprintf(stderr, "cat: %s: %s\n", argv[i], strerror(saved));
            if (saved == ENOENT)
                fprintf(stderr, "cat: errno is ENOENT\n");
            status = 1;
            continue;
        }
        status |= copy(in, argv[i]);
        fclose(in);
    }
    if (fflush(stdout) != 0)
        return 1;
    return status;
}
