/* search.c - the bisection of search.h. */
#include "search.h"

#include <string.h>

void search_init(struct search *s, int n, int coarse)
{
	memset(s, 0, sizeof *s);
	s->n = n;
	s->coarse = coarse < 2 ? 2 : coarse;
	if (s->coarse > SEARCH_MAXPROBES / 2)
		s->coarse = SEARCH_MAXPROBES / 2;
	s->lo = -1;
	s->hi = n;
	s->status = SEARCH_RUNNING;
}

static int find(const struct search *s, int idx)
{
	for (int i = 0; i < s->nprobes; i++)
		if (s->probe[i] == idx)
			return i;
	return -1;
}

/* Hands out index idx (once); 1 if it was new. */
static int hand_out(struct search *s, int idx, int *out, int *k, int max)
{
	if (find(s, idx) >= 0 || *k >= max || s->nprobes == SEARCH_MAXPROBES)
		return 0;
	s->probe[s->nprobes] = idx;
	s->outcome[s->nprobes++] = -1;
	s->pending++;
	out[(*k)++] = idx;
	return 1;
}

/* Bisection between lo (kept) and hi (removed): the next probe, or the end. */
static int bisect(struct search *s, int *out, int max)
{
	int k = 0;

	if (s->hi - s->lo <= 1) {
		s->status = SEARCH_FOUND;
		return 0;
	}
	hand_out(s, s->lo + (s->hi - s->lo) / 2, out, &k, max);
	return k;
}

int search_next(struct search *s, int *idx, int max)
{
	int k = 0;

	if (s->status != SEARCH_RUNNING || s->pending > 0)
		return 0;
	if (s->phase == 0 && s->nprobes == 0) {
		int c = s->coarse < s->n ? s->coarse : s->n;

		for (int i = 0; i < c; i++) {
			int v = c == 1 ? 0 : (int)((long long)i * (s->n - 1) * 2 / (c - 1) + 1) / 2;
			hand_out(s, v, idx, &k, max);
		}
		return k;
	}
	if (s->phase == 0) {
		/* the coarse round is back: bracket the weakest removing point */
		int first = s->n;

		for (int i = 0; i < s->nprobes; i++) {
			if (s->outcome[i] == SEARCH_NA) {
				s->status = SEARCH_NOT_DETECTED;
				return 0;
			}
			if (s->outcome[i] == SEARCH_FAILED) {
				s->status = SEARCH_ABORTED;
				return 0;
			}
			if (s->outcome[i] == SEARCH_REMOVED && s->probe[i] < first)
				first = s->probe[i];
		}
		s->hi = first;
		s->lo = -1;
		for (int i = 0; i < s->nprobes; i++)
			if (s->probe[i] < first && s->probe[i] > s->lo)
				s->lo = s->probe[i];
		if (first == s->n) {
			s->status = SEARCH_NOT_REMOVED;
			return 0;
		}
		s->phase = 1;
	}
	return bisect(s, idx, max);
}

void search_outcome(struct search *s, int idx, int outcome)
{
	int i = find(s, idx);

	if (i < 0 || s->outcome[i] >= 0)
		return;
	s->outcome[i] = outcome;
	s->pending--;
	if (s->phase == 0 || s->status != SEARCH_RUNNING)
		return;
	switch (outcome) {
	case SEARCH_REMOVED:
		s->hi = idx;
		break;
	case SEARCH_KEPT:
		s->lo = idx;
		break;
	case SEARCH_NA:
		s->status = SEARCH_NOT_DETECTED;
		break;
	default:
		s->status = SEARCH_ABORTED;
	}
}

int search_probed(const struct search *s, int idx)
{
	int i = find(s, idx);
	return i < 0 ? -1 : s->outcome[i];
}
