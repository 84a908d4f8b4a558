// libFuzzer target: image_read (src/io/image_codec.c: libjpeg-turbo or libpng
// behind setjmp error handlers) on arbitrary bytes; an accepted image then goes
// through image_to_stored (square crop, area resample, channel conversion).
// Checked: a refused file leaves an error message and no pixels; an accepted
// one has a sane size and 1 or 3 channels.
#include "fuzz_util.h"

#include <string.h>

#include "data/preprocess/image.h"
#include "io/image_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_write(data, size, ".img");
    Image img;
    AmError err = {{0}};
    if (image_read(path, &img, &err) != 0) {
        FZ_ASSERT(err.msg[0] && !img.pixels && img.width == 0);
        return 0;
    }
    FZ_ASSERT(img.pixels && img.width >= 1 && img.height >= 1 && img.width <= IMAGE_MAX_SIDE &&
              img.height <= IMAGE_MAX_SIDE && (img.channels == 1 || img.channels == 3));
    static uint8_t out[16 * 16 * 3];
    image_to_stored(&img, 16, 3, out);
    image_to_stored(&img, 16, 1, out);
    image_free(&img);
    return 0;
}
