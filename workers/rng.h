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

/* Every random stream of a run, and what it is shared by (its scope). */
enum seed_stream {
	SEED_JOB,	   /* a job's own stream: keys, attacks (scope: the job) */
	SEED_SPLIT,	   /* owner/attacker split of the training set (scope: the seed) */
	SEED_MODEL,	   /* initial weights and batch order (scope: the seed; paired design) */
	SEED_QUERY,	   /* a query-path attack's wrapper (scope: the job, by its seed) */
	SEED_CONTROL,	   /* a control model (scope: the seed's clean training job, index) */
	SEED_ATTACKER_KEY, /* the attacker's own key (scope: a draw from the attack job's stream) */
	SEED_CALIB_KEY,	   /* calibration key k of a scheme setting (scope: setting, k) */
};
struct seed_scope {
	const char *job;     /* SEED_JOB: the job's identity text;
			      * SEED_CONTROL: the clean training job's */
	uint64_t job_seed;   /* SEED_QUERY: the job's seed (its SEED_JOB) */
	const char *dataset; /* SEED_SPLIT, SEED_MODEL */
	const char *model;   /* SEED_MODEL */
	int n;		     /* SEED_SPLIT: training samples */
	long seed;	     /* SEED_SPLIT, SEED_MODEL: the user's seed value */
	int control;	     /* SEED_CONTROL: which control model */
	uint64_t draw;	     /* SEED_ATTACKER_KEY */
	const char *setting; /* SEED_CALIB_KEY: the scheme setting's text */
	int key;	     /* SEED_CALIB_KEY: which key (1..K) */
	int calib_model;     /* SEED_CALIB_KEY: the model it is verified on (keys made
			      * by keygen), 0 for owner-model keys shared by all */
};
/* The seed of a stream: seed_derive of the run seed and a text naming the
 * stream and its scope (README "Determinism" lists the texts). This is the
 * only place streams are derived. */
uint64_t seed_stream(uint64_t run_seed, enum seed_stream st, const struct seed_scope *sc);

#endif
