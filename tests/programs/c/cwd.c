/* Prints its working directory, then the first line of each file named (relative names
 * resolve against the working directory). */
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) == NULL) {
        perror("getcwd");
        return 1;
    }
    printf("cwd %s\n", cwd);
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "r");
        if (f == NULL) {
            perror(argv[i]);
            return 1;
        }
        char line[256];
        if (fgets(line, sizeof line, f) != NULL) {
            printf("%s: %s", argv[i], line);
        }
        fclose(f);
    }
    return 0;
}
