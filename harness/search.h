/* search.h - the adaptive search for the weakest removing attack strength
 * (README "Adaptive search"): over an attack parameter's values, ordered
 * from the weakest to the strongest, find the first value at which the
 * owner's mark is removed, with a bisection instead of a full grid.
 *
 * One search runs per marked model (embed job) and search entry of the job
 * file. It knows only indices 0..n-1 of the value list and the outcome of
 * each probe; the coordinator turns a probe into an attack job (its id is the
 * hash of its identity, which holds the embed job's and the value, so a
 * resumed run finds its rows again) and feeds the outcome back.
 *
 * How it goes:
 *  1. a coarse round: `coarse` indices evenly spaced from 0 to n-1 (both
 *     ends included), all at once (they run in parallel);
 *  2. the first coarse index that removes the mark, c_k, brackets the answer
 *     with c_{k-1} (which does not remove it); bisection in between until the
 *     two are adjacent.
 * A response that is not monotone (removed at a weak value, not at a stronger
 * one) is handled by taking the weakest removing coarse point: the answer is
 * the first removing value above the strongest non-removing value below it
 * that the search saw. A removing dip between coarse points below c_{k-1} is
 * not seen; more coarse points make that less likely. */
#ifndef WM_SEARCH_H
#define WM_SEARCH_H

enum search_outcome {
	SEARCH_KEPT = 0,    /* the mark is still detected after the attack */
	SEARCH_REMOVED = 1, /* detected before, not after */
	SEARCH_NA = 2,	    /* not detected before the attack: nothing to remove */
	SEARCH_FAILED = 3   /* the probe job failed or was skipped */
};

enum search_status {
	SEARCH_RUNNING,
	SEARCH_FOUND,	     /* answer: index `hi` (weakest removing); `lo` the strongest kept */
	SEARCH_NOT_REMOVED,  /* not removed at any probed value, the strongest included */
	SEARCH_NOT_DETECTED, /* the mark was not detected before the attack */
	SEARCH_ABORTED	     /* a probe failed */
};

#define SEARCH_MAXPROBES 64

struct search {
	int n;	     /* values */
	int coarse;  /* points of the first round */
	int status;  /* enum search_status */
	int lo, hi;  /* strongest kept index (-1: none) and weakest removing (n: none) */
	int phase;   /* 0: coarse round out, 1: bisecting */
	int pending; /* probes handed out and not yet answered */
	int nprobes; /* probes handed out so far */
	int probe[SEARCH_MAXPROBES];
	int outcome[SEARCH_MAXPROBES]; /* -1 while pending */
};

/* A search over n values (n >= 1) with a first round of coarse points
 * (2 <= coarse, at most n and SEARCH_MAXPROBES / 2). */
void search_init(struct search *s, int n, int coarse);
/* The probes to hand out now, into idx[0..max); returns how many (0: wait
 * for outcomes, or the search is over). Each index is handed out once. */
int search_next(struct search *s, int *idx, int max);
/* The outcome of the probe at index idx. */
void search_outcome(struct search *s, int idx, int outcome);
/* The outcome recorded at index idx: SEARCH_* or -1 (not probed or pending). */
int search_probed(const struct search *s, int idx);

#endif
