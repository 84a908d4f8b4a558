// Image montages: see montage.h.
#include "eval/montage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/format/image_dataset.h"
#include "io/image_codec.h"

enum { GAP = 4, QUERY_GAP = 16, BACKGROUND = 255 };

int montage_write(const char *dataset, const int64_t *rows, int n_rows, int per_row, int first_apart, const char *out,
                  AmError *err) {
    if (n_rows < 1 || per_row < 1) return am_error_set(err, "%s: an empty montage (%d x %d)", out, n_rows, per_row);
    ImgDataset *ds = NULL;
    if (imgds_open(dataset, &ds, err)) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        return am_error_set(err, "montage %s: the images come from %s, which does not open as an image dataset: %s",
                            out, dataset, why);
    }
    const int S = imgds_image_size(ds), C = imgds_channels(ds);
    const int64_t N = imgds_count(ds);
    const int extra = first_apart && per_row > 1 ? QUERY_GAP - GAP : 0;
    const int64_t W = (int64_t)per_row * S + (int64_t)(per_row + 1) * GAP + extra;
    const int64_t H = (int64_t)n_rows * S + (int64_t)(n_rows + 1) * GAP;
    if (W > IMAGE_MAX_SIDE || H > IMAGE_MAX_SIDE || W * H > IMAGE_MAX_PIXELS) {
        imgds_close(ds);
        return am_error_set(err, "montage %s: %lld x %lld pixels is too large (%d x %d tiles of %d px; at most %d a side)",
                            out, (long long)W, (long long)H, per_row, n_rows, S, IMAGE_MAX_SIDE);
    }
    Image img = {.width = (int)W, .height = (int)H, .channels = C};
    img.pixels = am_malloc((size_t)(W * H * C), "montage");
    memset(img.pixels, BACKGROUND, (size_t)(W * H * C));
    uint8_t *tile = am_malloc((size_t)S * S * C, "montage tile");
    int rc = 0;
    for (int r = 0; r < n_rows && !rc; r++)
        for (int c = 0; c < per_row && !rc; c++) {
            const int64_t row = rows[(size_t)r * per_row + c];
            if (row < 0) continue;
            if (row >= N) {
                rc = am_error_set(err, "montage %s: row %lld is not in %s (%lld images): the embeddings file and "
                                  "the dataset do not match", out, (long long)row, dataset, (long long)N);
                break;
            }
            if (imgds_read_image(ds, row, tile, err)) {
                rc = 1;
                break;
            }
            const int64_t x0 = GAP + (int64_t)c * (S + GAP) + (c > 0 ? extra : 0), y0 = GAP + (int64_t)r * (S + GAP);
            for (int y = 0; y < S; y++)
                memcpy(img.pixels + ((y0 + y) * W + x0) * C, tile + (size_t)y * S * C, (size_t)S * C);
        }
    if (!rc) rc = image_write_png(out, &img, err);
    free(tile);
    image_free(&img);
    imgds_close(ds);
    return rc;
}
