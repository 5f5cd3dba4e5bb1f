/*
 * files: exercises the file system calls a program makes in a directory it was given.
 *
 *   files ROOT
 *
 * ROOT must hold a file `input.txt` (written by the caller) and no `work` directory.
 * The program prints one line per step; a failed step prints `FAIL ...` on stderr and
 * exits 1. Afterwards ROOT/work holds, for the caller to check on the host:
 *   renamed.bin  10006 bytes: pattern(i) for i < 9990, then "0123456789", then "ABCDEF"
 *   note.txt     "created by guest\n"
 *   a.txt        "alpha\n"
 *   c.txt        "gamma" (truncated from "gamma ray\n")
 * and no longer data.bin, b.txt or the directory zdir.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "under.h"

#define DATA_SIZE 10000

static void fail(const char *what) {
    fprintf(stderr, "FAIL %s: %s\n", what, strerror(errno));
    exit(1);
}

static unsigned char pattern(size_t i) {
    return (unsigned char)((i * 7 + i / 251) % 251);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    check(f != NULL, path);
    check(fputs(text, f) >= 0, "fputs");
    check(fclose(f) == 0, "fclose");
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list(const char *dir) {
    DIR *d = opendir(dir);
    check(d != NULL, "opendir");
    char *names[64];
    size_t count = 0;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        check(count < 64, "too many entries");
        const char *kind = e->d_type == DT_DIR ? "dir" : e->d_type == DT_REG ? "file" : "other";
        size_t len = strlen(e->d_name) + strlen(kind) + 2;
        names[count] = malloc(len);
        check(names[count] != NULL, "malloc");
        snprintf(names[count], len, "%s %s", e->d_name, kind);
        count++;
    }
    check(errno == 0, "readdir");
    check(closedir(d) == 0, "closedir");
    qsort(names, count, sizeof names[0], compare_names);
    for (size_t i = 0; i < count; i++) {
        printf("entry %s\n", names[i]);
        free(names[i]);
    }
}

static void expect_missing(const char *path, const char *what) {
    struct stat st;
    errno = 0;
    if (stat(path, &st) == 0 || errno != ENOENT) {
        fprintf(stderr, "FAIL %s: %s still there (errno %d)\n", what, path, errno);
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: files ROOT\n");
        return 2;
    }
    root = argv[1];
    struct stat st;

    /* A file the host wrote. */
    FILE *in = fopen(at("input.txt"), "r");
    check(in != NULL, "open input.txt");
    char line[256];
    while (fgets(line, sizeof line, in))
        printf("input: %s", line);
    fclose(in);

    check(mkdir(at("work"), 0755) == 0, "mkdir work");
    check(stat(at("work"), &st) == 0 && S_ISDIR(st.st_mode), "stat work");
    printf("mkdir ok\n");

    /* Write in uneven chunks through stdio. */
    unsigned char *data = malloc(DATA_SIZE);
    check(data != NULL, "malloc");
    for (size_t i = 0; i < DATA_SIZE; i++)
        data[i] = pattern(i);
    FILE *f = fopen(at("work/data.bin"), "wb");
    check(f != NULL, "fopen data.bin for writing");
    check(fwrite(data, 1, 3000, f) == 3000, "fwrite 1");
    check(fwrite(data + 3000, 1, 4096, f) == 4096, "fwrite 2");
    check(fwrite(data + 7096, 1, DATA_SIZE - 7096, f) == DATA_SIZE - 7096, "fwrite 3");
    check(fclose(f) == 0, "fclose data.bin");
    check(stat(at("work/data.bin"), &st) == 0, "stat data.bin");
    check(S_ISREG(st.st_mode), "data.bin is a regular file");
    printf("stat size %lld\n", (long long)st.st_size);

    /* Seek, read and overwrite in place, then grow the file. */
    f = fopen(at("work/data.bin"), "rb+");
    check(f != NULL, "fopen data.bin for update");
    check(fseek(f, 5000, SEEK_SET) == 0, "fseek 5000");
    printf("ftell %ld\n", ftell(f));
    unsigned char chunk[100];
    check(fread(chunk, 1, sizeof chunk, f) == sizeof chunk, "fread at 5000");
    check(memcmp(chunk, data + 5000, sizeof chunk) == 0, "contents at 5000");
    printf("ftell after read %ld\n", ftell(f));
    check(fseek(f, 0, SEEK_END) == 0, "fseek end");
    printf("ftell end %ld\n", ftell(f));
    check(fseek(f, -10, SEEK_END) == 0, "fseek end-10");
    check(fwrite("0123456789", 1, 10, f) == 10, "overwrite tail");
    check(fwrite("ABCDEF", 1, 6, f) == 6, "append");
    check(fflush(f) == 0, "fflush");
    struct stat fst;
    check(fstat(fileno(f), &fst) == 0, "fstat");
    printf("fstat size %lld\n", (long long)fst.st_size);
    rewind(f);
    unsigned long sum = 0;
    int c;
    size_t total = 0;
    while ((c = fgetc(f)) != EOF) {
        sum = sum * 31 + (unsigned)c;
        total++;
    }
    check(fclose(f) == 0, "fclose after update");
    printf("read back %zu bytes checksum %08lx\n", total, sum & 0xffffffffUL);
    free(data);

    /* O_CREAT|O_EXCL: fails on an existing file, creates a new one. */
    errno = 0;
    int fd = open(at("work/data.bin"), O_CREAT | O_EXCL | O_WRONLY, 0644);
    if (fd >= 0 || errno != EEXIST) {
        fprintf(stderr, "FAIL O_EXCL on existing file: fd %d errno %d\n", fd, errno);
        return 1;
    }
    printf("O_EXCL existing: EEXIST\n");
    fd = open(at("work/note.txt"), O_CREAT | O_EXCL | O_WRONLY, 0644);
    check(fd >= 0, "O_EXCL new file");
    const char note[] = "created by guest\n";
    check(write(fd, note, sizeof note - 1) == (ssize_t)(sizeof note - 1), "write note");
    check(close(fd) == 0, "close note");
    printf("O_EXCL new: created\n");

    /* A directory listing, sorted here since readdir's order is the file system's. */
    write_text(at("work/c.txt"), "gamma ray\n");
    write_text(at("work/a.txt"), "alpha\n");
    write_text(at("work/b.txt"), "beta\n");
    check(mkdir(at("work/zdir"), 0755) == 0, "mkdir zdir");
    list(at("work"));

    /* Truncate through a descriptor. */
    fd = open(at("work/c.txt"), O_WRONLY);
    check(fd >= 0, "open c.txt");
    check(ftruncate(fd, 5) == 0, "ftruncate");
    check(fstat(fd, &fst) == 0 && fst.st_size == 5, "size after ftruncate");
    check(close(fd) == 0, "close c.txt");
    printf("ftruncate ok\n");

    /* rename, unlink, rmdir. */
    check(rename(at("work/data.bin"), at("work/renamed.bin")) == 0, "rename");
    expect_missing(at("work/data.bin"), "rename");
    check(stat(at("work/renamed.bin"), &st) == 0 && st.st_size == DATA_SIZE + 6, "stat renamed");
    printf("rename ok\n");
    check(unlink(at("work/b.txt")) == 0, "unlink");
    expect_missing(at("work/b.txt"), "unlink");
    printf("unlink ok\n");
    errno = 0;
    if (rmdir(at("work")) == 0 || errno != ENOTEMPTY) {
        fprintf(stderr, "FAIL rmdir of a non-empty directory: errno %d\n", errno);
        return 1;
    }
    printf("rmdir non-empty: ENOTEMPTY\n");
    check(rmdir(at("work/zdir")) == 0, "rmdir");
    expect_missing(at("work/zdir"), "rmdir");
    printf("rmdir ok\n");

    /* A missing file. */
    errno = 0;
    f = fopen(at("work/missing.txt"), "r");
    if (f != NULL || errno != ENOENT) {
        fprintf(stderr, "FAIL open of a missing file: errno %d\n", errno);
        return 1;
    }
    printf("missing: %s\n", strerror(errno));

    list(at("work"));
    printf("done\n");
    return 0;
}
