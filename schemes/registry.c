/* registry.c - the table of schemes; adding one is one line here. */
#include "scheme.h"

#include <string.h>

extern const struct wm_scheme wm_none, wm_uchida;

const struct wm_scheme *const wm_schemes[] = {
	&wm_none,
	&wm_uchida,
	NULL,
};

const struct wm_scheme *wm_scheme_find(const char *name)
{
	for (int i = 0; wm_schemes[i]; i++)
		if (!strcmp(wm_schemes[i]->name, name))
			return wm_schemes[i];
	return NULL;
}
