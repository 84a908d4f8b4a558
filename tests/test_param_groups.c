// Parameter groups (models/params.h params_set_group): AstroM3 records each
// tensor's group when it registers it, and the trainers read the groups rather
// than the tensor names. This test is the one place that ties the state-dict
// names to the groups, so a renamed tensor that lands in the wrong group fails
// here; and a tensor without a group is refused by the steps that use groups.
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "models/astrom3.h"
#include "nn/ops.h"
#include "testutil.h"
#include "tiny_model.h"
#include "train/cls_step.h"

static int starts_with(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }

// The group a state-dict name belongs to, from the name (the reference's naming).
static int group_from_name(const char *name) {
    if (starts_with(name, "logit_scale_")) return ASTROM3_GROUP_LOGIT_SCALES;
    if (starts_with(name, "classifier.")) return ASTROM3_GROUP_CLASSIFIER;
    for (int mod = 0; mod < MOD_COUNT; mod++) {
        char enc[64], proj[64];
        snprintf(enc, sizeof enc, "%s_encoder.", modality_name(mod));
        snprintf(proj, sizeof proj, "%s_proj.", modality_name(mod));
        if (starts_with(name, enc)) return astrom3_group(mod, ASTROM3_PART_ENCODER);
        if (starts_with(name, proj)) return astrom3_group(mod, ASTROM3_PART_PROJ);
    }
    return -2;
}

static jmp_buf g_died;
static void abort_hook(int code) {
    (void)code;
    longjmp(g_died, 1);
}

int main(void) {
    ops_init(1);
    const ModelConfig cfg = tiny_model_config();
    AstroM3 m;
    astrom3_create_with_head(&m, &cfg, 4, MOD_MASK_ALL);
    int per_group[ASTROM3_N_GROUPS] = {0};
    for (int t = 0; t < m.params.n; t++) {
        const ParamInfo *p = &m.params.info[t];
        if (!p->trainable) continue;  // fixed buffers (pe) are never reduced
        EXPECT(p->group == group_from_name(p->name), "%s: group %d, its name says %d", p->name, p->group,
               group_from_name(p->name));
        if (p->group >= 0 && p->group < ASTROM3_N_GROUPS) per_group[p->group]++;
    }
    for (int g = 0; g < ASTROM3_N_GROUPS; g++) EXPECT(per_group[g] > 0, "group %d has no tensor", g);

    // A head over photometry+metadata trains the head, those encoders and their
    // projections: every range must be made of such tensors.
    astrom3_free(&m);
    const int pm = MOD_BIT(MOD_PHOTOMETRY) | MOD_BIT(MOD_METADATA);
    astrom3_create_with_head(&m, &cfg, 4, pm);
    size_t ranges[16][2];
    const int n = cls_trainable_ranges(&m, 0, ranges, 16);
    size_t covered = 0, want = 0;
    for (int i = 0; i < n; i++) covered += ranges[i][1];
    for (int t = 0; t < m.params.n; t++) {
        const ParamInfo *p = &m.params.info[t];
        const int mod = astrom3_group_modality(p->group);
        if (p->trainable && (p->group == ASTROM3_GROUP_CLASSIFIER || (mod >= 0 && (pm & MOD_BIT(mod)))))
            want += p->numel;
    }
    EXPECT(covered == want && n >= 1, "photometry+metadata head trains %zu floats in %d ranges, expected %zu",
           covered, n, want);

    // A trainable tensor without a group is refused with its name.
    m.params.info[3].group = PARAM_GROUP_UNSET;
    am_set_abort_hook(abort_hook);
    int died = 0;
    if (setjmp(g_died) == 0) cls_trainable_ranges(&m, 0, ranges, 16);
    else died = 1;
    am_set_abort_hook(NULL);
    EXPECT(died, "cls_trainable_ranges accepted a tensor without a group (%s)", m.params.info[3].name);
    astrom3_free(&m);

    // Registration records the group set last; none before the first call.
    ParamStore ps = {0};
    const int a = params_add(&ps, "a", 1, (int64_t[]){2}, 1, 0, 1);
    params_set_group(&ps, 5);
    const int b = params_add(&ps, "b", 1, (int64_t[]){2}, 1, 0, 1);
    EXPECT(ps.info[a].group == PARAM_GROUP_UNSET && ps.info[b].group == 5, "groups %d %d", ps.info[a].group,
           ps.info[b].group);
    params_free(&ps);
    return tu_finish("test_param_groups");
}
