/* nullfit.c - the empirical null of schemes whose chance rate is not known
 * in advance (README "Empirical null"): kind 2, one target label for the
 * whole key, and kind 3, keys made from a model.
 *
 * The owner's key is verified on N independently trained unmarked models
 * (the run's controls), giving counts m_1..m_N out of n. A beta-binomial is
 * fitted to them by moments; the p-value of a suspect with count m is its
 * upper tail, reported together with the rank bound (1 + #{m_c >= m})/(N + 1),
 * which needs no model but never falls below 1/(N + 1). The fit and the
 * counts are stored in the key, so `wmbench verify` decides as the run did. */
#include "scheme.h"
#include "../workers/util.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* the largest intra-class correlation kept (rho -> 1 means a and b -> 0) */
#define RHO_MAX 0.999

int wm_null_fit(const int *counts, int N, int n, struct wm_null *f)
{
	double sum = 0, ss = 0;

	memset(f, 0, sizeof *f);
	if (N < 1 || n < 1)
		return -1;
	for (int i = 0; i < N; i++) {
		if (counts[i] < 0 || counts[i] > n)
			return -1;
		sum += counts[i];
	}
	double mean = sum / N;
	for (int i = 0; i < N; i++)
		ss += (counts[i] - mean) * (counts[i] - mean);
	double var = N > 1 ? ss / (N - 1) : 0;
	/* Jeffreys floors on both sides: no control set gives mu = 0 (p = 0 for
	 * any match) or mu = 1 (1 - mu = 0 in the moments) */
	double lo = (sum + 0.5) / ((double)N * n + 1);
	double hi = 1 - ((double)N * n - sum + 0.5) / ((double)N * n + 1);
	double mu = mean / n;
	mu = mu < lo ? lo : mu > hi ? hi : mu;
	double rho = n > 1 ? (var / (n * mu * (1 - mu)) - 1) / (n - 1) : 0;
	rho = rho < 0 ? 0 : rho > RHO_MAX ? RHO_MAX : rho;
	f->N = N;
	f->n = n;
	f->mu = mu;
	f->rho = rho;
	f->a = rho > 0 ? mu * (1 / rho - 1) : INFINITY;
	f->b = rho > 0 ? (1 - mu) * (1 / rho - 1) : INFINITY;
	return 0;
}

static double lbeta(double a, double b)
{
	return lgamma(a) + lgamma(b) - lgamma(a + b);
}

double wm_null_tail(const struct wm_null *f, int m)
{
	int n = f->n;
	if (m <= 0)
		return 1.0;
	if (m > n)
		return 0.0;
	if (f->rho <= 0)
		return binom_tail(n, m, f->mu);
	/* log-sum-exp over P[X = k] = C(n, k) B(k + a, n - k + b) / B(a, b) */
	double mx = -INFINITY, s = 0, lb = lbeta(f->a, f->b);
	for (int k = m; k <= n; k++) {
		double t = lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0) +
			   lbeta(k + f->a, n - k + f->b) - lb;
		mx = t > mx ? t : mx;
	}
	for (int k = m; k <= n; k++)
		s += exp(lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0) +
			 lbeta(k + f->a, n - k + f->b) - lb - mx);
	double r = exp(mx + log(s));
	if (r > 1.0)
		r = 1.0;
	return r < DBL_MIN ? DBL_MIN : r;
}

double wm_null_rank(const int *counts, int N, int m)
{
	int ge = 0;
	for (int i = 0; i < N; i++)
		ge += counts[i] >= m;
	return (1.0 + ge) / (N + 1.0);
}

void wm_null_store(struct npz *key, const int *counts, const struct wm_null *f)
{
	int64_t nc = f->N, nf = 6;
	int32_t *c = xmalloc((size_t)f->N * sizeof *c);
	double fit[6] = {f->N, f->n, f->mu, f->rho, f->a, f->b};
	for (int i = 0; i < f->N; i++)
		c[i] = counts[i];
	npz_add(key, "null.counts", NPZ_I32, 1, &nc, c);
	npz_add(key, "null.fit", NPZ_F64, 1, &nf, fit);
	free(c);
}

int wm_null_decide(const struct npz *key, int m, int n, double alpha, struct wm_verdict *v,
		   char *err, size_t errlen)
{
	const struct npz_array *fa = npz_get(key, "null.fit");
	const struct npz_array *ca = npz_get(key, "null.counts");
	struct wm_null f;

	v->count = m;
	if (!fa && !ca) {
		v->pvalue = 1.0; /* no claim without a null */
		v->aux = NAN;
		v->detected = 0;
		return 0;
	}
	if (!fa || !ca || fa->dtype != NPZ_F64 || fa->count != 6 || ca->dtype != NPZ_I32)
		return errf(err, errlen,
			    "key: arrays 'null.fit' (6 float64) and 'null.counts' (int32) are "
			    "malformed; expected both as wmbench writes them");
	const double *d = fa->data;
	f.N = (int)d[0];
	f.n = (int)d[1];
	f.mu = d[2];
	f.rho = d[3];
	f.a = d[4];
	f.b = d[5];
	if (f.N != (int)ca->count || f.N < 1 || !(f.mu > 0 && f.mu < 1) ||
	    !(f.rho >= 0 && f.rho < 1))
		return errf(err, errlen,
			    "key: 'null.fit' (N %d, mu %g, rho %g) does not match its %lld "
			    "control counts; expected a fit as wmbench writes it",
			    f.N, f.mu, f.rho, (long long)ca->count);
	if (f.n != n)
		return errf(err, errlen,
			    "key: the empirical null was fitted on %d trials but the key has %d; "
			    "expected the same",
			    f.n, n);
	v->pvalue = wm_null_tail(&f, m);
	v->aux = wm_null_rank(ca->data, f.N, m);
	v->detected = v->pvalue < alpha;
	return 0;
}
