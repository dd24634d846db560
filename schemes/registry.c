/* registry.c - the table of schemes; adding one is one line here (or a
 * call of wm_scheme_register, for a plug-in outside the tree). */
#include "scheme.h"

#include <string.h>

extern const struct wm_scheme wm_none, wm_uchida;
extern const struct wm_scheme wm_adi, wm_nullembed;
extern const struct wm_scheme wm_deepsigns, wm_deepsigns_bb;
extern const struct wm_scheme wm_gradsigns;
extern const struct wm_scheme wm_zhang_content, wm_zhang_noise, wm_zhang_unrelated;
extern const struct wm_scheme wm_deepmarks, wm_dawn, wm_ewe;
extern const struct wm_scheme wm_frontier, wm_blackmarks;

#define WM_MAX_SCHEMES 64

const struct wm_scheme *wm_schemes[WM_MAX_SCHEMES + 1] = {
    &wm_none,	     &wm_uchida,	  &wm_adi,	 &wm_nullembed,
    &wm_deepsigns,   &wm_deepsigns_bb,	  &wm_gradsigns, &wm_zhang_content,
    &wm_zhang_noise, &wm_zhang_unrelated, &wm_frontier,	 &wm_blackmarks,
    &wm_ewe,	     &wm_deepmarks,	  &wm_dawn,	 NULL,
};

int wm_scheme_register(const struct wm_scheme *s)
{
	int n = 0;
	if (wm_scheme_find(s->name))
		return -1;
	while (wm_schemes[n])
		n++;
	if (n == WM_MAX_SCHEMES)
		return -1;
	wm_schemes[n] = s;
	return 0;
}

const struct wm_scheme *wm_scheme_find(const char *name)
{
	for (int i = 0; wm_schemes[i]; i++)
		if (!strcmp(wm_schemes[i]->name, name))
			return wm_schemes[i];
	return NULL;
}

const struct wm_scheme *wm_scheme_unmarked(void)
{
	for (int i = 0; wm_schemes[i]; i++)
		if (wm_schemes[i]->unmarked)
			return wm_schemes[i];
	return NULL;
}
