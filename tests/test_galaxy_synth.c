// Synthetic galaxies with votes (data/synth/galaxy_synth.h):
//  - every object is a pure function of (seed, index): the same pixels, truth
//    and votes on a second call, different ones for another seed;
//  - the votes follow the GZ DECaLS tree: a question is answered by exactly the
//    volunteers whose answers lead there (disk-edge-on by the "featured"
//    voters, arms/bar/bulge by the "not edge-on" voters, how-rounded by the
//    "smooth" voters, edge-on-bulge by the "edge-on" voters, winding and arm
//    count by the "arms" voters, merging by all but the "artifact" voters);
//  - the true probabilities of each question sum to 1;
//  - a written dataset is the same with 1 or 2 threads, and stores the schema,
//    votes, truth and types.
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/vote_schema.h"
#include "data/format/image_dataset.h"
#include "data/synth/galaxy_synth.h"
#include "testutil.h"

#define VOTES_CSV "../shared/data/galaxies/votes/votes.csv"

static float qsum(const float *k, const VoteSchema *s, int q) {
    float t = 0.0f;
    for (int a = s->first[q]; a <= s->last[q]; a++) t += k[a];
    return t;
}

static void test_objects(void) {
    enum { S = 32, C = 3, N = 300 };
    VoteSchema s;
    vote_schema_gz_decals(&s);
    const int A = s.answers;
    uint8_t *p1 = malloc(S * S * C), *p2 = malloc(S * S * C);
    float t1[64], t2[64], v1[64], v2[64];
    int types[GAL_N_TYPES] = {0};
    for (int i = 0; i < N; i++) {
        const float total = 37.0f + (float)(i % 5);
        const int ty = galaxy_synth_one(7, i, S, C, total, p1, t1, v1);
        const int ty2 = galaxy_synth_one(7, i, S, C, total, p2, t2, v2);
        EXPECT(ty == ty2 && !memcmp(p1, p2, S * S * C) && !memcmp(t1, t2, sizeof(float) * A) &&
                   !memcmp(v1, v2, sizeof(float) * A),
               "object %d is not a pure function of (seed, index)", i);
        types[ty]++;
        for (int q = 0; q < s.n_questions; q++)
            EXPECT(fabsf(qsum(t1, &s, q) - 1.0f) < 1e-5f, "object %d question %d truth sums to %g", i, q, qsum(t1, &s, q));
        const float smooth = v1[0], featured = v1[1], artifact = v1[2], edge = v1[3], not_edge = v1[4], arms = v1[5];
        EXPECT(qsum(v1, &s, 0) == total, "object %d: first question has %g votes, total %g", i, qsum(v1, &s, 0), total);
        EXPECT(qsum(v1, &s, 1) == featured, "object %d: disk-edge-on asked of %g, featured said %g", i, qsum(v1, &s, 1), featured);
        for (int q = 2; q <= 4; q++)
            EXPECT(qsum(v1, &s, q) == not_edge, "object %d: question %d asked of %g, not edge-on %g", i, q, qsum(v1, &s, q), not_edge);
        EXPECT(qsum(v1, &s, 5) == smooth, "object %d: how-rounded asked of %g, smooth %g", i, qsum(v1, &s, 5), smooth);
        EXPECT(qsum(v1, &s, 6) == edge, "object %d: edge-on-bulge asked of %g, edge-on %g", i, qsum(v1, &s, 6), edge);
        EXPECT(qsum(v1, &s, 7) == arms && qsum(v1, &s, 8) == arms, "object %d: arm questions asked of %g/%g, arms %g", i,
               qsum(v1, &s, 7), qsum(v1, &s, 8), arms);
        EXPECT(qsum(v1, &s, 9) == total - artifact, "object %d: merging asked of %g", i, qsum(v1, &s, 9));
    }
    for (int t = 0; t < GAL_N_TYPES; t++) EXPECT(types[t] > 0, "type %s never drawn in %d objects", GALAXY_TYPES[t], N);
    galaxy_synth_one(8, 0, S, C, 40.0f, p2, t2, v2);
    galaxy_synth_one(7, 0, S, C, 40.0f, p1, t1, v1);
    EXPECT(memcmp(p1, p2, S * S * C), "another seed gives the same galaxy");
    free(p1), free(p2);
}

static void write_with_threads(const char *path, int threads) {
    omp_set_num_threads(threads);
    GalaxySynthOptions o = {path, 40, 3, 32, 1, VOTES_CSV};
    GalaxySynthSummary sum;
    AmError err;
    REQUIRE(!galaxy_synth_write(&o, &sum, &err), "%s", err.msg);
    EXPECT(sum.mean_total_votes >= 37.0 && sum.mean_total_votes <= 215.0, "mean first-question total %g outside the real range",
           sum.mean_total_votes);
}

static void test_dataset(void) {
    if (access(VOTES_CSV, R_OK)) {
        printf("SKIP part: %s not found (dataset writing not tested)\n", VOTES_CSV);
        return;
    }
    char a[64], b[64];
    snprintf(a, sizeof a, "/tmp/astromm_galsynth_%d_a.h5", (int)getpid());
    snprintf(b, sizeof b, "/tmp/astromm_galsynth_%d_b.h5", (int)getpid());
    write_with_threads(a, 1);
    write_with_threads(b, 2);
    ImgDataset *da, *db;
    AmError err;
    REQUIRE(!imgds_open(a, &da, &err) && !imgds_open(b, &db, &err), "%s", err.msg);
    EXPECT(imgds_count(da) == 40 && imgds_channels(da) == 1 && imgds_image_size(da) == 32, "dataset shape");
    const VoteSchema *s = imgds_schema(da);
    EXPECT(s && s->answers == 34 && s->n_questions == 10, "schema not stored");
    uint8_t ia[32 * 32], ib[32 * 32];
    for (int64_t i = 0; i < 40; i++) {
        REQUIRE(!imgds_read_image(da, i, ia, &err) && !imgds_read_image(db, i, ib, &err), "%s", err.msg);
        EXPECT(!memcmp(ia, ib, sizeof ia) && !memcmp(imgds_votes(da, i), imgds_votes(db, i), 34 * sizeof(float)) &&
                   !memcmp(imgds_truth(da, i), imgds_truth(db, i), 34 * sizeof(float)) &&
                   imgds_labels(da)[i] == imgds_labels(db)[i] && imgds_splits(da)[i] == imgds_splits(db)[i],
               "object %lld differs between 1 and 2 threads", (long long)i);
    }
    imgds_close(da);
    imgds_close(db);
    remove(a);
    remove(b);
}

int main(void) {
    test_objects();
    test_dataset();
    return tu_finish("test_galaxy_synth");
}
