/*
 * heap: allocation-heavy work that makes malloc grow linear memory (memory.grow).
 *
 * Prints deterministic results (the same natively and on Wasm), or "FAIL ..." on stderr
 * and exit 1:
 *   blocks ok     1000 blocks of pseudo-random sizes are filled, half freed, the rest
 *                 grown with realloc, and every byte still holds its pattern;
 *   table N CRC   a chained hash table of 10000 malloc'd strings, every key looked up;
 *   big ok        a 48 MiB allocation is usable at both ends;
 *   memory grew ok  (on Wasm) linear memory is now larger than 48 MiB.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rng = 12345;

static uint32_t next(void) {
    rng = rng * 1664525u + 1013904223u;
    return rng >> 8;
}

static void fail(const char *what) {
    fprintf(stderr, "FAIL %s\n", what);
    exit(1);
}

static unsigned char fill_byte(size_t block, size_t i) {
    return (unsigned char)(block * 31 + i);
}

static void blocks(void) {
    enum { COUNT = 1000 };
    static unsigned char *ptr[COUNT];
    static size_t len[COUNT];
    for (size_t b = 0; b < COUNT; b++) {
        len[b] = 16 + next() % 4096;
        ptr[b] = malloc(len[b]);
        if (!ptr[b])
            fail("malloc block");
        for (size_t i = 0; i < len[b]; i++)
            ptr[b][i] = fill_byte(b, i);
    }
    for (size_t b = 0; b < COUNT; b += 2) {
        free(ptr[b]);
        ptr[b] = NULL;
    }
    for (size_t b = 1; b < COUNT; b += 2) {
        unsigned char *grown = realloc(ptr[b], len[b] * 3);
        if (!grown)
            fail("realloc");
        ptr[b] = grown;
        memset(grown + len[b], 0xEE, len[b] * 2);
    }
    for (size_t b = 1; b < COUNT; b += 2) {
        for (size_t i = 0; i < len[b]; i++)
            if (ptr[b][i] != fill_byte(b, i))
                fail("block contents after realloc");
        if (ptr[b][len[b] * 3 - 1] != 0xEE)
            fail("grown tail");
        free(ptr[b]);
    }
    printf("blocks ok\n");
}

struct entry {
    struct entry *next;
    uint32_t value;
    char key[];
};

static uint32_t hash(const char *s) {
    uint32_t h = 2166136261u;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

static void table(void) {
    enum { KEYS = 10000, BUCKETS = 1024 };
    struct entry **bucket = calloc(BUCKETS, sizeof *bucket);
    if (!bucket)
        fail("calloc buckets");
    for (uint32_t k = 0; k < KEYS; k++) {
        char key[32];
        int n = snprintf(key, sizeof key, "key-%u-%u", k, k * 2654435761u);
        struct entry *e = malloc(sizeof *e + (size_t)n + 1);
        if (!e)
            fail("malloc entry");
        memcpy(e->key, key, (size_t)n + 1);
        e->value = k;
        uint32_t h = hash(key) % BUCKETS;
        e->next = bucket[h];
        bucket[h] = e;
    }
    uint32_t found = 0, crc = 0;
    for (uint32_t k = 0; k < KEYS; k++) {
        char key[32];
        snprintf(key, sizeof key, "key-%u-%u", k, k * 2654435761u);
        for (struct entry *e = bucket[hash(key) % BUCKETS]; e; e = e->next) {
            if (strcmp(e->key, key) == 0) {
                found++;
                crc = crc * 33 + e->value;
                break;
            }
        }
    }
    for (uint32_t b = 0; b < BUCKETS; b++) {
        struct entry *e = bucket[b];
        while (e) {
            struct entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(bucket);
    printf("table %u %08x\n", found, crc);
}

static void big(void) {
    size_t size = 48u << 20;
    unsigned char *p = malloc(size);
    if (!p)
        fail("malloc 48 MiB");
    for (size_t i = 0; i < size; i += 65536)
        p[i] = (unsigned char)(i >> 16);
    p[size - 1] = 0x5A;
    for (size_t i = 0; i < size; i += 65536)
        if (p[i] != (unsigned char)(i >> 16))
            fail("big block contents");
    if (p[size - 1] != 0x5A)
        fail("big block end");
    printf("big ok\n");
#ifdef __wasm__
    size_t bytes = __builtin_wasm_memory_size(0) * 65536;
    if (bytes <= size)
        fail("linear memory did not grow");
#endif
    printf("memory grew ok\n");
    free(p);
}

int main(void) {
    blocks();
    table();
    big();
    return 0;
}
