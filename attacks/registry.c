/* registry.c - the table of attacks; adding one is one line here. */
#include "attack.h"

#include <string.h>

extern const struct atk_attack atk_identity, atk_prune;

const struct atk_attack *const atk_attacks[] = {
	&atk_identity,
	&atk_prune,
	NULL,
};

const struct atk_attack *atk_find(const char *name)
{
	for (int i = 0; atk_attacks[i]; i++)
		if (!strcmp(atk_attacks[i]->name, name))
			return atk_attacks[i];
	return NULL;
}
