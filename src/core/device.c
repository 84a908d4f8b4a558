#include "device.h"

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
#ifdef ASTROMM_HAVE_CUDA
    return astromm_cuda_report(out);
#else
    fprintf(out, "cuda: not built (no nvcc at configure time, or -DASTROMM_CUDA=OFF)\n");
    return 0;
#endif
}
