/* registry.c - the table of attacks; adding one is one line here. */
#include "attack.h"

#include <string.h>

extern const struct atk_attack atk_identity, atk_prune;
extern const struct atk_attack atk_finetune, atk_fineprune, atk_quantize, atk_noise, atk_overwrite,
    atk_piracy, atk_distill, atk_retrain, atk_labelsmooth, atk_weightshift, atk_chain,
    atk_input_noise, atk_input_clip, atk_input_quant, atk_score_round, atk_score_noise,
    atk_label_only;

const struct atk_attack *const atk_attacks[] = {
    &atk_identity,    &atk_prune,	&atk_finetune,	  &atk_fineprune,   &atk_quantize,
    &atk_noise,	      &atk_overwrite,	&atk_piracy,	  &atk_distill,	    &atk_retrain,
    &atk_labelsmooth, &atk_weightshift, &atk_chain,	  &atk_input_noise, &atk_input_clip,
    &atk_input_quant, &atk_score_round, &atk_score_noise, &atk_label_only,  NULL,
};

const struct atk_attack *atk_find(const char *name)
{
	for (int i = 0; atk_attacks[i]; i++)
		if (!strcmp(atk_attacks[i]->name, name))
			return atk_attacks[i];
	return NULL;
}
