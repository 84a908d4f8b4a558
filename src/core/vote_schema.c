#include "core/vote_schema.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"

int vote_schema_add(VoteSchema *s, const char *question, const char *const *answers, int n) {
    if (s->n_questions >= VOTE_MAX_QUESTIONS || n < 1 || s->answers + n > VOTE_MAX_ANSWERS || !question[0] ||
        strlen(question) >= VOTE_NAME_MAX)
        return -1;
    for (int i = 0; i < n; i++)
        if (!answers[i][0] || strlen(answers[i]) >= VOTE_NAME_MAX) return -1;
    const int q = s->n_questions++;
    snprintf(s->question[q], VOTE_NAME_MAX, "%s", question);
    s->first[q] = s->answers;
    for (int i = 0; i < n; i++) snprintf(s->column[s->answers++], 2 * VOTE_NAME_MAX, "%s_%s", question, answers[i]);
    s->last[q] = s->answers - 1;
    return 0;
}

void vote_schema_gz_decals(VoteSchema *s) {
    memset(s, 0, sizeof *s);
    // Zoobot's label_metadata.decals_label_cols, question by question.
    static const char *const smooth[] = {"smooth", "featured-or-disk", "artifact"};
    static const char *const yes_no[] = {"yes", "no"};
    static const char *const bar[] = {"strong", "weak", "no"};
    static const char *const bulge[] = {"dominant", "large", "moderate", "small", "none"};
    static const char *const rounded[] = {"round", "in-between", "cigar-shaped"};
    static const char *const edge_bulge[] = {"boxy", "none", "rounded"};
    static const char *const winding[] = {"tight", "medium", "loose"};
    static const char *const arms[] = {"1", "2", "3", "4", "more-than-4", "cant-tell"};
    static const char *const merging[] = {"none", "minor-disturbance", "major-disturbance", "merger"};
    int rc = vote_schema_add(s, "smooth-or-featured", smooth, 3);
    rc |= vote_schema_add(s, "disk-edge-on", yes_no, 2);
    rc |= vote_schema_add(s, "has-spiral-arms", yes_no, 2);
    rc |= vote_schema_add(s, "bar", bar, 3);
    rc |= vote_schema_add(s, "bulge-size", bulge, 5);
    rc |= vote_schema_add(s, "how-rounded", rounded, 3);
    rc |= vote_schema_add(s, "edge-on-bulge", edge_bulge, 3);
    rc |= vote_schema_add(s, "spiral-winding", winding, 3);
    rc |= vote_schema_add(s, "spiral-arm-count", arms, 6);
    rc |= vote_schema_add(s, "merging", merging, 4);
    CHECK(rc == 0 && s->answers == 34, "GZ DECaLS schema: %d answers, expected 34", s->answers);
}

void vote_schema_single(VoteSchema *s, const char *question, const char *const *answers, int n) {
    memset(s, 0, sizeof *s);
    CHECK(vote_schema_add(s, question, answers, n) == 0, "vote schema: question '%s' with %d answers does not fit",
          question, n);
}

int vote_schema_question_of(const VoteSchema *s, int a) {
    for (int q = 0; q < s->n_questions; q++)
        if (a >= s->first[q] && a <= s->last[q]) return q;
    return -1;
}
