#define _POSIX_C_SOURCE 200809L

#include "train/metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

// ---------------------------------------------------------------- metrics.jsonl
static void put(MetricsWriter *w, const char *s, size_t n) {
    if (w->len + n + 2 > w->cap) {  // room for "\n" and NUL
        size_t cap = w->cap ? w->cap : 256;
        while (w->len + n + 2 > cap) cap *= 2;
        char *grown = realloc(w->buf, cap);
        CHECK(grown, "out of memory growing a metrics line to %zu bytes", cap);
        w->buf = grown;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

static void puts_(MetricsWriter *w, const char *s) { put(w, s, strlen(s)); }

static void put_json_string(MetricsWriter *w, const char *s) {
    put(w, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        switch (*p) {
            case '"': puts_(w, "\\\""); break;
            case '\\': puts_(w, "\\\\"); break;
            case '\n': puts_(w, "\\n"); break;
            case '\r': puts_(w, "\\r"); break;
            case '\t': puts_(w, "\\t"); break;
            default:
                if (*p < 0x20) {
                    snprintf(esc, sizeof esc, "\\u%04x", *p);
                    puts_(w, esc);
                } else {
                    put(w, (const char *)p, 1);  // UTF-8 passes through
                }
        }
    }
    put(w, "\"", 1);
}

static void put_key(MetricsWriter *w, const char *key) {
    CHECK(w->in_line, "metrics: field '%s' outside metrics_begin/metrics_end", key);
    CHECK(key, "metrics: NULL key");
    if (w->nfields++) put(w, ",", 1);
    put_json_string(w, key);
    put(w, ":", 1);
}

int metrics_open(MetricsWriter *w, const char *path, AmError *err) {
    *w = (MetricsWriter){0};
    snprintf(w->path, sizeof w->path, "%s", path);
    w->f = fopen(path, "a");
    if (!w->f) return am_error_set(err, "metrics '%.200s': cannot open for appending: %s", path, strerror(errno));
    return 0;
}

void metrics_begin(MetricsWriter *w) {
    CHECK(!w->in_line, "metrics_begin: previous line not ended");
    w->len = 0;
    w->nfields = 0;
    w->in_line = 1;
    put(w, "{", 1);
}

void metrics_num(MetricsWriter *w, const char *key, double value) {
    put_key(w, key);
    if (!isfinite(value)) {
        puts_(w, "null");
        return;
    }
    char num[40];
    snprintf(num, sizeof num, "%.15g", value);
    if (strtod(num, NULL) != value) snprintf(num, sizeof num, "%.17g", value);
    puts_(w, num);
}

void metrics_int(MetricsWriter *w, const char *key, int64_t value) {
    put_key(w, key);
    char num[32];
    snprintf(num, sizeof num, "%" PRId64, value);
    puts_(w, num);
}

void metrics_str(MetricsWriter *w, const char *key, const char *value) {
    put_key(w, key);
    if (value)
        put_json_string(w, value);
    else
        puts_(w, "null");
}

int metrics_end(MetricsWriter *w, AmError *err) {
    CHECK(w->in_line, "metrics_end without metrics_begin");
    w->in_line = 0;
    put(w, "}\n", 2);
    if (!w->f) return am_error_set(err, "metrics '%.200s': not open", w->path);
    if (fwrite(w->buf, 1, w->len, w->f) != w->len || fflush(w->f) != 0)
        return am_error_set(err, "metrics '%.200s': write failed: %s", w->path, strerror(errno));
    return 0;
}

int metrics_close(MetricsWriter *w, AmError *err) {
    int rc = 0;
    if (w->f && fclose(w->f) != 0) rc = am_error_set(err, "metrics '%.200s': close failed: %s", w->path, strerror(errno));
    free(w->buf);
    *w = (MetricsWriter){0};
    return rc;
}

// The integer value of the top-level "step" key of one JSON line ({...}), or 0 when
// there is none (null, absent).
static int line_step(const char *line, size_t len, int64_t *step) {
    for (size_t i = 1; i + 7 < len; i++) {
        if (memcmp(line + i, "\"step\"", 6) != 0) continue;
        size_t k = i;  // preceded by '{' or ',' (optionally spaces): a key, not inside a string
        while (k > 0 && line[k - 1] == ' ') k--;
        if (k == 0 || (line[k - 1] != '{' && line[k - 1] != ',')) continue;
        size_t j = i + 6;
        while (j < len && line[j] == ' ') j++;
        if (j >= len || line[j] != ':') continue;
        j++;
        while (j < len && line[j] == ' ') j++;
        if (j < len && (line[j] == '-' || (line[j] >= '0' && line[j] <= '9'))) {
            *step = (int64_t)strtoll(line + j, NULL, 10);
            return 1;
        }
        return 0;
    }
    return 0;
}

int metrics_rewind(MetricsWriter *w, const char *path, int64_t step, int64_t *dropped, AmError *err) {
    if (dropped) *dropped = 0;
    if (w && w->f && fflush(w->f) != 0)
        return am_error_set(err, "metrics '%.200s': flush failed: %s", path, strerror(errno));
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return 0;
        return am_error_set(err, "metrics '%.200s': cannot open to rewind it: %s", path, strerror(errno));
    }
    char *buf = NULL;
    size_t len = 0, cap = 0, got;
    char chunk[65536];
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + got + 1 > cap) {
            cap = (len + got + 1) * 2;
            char *grown = realloc(buf, cap);
            if (!grown) {
                free(buf);
                fclose(f);
                return am_error_set(err, "metrics '%.200s': out of memory reading it", path);
            }
            buf = grown;
        }
        memcpy(buf + len, chunk, got);
        len += got;
    }
    const int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        free(buf);
        return am_error_set(err, "metrics '%.200s': read error while rewinding it", path);
    }
    // Find the cut: the start of the first line to drop.
    size_t cut = len;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        int64_t s;
        if (!nl || (line_step(buf + pos, (size_t)(nl - buf) - pos, &s) && s > step)) {
            cut = pos;
            break;
        }
        pos = (size_t)(nl - buf) + 1;
    }
    int64_t n_drop = 0;
    for (size_t pos = cut; pos < len; pos++) n_drop += buf[pos] == '\n';
    if (cut < len && buf[len - 1] != '\n') n_drop++;  // the incomplete last line
    if (cut == len) {
        free(buf);
        return 0;
    }
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        free(buf);
        return am_error_set(err, "metrics '%.200s': path too long", path);
    }
    FILE *o = fopen(tmp, "wb");
    if (!o) {
        free(buf);
        return am_error_set(err, "metrics '%.200s': cannot create '%.200s': %s", path, tmp, strerror(errno));
    }
    int bad = (cut && fwrite(buf, 1, cut, o) != cut) || fflush(o) != 0 || fsync(fileno(o)) != 0;
    const int e = errno;
    bad |= fclose(o) != 0;
    free(buf);
    if (bad || rename(tmp, path) != 0) {
        const int e2 = bad ? e : errno;
        unlink(tmp);
        return am_error_set(err, "metrics '%.200s': rewriting it via '%.200s' failed: %s", path, tmp, strerror(e2));
    }
    if (dropped) *dropped = n_drop;
    if (w && w->f) {  // the writer still appends to the old (now unlinked) file: reopen
        FILE *nf = fopen(path, "a");
        if (!nf) return am_error_set(err, "metrics '%.200s': cannot reopen for appending: %s", path, strerror(errno));
        fclose(w->f);
        w->f = nf;
    }
    return 0;
}

// ---------------------------------------------------------------- progress line
void progress_init(Progress *p, FILE *out, double interval_s, int64_t every_steps) {
    *p = (Progress){.out = out, .interval_s = interval_s, .every_steps = every_steps};
    p->tty = out && isatty(fileno(out));
}

double progress_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void format_eta(char *out, size_t cap, double seconds) {
    if (!(seconds >= 0) || seconds > 1e8) {
        snprintf(out, cap, "?");
        return;
    }
    const long long s = (long long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(out, cap, "%lldh%02lldm%02llds", s / 3600, s / 60 % 60, s % 60);
    else if (s >= 60)
        snprintf(out, cap, "%lldm%02llds", s / 60, s % 60);
    else
        snprintf(out, cap, "%llds", s);
}

int progress_update(Progress *p, double now_s, int64_t epoch, int64_t step, int64_t total_steps, double loss,
                    double samples_per_s) {
    if (!p->out) return 0;
    const int first = !p->started;
    if (first) {
        p->started = 1;
        p->t0 = now_s;
        p->step0 = step;
    }
    const int last = total_steps > 0 && step >= total_steps;
    int show;
    if (p->tty)
        show = first || last || now_s - p->t_last >= 0.1;
    else
        show = first || last || (p->interval_s > 0 && now_s - p->t_last >= p->interval_s) ||
               (p->every_steps > 0 && step - p->step_last >= p->every_steps);
    if (!show) return 0;

    char eta[32] = "?", line[256];
    if (total_steps > 0 && step > p->step0 && now_s > p->t0)
        format_eta(eta, sizeof eta, (double)(total_steps - step) * (now_s - p->t0) / (double)(step - p->step0));
    char steps[48];
    if (total_steps > 0)
        snprintf(steps, sizeof steps, "%" PRId64 "/%" PRId64, step, total_steps);
    else
        snprintf(steps, sizeof steps, "%" PRId64, step);
    const int n = snprintf(line, sizeof line, "epoch %" PRId64 " step %s loss %.4f samples/s %.1f ETA %s", epoch, steps,
                           loss, samples_per_s, eta);
    if (p->tty) {
        // Pad with blanks so a shorter line fully covers the previous one.
        const int pad = p->last_width > n ? p->last_width - n : 0;
        fprintf(p->out, "\r%s%*s", line, pad, "");
        p->pending_cr = 1;
        p->last_width = n;
    } else {
        fprintf(p->out, "%s\n", line);
    }
    fflush(p->out);
    p->t_last = now_s;
    p->step_last = step;
    return 1;
}

void progress_break(Progress *p) {
    if (p->out && p->pending_cr) {
        fputc('\n', p->out);
        fflush(p->out);
    }
    p->pending_cr = 0;
    p->last_width = 0;
}
