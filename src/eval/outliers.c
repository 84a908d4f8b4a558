// Outlier / misclassification candidates: see outliers.h.
#include "eval/outliers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/format/dataset.h"

void outliers_centroids(const EmbSet *s, int mod, double *centroid, int64_t *count) {
    const int D = s->dim, C = s->n_classes;
    memset(centroid, 0, (size_t)C * D * sizeof *centroid);
    memset(count, 0, (size_t)C * sizeof *count);
    for (int64_t i = 0; i < s->n; i++) {
        const int32_t c = s->label[i];
        if (s->split[i] != DS_SPLIT_TRAIN || c < 0 || c >= C || !emb_row_has(s, i, mod)) continue;
        const float *e = s->emb[mod] + (size_t)i * D;
        double *m = centroid + (size_t)c * D;
        for (int d = 0; d < D; d++) m[d] += e[d];
        count[c]++;
    }
    for (int c = 0; c < C; c++)
        if (count[c])
            for (int d = 0; d < D; d++) centroid[(size_t)c * D + d] /= (double)count[c];
}

static int before(const void *pa, const void *pb) {
    const OutlierRow *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return (a->row > b->row) - (a->row < b->row);
}

int64_t outliers_rank(const EmbSet *s, int mod, int split, OutlierRow **out, AmError *err) {
    const int D = s->dim, C = s->n_classes;
    *out = NULL;
    double *cen = am_malloc((size_t)(C ? C : 1) * D * sizeof *cen, "centroids");
    int64_t *cnt = am_malloc((size_t)(C ? C : 1) * sizeof *cnt, "centroid counts");
    double *cnorm = am_malloc((size_t)(C ? C : 1) * sizeof *cnorm, "centroid norms");
    outliers_centroids(s, mod, cen, cnt);
    int n_cen = 0;
    for (int c = 0; c < C; c++) {
        double ss = 0;
        for (int d = 0; d < D; d++) ss += cen[(size_t)c * D + d] * cen[(size_t)c * D + d];
        cnorm[c] = sqrt(ss);
        if (cnt[c] && cnorm[c] > 0) n_cen++;
        else cnt[c] = 0;
    }
    if (!n_cen) {
        free(cen);
        free(cnt);
        free(cnorm);
        am_error_set(err, "%s: no labelled training-split rows with %s embeddings to build class centroids from "
                     "(embed with --split all)", s->path, s->slot[mod]);
        return -1;
    }
    OutlierRow *r = am_malloc((size_t)s->n * sizeof *r + 1, "outliers");
    int64_t n = 0;
    double *cosv = am_malloc((size_t)(C ? C : 1) * sizeof *cosv, "cosines");
    for (int64_t i = 0; i < s->n; i++) {
        const int32_t lab = s->label[i];
        if ((split >= 0 && s->split[i] != split) || lab < 0 || lab >= C || !cnt[lab] || !emb_row_has(s, i, mod))
            continue;
        const float *e = s->emb[mod] + (size_t)i * D;
        double ee = 0;
        for (int d = 0; d < D; d++) ee += (double)e[d] * e[d];
        const double en = sqrt(ee);
        if (!(en > 0)) continue;
        int best = -1;
        for (int c = 0; c < C; c++) {
            if (!cnt[c]) continue;
            double dot = 0;
            for (int d = 0; d < D; d++) dot += (double)e[d] * cen[(size_t)c * D + d];
            cosv[c] = dot / (en * cnorm[c]);
            if (best < 0 || cosv[c] > cosv[best]) best = c;
        }
        r[n++] = (OutlierRow){.row = i, .label = lab, .predicted = best, .score = 1.0 - cosv[lab],
                              .cos_predicted = cosv[best]};
    }
    qsort(r, (size_t)n, sizeof *r, before);
    free(cosv);
    free(cen);
    free(cnt);
    free(cnorm);
    *out = r;
    return n;
}

void outliers_write_csv(FILE *f, const EmbSet *s, int mod, const OutlierRow *r, int64_t k, int header) {
    if (header) fprintf(f, "modality,rank,id,label,predicted,score\n");
    for (int64_t i = 0; i < k; i++)
        fprintf(f, "%s,%lld,%lld,%s,%s,%.9f\n", s->slot[mod], (long long)(i + 1), (long long)s->id[r[i].row],
                emb_class_name(s, r[i].label), emb_class_name(s, r[i].predicted), r[i].score);
}

// Class names are plain identifiers in practice; escape the JSON specials anyway.
void outliers_json_string(FILE *f, const char *v) {
    fputc('"', f);
    for (; *v; v++) {
        if (*v == '"' || *v == '\\') fprintf(f, "\\%c", *v);
        else if ((unsigned char)*v < 0x20) fprintf(f, "\\u%04x", (unsigned)(unsigned char)*v);
        else fputc(*v, f);
    }
    fputc('"', f);
}

void outliers_write_json(FILE *f, const EmbSet *s, int mod, const OutlierRow *r, int64_t k) {
    fprintf(f, "{\"modality\": \"%s\", \"candidates\": [", s->slot[mod]);
    for (int64_t i = 0; i < k; i++) {
        fprintf(f, "%s\n  {\"rank\": %lld, \"id\": %lld, \"label\": ", i ? "," : "", (long long)(i + 1),
                (long long)s->id[r[i].row]);
        outliers_json_string(f, emb_class_name(s, r[i].label));
        fprintf(f, ", \"predicted\": ");
        outliers_json_string(f, emb_class_name(s, r[i].predicted));
        fprintf(f, ", \"score\": %.9f, \"cos_predicted\": %.9f, \"split\": \"%s\"}", r[i].score, r[i].cos_predicted,
                emb_split_name(s->split[r[i].row]));
    }
    fprintf(f, "]}");
}
