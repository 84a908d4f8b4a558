// Outputs written under a temporary name and renamed into place refuse a target
// that is a device, a pipe or a directory (a rename would replace it: as root,
// /dev/null itself), and the writers that use the check say so before writing
// anything (the PNG writer, on a FIFO).
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/image_codec.h"
#include "io/output_path.h"
#include "testutil.h"

int main(void) {
    char dir[] = "/tmp/astromm_test_output_path_XXXXXX";
    REQUIRE(mkdtemp(dir), "mkdtemp");
    char file[256], fifo[256], absent[256];
    snprintf(file, sizeof file, "%s/plain.txt", dir);
    snprintf(fifo, sizeof fifo, "%s/pipe", dir);
    snprintf(absent, sizeof absent, "%s/absent.h5", dir);
    FILE *f = fopen(file, "w");
    REQUIRE(f && fputs("x", f) >= 0 && fclose(f) == 0, "write %s", file);
    REQUIRE(mkfifo(fifo, 0600) == 0, "mkfifo %s", fifo);
    AmError err = {{0}};
    EXPECT(output_path_check(absent, &err) == 0, "an absent path is fine: %s", err.msg);
    EXPECT(output_path_check(file, &err) == 0, "a regular file is fine: %s", err.msg);
    EXPECT(output_path_check(dir, &err) == 1 && strstr(err.msg, "a directory"), "a directory: %s", err.msg);
    EXPECT(output_path_check(fifo, &err) == 1 && strstr(err.msg, "a pipe") && strstr(err.msg, fifo), "a pipe: %s",
           err.msg);
    EXPECT(output_path_check("/dev/null", &err) == 1 && strstr(err.msg, "a device"), "/dev/null: %s", err.msg);
    // a writer refuses before it writes: the FIFO stays a FIFO, no temporary left
    unsigned char px[4] = {0, 64, 128, 255};
    const Image img = {.width = 2, .height = 2, .channels = 1, .pixels = px};
    EXPECT(image_write_png(fifo, &img, &err) != 0 && strstr(err.msg, "a pipe"), "PNG onto a FIFO refused: %s", err.msg);
    struct stat st;
    EXPECT(stat(fifo, &st) == 0 && S_ISFIFO(st.st_mode), "the FIFO is still a FIFO");
    EXPECT(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode), "/dev/null is still a device");
    remove(fifo), remove(file), rmdir(dir);
    return tu_finish("test_output_path");
}
