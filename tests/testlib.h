/* testlib.h - fixtures shared by the cmocka tests (tests/test_*.c).
 *
 * Missing data: Fashion-MNIST is a dependency of the tests, like cmocka. The
 * Debian package dataset-fashion-mnist installs it in FASHION_DIR, and
 * `make deps` installs that package. A test that needs the data set and does
 * not find it FAILS, with a message that names FASHION_DIR, the package and
 * `make deps`; no test skips for want of it. Files in which every test needs
 * the data load it in the group setup and return its -1 (cmocka fails the
 * group); files with tests that run without it load it in the group setup
 * but carry on, and call tl_need_fashion() at the top of each test that
 * needs it. */
#ifndef WM_TESTLIB_H
#define WM_TESTLIB_H

#include <stddef.h>
#include <stdint.h>

#include "../schemes/scheme.h"
#include "data.h"

#define TL_FASHION_PACKAGE "dataset-fashion-mnist"

/* 1 if the data set directory dir does not exist, with the message of the
 * missing-data policy (dir, the package, make deps) in msg; else 0. */
int tl_dataset_missing(const char *dir, const char *package, char *msg, size_t msglen);

/* Loads Fashion-MNIST from FASHION_DIR, the training set cut to its first
 * ntrain samples and the test set to its first ntest (0: all). Returns 0, or
 * -1 after printing the reason to stderr; tl_need_fashion() then fails with
 * it. */
int tl_fashion_load(struct dataset *train, struct dataset *test, int ntrain, int ntest);
/* Frees what tl_fashion_load loaded (nothing if it failed). */
void tl_fashion_free(struct dataset *train, struct dataset *test);
/* At the top of a test that needs Fashion-MNIST: fails the test (never
 * skips) when tl_fashion_load failed, or, in a file that does not call it,
 * when FASHION_DIR is missing. */
void tl_need_fashion(void);

/* The indices 0 .. n-1 of the training set that tl_fashion_load loaded,
 * for tests in which every training sample is the owner's (NULL if it did
 * not load). tl_fashion_free frees them. */
const uint32_t *tl_fashion_all(void);

/* The wm_env of a test job: train and test, the owner's n_owner samples,
 * epochs of adam (lr 1e-3, batch 64; momentum 0.9, which only sgd reads),
 * alpha 1e-3, and r as the job's RNG (not reseeded). No attacker samples. */
void tl_env_init(struct wm_env *env, struct rng *r, int epochs, const struct dataset *train,
		 const struct dataset *test, const uint32_t *owner, int n_owner);

/* Splits the training set that tl_fashion_load loaded into owner and
 * attacker samples (data_split of seed, the attacker's share frac) for
 * tl_fashion_env; tl_fashion_free frees them. 0, or -1 when nothing loaded. */
int tl_fashion_split(uint64_t seed, double frac);
/* tl_env_init on what tl_fashion_load loaded, with r seeded from seed: every
 * training sample is the owner's, or, after tl_fashion_split, the owner's
 * part, with the attacker's part as the attacker samples. Without the data
 * it has no samples. */
void tl_fashion_env(struct wm_env *env, struct rng *r, uint64_t seed, int epochs);

/* The unmarked model: a fresh arch (1x28x28, 10 classes) from env->rng,
 * trained on env's owner samples. 0, or -1 after printing why to stderr. */
int tl_train_clean(struct nn_model *m, const char *arch, const struct wm_env *env);
/* The unmarked model of arch trained for epochs in tl_fashion_env(seed)
 * (tl_train_clean): trained at the first call with these arguments, then the
 * same model until tl_fashion_free frees it. Fails the test without the data,
 * when it does not train, or beyond 16 models. */
struct nn_model *tl_clean_model(const char *arch, uint64_t seed, int epochs);

/* A query path that reaches m through q->ctx only (q->model stays NULL), so
 * verify cannot read the weights; it counts the samples in q->queries and
 * does not clamp its inputs. */
void tl_hidden_query(struct wm_query *q, struct nn_model *m);

/* Runs s->verify on key, the model m (NULL: black-box) and the query path q
 * into v (cleared first, aux NaN); fails the test on an error. */
void tl_verify(const struct wm_scheme *s, const struct npz *key, struct nn_model *m,
	       struct wm_query *q, const struct wm_env *env, struct wm_verdict *v);

/* Black-box verification: tl_verify of key on m through tl_hidden_query, in
 * env, with v->queries set to the samples verify queried. Fails the test on
 * an error, when the verdict's metric is not metric (NULL: not checked) or
 * when verify queried nothing. */
void tl_verify_bb(const struct wm_scheme *s, const struct npz *key, struct nn_model *m,
		  const struct wm_env *env, const char *metric, struct wm_verdict *v);
/* The empirical null of key (schemes/scheme.h): tl_verify_bb of key on each
 * of the n_models unmarked models (metric as there; each from env's RNG as
 * handed), wm_null_fit of their counts out of the capacity, wm_null_store in
 * key. Prints the counts and the fit; the verdicts go to vs (n_models; NULL:
 * not kept). Returns the capacity. Fails the test on an error, when the
 * capacities differ or when the fit refuses the counts. */
int tl_fit_null(const struct wm_scheme *s, struct npz *key, struct nn_model *const *models,
		int n_models, const struct wm_env *env, const char *metric, struct wm_verdict *vs);

/* Fails the test unless array name is in both a and b with the same dtype,
 * count and bytes. */
void tl_assert_same_array(const struct npz *a, const struct npz *b, const char *name);

/* A fresh directory /tmp/<prefix>.XXXXXX; its path goes to dir. 0 or -1. */
int tl_tmpdir(char *dir, size_t len, const char *prefix);
/* A plug-in's parameter set from "k=v<sep>k=v" (kv NULL: none), completed
 * with the table's defaults; a bad list fails the test. */
void tl_params(const char *owner, const struct param_def *defs, struct param_set *ps,
	       const char *kv, const char *seps);
/* tl_params of scheme s (its name in messages, its table) from "k=v,k=v"
 * (kv NULL: none); a bad list fails the test. */
void tl_scheme_params(const struct wm_scheme *s, struct param_set *p, const char *kv);
/* The scheme's check of kv against a model of arch fails, and its message
 * holds needle. */
void tl_expect_check_error(const struct wm_scheme *s, const char *arch, const char *kv,
			   const char *needle);
/* Removes dir and everything below it (links are removed, not followed).
 * 0 or -1. */
int tl_rmtree(const char *dir);

#endif
