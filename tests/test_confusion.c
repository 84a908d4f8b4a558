// Classification metrics (src/eval/confusion.h) on a hand-checked matrix, and
// the JSON/CSV files (read back; the JSON by Python's json module).
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval/confusion.h"
#include "testutil.h"

#define NEAR(a, b) (fabs((a) - (b)) < 1e-6)

int main(void) {
    // true A: 5 A, 1 B; true B: 2 A, 1 B, 1 C; class C never true (predicted once).
    Confusion c;
    confusion_init(&c, 3);
    const int pairs[][2] = {{0, 0}, {0, 0}, {0, 0}, {0, 0}, {0, 0}, {0, 1}, {1, 0}, {1, 0}, {1, 1}, {1, 2}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) confusion_add(&c, pairs[i][0], pairs[i][1]);
    ClassReport r;
    confusion_report(&c, &r);
    EXPECT(r.total == 10 && r.correct == 6 && NEAR(r.accuracy, 0.6), "accuracy %lld/%lld", (long long)r.correct,
           (long long)r.total);
    EXPECT(NEAR(r.precision[0], 5.0 / 7) && NEAR(r.precision[1], 0.5) && NEAR(r.precision[2], 0.0), "precision");
    EXPECT(NEAR(r.recall[0], 5.0 / 6) && NEAR(r.recall[1], 0.25) && NEAR(r.recall[2], 0.0), "recall");
    EXPECT(NEAR(r.f1[0], 50.0 / 65) && NEAR(r.f1[1], 1.0 / 3) && NEAR(r.f1[2], 0.0), "f1 %g %g %g", r.f1[0],
           r.f1[1], r.f1[2]);
    EXPECT(r.support[0] == 6 && r.support[1] == 4 && r.support[2] == 0, "support");
    // Balanced accuracy: mean recall over the classes present (A, B), as sklearn.
    EXPECT(NEAR(r.balanced_accuracy, (5.0 / 6 + 0.25) / 2), "balanced accuracy %g", r.balanced_accuracy);
    EXPECT(NEAR(r.macro_f1, (50.0 / 65 + 1.0 / 3) / 3), "macro F1 %g", r.macro_f1);
    // The same objects under a 5-class list: classes 3 and 4 are neither true nor
    // predicted and do not count (sklearn f1_score(average="macro") gives 0.367521).
    Confusion c5;
    confusion_init(&c5, 5);
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) confusion_add(&c5, pairs[i][0], pairs[i][1]);
    ClassReport r5;
    confusion_report(&c5, &r5);
    EXPECT(NEAR(r5.macro_f1, r.macro_f1) && NEAR(r5.macro_f1, 0.367521) &&
               NEAR(r5.balanced_accuracy, r.balanced_accuracy),
           "5-class list: macro F1 %g balanced %g", r5.macro_f1, r5.balanced_accuracy);
    class_report_free(&r5);
    confusion_free(&c5);

    const char *names[3] = {"EW", "SR, \"semi\"", "M"};
    char dir[] = "/tmp/astromm_confusion.XXXXXX", json[96], csv[96], cmd[400];
    REQUIRE(mkdtemp(dir), "mkdtemp");
    snprintf(json, sizeof json, "%s/m.json", dir);
    snprintf(csv, sizeof csv, "%s/m.csv", dir);
    const char *extra[] = {"split", "test", "checkpoint", "run/best/model.safetensors"};
    AmError err = {{0}};
    EXPECT(confusion_write_json(&c, &r, names, json, extra, 2, &err) == 0, "%s", err.msg);
    EXPECT(confusion_write_csv(&c, names, csv, &err) == 0, "%s", err.msg);
    FILE *f = fopen(csv, "r");
    char text[512] = "";
    if (f) {
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = 0;
        fclose(f);
    }
    EXPECT(!strcmp(text, "true\\predicted,EW,\"SR, \"\"semi\"\"\",M\nEW,5,1,0\n\"SR, \"\"semi\"\"\",2,1,1\nM,0,0,0\n"),
           "CSV:\n%s", text);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import json,sys; d=json.load(open('%s')); "
             "assert d['n']==10 and abs(d['balanced_accuracy']-0.541667)<1e-5 and d['confusion'][1]==[2,1,1] "
             "and d['split']=='test' and d['per_class']['SR, \\\"semi\\\"']['support']==4, d\"",
             json);
    EXPECT(system(cmd) == 0, "the JSON does not parse back: %s", json);
    EXPECT(confusion_write_csv(&c, names, "/nonexistent/dir/m.csv", &err) != 0 && strstr(err.msg, "/nonexistent"),
           "unwritable path must be an error naming it (%s)", err.msg);
    remove(json);
    remove(csv);
    rmdir(dir);
    class_report_free(&r);
    confusion_free(&c);
    return tu_finish("test_confusion");
}
