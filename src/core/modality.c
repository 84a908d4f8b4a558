// Names and masks of the modalities (modality.h).
#include "core/modality.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static const char *const names[MOD_COUNT] = {"photometry", "spectra", "metadata"};

const char *modality_name(int mod) { return mod >= 0 && mod < MOD_COUNT ? names[mod] : NULL; }

int modality_from_name(const char *name) {
    for (int m = 0; name && m < MOD_COUNT; m++)
        if (!strcmp(name, names[m])) return m;
    return -1;
}

// Every set's name, built once from the single names so that a new modality
// needs no new table here.
static char mask_names[1 << MOD_COUNT][MOD_COUNT * 16];
static pthread_once_t mask_names_once = PTHREAD_ONCE_INIT;

static void build_mask_names(void) {
    for (int mask = 0; mask < 1 << MOD_COUNT; mask++) {
        char *out = mask_names[mask];
        if (mask == 0 || mask == MOD_MASK_ALL) {
            snprintf(out, sizeof mask_names[0], "%s", mask ? "all" : "none");
            continue;
        }
        size_t len = 0;
        for (int m = 0; m < MOD_COUNT; m++)
            if (mask & MOD_BIT(m))
                len += (size_t)snprintf(out + len, sizeof mask_names[0] - len, "%s%s", len ? "+" : "", names[m]);
    }
}

const char *modality_mask_name(int mask) {
    if (mask < 0 || mask > MOD_MASK_ALL) return "invalid";
    pthread_once(&mask_names_once, build_mask_names);
    return mask_names[mask];
}

int modality_mask_from_name(const char *name) {
    if (!name) return 0;
    pthread_once(&mask_names_once, build_mask_names);
    for (int mask = 1; mask <= MOD_MASK_ALL; mask++)
        if (!strcmp(name, mask_names[mask])) return mask;
    return 0;
}

int modality_mask_count(int mask) {
    int n = 0;
    for (int m = 0; m < MOD_COUNT; m++) n += (mask >> m) & 1;
    return n;
}

int modality_mask_single(int mask) {
    if (modality_mask_count(mask) != 1) return -1;
    for (int m = 0; m < MOD_COUNT; m++)
        if (mask == MOD_BIT(m)) return m;
    return -1;
}
