#include "data/preprocess/image.h"

#include <math.h>
#include <string.h>

// Value of channel c of pixel (x, y) of the square crop of `in`, as seen at
// the output's channel count: grey out of RGB is the mean, RGB out of grey
// replicates.
static float pixel(const Image *in, int x0, int y0, int x, int y, int c, int C_out) {
    const uint8_t *p = in->pixels + ((size_t)(y0 + y) * in->width + (x0 + x)) * in->channels;
    if (in->channels == C_out) return p[c];
    if (C_out == 1) return ((float)p[0] + p[1] + p[2]) / 3.0f;
    return p[0];
}

void image_to_stored(const Image *in, int S, int channels, uint8_t *out) {
    const int side = in->width < in->height ? in->width : in->height;
    const int x0 = (in->width - side) / 2, y0 = (in->height - side) / 2;
    const double scale = (double)side / S;  // source pixels per output pixel
    for (int v = 0; v < S; v++)
        for (int u = 0; u < S; u++)
            for (int c = 0; c < channels; c++) {
                double acc = 0.0, wsum = 0.0;
                if (scale > 1.0) {
                    // area average over the output pixel's footprint [u*scale, (u+1)*scale)
                    const double sx0 = u * scale, sx1 = sx0 + scale, sy0 = v * scale, sy1 = sy0 + scale;
                    for (int y = (int)sy0; y < (int)ceil(sy1) && y < side; y++) {
                        const double wy = fmin(sy1, y + 1.0) - fmax(sy0, (double)y);
                        for (int x = (int)sx0; x < (int)ceil(sx1) && x < side; x++) {
                            const double wx = fmin(sx1, x + 1.0) - fmax(sx0, (double)x);
                            acc += wx * wy * pixel(in, x0, y0, x, y, c, channels);
                            wsum += wx * wy;
                        }
                    }
                } else {
                    // bilinear at the output pixel's centre
                    double sx = (u + 0.5) * scale - 0.5, sy = (v + 0.5) * scale - 0.5;
                    sx = fmin(fmax(sx, 0.0), side - 1.0);
                    sy = fmin(fmax(sy, 0.0), side - 1.0);
                    const int ix = (int)sx, iy = (int)sy, jx = ix + 1 < side ? ix + 1 : ix, jy = iy + 1 < side ? iy + 1 : iy;
                    const double fx = sx - ix, fy = sy - iy;
                    acc = (1 - fy) * ((1 - fx) * pixel(in, x0, y0, ix, iy, c, channels) + fx * pixel(in, x0, y0, jx, iy, c, channels)) +
                          fy * ((1 - fx) * pixel(in, x0, y0, ix, jy, c, channels) + fx * pixel(in, x0, y0, jx, jy, c, channels));
                    wsum = 1.0;
                }
                const double val = acc / wsum;
                out[((size_t)v * S + u) * channels + c] = (uint8_t)(val < 0 ? 0 : val > 255 ? 255 : lrint(val));
            }
}

void image_view_identity(ImageView *v, int S_in) { *v = (ImageView){0.0f, 0.0f, 0.0f, (float)S_in, (float)S_in, 0, 0}; }

void image_view_random(ImageView *v, int S_in, float scale_lo, float scale_hi, const AmRng *rng, uint64_t offset) {
    const uint64_t e = 8 * offset;
    const float two_pi = 6.28318530717958647692f;
    const float area = scale_lo + (scale_hi - scale_lo) * am_rng_uniform(rng, e + 1);
    const float log_lo = logf(0.9f), log_hi = logf(1.1f);
    const float ratio = expf(log_lo + (log_hi - log_lo) * am_rng_uniform(rng, e + 2));
    float w = (float)S_in * sqrtf(area * ratio), h = (float)S_in * sqrtf(area / ratio);
    if (w > S_in) w = (float)S_in;
    if (h > S_in) h = (float)S_in;
    v->angle = two_pi * am_rng_uniform(rng, e);
    v->w = w;
    v->h = h;
    v->x0 = ((float)S_in - w) * am_rng_uniform(rng, e + 3);
    v->y0 = ((float)S_in - h) * am_rng_uniform(rng, e + 4);
    v->flip_x = am_rng_uniform(rng, e + 5) < 0.5f;
    v->flip_y = am_rng_uniform(rng, e + 6) < 0.5f;
}

// Bilinear sample of channel c at (x, y) (pixel centres at integers), zero
// outside the image, grey as the mean of the channels when C_out == 1 < C_in.
static float sample(const uint8_t *in, int S, int C_in, float x, float y, int c, int C_out) {
    const int ix = (int)floorf(x), iy = (int)floorf(y);
    const float fx = x - (float)ix, fy = y - (float)iy;
    float acc = 0.0f;
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) {
            const int px = ix + dx, py = iy + dy;
            if (px < 0 || py < 0 || px >= S || py >= S) continue;
            const float w = (dx ? fx : 1.0f - fx) * (dy ? fy : 1.0f - fy);
            const uint8_t *p = in + ((size_t)py * S + px) * C_in;
            float val;
            if (C_out == C_in) val = p[c];
            else if (C_out == 1) {
                float s = 0.0f;
                for (int k = 0; k < C_in; k++) s += p[k];
                val = s / (float)C_in;
            } else val = p[0];
            acc += w * val;
        }
    return acc;
}

void image_render(const uint8_t *in, int S_in, int C_in, const ImageView *v, float *out, int S_out, int C_out) {
    const float cx = 0.5f * (float)(S_in - 1), cy = cx;
    const float cs = cosf(v->angle), sn = sinf(v->angle);
    const float sx = v->w / (float)S_out, sy = v->h / (float)S_out;
    for (int r = 0; r < S_out; r++)
        for (int q = 0; q < S_out; q++) {
            const int qq = v->flip_x ? S_out - 1 - q : q, rr = v->flip_y ? S_out - 1 - r : r;
            // position in the rotated image, then back through the rotation
            const float xr = v->x0 + ((float)qq + 0.5f) * sx - 0.5f, yr = v->y0 + ((float)rr + 0.5f) * sy - 0.5f;
            const float dx = xr - cx, dy = yr - cy;
            const float xs = cx + cs * dx + sn * dy, ys = cy - sn * dx + cs * dy;
            float *o = out + ((size_t)r * S_out + q) * C_out;
            for (int c = 0; c < C_out; c++) o[c] = sample(in, S_in, C_in, xs, ys, c, C_out) * (1.0f / 255.0f);
        }
}
