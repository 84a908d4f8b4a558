// Gaussian-process regression for astromm anomalies (Walmsley et al. 2022):
// a rational-quadratic kernel plus white noise,
//   k(x, z) = amp * (1 + |x - z|^2 / (2 alpha length^2))^(-alpha) + noise * [x == z],
// a constant prior mean (the mean of the targets), hyper-parameters by maximum
// marginal likelihood (gradient ascent in log space from fixed starts, so the
// fit is deterministic), and the Cholesky factor from LAPACK(E) (dpotrf,
// dpotri, dpotrs), never hand-written linear algebra.
#ifndef ASTROMM_GP_H
#define ASTROMM_GP_H

#include <stdint.h>

#include "core/error.h"

typedef struct {
    double amp, length, alpha, noise;
} GpHyper;

typedef struct {
    int n, d;
    double *X;     // [n, d] training inputs (copied)
    double *r;     // [n] targets minus the prior mean
    double mean;   // prior mean
    GpHyper h;
    double *L;     // [n, n] lower Cholesky factor of K + noise I (row-major)
    double *a;     // [n] (K + noise I)^-1 r
    double lml;    // log marginal likelihood at h
} Gp;

// The kernel without the noise term.
double gp_kernel(const GpHyper *h, const double *x, const double *z, int d);

// Log marginal likelihood of targets y [n] (prior mean subtracted by the
// caller) at inputs X [n, d] and h, and its gradient with respect to
// (log amp, log length, log alpha, log noise) when grad is not NULL.
// Returns 0, or 1 when K + noise I is not positive definite.
int gp_log_marginal(const GpHyper *h, const double *X, const double *r, int n, int d, double *lml, double grad[4]);

// Fits hyper-parameters (maximum marginal likelihood within bounds scaled to
// the targets' variance) and factors K. n >= 1. Returns 0 or 1 (err set).
int gp_fit(Gp *g, const double *X, const double *y, int n, int d, AmError *err);
// The same at fixed hyper-parameters.
int gp_fit_fixed(Gp *g, const double *X, const double *y, int n, int d, const GpHyper *h, AmError *err);

// Posterior mean and standard deviation of the latent function (noise
// excluded) at m points Xs [m, d].
void gp_predict(const Gp *g, const double *Xs, int64_t m, double *mean, double *sd);

// Expected improvement over best of a posterior N(mean, sd^2) (maximisation).
double gp_expected_improvement(double mean, double sd, double best);

void gp_free(Gp *g);

#endif
