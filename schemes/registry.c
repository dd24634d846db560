/* registry.c - the table of schemes; adding one is one line here. */
#include "scheme.h"

#include <string.h>

extern const struct wm_scheme wm_none, wm_uchida;
extern const struct wm_scheme wm_adi, wm_nullembed;
extern const struct wm_scheme wm_deepsigns, wm_deepsigns_bb;
extern const struct wm_scheme wm_gradsigns;

const struct wm_scheme *const wm_schemes[] = {
    &wm_none,	   &wm_uchida,	     &wm_adi,	    &wm_nullembed,
    &wm_deepsigns, &wm_deepsigns_bb, &wm_gradsigns, NULL,
};

const struct wm_scheme *wm_scheme_find(const char *name)
{
	for (int i = 0; wm_schemes[i]; i++)
		if (!strcmp(wm_schemes[i]->name, name))
			return wm_schemes[i];
	return NULL;
}
