#define _POSIX_C_SOURCE 200809L
// Model checkpoints: a saved model loads back bit-exactly, and params_load
// refuses, naming the tensor, every file that does not match the model
// (missing / unexpected tensor, wrong shape, wrong dtype, truncated file),
// leaving the model's weights untouched when it refuses. params_save records
// data_crc32, which the content check (train/train_state.h) verifies: a saved
// model passes, a flipped bit or a NaN/Inf weight fails naming the tensor and index.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/params_file.h"
#include "io/safetensors.h"
#include "models/astrom3.h"
#include "nn/ops.h"
#include "testutil.h"
#include "train/train_state.h"
#include "tiny_model.h"

// Writes the model's tensors with one of them altered: dropped, renamed,
// reshaped, retyped, or one extra added.
enum { DROP, RENAME, RESHAPE, RETYPE, EXTRA };
static void write_altered(const ParamStore *ps, const char *path, int victim, int how) {
    StWriteTensor *t = calloc((size_t)ps->n + 1, sizeof *t);
    double *f64 = NULL;
    int n = 0;
    for (int i = 0; i < ps->n; i++) {
        const ParamInfo *p = &ps->info[i];
        StWriteTensor w = {.name = p->name, .dtype = ST_F32, .ndim = p->ndim, .data = params_data(ps, i)};
        for (int d = 0; d < p->ndim; d++) w.shape[d] = p->shape[d];
        if (i == victim) {
            if (how == DROP) continue;
            if (how == RENAME) w.name = "photometry_encoder.not_a_tensor";
            if (how == RESHAPE) {  // same element count, other shape
                w.ndim = 1;
                w.shape[0] = (int64_t)p->numel;
            }
            if (how == RETYPE) {
                f64 = calloc(p->numel, sizeof *f64);
                w.dtype = ST_F64;
                w.data = f64;
            }
        }
        t[n++] = w;
    }
    float extra[3] = {1, 2, 3};
    if (how == EXTRA) t[n++] = (StWriteTensor){.name = "extra.tensor", .dtype = ST_F32, .ndim = 1, .shape = {3}, .data = extra};
    AmError err;
    REQUIRE(st_write(path, t, n, NULL, 0, &err) == 0, "writing %s: %s", path, err.msg);
    free(t);
    free(f64);
}

int main(void) {
    ops_init(0);
    char dir[] = "/tmp/astromm_ckpt_XXXXXX";
    REQUIRE(mkdtemp(dir), "mkdtemp");
    char good[256], bad[256];
    snprintf(good, sizeof good, "%s/good.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    const ModelConfig c = tiny_model_config();
    AstroM3 a, b;
    astrom3_create(&a, &c, 1);
    astrom3_init(&a, 1);
    astrom3_create(&b, &c, 1);
    astrom3_init(&b, 2);
    AmError err;
    const char *meta[] = {"format", "astromm-astrom3"};
    REQUIRE(params_save(&a.params, good, meta, 1, &err) == 0, "save: %s", err.msg);
    EXPECT(params_load(&b.params, good, &err) == 0, "load of a matching checkpoint failed: %s", err.msg);
    EXPECT(!memcmp(a.params.data, b.params.data, a.params.n_train_floats * sizeof(float)) &&
               !memcmp(a.params.buffers, b.params.buffers, a.params.n_buffer_floats * sizeof(float)),
           "weights differ after a save/load round trip");

    // data_crc32 + finiteness (ckpt_model_content_check) on what params_save wrote.
    {
        StFile *f = NULL;
        int has_crc = 0;
        REQUIRE(st_open(&f, good, &err) == 0, "%s", err.msg);
        EXPECT(st_meta(f, "data_crc32") && strlen(st_meta(f, "data_crc32")) == 8, "no data_crc32 metadata");
        EXPECT(ckpt_model_content_check(f, &has_crc, &err) == 0 && has_crc, "a saved model fails its check: %s", err.msg);
        st_close(f);
        // A NaN saved on purpose (checksum consistent): named by tensor and index.
        const int k = params_find(&a.params, "spectra_encoder.layers.3.weight");
        REQUIRE(k >= 0, "tensor");
        float *w = params_data(&a.params, k), keep = w[4];
        w[4] = NAN;
        REQUIRE(params_save(&a.params, bad, meta, 1, &err) == 0, "save: %s", err.msg);
        w[4] = keep;
        REQUIRE(st_open(&f, bad, &err) == 0, "%s", err.msg);
        EXPECT(ckpt_model_content_check(f, NULL, &err) != 0 &&
                   strstr(err.msg, "'spectra_encoder.layers.3.weight' holds 1 non-finite value(s), the first at element "
                                   "index 4 (NaN)") && !strstr(err.msg, "checksum") && strstr(err.msg, bad),
               "NaN weight: %s", err.msg);
        st_close(f);
        // One flipped bit in the data (the last byte of the file): the checksum says so.
        FILE *io = fopen(good, "rb");
        REQUIRE(io, "open");
        fseek(io, 0, SEEK_END);
        const long sz = ftell(io);
        fseek(io, 0, SEEK_SET);
        unsigned char *bytes = malloc((size_t)sz);
        REQUIRE(fread(bytes, 1, (size_t)sz, io) == (size_t)sz, "read");
        fclose(io);
        bytes[sz - 1] ^= 0x01;
        io = fopen(bad, "wb");
        REQUIRE(io && fwrite(bytes, 1, (size_t)sz, io) == (size_t)sz, "write");
        fclose(io);
        free(bytes);
        REQUIRE(st_open(&f, bad, &err) == 0, "%s", err.msg);
        EXPECT(ckpt_model_content_check(f, NULL, &err) != 0 && strstr(err.msg, "data checksum mismatch"),
               "flipped bit: %s", err.msg);
        st_close(f);
    }

    // Refusals: b now holds a's weights; re-init it and check that refusals keep it.
    astrom3_init(&b, 3);
    float *before = malloc(b.params.n_train_floats * sizeof(float));
    memcpy(before, b.params.data, b.params.n_train_floats * sizeof(float));
    const int victim = params_find(&a.params, "spectra_encoder.layers.3.weight");
    REQUIRE(victim >= 0, "victim tensor");
    static const struct {
        int how;
        const char *expect;
    } cases[] = {
        {DROP, "missing tensor 'spectra_encoder.layers.3.weight'"},
        {RENAME, "unexpected tensor 'photometry_encoder.not_a_tensor'"},
        {RESHAPE, "'spectra_encoder.layers.3.weight' has shape (27), the model expects (3, 3, 3)"},
        {RETYPE, "'spectra_encoder.layers.3.weight' has dtype F64"},
        {EXTRA, "unexpected tensor 'extra.tensor'"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        write_altered(&a.params, bad, victim, cases[k].how);
        err.msg[0] = 0;
        int rc = params_load(&b.params, bad, &err);
        EXPECT(rc != 0, "case %zu: a mismatching checkpoint was accepted", k);
        EXPECT(strstr(err.msg, cases[k].expect) && strstr(err.msg, bad),
               "case %zu: error '%s' does not say '%s' and name the file", k, err.msg, cases[k].expect);
        EXPECT(!memcmp(before, b.params.data, b.params.n_train_floats * sizeof(float)),
               "case %zu: a refused load changed the weights", k);
    }
    // A truncated copy of a good file is refused by the reader.
    FILE *in = fopen(good, "rb"), *out = fopen(bad, "wb");
    REQUIRE(in && out, "copy files");
    fseek(in, 0, SEEK_END);
    long size = ftell(in);
    fseek(in, 0, SEEK_SET);
    char *buf = malloc((size_t)size);
    REQUIRE(fread(buf, 1, (size_t)size, in) == (size_t)size, "read");
    fwrite(buf, 1, (size_t)size - 100, out);
    fclose(in);
    fclose(out);
    free(buf);
    EXPECT(params_load(&b.params, bad, &err) != 0 && strstr(err.msg, bad), "truncated checkpoint accepted: %s", err.msg);
    EXPECT(!memcmp(before, b.params.data, b.params.n_train_floats * sizeof(float)), "truncated load changed the weights");
    // A checkpoint of a different model shape (d_model 16) is refused by name.
    ModelConfig c2 = c;
    c2.d_model = 16;
    AstroM3 w;
    astrom3_create(&w, &c2, 1);
    EXPECT(params_load(&w.params, good, &err) != 0 && strstr(err.msg, "has shape"),
           "a d_model=8 checkpoint loaded into a d_model=16 model: %s", err.msg);
    astrom3_free(&w);
    free(before);
    unlink(good);
    unlink(bad);
    rmdir(dir);
    astrom3_free(&a);
    astrom3_free(&b);
    return tu_finish("test_checkpoint");
}
