/* rng.c - xoshiro256** seeded by splitmix64; seeds derived with SHA-256. */
#include "rng.h"

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void rng_seed(struct rng *r, uint64_t seed)
{
	uint64_t x = seed;
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
	r->have_spare = 0;
	r->spare = 0;
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t rng_u64(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double rng_uniform(struct rng *r)
{
	return (double)(rng_u64(r) >> 11) * 0x1.0p-53;
}

double rng_normal(struct rng *r)
{
	if (r->have_spare) {
		r->have_spare = 0;
		return r->spare;
	}
	double u1, u2;
	do
		u1 = rng_uniform(r);
	while (u1 <= 0.0);
	u2 = rng_uniform(r);
	double mag = sqrt(-2.0 * log(u1));
	r->spare = mag * sin(2.0 * M_PI * u2);
	r->have_spare = 1;
	return mag * cos(2.0 * M_PI * u2);
}

uint32_t rng_below(struct rng *r, uint32_t n)
{
	/* Lemire's multiply-shift with rejection. */
	uint64_t m = (uint64_t)(uint32_t)(rng_u64(r) >> 32) * n;
	uint32_t l = (uint32_t)m;
	if (l < n) {
		uint32_t t = (uint32_t)(-n) % n;
		while (l < t) {
			m = (uint64_t)(uint32_t)(rng_u64(r) >> 32) * n;
			l = (uint32_t)m;
		}
	}
	return (uint32_t)(m >> 32);
}

void rng_shuffle_u32(struct rng *r, uint32_t *a, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		uint32_t j = rng_below(r, (uint32_t)i);
		uint32_t t = a[i - 1];
		a[i - 1] = a[j];
		a[j] = t;
	}
}

uint64_t seed_derive(uint64_t base, const char *identity)
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_state st;
	char head[32];
	int n = snprintf(head, sizeof head, "%llu\n", (unsigned long long)base);
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)head, (size_t)n);
	crypto_hash_sha256_update(&st, (const unsigned char *)identity, strlen(identity));
	crypto_hash_sha256_final(&st, h);
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | h[i];
	return v;
}

uint64_t seed_stream(uint64_t run_seed, enum seed_stream st, const struct seed_scope *sc)
{
	char text[1200];

	switch (st) {
	case SEED_JOB:
		return seed_derive(run_seed, sc->job);
	case SEED_SPLIT:
		snprintf(text, sizeof text, "split;dataset=%s;n=%d;seed=%ld", sc->dataset, sc->n,
			 sc->seed);
		return seed_derive(run_seed, text);
	case SEED_MODEL:
		snprintf(text, sizeof text, "model;dataset=%s;model=%s;seed=%ld", sc->dataset,
			 sc->model, sc->seed);
		return seed_derive(run_seed, text);
	case SEED_QUERY:
		return seed_derive(sc->job_seed, "query-path");
	case SEED_CONTROL:
		snprintf(text, sizeof text, "%s;control=%d", sc->job, sc->control);
		return seed_derive(run_seed, text);
	case SEED_ATTACKER_KEY:
		return seed_derive(sc->draw, "attacker key");
	case SEED_CALIB_KEY:
		if (sc->calib_model > 0)
			snprintf(text, sizeof text, "calibration key;%s;model=%d;key=%d",
				 sc->setting, sc->calib_model, sc->key);
		else
			snprintf(text, sizeof text, "calibration key;%s;key=%d", sc->setting,
				 sc->key);
		return seed_derive(run_seed, text);
	}
	return 0;
}
