// One sample's ProbSparse row tables (op_probsparse_row_tables in ops.h), the
// one definition run by the CPU (src/cpu/layout.c) and by one GPU thread per
// sample (cuda/probsparse_index.cu), so both devices build identical tables.
#ifndef ASTROMM_PROBSPARSE_TABLES_H
#define ASTROMM_PROBSPARSE_TABLES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __CUDACC__
#define PST_FN static __host__ __device__ __forceinline__
#else
#define PST_FN static inline
#endif

#define PST_SELECTED (-2)  // flag of a selected row; anything else is unselected

// Sample b: flag[i] == PST_SELECTED marks row i (of L) as selected. Writes the
// sample's S table entries (tab, may be NULL), its L row_map entries (map, may
// be NULL; may alias flag: flag[i] is read before map[i] is written) and its Q
// query rows (qr, may be NULL); row numbers are global (b*L + i), table entries
// global (b*S + k).
PST_FN void probsparse_sample_tables(int32_t *tab, int32_t *map, int32_t *qr, const int32_t *flag, int b, int L,
                                     int S, int Q) {
    int nt = 0, nq = 0, stand_in = -1;
    int32_t stand_in_row = -1;
    for (int i = 0; i < L; i++) {
        const int32_t r = b * L + i;
        int entry;
        if (flag[i] == PST_SELECTED) {  // selected: an entry of its own, and a query row
            entry = nt++;
            if (tab) tab[entry] = r;
            if (qr) qr[nq] = r;
            nq++;
        } else if (stand_in < 0) {  // first unselected row: the stand-in entry
            entry = stand_in = nt++;
            stand_in_row = r;
            if (tab) tab[entry] = r;
        } else {
            entry = stand_in;
        }
        if (map) map[i] = b * S + entry;
    }
    if (tab)
        for (int k = nt; k < S; k++) tab[k] = tab[0];
    if (qr)  // nq < Q <= L leaves an unselected row: the stand-in exists
        for (int k = nq; k < Q; k++) qr[k] = stand_in_row;
}

#endif
