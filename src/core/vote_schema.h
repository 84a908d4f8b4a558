// A Galaxy Zoo question schema: which vote-count columns answer which
// question. Question q owns the contiguous answer columns first[q]..last[q];
// answer columns are named "<question>_<answer>" as in the Galaxy Zoo
// catalogues (and Zoobot's label_cols). Shared by the image datasets that store
// votes, the Dirichlet loss that reads them and the vote metrics.
#ifndef ASTROMM_VOTE_SCHEMA_H
#define ASTROMM_VOTE_SCHEMA_H

#include <stdint.h>

#define VOTE_MAX_QUESTIONS 32
#define VOTE_MAX_ANSWERS 128
#define VOTE_NAME_MAX 64

typedef struct {
    int n_questions, answers;
    int32_t first[VOTE_MAX_QUESTIONS], last[VOTE_MAX_QUESTIONS];
    char question[VOTE_MAX_QUESTIONS][VOTE_NAME_MAX];
    char column[VOTE_MAX_ANSWERS][2 * VOTE_NAME_MAX];  // "<question>_<answer>"
    int majority_min;  // votes a question needs to count in the majority-answer accuracy
                       // (0: VOTE_MAJORITY_MIN, loss/dirichlet.h; 1 for hard labels: one vote each)
} VoteSchema;

// GZ DECaLS (Walmsley et al. 2022): 10 questions, 34 answers.
void vote_schema_gz_decals(VoteSchema *s);
// One question whose answers are the given names (a class column trains the
// same head: a hard label is one vote for its class).
void vote_schema_single(VoteSchema *s, const char *question, const char *const *answers, int n);
// Appends a question; 0, or -1 when it does not fit (VOTE_MAX_*) or a name is
// empty or too long.
int vote_schema_add(VoteSchema *s, const char *question, const char *const *answers, int n);
// The question owning answer column a (-1 outside the schema).
int vote_schema_question_of(const VoteSchema *s, int a);

#endif
