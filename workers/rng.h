/* rng.h - the one random number generator (xoshiro256**), seeded per job. */
#ifndef WM_RNG_H
#define WM_RNG_H

#include <stddef.h>
#include <stdint.h>

struct rng {
	uint64_t s[4];
	int have_spare;
	double spare;
};

void rng_seed(struct rng *r, uint64_t seed); /* splitmix64 expansion */
uint64_t rng_u64(struct rng *r);
double rng_uniform(struct rng *r);			    /* [0, 1) with 53 bits */
double rng_normal(struct rng *r);			    /* N(0, 1), Box-Muller */
uint32_t rng_below(struct rng *r, uint32_t n);		    /* uniform in [0, n), unbiased */
void rng_shuffle_u32(struct rng *r, uint32_t *a, size_t n); /* Fisher-Yates */
/* A 64-bit seed from a base seed and a text identity: the first 8 bytes
 * (little-endian) of SHA-256("<base>\n<identity>"). */
uint64_t seed_derive(uint64_t base, const char *identity);

#endif
