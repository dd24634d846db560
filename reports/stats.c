/* stats.c - the statistics of the report: the incomplete beta function and
 * its inverse, Clopper-Pearson intervals, Student's t, the binomial
 * detection threshold, means with t intervals and quantiles. */
#include "report_int.h"

#include <math.h>
#include <stdlib.h>

/* Continued fraction of the incomplete beta function (modified Lentz). */
static double beta_cf(double a, double b, double x)
{
	const double tiny = 1e-300;
	double c = 1, d = 1 - (a + b) * x / (a + 1), h;

	if (fabs(d) < tiny)
		d = tiny;
	d = 1 / d;
	h = d;
	for (int m = 1; m <= 10000; m++) {
		double aa, del;

		aa = m * (b - m) * x / ((a - 1 + 2 * m) * (a + 2 * m));
		d = 1 + aa * d;
		c = 1 + aa / c;
		d = 1 / (fabs(d) < tiny ? tiny : d);
		c = fabs(c) < tiny ? tiny : c;
		h *= d * c;
		aa = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 1 + 2 * m));
		d = 1 + aa * d;
		c = 1 + aa / c;
		d = 1 / (fabs(d) < tiny ? tiny : d);
		c = fabs(c) < tiny ? tiny : c;
		del = d * c;
		h *= del;
		if (fabs(del - 1) < 1e-16)
			break;
	}
	return h;
}

double report_beta_inc(double a, double b, double x)
{
	double lf;

	if (!(x > 0))
		return 0;
	if (x >= 1)
		return 1;
	lf = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
	if (x < (a + 1) / (a + b + 2))
		return exp(lf) * beta_cf(a, b, x) / a;
	return 1 - exp(lf) * beta_cf(b, a, 1 - x) / b;
}

double report_beta_quantile(double p, double a, double b)
{
	double lo = 0, hi = 1;

	if (!(p > 0))
		return 0;
	if (p >= 1)
		return 1;
	for (int i = 0; i < 200; i++) {
		double mid = 0.5 * (lo + hi);

		if (mid <= lo || mid >= hi)
			break;
		if (report_beta_inc(a, b, mid) < p)
			lo = mid;
		else
			hi = mid;
	}
	return 0.5 * (lo + hi);
}

void report_clopper_pearson(int x, int n, double *lo, double *hi)
{
	if (n <= 0 || x < 0 || x > n) {
		*lo = *hi = NAN;
		return;
	}
	*lo = x == 0 ? 0 : report_beta_quantile(0.025, x, n - x + 1);
	*hi = x == n ? 1 : report_beta_quantile(0.975, x + 1, n - x);
}

double report_binom_sf(int n, int x, double p)
{
	if (x <= 0)
		return 1;
	if (x > n)
		return 0;
	return report_beta_inc(x, n - x + 1, p);
}

int report_calib_pass(const int *fp, const int *n, int m, int M, int pooled, double alpha)
{
	int X = 0, N = 0;

	for (int i = 0; i < m; i++) {
		X += fp[i];
		N += n[i];
	}
	if (N <= 0)
		return -1;
	if (M < m)
		M = m;
	if (pooled && report_binom_sf(N, X, alpha) < 0.05)
		return 0;
	for (int i = 0; i < m; i++)
		if (n[i] > 0 && report_binom_sf(n[i], fp[i], alpha) < 0.05 / M)
			return 0;
	return 1;
}

/* P[|T| > t] = I_{df/(df+t^2)}(df/2, 1/2), solved for a two-sided 5%. */
double report_t975(int df)
{
	double x;

	if (df < 1)
		return NAN;
	x = report_beta_quantile(0.05, 0.5 * df, 0.5);
	return sqrt(df * (1 - x) / x);
}

int report_binom_threshold(int n, double alpha)
{
	double tail = 0, lc = lgamma(n + 1.0) - n * log(2.0);

	if (n <= 0 || !(alpha > 0))
		return -1;
	for (int j = n; j >= 0; j--) {
		double t = tail + exp(lc - lgamma(j + 1.0) - lgamma(n - j + 1.0));

		if (t >= alpha)
			return j == n ? -1 : j + 1;
		tail = t;
	}
	return 0;
}

/* Mean, sample sd and t-based 95% half-width of the finite values of v. */
void mstat_of(const double *v, int nv, struct mstat *s)
{
	double sum = 0, ss = 0;
	int n = 0;

	for (int i = 0; i < nv; i++)
		if (isfinite(v[i])) {
			sum += v[i];
			n++;
		}
	s->n = n;
	s->mean = n ? sum / n : NAN;
	s->sd = NAN;
	s->ci = NAN;
	if (n < 2)
		return;
	for (int i = 0; i < nv; i++)
		if (isfinite(v[i]))
			ss += (v[i] - s->mean) * (v[i] - s->mean);
	s->sd = sqrt(ss / (n - 1));
	s->ci = report_t975(n - 1) * s->sd / sqrt(n);
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The p-quantile of the finite values of v (linear interpolation between
 * order statistics, R's and numpy's default); v is reordered. */
double rp_quantile(double *v, int nv, double p)
{
	int n = 0;
	double h;
	int lo;

	for (int i = 0; i < nv; i++)
		if (isfinite(v[i]))
			v[n++] = v[i];
	if (!n)
		return NAN;
	qsort(v, (size_t)n, sizeof *v, dbl_cmp);
	h = (n - 1) * p;
	lo = (int)floor(h);
	if (lo >= n - 1)
		return v[n - 1];
	return v[lo] + (h - lo) * (v[lo + 1] - v[lo]);
}
