// Activation memory: every buffer a model needs is taken from an arena once,
// when the model is built for a batch size, and released together. The
// training step itself never allocates. Buffers live on the current op device
// (ops_alloc), zeroed.
#ifndef ASTROMM_ARENA_H
#define ASTROMM_ARENA_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    void **blocks;
    int n, cap;
    size_t bytes;  // total handed out, for memory reports
} AmArena;

float *arena_floats(AmArena *a, size_t n);
int32_t *arena_ints(AmArena *a, size_t n);
// Room for n bits (dropout masks), zeroed.
uint8_t *arena_bits(AmArena *a, size_t n);
void arena_free(AmArena *a);

#endif
