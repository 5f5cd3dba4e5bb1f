/*
 * upper: copies stdin to stdout with ASCII letters upper-cased, then reports on stderr
 * how many bytes and lines it read.
 *
 *   upper < INPUT
 *
 * Reads with read(2) in fixed chunks until end of file (fd_read), so partial reads and a
 * large input are exercised; writes through stdio (fd_write).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    static char buf[4096];
    unsigned long long bytes = 0, lines = 0;
    for (;;) {
        ssize_t n = read(0, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "upper: read: %s\n", strerror(errno));
            return 1;
        }
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n')
                lines++;
            buf[i] = (char)toupper((unsigned char)buf[i]);
        }
        bytes += (unsigned long long)n;
        if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n) {
            fprintf(stderr, "upper: write: %s\n", strerror(errno));
            return 1;
        }
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "upper: flush: %s\n", strerror(errno));
        return 1;
    }
    fprintf(stderr, "bytes=%llu lines=%llu\n", bytes, lines);
    return 0;
}
