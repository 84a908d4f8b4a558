// astromm outliers (src/eval/outliers.h) on a hand-made 2-D embedding set whose
// centroids, scores, predictions and ranking are worked out by hand below.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/format/dataset.h"
#include "eval/outliers.h"
#include "testutil.h"

static char *dupstr(const char *s) {
    char *d = malloc(strlen(s) + 1);
    strcpy(d, s);
    return d;
}

// Rows (D = 2; photometry given, other modalities: copies, spectra missing on row 9):
//  0 train EW (1,0)    1 train EW (0,1)    2 train SR (-1,0)   3 train M missing photometry
//  4 test  EW (1,0)                 score 1 - cos((1,0), c_EW) = 1 - 1/sqrt2, predicted EW
//  5 test  SR (0,1)                 c_SR = (-1,0): cos 0 -> score 1; nearest c_EW (1/sqrt2) -> predicted EW
//  6 test  SR (-0.6,-0.8)           cos c_SR = 0.6 -> score 0.4; cos c_EW = -1.4/sqrt2 -> predicted SR
//  7 test  unlabelled (0,1)         skipped (label -1)
//  8 val   EW (-1,0)                not in the test split
//  9 test  M  (0,1)                 class M has no training centroid -> skipped
// 10 test  SR (0,1)                 same score as row 5 -> ranked after it (smaller row first)
static void make(EmbSet *s) {
    static const float e[11][2] = {{1, 0}, {0, 1}, {-1, 0}, {0, 0}, {1, 0}, {0, 1}, {-0.6f, -0.8f},
                                   {0, 1}, {-1, 0}, {0, 1}, {0, 1}};
    static const int32_t lab[11] = {0, 0, 1, 2, 0, 1, 1, -1, 0, 2, 1};
    static const uint8_t sp[11] = {0, 0, 0, 0, 2, 2, 2, 2, 1, 2, 2};
    memset(s, 0, sizeof *s);
    s->n = 11;
    s->dim = 2;
    s->n_slots = EMB_N;
    s->n_has = MOD_COUNT;
    s->normalized = 1;
    for (int m = 0; m < EMB_N; m++) snprintf(s->slot[m], sizeof s->slot[m], "%s", emb_astrom3_slot_name(m));
    s->n_classes = 3;
    s->classes = malloc(3 * sizeof *s->classes);
    s->classes[0] = dupstr("EW");
    s->classes[1] = dupstr("SR");
    s->classes[2] = dupstr("M");
    s->id = malloc(11 * sizeof *s->id);
    s->label = malloc(11 * sizeof *s->label);
    s->split = malloc(11);
    s->has = malloc(33);
    s->index = malloc(11 * sizeof *s->index);
    for (int m = 0; m < EMB_N; m++) s->emb[m] = malloc(22 * sizeof(float));
    for (int i = 0; i < 11; i++) {
        s->id[i] = 500 + i;
        s->label[i] = lab[i];
        s->split[i] = sp[i];
        s->index[i] = i;
        for (int m = 0; m < 3; m++) s->has[3 * i + m] = 1;
        if (i == 3) s->has[3 * i + 0] = 0;
        if (i == 9) s->has[3 * i + 1] = 0;
        for (int m = 0; m < EMB_N; m++) memcpy(s->emb[m] + 2 * i, e[i], sizeof e[i]);
    }
    snprintf(s->path, sizeof s->path, "(hand-made)");
}

int main(void) {
    EmbSet s;
    make(&s);
    double c[6];
    int64_t cnt[3];
    outliers_centroids(&s, MOD_PHOTOMETRY, c, cnt);
    EXPECT(cnt[0] == 2 && cnt[1] == 1 && cnt[2] == 0, "training counts %lld %lld %lld", (long long)cnt[0],
           (long long)cnt[1], (long long)cnt[2]);
    EXPECT(c[0] == 0.5 && c[1] == 0.5 && c[2] == -1 && c[3] == 0, "centroids (%g,%g) (%g,%g)", c[0], c[1], c[2], c[3]);
    // the metadata modality has M's training row 3 -> a third centroid (0,0) of norm 0 is not used
    AmError err = {{0}};
    OutlierRow *r = NULL;
    int64_t n = outliers_rank(&s, MOD_PHOTOMETRY, DS_SPLIT_TEST, &r, &err);
    REQUIRE(n == 4, "eligible test rows: %lld (%s)", (long long)n, err.msg);
    const int64_t rows[4] = {5, 10, 6, 4};
    const double score[4] = {1.0, 1.0, 0.4, 1.0 - 1.0 / sqrt(2.0)};
    const int32_t pred[4] = {0, 0, 1, 0};
    for (int i = 0; i < 4; i++) {
        EXPECT(r[i].row == rows[i], "rank %d: row %lld, expected %lld", i + 1, (long long)r[i].row, (long long)rows[i]);
        EXPECT(fabs(r[i].score - score[i]) < 1e-7, "rank %d: score %.15g, expected %.15g", i + 1, r[i].score, score[i]);
        EXPECT(r[i].predicted == pred[i], "rank %d: predicted %d, expected %d", i + 1, r[i].predicted, pred[i]);
    }
    EXPECT(fabs(r[0].cos_predicted - 1.0 / sqrt(2.0)) < 1e-12, "cos to the predicted centroid %g", r[0].cos_predicted);
    FILE *f = tmpfile();
    outliers_write_csv(f, &s, MOD_PHOTOMETRY, r, 2, 1);
    rewind(f);
    char line[256];
    EXPECT(fgets(line, sizeof line, f) && !strcmp(line, "modality,rank,id,label,predicted,score\n"), "header %s", line);
    EXPECT(fgets(line, sizeof line, f) && !strcmp(line, "photometry,1,505,SR,EW,1.000000000\n"), "line 1: %s", line);
    EXPECT(fgets(line, sizeof line, f) && !strcmp(line, "photometry,2,510,SR,EW,1.000000000\n"), "line 2: %s", line);
    EXPECT(!fgets(line, sizeof line, f), "k = 2 lines only");
    fclose(f);
    f = tmpfile();
    outliers_write_json(f, &s, MOD_PHOTOMETRY, r, 1);
    rewind(f);
    char buf[512] = {0};
    EXPECT(fread(buf, 1, sizeof buf - 1, f) > 0 && strstr(buf, "\"id\": 505") && strstr(buf, "\"predicted\": \"EW\""),
           "json: %s", buf);
    fclose(f);
    free(r);

    // all splits: the val row 8 (EW at (-1,0): cos c_EW = -1/sqrt2) scores highest
    n = outliers_rank(&s, MOD_PHOTOMETRY, -1, &r, &err);
    EXPECT(n == 8 && r[0].row == 8 && fabs(r[0].score - (1 + 1 / sqrt(2.0))) < 1e-12 && r[0].predicted == 1,
           "all splits: n %lld, first row %lld score %g", (long long)n, (long long)r[0].row, r[0].score);
    free(r);
    // spectra: row 9 lacks it (and M has no centroid anyway); M's training row 3 has spectra at (0,0)
    n = outliers_rank(&s, MOD_SPECTRA, DS_SPLIT_TEST, &r, &err);
    EXPECT(n == 4, "spectra rows %lld", (long long)n);
    free(r);
    // no training rows -> error naming the modality
    for (int i = 0; i < 11; i++) s.split[i] = DS_SPLIT_TEST;
    n = outliers_rank(&s, EMB_FUSED, DS_SPLIT_TEST, &r, &err);
    EXPECT(n == -1 && strstr(err.msg, "fused") && strstr(err.msg, "training"), "no centroids: %s", err.msg);
    emb_free(&s);
    return tu_finish("test_outliers");
}
