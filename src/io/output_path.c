// Where a file output may go: see output_path.h.
#define _POSIX_C_SOURCE 200809L
#include "io/output_path.h"

#include <sys/stat.h>

int output_path_check(const char *path, AmError *err) {
    struct stat st;
    if (!path || !*path || stat(path, &st) != 0 || S_ISREG(st.st_mode)) return 0;  // callers report empty paths
    const char *what = S_ISDIR(st.st_mode) ? "a directory" : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                       : S_ISFIFO(st.st_mode)                                                            ? "a pipe"
                                                                                                         : "not a regular file";
    return am_error_set(err, "%s is %s: this output is written whole under a temporary name and renamed into "
                             "place, which would replace it; give a file path",
                        path, what);
}
