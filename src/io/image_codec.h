// Image files in and out through the field libraries: JPEG by libjpeg-turbo
// (the libjpeg API of libjpeg62-turbo), PNG by libpng. No hand-written codecs.
#ifndef ASTROMM_IMAGE_CODEC_H
#define ASTROMM_IMAGE_CODEC_H

#include <stdint.h>

#include "core/error.h"

// 8-bit pixels, row-major, channels interleaved: [height][width][channels].
typedef struct {
    int width, height, channels;  // channels 1 (grey) or 3 (RGB)
    uint8_t *pixels;              // malloc'ed; image_free
} Image;

// The largest side and pixel count accepted (guards against absurd headers:
// a few bytes can declare a gigapixel image).
#define IMAGE_MAX_SIDE 16384
#define IMAGE_MAX_PIXELS (1LL << 26)

// Decodes a JPEG or PNG file (recognised by its signature, not its name) to
// grey or RGB: CMYK JPEGs, palettes, alpha and 16-bit PNGs are converted
// (alpha dropped). A truncated, corrupt or foreign file is an error naming the
// file and the library's message, never a crash; *out is then empty.
int image_read(const char *path, Image *out, AmError *err);
// Writes an 8-bit grey or RGB PNG atomically ("<path>.tmp.<pid>", then rename).
int image_write_png(const char *path, const Image *img, AmError *err);
void image_free(Image *img);

#endif
