/*
 * random: checks getentropy() (random_get).
 *
 * Fills buffers of several sizes, up to getentropy's limit of 256 bytes, and prints
 * "... ok" per check (or "FAIL ..." on stderr, exit 1):
 *   filled:   every call succeeds and rewrites the whole buffer (a buffer pre-filled with
 *             a marker byte does not keep a run of 16 markers);
 *   nonzero:  the 256 bytes are not all zero;
 *   distinct: two 32-byte draws differ;
 *   spread:   in 4096 bytes every one of the 16 high nibbles appears.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int failed;

static void report(int ok, const char *what) {
    if (ok) {
        printf("%s ok\n", what);
    } else {
        fprintf(stderr, "FAIL %s\n", what);
        failed = 1;
    }
}

static int draw(unsigned char *buf, size_t len) {
    if (getentropy(buf, len) != 0) {
        fprintf(stderr, "getentropy(%zu): %s\n", len, strerror(errno));
        return 0;
    }
    return 1;
}

/* Whether buf holds a run of 16 bytes equal to marker (a chance of 2^-128 per place). */
static int has_marker_run(const unsigned char *buf, size_t len, unsigned char marker) {
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        run = buf[i] == marker ? run + 1 : 0;
        if (run == 16)
            return 1;
    }
    return 0;
}

int main(void) {
    static const size_t sizes[] = {1, 7, 16, 100, 255, 256};
    unsigned char buf[256];
    int filled = 1;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        memset(buf, 0xA5, sizeof buf);
        filled &= draw(buf, sizes[s]);
        if (sizes[s] >= 16)
            filled &= !has_marker_run(buf, sizes[s], 0xA5);
    }
    report(filled, "filled");

    int nonzero = 0;
    for (size_t i = 0; i < sizeof buf; i++)
        nonzero |= buf[i] != 0;
    report(nonzero, "nonzero");

    unsigned char a[32], b[32];
    report(draw(a, sizeof a) && draw(b, sizeof b) && memcmp(a, b, sizeof a) != 0, "distinct");

    unsigned seen = 0;
    for (int round = 0; round < 16; round++) {
        if (!draw(buf, sizeof buf))
            break;
        for (size_t i = 0; i < sizeof buf; i++)
            seen |= 1u << (buf[i] >> 4);
    }
    report(seen == 0xFFFF, "spread");
    return failed;
}
