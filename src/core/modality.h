// The modalities of the engine, defined once: their order (the index every
// layer uses for arrays of per-modality things), their names (configs, CLI,
// checkpoints, dataset and embeddings files) and sets of them as bit masks
// (which encoders a step runs, which a classifier head reads, which a CLIP
// pre-training pairs). A new modality is one more entry here and in
// modality.c; the names of sets are built from the single names.
#ifndef ASTROMM_MODALITY_H
#define ASTROMM_MODALITY_H

enum { MOD_PHOTOMETRY = 0, MOD_SPECTRA = 1, MOD_METADATA = 2, MOD_COUNT = 3 };

#define MOD_BIT(m) (1 << (m))
#define MOD_MASK_ALL ((1 << MOD_COUNT) - 1)

// "photometry", "spectra", "metadata"; NULL outside 0 .. MOD_COUNT-1.
const char *modality_name(int mod);
// The index of a single name; -1 for NULL or an unknown name.
int modality_from_name(const char *name);
// A set of modalities by name: a single name, "all", or single names joined by
// '+' in the order of the enum ("photometry+metadata"). 0 for NULL, "none", an
// unknown name, a repeated or out-of-order part.
int modality_mask_from_name(const char *name);
// The name of a set in the form modality_mask_from_name reads ("none" for 0,
// "all" for every modality); a static string, valid for the whole run.
const char *modality_mask_name(int mask);
// Number of modalities in a set.
int modality_mask_count(int mask);
// The modality of a one-modality set; -1 when the set has 0 or several.
int modality_mask_single(int mask);

#endif
