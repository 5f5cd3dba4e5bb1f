/*
 * The `sqlite` workload: SQLite (the amalgamation, `sqlite3.c`) and this driver in one
 * translation unit, compiled with clang for wasm32-wasi by the benchmark harness and with
 * the host's C compiler for the native baseline (bench/guests/sqlite/build.rs). Both builds
 * take every option from this file, so they compile the same SQLite.
 *
 * `run(n)` opens an in-memory database, inserts n rows in one transaction, builds an index,
 * runs an aggregate with GROUP BY, a join ordered through the index, point lookups, an
 * UPDATE and a DELETE, and folds every result into a 64-bit checksum.
 *
 * SQLite is built for no operating system (SQLITE_OS_OTHER): the VFS below is the only one.
 * It opens no files (the database and its journal live in memory, temporary storage too),
 * and its randomness and clock are fixed, so that every runtime computes exactly the same
 * thing and the module imports nothing.
 */

#define SQLITE_OS_OTHER 1
#define SQLITE_THREADSAFE 0
#define SQLITE_TEMP_STORE 3
#define SQLITE_DEFAULT_MEMSTATUS 0
#define SQLITE_OMIT_LOAD_EXTENSION 1
#define SQLITE_OMIT_LOCALTIME 1
#define SQLITE_OMIT_DEPRECATED 1
#define SQLITE_OMIT_SHARED_CACHE 1
#define SQLITE_OMIT_AUTOINIT 1
#define SQLITE_DQS 0
#define SQLITE_MAX_EXPR_DEPTH 0
#define SQLITE_DEFAULT_WAL_SYNCHRONOUS 1
#define SQLITE_LIKE_DOESNT_MATCH_BLOBS 1
/* Everything SQLite exports becomes local to this file: only `run` is left. */
#define SQLITE_API static

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#endif

#include "sqlite3.c"

#include <stdint.h>
#include <string.h>

/* ---- The VFS: memory only, fixed randomness and time ---------------------------------- */

/* splitmix64: the driver's data and SQLite's randomness. */
static uint64_t mix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t vfs_random_state;

static int vfs_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                    int *out_flags) {
    /* No files: every database of this workload is ":memory:" and temporary storage is
       memory (SQLITE_TEMP_STORE 3), so SQLite never asks for one. */
    (void)vfs; (void)name; (void)flags; (void)out_flags;
    file->pMethods = 0;
    return SQLITE_CANTOPEN;
}

static int vfs_delete(sqlite3_vfs *vfs, const char *name, int sync_dir) {
    (void)vfs; (void)name; (void)sync_dir;
    return SQLITE_IOERR_DELETE_NOENT;
}

static int vfs_access(sqlite3_vfs *vfs, const char *name, int flags, int *result) {
    (void)vfs; (void)name; (void)flags;
    *result = 0;
    return SQLITE_OK;
}

static int vfs_full_pathname(sqlite3_vfs *vfs, const char *name, int size, char *out) {
    (void)vfs;
    sqlite3_snprintf(size, out, "%s", name);
    return SQLITE_OK;
}

static int vfs_randomness(sqlite3_vfs *vfs, int size, char *out) {
    (void)vfs;
    for (int i = 0; i < size; i++) out[i] = (char)mix64(&vfs_random_state);
    return size;
}

static int vfs_sleep(sqlite3_vfs *vfs, int microseconds) {
    (void)vfs;
    return microseconds;
}

/* 2000-01-01 00:00:00 UTC as a Julian day number, in milliseconds. */
static int vfs_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out) {
    (void)vfs;
    *out = (sqlite3_int64)2451544.5 * 86400000 + 43200000;
    return SQLITE_OK;
}

static int vfs_current_time(sqlite3_vfs *vfs, double *out) {
    sqlite3_int64 ms;
    vfs_current_time_int64(vfs, &ms);
    *out = (double)ms / 86400000.0;
    return SQLITE_OK;
}

static int vfs_get_last_error(sqlite3_vfs *vfs, int size, char *out) {
    (void)vfs; (void)size; (void)out;
    return 0;
}

static sqlite3_vfs memory_vfs = {
    .iVersion = 2,
    .szOsFile = sizeof(sqlite3_file),
    .mxPathname = 512,
    .zName = "bench-memory",
    .xOpen = vfs_open,
    .xDelete = vfs_delete,
    .xAccess = vfs_access,
    .xFullPathname = vfs_full_pathname,
    .xRandomness = vfs_randomness,
    .xSleep = vfs_sleep,
    .xCurrentTime = vfs_current_time,
    .xGetLastError = vfs_get_last_error,
    .xCurrentTimeInt64 = vfs_current_time_int64,
};

/* Called by sqlite3_initialize() (SQLITE_OS_OTHER leaves these to the application). */
int sqlite3_os_init(void) {
    vfs_random_state = 0x5eed;
    return sqlite3_vfs_register(&memory_vfs, 1);
}

int sqlite3_os_end(void) { return SQLITE_OK; }

/* ---- The workload ---------------------------------------------------------------------- */

/* What `run` returns when SQLite reports an error: a value no fold of results gives in
   practice, so that a failure shows up as a checksum mismatch naming it. */
#define FAILED(step) (0xdead000000000000ull | (uint64_t)(step) << 32)

static uint64_t fold(uint64_t h, uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0x100000001b3ull;
}

static uint64_t fold_text(uint64_t h, const unsigned char *s, int len) {
    for (int i = 0; i < len; i++) h = (h ^ s[i]) * 0x100000001b3ull;
    return fold(h, (uint64_t)len);
}

/* Folds every column of every row `stmt` yields (integers, text, doubles by their bits). */
static int fold_rows(sqlite3_stmt *stmt, uint64_t *h) {
    int rc;
    int columns = sqlite3_column_count(stmt);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        for (int c = 0; c < columns; c++) {
            switch (sqlite3_column_type(stmt, c)) {
            case SQLITE_INTEGER:
                *h = fold(*h, (uint64_t)sqlite3_column_int64(stmt, c));
                break;
            case SQLITE_FLOAT: {
                double d = sqlite3_column_double(stmt, c);
                uint64_t bits;
                memcpy(&bits, &d, sizeof bits);
                *h = fold(*h, bits);
                break;
            }
            case SQLITE_TEXT:
                *h = fold_text(*h, sqlite3_column_text(stmt, c), sqlite3_column_bytes(stmt, c));
                break;
            default:
                *h = fold(*h, 0x6e756c6c);
            }
        }
    }
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Runs `sql` (one statement) and folds its rows into `h`. */
static int query(sqlite3 *db, const char *sql, uint64_t *h) {
    sqlite3_stmt *stmt;
    int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, 0);
    if (rc != SQLITE_OK) return rc;
    rc = fold_rows(stmt, h);
    int rc2 = sqlite3_finalize(stmt);
    return rc != SQLITE_OK ? rc : rc2;
}

static const char *const WORDS[16] = {
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
    "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa",
};

/* A name of two to four words and a number, made from `r`. */
static int make_name(uint64_t r, char *out) {
    int len = 0;
    int words = 2 + (int)(r % 3);
    r /= 3;
    for (int w = 0; w < words; w++) {
        const char *word = WORDS[r & 15];
        r >>= 4;
        size_t l = strlen(word);
        memcpy(out + len, word, l);
        len += (int)l;
        out[len++] = '-';
    }
    unsigned number = (unsigned)(r % 10000);
    char digits[8];
    int d = 0;
    do {
        digits[d++] = (char)('0' + number % 10);
        number /= 10;
    } while (number);
    while (d) out[len++] = digits[--d];
    return len;
}

static uint64_t workload(sqlite3 *db, uint32_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    uint64_t rng = 0x243f6a8885a308d3ull ^ n;
    char *errmsg = 0;
    sqlite3_stmt *stmt;
    uint32_t groups = 1 + n / 64;

#define STEP(i, expr) do { if ((expr) != SQLITE_OK) return FAILED(i); } while (0)
    STEP(1, sqlite3_exec(db,
                         "CREATE TABLE item(id INTEGER PRIMARY KEY, k INTEGER NOT NULL, "
                         "grp INTEGER NOT NULL, qty INTEGER NOT NULL, name TEXT NOT NULL);"
                         "CREATE TABLE grp(id INTEGER PRIMARY KEY, label TEXT NOT NULL, "
                         "weight INTEGER NOT NULL);",
                         0, 0, &errmsg));

    /* n rows (and the groups) in one transaction through prepared statements. */
    STEP(2, sqlite3_exec(db, "BEGIN", 0, 0, &errmsg));
    STEP(3, sqlite3_prepare_v2(db, "INSERT INTO grp VALUES (?1, ?2, ?3)", -1, &stmt, 0));
    for (uint32_t g = 0; g < groups; g++) {
        char name[64];
        uint64_t r = mix64(&rng);
        int len = make_name(r, name);
        sqlite3_bind_int64(stmt, 1, g);
        sqlite3_bind_text(stmt, 2, name, len, SQLITE_TRANSIENT);
        sqlite3_bind_int64(stmt, 3, (sqlite3_int64)(r >> 54));
        if (sqlite3_step(stmt) != SQLITE_DONE) return FAILED(4);
        sqlite3_reset(stmt);
    }
    STEP(5, sqlite3_finalize(stmt));
    STEP(6, sqlite3_prepare_v2(db, "INSERT INTO item VALUES (NULL, ?1, ?2, ?3, ?4)", -1,
                               &stmt, 0));
    for (uint32_t i = 0; i < n; i++) {
        char name[64];
        uint64_t r = mix64(&rng);
        int len = make_name(mix64(&rng), name);
        sqlite3_bind_int64(stmt, 1, (sqlite3_int64)(r >> 24));
        sqlite3_bind_int64(stmt, 2, (sqlite3_int64)((r & 0xffffff) % groups));
        sqlite3_bind_int64(stmt, 3, (sqlite3_int64)(r % 1000) - 100);
        sqlite3_bind_text(stmt, 4, name, len, SQLITE_TRANSIENT);
        if (sqlite3_step(stmt) != SQLITE_DONE) return FAILED(7);
        sqlite3_reset(stmt);
    }
    STEP(8, sqlite3_finalize(stmt));
    STEP(9, sqlite3_exec(db, "COMMIT", 0, 0, &errmsg));

    /* An index build (a sort of n keys) and a second index over text. */
    STEP(10, sqlite3_exec(db, "CREATE INDEX item_k ON item(k);"
                              "CREATE INDEX item_name ON item(name, grp);",
                          0, 0, &errmsg));

    /* An aggregate with GROUP BY over the join with the groups. */
    STEP(11, query(db,
                   "SELECT g.id, g.label, count(*), sum(i.qty), min(i.k), max(i.name), "
                   "avg(i.qty * g.weight), group_concat(substr(i.name, 1, 1), '') "
                   "FROM item i JOIN grp g ON g.id = i.grp "
                   "GROUP BY g.id ORDER BY sum(i.qty) DESC, g.id",
                   &h));

    /* A range through the index, joined and ordered. */
    STEP(12, query(db,
                   "SELECT i.id, i.k, g.label FROM item i JOIN grp g ON g.id = i.grp "
                   "WHERE i.k BETWEEN 1000000000 AND 40000000000 ORDER BY i.k LIMIT 500",
                   &h));

    /* Point lookups through both indexes. */
    STEP(13, sqlite3_prepare_v2(db,
                                "SELECT count(*), coalesce(sum(qty), 0) FROM item "
                                "WHERE k >= ?1 AND k < ?1 + 1000000",
                                -1, &stmt, 0));
    for (uint32_t i = 0; i < n / 4; i++) {
        sqlite3_bind_int64(stmt, 1, (sqlite3_int64)(mix64(&rng) >> 24));
        STEP(14, fold_rows(stmt, &h));
        sqlite3_reset(stmt);
    }
    STEP(15, sqlite3_finalize(stmt));
    STEP(16, query(db,
                   "SELECT name, count(*) FROM item WHERE name LIKE 'kilo-%' "
                   "GROUP BY name ORDER BY 2 DESC, 1 LIMIT 20",
                   &h));

    /* Changes, then a summary of what is left. */
    STEP(17, sqlite3_exec(db,
                          "BEGIN;"
                          "UPDATE item SET qty = qty * 3 + 1, name = upper(name) "
                          "WHERE id % 7 = 0;"
                          "DELETE FROM item WHERE grp % 5 = 2;"
                          "COMMIT;",
                          0, 0, &errmsg));
    h = fold(h, (uint64_t)sqlite3_total_changes(db));
    STEP(18, query(db,
                   "SELECT count(*), sum(qty), sum(length(name)), "
                   "(SELECT count(DISTINCT grp) FROM item) FROM item",
                   &h));
    STEP(19, query(db, "SELECT id, name FROM item ORDER BY name DESC, id LIMIT 50", &h));
#undef STEP
    return h;
}

#ifdef __wasm__
__attribute__((export_name("run")))
#endif
uint64_t bench_sqlite_run(uint32_t n) {
    sqlite3 *db;
    if (sqlite3_initialize() != SQLITE_OK) return FAILED(0x80);
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) return FAILED(0x81);
    uint64_t h = workload(db, n);
    int closed = sqlite3_close(db);
    /* The failed step rather than the close it leaves unfinished statements to fail. */
    if (h >> 48 == 0xdead) return h;
    if (closed != SQLITE_OK) return FAILED(0x82);
    /* Back to the state of a fresh instance, so every call of `run(n)` does the same. */
    if (sqlite3_shutdown() != SQLITE_OK) return FAILED(0x83);
    return h;
}
