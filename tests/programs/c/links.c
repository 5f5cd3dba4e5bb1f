/*
 * links: symbolic links, hard links and file times, as a program sees them, and attempts
 * to leave the directory it was given through links it makes itself.
 *
 *   links DIR
 *
 * DIR must be empty and writable. The program prints one line per step; a step whose
 * result is not the one POSIX (and wasmtime) give prints `FAIL ...` on stderr and exits
 * 1. It leaves DIR empty.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "under.h"

static const char *errname(int e) {
    switch (e) {
    case 0: return "ok";
    case ENOENT: return "ENOENT";
    case ELOOP: return "ELOOP";
    case EEXIST: return "EEXIST";
    case EPERM: return "EPERM";
    case ENOTDIR: return "ENOTDIR";
    case ENOTCAPABLE: return "ENOTCAPABLE";
    case EINVAL: return "EINVAL";
    default: return strerror(e);
    }
}

static void fail(const char *what) {
    fprintf(stderr, "FAIL %s: %s\n", what, errname(errno));
    exit(1);
}

/* Expects `result` (a call's return value) to fail with `want`. */
static void refused(int result, int want, const char *what) {
    if (result >= 0) {
        fprintf(stderr, "FAIL %s: succeeded, expected %s\n", what, errname(want));
        exit(1);
    }
    if (errno != want) {
        fprintf(stderr, "FAIL %s: %s, expected %s\n", what, errname(errno), errname(want));
        exit(1);
    }
    printf("%s: %s\n", what, errname(want));
}

static void write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    check(fd >= 0, "create");
    check(write(fd, text, strlen(text)) == (ssize_t)strlen(text), "write");
    check(close(fd) == 0, "close");
}

static void read_file(const char *path, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY);
    check(fd >= 0, path);
    ssize_t n = read(fd, buf, cap - 1);
    check(n >= 0, "read");
    buf[n] = 0;
    close(fd);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: links DIR\n");
        return 2;
    }
    root = argv[1];
    char buf[256];
    struct stat st, lst;

    /* A symbolic link to a file: followed by open and stat, itself for lstat. */
    write_file(at("file"), "hello\n");
    check(symlink("file", at("sym")) == 0, "symlink");
    ssize_t n = readlink(at("sym"), buf, sizeof buf);
    check(n == 4 && memcmp(buf, "file", 4) == 0, "readlink");
    read_file(at("sym"), buf, sizeof buf);
    check(strcmp(buf, "hello\n") == 0, "read through the link");
    check(stat(at("sym"), &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 6, "stat");
    check(lstat(at("sym"), &lst) == 0 && S_ISLNK(lst.st_mode) && lst.st_size == 4, "lstat");
    printf("symlink: readlink file, reads hello, stat regular, lstat link\n");
    refused(open(at("sym"), O_RDONLY | O_NOFOLLOW), ELOOP, "open O_NOFOLLOW");
    refused(symlink("other", at("sym")), EEXIST, "symlink over a link");
    refused(readlink(at("file"), buf, sizeof buf), EINVAL, "readlink of a file");

    /* A link to a directory, and a path through it. */
    check(mkdir(at("sub"), 0755) == 0, "mkdir");
    check(symlink("sub", at("dirlink")) == 0, "symlink to a directory");
    write_file(at("dirlink/inner"), "inner\n");
    read_file(at("sub/inner"), buf, sizeof buf);
    check(strcmp(buf, "inner\n") == 0, "write through a directory link");
    check(symlink("../file", at("sub/up")) == 0, "symlink with ..");
    read_file(at("dirlink/up"), buf, sizeof buf);
    check(strcmp(buf, "hello\n") == 0, "read through two links");
    printf("directory link: write through it, .. inside a target\n");

    /* Loops and dangling links. */
    check(symlink("loop", at("loop")) == 0, "symlink to itself");
    refused(open(at("loop"), O_RDONLY), ELOOP, "open a loop");
    check(symlink("a", at("b")) == 0 && symlink("b", at("a")) == 0, "two-link loop");
    refused(stat(at("a"), &st), ELOOP, "stat a two-link loop");
    check(symlink("missing", at("dangling")) == 0, "dangling symlink");
    refused(open(at("dangling"), O_RDONLY), ENOENT, "open a dangling link");
    check(lstat(at("dangling"), &lst) == 0 && S_ISLNK(lst.st_mode), "lstat a dangling link");

    /* Hard links: one object, two names. */
    check(link(at("file"), at("hard")) == 0, "link");
    check(stat(at("file"), &st) == 0 && stat(at("hard"), &lst) == 0, "stat both");
    check(st.st_ino == lst.st_ino && st.st_nlink == 2, "same inode, two links");
    refused(link(at("file"), at("hard")), EEXIST, "link over a name");
    refused(link(at("sub"), at("subhard")), EPERM, "link a directory");
    check(unlink(at("file")) == 0, "unlink the first name");
    read_file(at("hard"), buf, sizeof buf);
    check(strcmp(buf, "hello\n") == 0 && stat(at("hard"), &st) == 0 && st.st_nlink == 1,
          "the second name keeps the data");
    refused(open(at("sym"), O_RDONLY), ENOENT, "the link now dangles");
    check(rename(at("hard"), at("file")) == 0, "rename it back");
    printf("hard link: same inode, survives unlinking the other name\n");

    /* Times: set on a file, on a link itself, and through a descriptor. */
    struct timespec times[2] = {{1000, 5}, {2000, 7}};
    check(utimensat(AT_FDCWD, at("file"), times, 0) == 0, "utimensat");
    check(stat(at("file"), &st) == 0, "stat after utimensat");
    check(st.st_atim.tv_sec == 1000 && st.st_atim.tv_nsec == 5 &&
              st.st_mtim.tv_sec == 2000 && st.st_mtim.tv_nsec == 7,
          "times set");
    struct timespec link_times[2] = {{3000, 0}, {4000, 0}};
    check(utimensat(AT_FDCWD, at("sym"), link_times, AT_SYMLINK_NOFOLLOW) == 0,
          "utimensat on the link itself");
    check(lstat(at("sym"), &lst) == 0 && lst.st_mtim.tv_sec == 4000, "the link's times");
    check(stat(at("file"), &st) == 0 && st.st_mtim.tv_sec == 2000, "the file's unchanged");
    int fd = open(at("file"), O_RDONLY);
    check(fd >= 0, "open for futimens");
    struct timespec keep_a[2] = {{0, UTIME_OMIT}, {5000, 0}};
    check(futimens(fd, keep_a) == 0, "futimens");
    close(fd);
    check(stat(at("file"), &st) == 0 && st.st_mtim.tv_sec == 5000 &&
              st.st_atim.tv_sec == 1000,
          "futimens kept the access time");
    printf("times: file, link itself, descriptor\n");

    /* The directory lists links as links. */
    DIR *d = opendir(root);
    check(d != NULL, "opendir");
    int links = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_type == DT_LNK)
            links++;
    closedir(d);
    check(links == 6, "six links listed");
    printf("readdir: %d links\n", links);

    /* Escapes: a link may not lead above the directory the program was given. */
    refused(symlink("/etc/passwd", at("abs")), EPERM, "absolute symlink");
    check(symlink("../../../../../../../../../../etc/passwd", at("esc")) == 0,
          "symlink climbing out (made, never followed out)");
    refused(open(at("esc"), O_RDONLY), ENOTCAPABLE, "open through it");
    refused(stat(at("esc"), &st), ENOTCAPABLE, "stat through it");
    check(symlink("../../../../../../../../../..", at("escdir")) == 0, "symlink to far above");
    refused(open(at("escdir/etc/passwd"), O_RDONLY), ENOTCAPABLE, "open beneath it");
    refused(mkdir(at("escdir/made"), 0755), ENOTCAPABLE, "mkdir beneath it");
    fd = open(at("esc"), O_WRONLY | O_CREAT, 0644);
    refused(fd, ENOTCAPABLE, "create through it");

    /* Clean up: removing links removes the links. */
    const char *names[] = {"sym", "dirlink", "loop", "a", "b", "dangling", "esc", "escdir",
                           "sub/up", "sub/inner", "file"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        check(unlink(at("%s", names[i])) == 0, names[i]);
    check(rmdir(at("sub")) == 0, "rmdir");
    printf("cleaned up\n");
    return 0;
}
