#include "io/image_codec.h"
#include "io/output_path.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>

void image_free(Image *img) {
    free(img->pixels);
    memset(img, 0, sizeof *img);
}

static int check_size(const char *path, int w, int h, AmError *err) {
    if (w < 1 || h < 1 || w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE || (long long)w * h > IMAGE_MAX_PIXELS)
        return am_error_set(err, "%s: image size %dx%d outside 1..%d per side and %lld pixels", path, w, h,
                            IMAGE_MAX_SIDE, IMAGE_MAX_PIXELS);
    return 0;
}

// ---------------------------------------------------------------- JPEG
// libjpeg reports errors through error_exit, which must not return: it jumps
// back here with the library's message.
typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} JpegError;

static void jpeg_fail(j_common_ptr cinfo) {
    JpegError *e = (JpegError *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jump, 1);
}

// Warnings (e.g. "premature end of data segment": a truncated file, which
// libjpeg would otherwise pad with grey) are errors here.
static void jpeg_warn(j_common_ptr cinfo, int level) {
    if (level < 0) jpeg_fail(cinfo);
}

static int read_jpeg(const char *path, FILE *f, Image *out, AmError *err) {
    struct jpeg_decompress_struct cinfo;
    JpegError jerr;
    uint8_t *volatile pixels = NULL;
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = jpeg_fail;
    jerr.pub.emit_message = jpeg_warn;
    if (setjmp(jerr.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        return am_error_set(err, "%s: bad JPEG: %s", path, jerr.msg);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_stdio_src(&cinfo, f);
    jpeg_read_header(&cinfo, TRUE);
    cinfo.out_color_space = cinfo.jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    const int w = (int)cinfo.output_width, h = (int)cinfo.output_height, c = cinfo.output_components;
    if (check_size(path, w, h, err)) {
        jpeg_destroy_decompress(&cinfo);
        return 1;
    }
    pixels = malloc((size_t)w * h * c);
    if (!pixels) {
        jpeg_destroy_decompress(&cinfo);
        return am_error_set(err, "%s: out of memory for a %dx%d image", path, w, h);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = pixels + (size_t)cinfo.output_scanline * w * c;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    *out = (Image){w, h, c, pixels};
    return 0;
}

// ---------------------------------------------------------------- PNG

typedef struct {
    jmp_buf jump;
    char msg[200];
} PngError;

static void png_fail(png_structp png, png_const_charp msg) {
    PngError *e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    longjmp(e->jump, 1);
}

static void png_warn(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;  // benign (e.g. unknown chunks): ignored
}

static int read_png(const char *path, FILE *f, Image *out, AmError *err) {
    PngError perr;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &perr, png_fail, png_warn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    if (!png || !info) {
        png_destroy_read_struct(&png, &info, NULL);
        return am_error_set(err, "%s: out of memory starting libpng", path);
    }
    if (setjmp(perr.jump)) {
        png_destroy_read_struct(&png, &info, NULL);
        free(pixels);
        free(rows);
        return am_error_set(err, "%s: bad PNG: %s", path, perr.msg);
    }
    png_init_io(png, f);
    png_read_info(png, info);
    const int w = (int)png_get_image_width(png, info), h = (int)png_get_image_height(png, info);
    if (check_size(path, w, h, err)) {
        png_destroy_read_struct(&png, &info, NULL);
        return 1;
    }
    const int type = png_get_color_type(png, info);
    if (png_get_bit_depth(png, info) == 16) png_set_strip_16(png);
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (type & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png), png_set_strip_alpha(png);
    png_read_update_info(png, info);
    const int c = png_get_channels(png, info);
    if (c != 1 && c != 3) png_fail(png, "unsupported channel layout");
    pixels = malloc((size_t)w * h * c);
    rows = malloc((size_t)h * sizeof *rows);
    if (!pixels || !rows) png_fail(png, "out of memory");
    for (int y = 0; y < h; y++) rows[y] = pixels + (size_t)y * w * c;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    *out = (Image){w, h, c, pixels};
    return 0;
}

int image_read(const char *path, Image *out, AmError *err) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return am_error_set(err, "%s: cannot open the image: %s", path, strerror(errno));
    unsigned char sig[8] = {0};
    const size_t n = fread(sig, 1, sizeof sig, f);
    rewind(f);
    int rc;
    if (n >= 3 && sig[0] == 0xFF && sig[1] == 0xD8 && sig[2] == 0xFF)
        rc = read_jpeg(path, f, out, err);
    else if (n == 8 && !png_sig_cmp(sig, 0, 8))
        rc = read_png(path, f, out, err);
    else
        rc = am_error_set(err, "%s: not a JPEG or PNG file (unknown signature)", path);
    fclose(f);
    return rc;
}

int image_write_png(const char *path, const Image *img, AmError *err) {
    if (output_path_check(path, err)) return 1;
    if (check_size(path, img->width, img->height, err)) return 1;
    if (img->channels != 1 && img->channels != 3)
        return am_error_set(err, "%s: cannot write %d channels as PNG (1 or 3)", path, img->channels);
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof tmp)
        return am_error_set(err, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return am_error_set(err, "%s: cannot create the file", tmp);
    PngError perr;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &perr, png_fail, png_warn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        remove(tmp);
        return am_error_set(err, "%s: out of memory starting libpng", path);
    }
    if (setjmp(perr.jump)) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        remove(tmp);
        return am_error_set(err, "%s: writing the PNG failed: %s", path, perr.msg);
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8,
                 img->channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < img->height; y++)
        png_write_row(png, img->pixels + (size_t)y * img->width * img->channels);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (fflush(f) || fsync(fileno(f)) || fclose(f)) {
        remove(tmp);
        return am_error_set(err, "%s: writing failed (disk full?)", path);
    }
    if (rename(tmp, path)) {
        remove(tmp);
        return am_error_set(err, "%s: cannot rename the finished file into place", path);
    }
    return 0;
}
