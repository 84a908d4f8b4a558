// Synthetic galaxies with volunteer votes (see galaxy_synth.h).
#define _POSIX_C_SOURCE 200809L

#include "data/synth/galaxy_synth.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "data/format/dataset.h"
#include "data/format/image_dataset.h"
#include "data/format/splits.h"
#include "data/preprocess/text_reader.h"

const char *const GALAXY_TYPES[GAL_N_TYPES] = {"smooth", "disk", "spiral", "barred", "ring", "edge-on", "merger",
                                               "artifact"};

// Relative frequency of each type.
static const double TYPE_WEIGHT[GAL_N_TYPES] = {0.30, 0.12, 0.22, 0.10, 0.06, 0.10, 0.07, 0.03};

#define PI 3.14159265358979323846

// Sequential draws from one object's stream.
typedef struct {
    AmRng r;
    uint64_t k;
} Draw;

static double uni(Draw *d) { return am_rng_uniform(&d->r, d->k++); }
static double range(Draw *d, double lo, double hi) { return lo + (hi - lo) * uni(d); }
static double normal(Draw *d) {
    const double u1 = fmax(uni(d), 1e-12), u2 = uni(d);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * PI * u2);
}

// Marsaglia-Tsang gamma(a, 1); a < 1 through gamma(a + 1) U^(1/a).
static double gamma_draw(Draw *d, double a) {
    if (a < 1.0) return gamma_draw(d, a + 1.0) * pow(fmax(uni(d), 1e-300), 1.0 / a);
    const double dd = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * dd);
    for (int tries = 0; tries < 1000; tries++) {
        double x = normal(d), v = 1.0 + c * x;
        if (v <= 0.0) continue;
        v = v * v * v;
        const double u = uni(d);
        if (log(fmax(u, 1e-300)) < 0.5 * x * x + dd - dd * v + dd * log(v)) return dd * v;
    }
    return a;  // unreachable in practice
}

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

typedef struct {
    int type;
    double bulge_frac, re, n_sersic, q_bulge, boxy;  // bulge
    double h, q, pa;                                  // disk: scale length, axis ratio, position angle
    int arms;
    double pitch, arm_amp;                            // pitch in radians
    double bar, bar_len, bar_pa;                      // bar strength (0..1), length, angle in the disk plane
    double ring_r, ring_amp;
    int edge_bulge;                                   // 0 boxy, 1 none, 2 rounded
    int merging;                                      // 0 none, 1 minor, 2 major, 3 merger
    double comp_dx, comp_dy, comp_flux, comp_re, tail_amp, tail_dir;
    int artifact_kind;                                // 0 streak, 1 star
    double art_x, art_y, art_angle;
    double psf, noise, flux;
} Galaxy;

static int draw_type(Draw *d) {
    double u = uni(d), acc = 0.0;
    for (int t = 0; t < GAL_N_TYPES; t++)
        if (u < (acc += TYPE_WEIGHT[t])) return t;
    return GAL_SMOOTH;
}

static void draw_galaxy(Draw *d, int S, Galaxy *g) {
    memset(g, 0, sizeof *g);
    g->type = draw_type(d);
    g->pa = range(d, 0.0, PI);
    g->h = S * range(d, 0.06, 0.12);
    g->re = S * range(d, 0.025, 0.06);
    g->n_sersic = range(d, 1.5, 4.5);
    g->q_bulge = range(d, 0.5, 1.0);
    g->q = range(d, 0.35, 1.0);  // inclination as an axis ratio
    g->bulge_frac = range(d, 0.15, 0.6);
    g->psf = range(d, 0.8, 1.6);
    g->noise = range(d, 0.01, 0.04);
    g->flux = range(d, 0.7, 1.3);
    g->edge_bulge = 1;
    switch (g->type) {
    case GAL_SMOOTH:
        g->bulge_frac = 1.0;
        g->re = S * range(d, 0.05, 0.13);
        g->q_bulge = range(d, 0.3, 1.0);
        break;
    case GAL_SPIRAL:
    case GAL_BARRED:
        g->arms = 1 + (int)floor(range(d, 0.0, 4.6));  // 1..5 (5 = more than 4)
        if (g->arms < 2 && uni(d) < 0.7) g->arms = 2;     // two-armed spirals dominate
        g->pitch = range(d, 8.0, 35.0) * PI / 180.0;
        g->arm_amp = range(d, 0.4, 0.9);
        g->bulge_frac = range(d, 0.1, 0.45);
        if (g->type == GAL_BARRED) {
            g->bar = range(d, 0.35, 1.0);
            g->bar_len = g->h * range(d, 1.2, 2.2);
            g->bar_pa = range(d, 0.0, PI);
        }
        break;
    case GAL_RING:
        g->ring_r = g->h * range(d, 1.5, 2.6);
        g->ring_amp = range(d, 0.5, 1.0);
        g->bulge_frac = range(d, 0.2, 0.5);
        g->q = range(d, 0.6, 1.0);
        if (uni(d) < 0.5) g->bar = range(d, 0.3, 0.8), g->bar_len = g->ring_r * 0.9, g->bar_pa = range(d, 0.0, PI);
        break;
    case GAL_EDGE_ON:
        g->q = range(d, 0.06, 0.18);
        g->edge_bulge = (int)floor(range(d, 0.0, 2.999));
        g->bulge_frac = g->edge_bulge == 1 ? 0.05 : range(d, 0.2, 0.45);
        g->boxy = g->edge_bulge == 0 ? 1.0 : 0.0;
        break;
    case GAL_MERGER: {
        g->merging = 1 + (int)floor(range(d, 0.0, 2.999));  // minor, major, merger
        const double sep = S * (g->merging == 3 ? range(d, 0.05, 0.12) : range(d, 0.15, 0.3));
        const double ang = range(d, 0.0, 2 * PI);
        g->comp_dx = sep * cos(ang), g->comp_dy = sep * sin(ang);
        g->comp_flux = g->merging == 1 ? range(d, 0.1, 0.3) : range(d, 0.5, 1.0);
        g->comp_re = S * range(d, 0.03, 0.06);
        g->tail_amp = g->merging == 1 ? range(d, 0.05, 0.15) : range(d, 0.2, 0.5);
        g->tail_dir = uni(d) < 0.5 ? 1.0 : -1.0;
        if (uni(d) < 0.5) g->arms = 2, g->pitch = range(d, 15.0, 30.0) * PI / 180.0, g->arm_amp = range(d, 0.2, 0.5);
        break;
    }
    case GAL_ARTIFACT:
        g->artifact_kind = uni(d) < 0.6 ? 0 : 1;
        g->art_x = range(d, 0.2, 0.8) * S, g->art_y = range(d, 0.2, 0.8) * S;
        g->art_angle = range(d, 0.0, PI);
        g->flux = range(d, 0.2, 0.6);
        break;
    default: break;
    }
}

// The three band weights of a component: bulge red, disk blue-ish, star-forming ring/arms blue.
static const double COL_BULGE[3] = {1.0, 0.8, 0.55}, COL_DISK[3] = {0.8, 0.85, 0.85}, COL_BLUE[3] = {0.55, 0.8, 1.0};

// Sersic profile, 1 at the effective radius, capped at 20 in the core (the
// stretch saturates there anyway).
static double sersic(double r, double re, double n) {
    const double b = 2.0 * n - 1.0 / 3.0;
    return fmin(exp(-b * (pow(r / re + 1e-9, 1.0 / n) - 1.0)), 20.0);
}

// Unconvolved flux of galaxy g at (x, y) relative to the centre, per band.
static void render_pixel(const Galaxy *g, double x, double y, double out[3]) {
    out[0] = out[1] = out[2] = 0.0;
    const double c = cos(g->pa), s = sin(g->pa);
    const double u = c * x + s * y, v = -s * x + c * y;  // along / across the major axis
    // bulge (generalised ellipse: boxy when edge-on-boxy)
    const double qb = g->type == GAL_EDGE_ON && g->edge_bulge == 2 ? 0.85 : g->q_bulge;
    const double pw = g->boxy > 0 ? 3.0 : 2.0;
    const double rb = pow(pow(fabs(u), pw) + pow(fabs(v / qb), pw), 1.0 / pw);
    const double bulge = g->bulge_frac * sersic(rb, g->re, g->n_sersic) * 0.25;
    for (int k = 0; k < 3; k++) out[k] += bulge * COL_BULGE[k];
    if (g->bulge_frac >= 1.0 && g->type == GAL_SMOOTH) return;
    // disk in its own plane
    const double vd = v / g->q, rd = sqrt(u * u + vd * vd);
    double disk = (1.0 - g->bulge_frac) * exp(-rd / g->h);
    if (g->type == GAL_EDGE_ON) disk *= 1.6;
    double blue = 0.0;
    if (g->arms > 0) {
        const double th = atan2(vd, u), lr = log(rd / g->h + 1e-6);
        const double phase = g->arms * (th - lr / tan(g->pitch));
        const double wave = 0.5 * (1.0 + cos(phase));
        const double window = 1.0 - exp(-pow(rd / (0.7 * g->h), 2.0));
        blue += (1.0 - g->bulge_frac) * g->arm_amp * 2.0 * wave * wave * window * exp(-rd / (1.3 * g->h));
        disk *= 1.0 - 0.6 * g->arm_amp * window;
    }
    if (g->bar > 0) {
        const double cb = cos(g->bar_pa), sb = sin(g->bar_pa);
        const double ub = cb * u + sb * vd, wb = -sb * u + cb * vd;
        disk += g->bar * 0.8 * exp(-0.5 * (pow(ub / (0.5 * g->bar_len), 2.0) + pow(wb / (0.12 * g->bar_len), 2.0)));
    }
    if (g->ring_amp > 0) blue += g->ring_amp * 0.6 * exp(-0.5 * pow((rd - g->ring_r) / (0.12 * g->ring_r), 2.0));
    for (int k = 0; k < 3; k++) out[k] += disk * COL_DISK[k] + blue * COL_BLUE[k];
    if (g->merging) {
        const double dx = x - g->comp_dx, dy = y - g->comp_dy, rc = sqrt(dx * dx + dy * dy);
        const double comp = g->comp_flux * sersic(rc, g->comp_re, 2.5) * 0.25;
        // a tidal tail: a logarithmic arc leaving the companion
        const double th = atan2(dy, dx), arc = g->tail_dir * th - log(rc / g->comp_re + 1.0) * 1.2;
        const double tail = g->tail_amp * exp(-0.5 * pow(sin(0.5 * arc) / 0.12, 2.0)) * exp(-rc / (3.0 * g->comp_re + 1e-9)) *
                            (1.0 - exp(-rc / g->comp_re));
        for (int k = 0; k < 3; k++) out[k] += comp * COL_BULGE[k] + tail * COL_BLUE[k];
    }
}

static void gauss_blur(float *img, int S, int C, double sigma, float *tmp) {
    enum { R = 5 };
    double w[2 * R + 1], sum = 0.0;
    for (int i = -R; i <= R; i++) sum += (w[i + R] = exp(-0.5 * i * i / (sigma * sigma)));
    for (int i = 0; i <= 2 * R; i++) w[i] /= sum;
    for (int pass = 0; pass < 2; pass++) {
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                for (int c = 0; c < C; c++) {
                    double a = 0.0;
                    for (int i = -R; i <= R; i++) {
                        const int xx = pass ? x : x + i, yy = pass ? y + i : y;
                        if (xx < 0 || yy < 0 || xx >= S || yy >= S) continue;
                        a += w[i + R] * img[((size_t)yy * S + xx) * C + c];
                    }
                    tmp[((size_t)y * S + x) * C + c] = (float)a;
                }
        memcpy(img, tmp, (size_t)S * S * C * sizeof *img);
    }
}

// ---------------------------------------------------------------- truth and votes

static void normalise(double *p, int n) {
    double s = 0.0;
    for (int i = 0; i < n; i++) s += p[i] = fmax(p[i], 1e-4);
    for (int i = 0; i < n; i++) p[i] /= s;
}

// Soft one-of-n around `centres`: probabilities ~ exp(-(x - centre)^2 / 2 w^2).
static void soft_bins(double x, const double *centres, int n, double w, double *p) {
    for (int i = 0; i < n; i++) p[i] = exp(-0.5 * pow((x - centres[i]) / w, 2.0));
    normalise(p, n);
}

static void true_probabilities(const Galaxy *g, const VoteSchema *s, double *p) {
    // smooth-or-featured
    const int art = g->type == GAL_ARTIFACT;
    const double feat_score = art ? 0.0 : (g->type == GAL_SMOOTH ? 0.05 : (1.0 - g->bulge_frac) + g->arm_amp * 0.5 + g->bar * 0.3 +
                                                                     g->ring_amp * 0.4 + (g->type == GAL_EDGE_ON ? 0.5 : 0.0));
    double *q = p + s->first[0];
    q[2] = art ? 0.85 : 0.02;
    q[1] = (1.0 - q[2]) * sigmoid(7.0 * (feat_score - 0.45));
    q[0] = 1.0 - q[1] - q[2];
    normalise(q, 3);
    q = p + s->first[1];  // disk-edge-on yes/no
    q[0] = sigmoid(25.0 * (0.25 - g->q)), q[1] = 1.0 - q[0];
    normalise(q, 2);
    q = p + s->first[2];  // has-spiral-arms yes/no
    q[0] = g->arms > 0 ? sigmoid(10.0 * (g->arm_amp - 0.3)) : 0.08, q[1] = 1.0 - q[0];
    normalise(q, 2);
    q = p + s->first[3];  // bar strong/weak/no
    static const double bar_c[3] = {0.85, 0.45, 0.0};
    soft_bins(g->bar, bar_c, 3, 0.18, q);
    q = p + s->first[4];  // bulge-size dominant/large/moderate/small/none
    static const double bulge_c[5] = {0.75, 0.5, 0.33, 0.18, 0.03};
    soft_bins(g->bulge_frac, bulge_c, 5, 0.08, q);
    q = p + s->first[5];  // how-rounded round/in-between/cigar-shaped
    static const double round_c[3] = {0.9, 0.6, 0.3};
    soft_bins(g->q_bulge, round_c, 3, 0.1, q);
    q = p + s->first[6];  // edge-on-bulge boxy/none/rounded
    for (int i = 0; i < 3; i++) q[i] = i == g->edge_bulge ? 0.8 : 0.1;
    normalise(q, 3);
    q = p + s->first[7];  // spiral-winding tight/medium/loose (pitch in degrees)
    static const double wind_c[3] = {10.0, 20.0, 32.0};
    soft_bins(g->pitch * 180.0 / PI, wind_c, 3, 5.0, q);
    q = p + s->first[8];  // spiral-arm-count 1/2/3/4/more-than-4/cant-tell
    for (int i = 0; i < 6; i++) q[i] = 0.03;
    if (g->arms > 0) q[g->arms - 1] += 0.6 * g->arm_amp + 0.1;
    q[5] += 0.25 * (1.0 - g->arm_amp);
    normalise(q, 6);
    q = p + s->first[9];  // merging none/minor/major/merger
    for (int i = 0; i < 4; i++) q[i] = i == g->merging ? 0.8 : 0.07;
    normalise(q, 4);
}

// Counts of n volunteers for one question: p' ~ Dirichlet(conc * p), then n
// categorical draws from p'.
static void question_votes(Draw *d, const double *p, int m, int n, float *k) {
    double pp[8], s = 0.0;
    for (int i = 0; i < m; i++) s += pp[i] = gamma_draw(d, GALAXY_VOTE_CONCENTRATION * p[i]);
    for (int i = 0; i < m; i++) pp[i] = s > 0 ? pp[i] / s : 1.0 / m;
    for (int i = 0; i < m; i++) k[i] = 0.0f;
    for (int v = 0; v < n; v++) {
        double u = uni(d), acc = 0.0;
        int a = m - 1;
        for (int i = 0; i < m; i++)
            if (u < (acc += pp[i])) {
                a = i;
                break;
            }
        k[a] += 1.0f;
    }
}

// Votes down the GZ DECaLS tree: who is asked what follows from the counts above.
static void tree_votes(Draw *d, const VoteSchema *s, const double *p, int total, float *k) {
    const int *f = s->first;
    question_votes(d, p + f[0], 3, total, k + f[0]);
    const int smooth = (int)k[f[0]], featured = (int)k[f[0] + 1], artifact = (int)k[f[0] + 2];
    question_votes(d, p + f[1], 2, featured, k + f[1]);
    const int edge = (int)k[f[1]], not_edge = (int)k[f[1] + 1];
    question_votes(d, p + f[2], 2, not_edge, k + f[2]);
    question_votes(d, p + f[3], 3, not_edge, k + f[3]);
    question_votes(d, p + f[4], 5, not_edge, k + f[4]);
    question_votes(d, p + f[5], 3, smooth, k + f[5]);
    question_votes(d, p + f[6], 3, edge, k + f[6]);
    const int arms = (int)k[f[2]];
    question_votes(d, p + f[7], 3, arms, k + f[7]);
    question_votes(d, p + f[8], 6, arms, k + f[8]);
    question_votes(d, p + f[9], 4, total - artifact, k + f[9]);
}

int galaxy_synth_one(uint64_t seed, int64_t index, int S, int C, float total_first, uint8_t *pixels, float *truth,
                     float *votes) {
    Draw d = {am_rng(seed, (uint64_t)index, RNG_SYNTH, GALAXY_STREAM), 0};
    Galaxy g;
    draw_galaxy(&d, S, &g);
    VoteSchema s;
    vote_schema_gz_decals(&s);
    double p[VOTE_MAX_ANSWERS];
    true_probabilities(&g, &s, p);
    for (int a = 0; a < s.answers; a++) truth[a] = (float)p[a];
    tree_votes(&d, &s, p, (int)lrint(total_first), votes);
    // image: 3 bands, then the PSF, noise and an asinh stretch
    float *img = malloc((size_t)S * S * 3 * 2 * sizeof *img), *tmp = img + (size_t)S * S * 3;
    const double cx = 0.5 * (S - 1) + range(&d, -1.5, 1.5), cy = 0.5 * (S - 1) + range(&d, -1.5, 1.5);
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            double f[3];
            render_pixel(&g, x - cx, y - cy, f);
            if (g.type == GAL_ARTIFACT) {
                if (g.artifact_kind == 0) {  // satellite streak through the frame
                    const double dist = fabs(-sin(g.art_angle) * (x - g.art_x) + cos(g.art_angle) * (y - g.art_y));
                    const double streak = 1.5 * exp(-0.5 * dist * dist / 0.8);
                    for (int k = 0; k < 3; k++) f[k] += streak;
                } else {  // saturated star with diffraction spikes
                    const double dx = x - g.art_x, dy = y - g.art_y, r2 = dx * dx + dy * dy;
                    const double star = 6.0 * exp(-r2 / 18.0) + 0.8 * (exp(-dx * dx / 1.2) + exp(-dy * dy / 1.2)) * exp(-sqrt(r2) / (0.2 * S));
                    for (int k = 0; k < 3; k++) f[k] += star;
                }
            }
            for (int k = 0; k < 3; k++) img[((size_t)y * S + x) * 3 + k] = (float)(g.flux * f[k]);
        }
    gauss_blur(img, S, 3, g.psf, tmp);
    for (size_t i = 0; i < (size_t)S * S * 3; i++) img[i] += (float)(g.noise * normal(&d));
    const double beta = 0.08, top = asinh(2.5 / beta);
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            const float *px = img + ((size_t)y * S + x) * 3;
            uint8_t *o = pixels + ((size_t)y * S + x) * C;
            for (int c = 0; c < C; c++) {
                const double val = C == 1 ? (px[0] + px[1] + px[2]) / 3.0 : px[c];
                const double t = 255.0 * asinh(fmax(val, 0.0) / beta) / top;
                o[c] = (uint8_t)(t > 255.0 ? 255 : lrint(t));
            }
        }
    free(img);
    return g.type;
}

int galaxy_read_totals(const char *path, float **totals, int *n, AmError *err) {
    TextReader tr;
    *totals = NULL;
    *n = 0;
    if (text_open(&tr, path, err)) return 1;
    int col = -1, cap = 0, got, rc = 0;
    char *f[256];
    while ((got = text_read_line(&tr, err)) == 1) {
        if (text_is_blank(tr.buf)) continue;
        const int nf = text_split_commas(tr.buf, f, 256);
        if (col < 0) {
            for (int i = 0; i < nf && i < 256; i++)
                if (!strcmp(f[i], "smooth-or-featured_total-votes")) col = i;
            if (col < 0) {
                rc = am_error_set(err, "%s:%ld: no column smooth-or-featured_total-votes", path, tr.line);
                break;
            }
            continue;
        }
        char *end;
        const double v = col < nf && col < 256 ? strtod(f[col], &end) : -1.0;
        if (col >= nf || col >= 256 || *end || !(v >= 1.0 && v < 1e6)) {
            rc = am_error_set(err, "%s:%ld: smooth-or-featured_total-votes is not a count >= 1", path, tr.line);
            break;
        }
        if (*n == cap) *totals = am_realloc(*totals, (size_t)(cap = cap ? 2 * cap : 4096) * sizeof **totals, "vote totals");
        (*totals)[(*n)++] = (float)v;
    }
    if (got < 0) rc = 1;
    if (!rc && *n == 0) rc = am_error_set(err, "%s: no vote totals", path);
    text_close(&tr);
    if (rc) free(*totals), *totals = NULL, *n = 0;
    return rc;
}

int galaxy_synth_write(const GalaxySynthOptions *o, GalaxySynthSummary *sum, AmError *err) {
    memset(sum, 0, sizeof *sum);
    const int S = o->image_size, C = o->channels;
    if (o->n < 1 || S < 16 || S > 1024 || (C != 1 && C != 3))
        return am_error_set(err, "synth --kind galaxies: bad --n %lld, --image-size %d (16..1024) or --channels %d",
                            (long long)o->n, S, C);
    float *totals;
    int n_totals;
    if (galaxy_read_totals(o->votes_csv, &totals, &n_totals, err)) return 1;
    VoteSchema schema;
    vote_schema_gz_decals(&schema);
    const int A = schema.answers;
    ImgDatasetSpec spec = {S, C, 0, GALAXY_TYPES, GAL_N_TYPES, &schema, 1};
    ImgWriter *w;
    if (imgds_writer_open(o->out, &spec, &w, err)) return free(totals), 1;
    enum { BLOCK = 256 };
    uint8_t *pix = am_malloc((size_t)BLOCK * S * S * C, "galaxy images");
    float *truth = am_malloc((size_t)BLOCK * A * sizeof *truth, "truth"), *votes = am_malloc((size_t)BLOCK * A * sizeof *votes, "votes");
    int *type = am_malloc(BLOCK * sizeof *type, "types");
    int64_t *ids = am_malloc((size_t)o->n * sizeof *ids, "ids");
    int32_t *labels = am_malloc((size_t)o->n * sizeof *labels, "labels");
    uint8_t *splits = am_malloc((size_t)o->n, "splits");
    double vote_sum = 0.0;
    int rc = 0;
    for (int64_t b0 = 0; b0 < o->n && !rc; b0 += BLOCK) {
        const int64_t b1 = b0 + BLOCK < o->n ? b0 + BLOCK : o->n;
#pragma omp parallel for schedule(dynamic, 4)
        for (int64_t i = b0; i < b1; i++) {
            // the first question's total: a real total picked by the object's own stream
            AmRng tr = am_rng(o->seed, (uint64_t)i, RNG_SYNTH, GALAXY_STREAM + 1);
            const float total = totals[am_rng_below(&tr, 0, (uint32_t)n_totals)];
            const size_t j = (size_t)(i - b0);
            type[j] = galaxy_synth_one(o->seed, i, S, C, total, pix + j * S * S * C, truth + j * A, votes + j * A);
        }
        for (int64_t i = b0; i < b1 && !rc; i++) {
            const size_t j = (size_t)(i - b0);
            char name[32];
            snprintf(name, sizeof name, "synth-%lld", (long long)i);
            ids[i] = i + 1;
            labels[i] = type[j];
            split_by_id(&ids[i], 1, o->seed, &splits[i]);
            rc = imgds_writer_add_truth(w, name, ids[i], pix + j * S * S * C, labels[i], splits[i], 0, votes + j * A,
                                        truth + j * A, err);
            sum->type_count[type[j]]++;
            for (int a = schema.first[0]; a <= schema.last[0]; a++) vote_sum += votes[j * A + a];
        }
    }
    if (!rc) {
        uint8_t *sub = am_calloc((size_t)o->n, 1, "subsets");
        if (subsets_by_class(ids, labels, splits, (int)o->n, GAL_N_TYPES, o->seed, sub))
            rc = am_error_set(err, "%s: out of memory computing subsets", o->out);
        if (!rc) rc = imgds_writer_set_subsets(w, sub, o->n, err);
        free(sub);
    }
    sum->mean_total_votes = vote_sum / (double)o->n;
    free(pix), free(truth), free(votes), free(type), free(ids), free(labels), free(splits), free(totals);
    if (rc) {
        imgds_writer_abort(w);
        return 1;
    }
    return imgds_writer_close(w, 0, err);
}
