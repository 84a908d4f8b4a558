#include "nn/arena.h"

#include <stdlib.h>

#include "core/error.h"
#include "nn/ops.h"

static void *arena_take(AmArena *a, size_t bytes) {
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 64;
        a->blocks = realloc(a->blocks, (size_t)a->cap * sizeof *a->blocks);
        CHECK(a->blocks, "out of memory growing the activation arena");
    }
    void *p = ops_alloc(bytes, "activations");
    a->blocks[a->n++] = p;
    a->bytes += bytes;
    return p;
}

float *arena_floats(AmArena *a, size_t n) { return arena_take(a, n * sizeof(float)); }
int32_t *arena_ints(AmArena *a, size_t n) { return arena_take(a, n * sizeof(int32_t)); }

uint8_t *arena_bits(AmArena *a, size_t n) { return arena_take(a, (n + 7) / 8); }

void arena_free(AmArena *a) {
    for (int i = 0; i < a->n; i++) ops_free(a->blocks[i]);
    free(a->blocks);
    *a = (AmArena){0};
}
