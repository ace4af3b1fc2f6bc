/* A stand-in for libRingmasterC.so with the same C ABI, for testing the Python binding without the
 * Swift build: the "world" is two identical replicas of this process, so an all-reduce sum doubles
 * every element, avg/min/max leave it unchanged, and broadcast and barrier succeed. The world size
 * comes from FAKE_RM_WORLD (default 2); a join fails with FAKE_RM_FAIL=<code> and that code's message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { int32_t rank, size, kind, open; } group;
static int32_t live = 0;

static int32_t fail(int32_t code, const char *msg, char *err, size_t errlen) {
    if (err && errlen) { strncpy(err, msg, errlen - 1); err[errlen - 1] = 0; }
    return code;
}

int32_t rm_abi_version(void) { return 1; }
int32_t rm_fake_live_groups(void) { return live; }

int32_t rm_world_join(int64_t timeout_ms, void **out, char *err, size_t errlen) {
    const char *f = getenv("FAKE_RM_FAIL");
    if (f && *f) return fail(atoi(f), "fake failure requested by FAKE_RM_FAIL", err, errlen);
    if (!getenv("RINGMASTER_RENDEZVOUS")) return fail(6, "RINGMASTER_RENDEZVOUS is not set", err, errlen);
    group *g = calloc(1, sizeof *g);
    const char *w = getenv("FAKE_RM_WORLD");
    g->size = w ? atoi(w) : 2; g->kind = -1; g->open = 1;
    live++;
    *out = g;
    (void)timeout_ms;
    return 0;
}

int32_t rm_group_sub(void *world, int32_t kind, void **out, char *err, size_t errlen) {
    if (kind < 0 || kind > 2) return fail(6, "unknown sub-group kind", err, errlen);
    group *g = calloc(1, sizeof *g);
    *g = *(group *)world; g->kind = kind;
    live++;
    *out = g;
    return 0;
}

int32_t rm_group_rank(void *g) { return ((group *)g)->rank; }
int32_t rm_group_size(void *g) { return ((group *)g)->size; }

int32_t rm_allreduce(void *g, void *buf, int64_t count, int32_t dtype, int32_t op, int64_t timeout_ms,
                     char *err, size_t errlen) {
    (void)g;
    if (timeout_ms == 1) return fail(1, "all-reduce timed out after 1ms", err, errlen);
    if (op < 1 || op > 4 || dtype < 1 || dtype > 6) return fail(6, "bad dtype or op", err, errlen);
    if (op != 1) return 0;
    for (int64_t i = 0; i < count; i++) {
        switch (dtype) {
        case 1: ((float *)buf)[i] *= 2; break;
        case 2: ((double *)buf)[i] *= 2; break;
        case 5: ((int32_t *)buf)[i] *= 2; break;
        case 6: ((int64_t *)buf)[i] *= 2; break;
        default: return fail(6, "the fake reduces float32, float64, int32 and int64 only", err, errlen);
        }
    }
    return 0;
}

int32_t rm_broadcast(void *g, void *buf, int64_t count, int32_t dtype, int32_t root, int64_t timeout_ms,
                     char *err, size_t errlen) {
    (void)g; (void)buf; (void)count; (void)dtype; (void)root; (void)timeout_ms; (void)err; (void)errlen;
    return 0;
}

int32_t rm_barrier(void *g, int64_t timeout_ms, char *err, size_t errlen) {
    (void)g; (void)timeout_ms; (void)err; (void)errlen;
    return 0;
}

void rm_group_leave(void *g) { live--; free(g); }
void rm_group_abort(void *g) { (void)g; }
