/*
 * Start a WASI program in the directory named by PWD.
 *
 * wasi-libc keeps a program's working directory inside the program: it starts at "/" and
 * wasi-libc never looks at the environment. weft has no per-process working directory in
 * the kernel; the shell passes PWD to every program it starts instead (docs/wasi.md).
 * Linking this file into a C program makes it honour that convention: before main runs,
 * it changes into $PWD when PWD is set to an absolute path.
 *
 *     clang --target=wasm32-wasi -o prog.wasm prog.c user/c/pwd.c
 *
 * A PWD the program cannot change into leaves it in "/" with a warning on stderr, as
 * weft's own userland does (weft_user::init_cwd).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((constructor)) static void weft_start_in_pwd(void) {
    const char *pwd = getenv("PWD");
    if (pwd == NULL || pwd[0] != '/') {
        return;
    }
    if (chdir(pwd) != 0) {
        fprintf(stderr, "warning: cannot change to PWD=%s: %s\n", pwd, strerror(errno));
    }
}
