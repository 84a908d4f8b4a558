// Galaxy image preprocessing: the stored form (ingest) and the training view
// (the loader's augmentations, as Zoobot's: rotation by any angle, random
// resized crop, flips, greyscale as the mean of RGB).
#ifndef ASTROMM_IMAGE_PREP_H
#define ASTROMM_IMAGE_PREP_H

#include <stdint.h>

#include "core/rng.h"
#include "io/image_codec.h"

// The stored form: centre-cropped to a square (the short side), resampled to
// S x S (area average when shrinking, bilinear when enlarging) and converted to
// `channels` (1: mean of RGB; 3: grey replicated). out: [S, S, channels].
void image_to_stored(const Image *in, int S, int channels, uint8_t *out);

// One view of a stored image [S_in, S_in, C_in] as floats in [0, 1],
// [S_out, S_out, C_out] (C_out 1: mean of the channels). The source is rotated
// by `angle` about its centre (zeros outside, bilinear), the square-ish box
// (x0, y0, w, h) of the rotated image is resampled to S_out x S_out (bilinear),
// then flipped. With angle 0, no flips and the whole box it is a plain resize.
typedef struct {
    float angle;             // radians
    float x0, y0, w, h;      // crop box in source pixels
    int flip_x, flip_y;
} ImageView;

void image_view_identity(ImageView *v, int S_in);
// Zoobot's training augmentation drawn from rng (elements 8*offset .. +7):
// angle uniform in [0, 2 pi), crop area fraction in [scale_lo, scale_hi] of
// the image with aspect ratio in [0.9, 1.1] (log-uniform) at a uniform
// position, each flip with probability 1/2.
void image_view_random(ImageView *v, int S_in, float scale_lo, float scale_hi, const AmRng *rng, uint64_t offset);
void image_render(const uint8_t *in, int S_in, int C_in, const ImageView *v, float *out, int S_out, int C_out);

#endif
