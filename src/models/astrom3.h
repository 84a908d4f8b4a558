// AstroM3: three encoders, their projections to a shared space, the three
// learnable logit scales, and classifier heads. State-dict names match the
// PyTorch reference (../shared/reference/astrom3_state_dict.txt).
#ifndef ASTROMM_ASTROM3_H
#define ASTROMM_ASTROM3_H

#include <stdint.h>

#include "nn/arena.h"
#include "core/modality.h"
#include "data/batch.h"
#include "models/metadata.h"
#include "models/model_config.h"
#include "nn/params.h"
#include "models/photometry.h"
#include "models/spectra.h"

typedef struct {
    ModelConfig cfg;
    ParamStore params;
    AmArena arena;
    int max_batch, batch;
    PhotometryEncoder photo;
    SpectraEncoder spec;
    MetadataEncoder meta;
    int logit_scale[3];            // ps, sm, mp
    int proj_w[MOD_COUNT], proj_b[MOD_COUNT];      // photometry, spectra, metadata
    int enc_dim[MOD_COUNT];
    const float *enc_out[MOD_COUNT];       // encoder outputs of the last forward
    float *proj[MOD_COUNT], *emb[MOD_COUNT], *norm[MOD_COUNT];  // [B, proj_dim], [B, proj_dim], [B]
    float *g_emb[MOD_COUNT], *g_proj[MOD_COUNT], *g_enc[MOD_COUNT];
    // Classifier head: the modalities it reads (core/modality.h masks; 0 = no
    // head, CLIP pre-training). A one-modality head classifies from that
    // encoder's output; a head over several (fused) averages their normalised
    // projections. "classifier.weight" [n_classes, head_in].
    int head_mask, head_w, head_b, head_in;
    float *head_x, *logits, *g_head_x;  // head input [B, head_in] (the averaged
                                        // embedding of a fused head), logits [B, n_classes]
} AstroM3;

// Registers every tensor, allocates parameters and activations for max_batch.
void astrom3_create(AstroM3 *m, const ModelConfig *cfg, int max_batch);
// The same plus a classifier head: single-modality heads classify straight from
// the encoder output (25600, 1184 or 512 features, no projection), as the
// reference; the fused heads average their modalities' normalised projections ->
// Linear(proj, classes).
void astrom3_create_with_head(AstroM3 *m, const ModelConfig *cfg, int max_batch, int head_mask);
void astrom3_free(AstroM3 *m);
// Parameters from the Philox init rule (bounds 1/sqrt(fan_in), LayerNorm 1/0,
// logit scales log(100)).
void astrom3_init(AstroM3 *m, uint64_t seed);

// Encoders + projections + L2 normalisation: fills m->emb[mod] for every modality.
void astrom3_embed_forward(AstroM3 *m, const Batch *b, const StepCtx *ctx);
// Only the modalities of mask (MOD_BIT(MOD_*)); the others' buffers are untouched.
void astrom3_embed_forward_masked(AstroM3 *m, const Batch *b, const StepCtx *ctx, int mask);
// The parameter groups of the model (params_set_group): the logit scales, the
// classifier head, and per modality its projection and its encoder. The
// backward reports a modality's groups final in the order projection, encoder
// (astrom3_embed_backward_hooked); the scales' and the head's gradients are
// final before it starts.
enum { ASTROM3_GROUP_LOGIT_SCALES = 0, ASTROM3_GROUP_CLASSIFIER = 1 };
#define ASTROM3_N_GROUPS (2 + 2 * MOD_COUNT)
enum { ASTROM3_PART_PROJ = 0, ASTROM3_PART_ENCODER = 1 };
static inline int astrom3_group(int mod, int part) { return 2 + 2 * mod + part; }
// The modality of a group (-1 for the scales and the head) and its part.
static inline int astrom3_group_modality(int group) { return group >= 2 ? (group - 2) / 2 : -1; }
static inline int astrom3_group_part(int group) { return (group - 2) % 2; }

// Backward from m->g_emb[mod] (the caller accumulates into them after zeroing
// with astrom3_zero_emb_grad); accumulates parameter gradients.
void astrom3_embed_backward(AstroM3 *m);
// The same, calling ready(user, mod, part) as soon as a group of parameter
// gradients is final: part ASTROM3_PART_PROJ after "<mod>_proj.*", then
// ASTROM3_PART_ENCODER after "<mod>_encoder.*" (mod = photometry, spectra,
// metadata, in that order), so a data-parallel trainer can start all-reducing
// them while the rest of the backward runs. ready may be NULL.
typedef void (*AstroM3GradReady)(void *user, int mod, int part);
void astrom3_embed_backward_hooked(AstroM3 *m, AstroM3GradReady ready, void *user);
// Only the modalities of mask (after astrom3_embed_forward_masked with that mask).
void astrom3_embed_backward_masked(AstroM3 *m, int mask, AstroM3GradReady ready, void *user);
void astrom3_zero_emb_grad(AstroM3 *m);
// The three log-space logit scales (ps, sm, mp) and their gradients.
void astrom3_log_scales(const AstroM3 *m, float out[3]);
void astrom3_add_log_scale_grad(AstroM3 *m, const float g[3]);

// Classification (models/classifier.c): logits [B, n_classes] of the head; only
// the encoders the head needs run.
float *astrom3_classify_forward(AstroM3 *m, const Batch *b, const StepCtx *ctx);
// dlogits [B, n_classes]; accumulates parameter gradients.
void astrom3_classify_backward(AstroM3 *m, const float *dlogits);
// 1 for the heads that average projections (more than one modality).
int astrom3_head_fused(int head_mask);

#endif
