#include "nn/device.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops.h"

#ifdef ASTROMM_HAVE_CUDA
int astromm_cuda_report(FILE *out);
#endif

int device_report(FILE *out) {
    char model[256] = "unknown CPU";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "model name", 10)) {
                const char *c = strchr(line, ':');
                if (c) snprintf(model, sizeof model, "%s", c + 2);
                model[strcspn(model, "\n")] = 0;
                break;
            }
        fclose(f);
    }
    fprintf(out, "cpu: %s, %d OpenMP threads\n", model, ops_num_threads());
    // CPU results through BLAS depend on the kernel OpenBLAS picked (and on the
    // OPENBLAS_CORETYPE override) and its thread count: say which, for reports.
    const char *forced = getenv("OPENBLAS_CORETYPE");
    fprintf(out, "blas: %s; kernel %s%s%s%s, %d threads\n", openblas_get_config(), openblas_get_corename(),
            forced ? " (OPENBLAS_CORETYPE=" : "", forced ? forced : "", forced ? ")" : "", openblas_get_num_threads());
#ifdef ASTROMM_HAVE_CUDA
    return astromm_cuda_report(out);
#else
    fprintf(out, "cuda: not built (no nvcc at configure time, or -DASTROMM_CUDA=OFF)\n");
    return 0;
#endif
}
