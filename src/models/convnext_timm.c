#include "models/convnext_timm.h"

#include <stdio.h>
#include <string.h>

#include "io/params_file.h"

void convnext_timm_name(const char *tv, char *out, size_t len) {
    int f, j, n = 0;
    char rest[PARAM_NAME_MAX];
    static const struct {
        const char *tv, *timm;
    } block_parts[] = {{"block.0.", "conv_dw."}, {"block.2.", "norm."}, {"block.3.", "mlp.fc1."},
                       {"block.5.", "mlp.fc2."}, {"layer_scale", "gamma"}};
    if (sscanf(tv, "features.0.%d.%127s%n", &j, rest, &n) == 2 && !tv[n]) {
        snprintf(out, len, "stem.%d.%s", j, rest);
        return;
    }
    if (sscanf(tv, "features.%d.%d.%127s%n", &f, &j, rest, &n) == 3 && !tv[n] && f >= 1) {
        if (f % 2 == 0) {  // downsampling into stage f/2
            snprintf(out, len, "stages.%d.downsample.%d.%s", f / 2, j, rest);
            return;
        }
        for (size_t i = 0; i < sizeof block_parts / sizeof block_parts[0]; i++) {
            const size_t k = strlen(block_parts[i].tv);
            if (!strncmp(rest, block_parts[i].tv, k)) {
                snprintf(out, len, "stages.%d.blocks.%d.%s%s", (f - 1) / 2, j, block_parts[i].timm, rest + k);
                return;
            }
        }
    }
    if (!strncmp(tv, "classifier.0.", 13)) {
        snprintf(out, len, "head.norm.%s", tv + 13);
        return;
    }
    if (!strncmp(tv, "classifier.2.", 13)) {
        snprintf(out, len, "head.fc.%s", tv + 13);
        return;
    }
    snprintf(out, len, "%s", tv);
}

int convnext_load_timm(ParamStore *ps, const char *path, AmError *err) {
    ParamsLoadOptions o = {.fresh_prefix = "classifier.2.", .file_name = convnext_timm_name, .squeeze_shapes = 1};
    return params_load_with(ps, path, &o, err);
}
