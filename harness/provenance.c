/* provenance.c - run.json's content: versions of wmbench and its libraries,
 * the CPU, the job file and dataset hashes, the counts, and the facts of the
 * run's plug-ins (reports/runjson.c writes and reads the file). */
#include "provenance.h"
#include "../attacks/attack.h"
#include "../reports/runjson.h"
#include "../schemes/scheme.h"
#include "../workers/data.h"
#include "../workers/util.h"
#include "version.h"

#include <archive.h>
#include <cblas.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yaml.h>

static void cpu_model(char *buf, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];
	strlcopy(buf, "unknown", len);
	if (!f)
		return;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "model name", 10)) {
			char *c = strchr(line, ':');
			if (c) {
				c += 2;
				c[strcspn(c, "\n")] = 0;
				strlcopy(buf, c, len);
			}
			break;
		}
	fclose(f);
}

void iso_time(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Adds a plug-in named name of kind to pl (cap entries) unless it is there;
 * returns the new entry, or NULL. */
static struct runjson_plugin *plugin_add(struct runjson_plugin *pl, int *n, int cap,
					 const char *kind, const char *name)
{
	for (int k = 0; k < *n; k++)
		if (!strcmp(pl[k].kind, kind) && !strcmp(pl[k].name, name))
			return NULL;
	if (*n >= cap)
		return NULL;
	memset(&pl[*n], 0, sizeof pl[*n]);
	strlcopy(pl[*n].name, name, sizeof pl[*n].name);
	strlcopy(pl[*n].kind, kind, sizeof pl[*n].kind);
	return &pl[(*n)++];
}

static void plugin_scheme(struct runjson_plugin *pl, int *n, int cap, const struct wm_scheme *sc)
{
	struct runjson_plugin *p = sc ? plugin_add(pl, n, cap, "scheme", sc->name) : NULL;

	if (!p)
		return;
	p->order = sc->order;
	strlcopy(p->colour, sc->colour ? sc->colour : "", sizeof p->colour);
	p->point = sc->point;
	p->unmarked = sc->unmarked;
	strlcopy(p->aux_label, sc->aux_label ? sc->aux_label : "", sizeof p->aux_label);
}

static void plugin_attack(struct runjson_plugin *pl, int *n, int cap, const struct atk_attack *a)
{
	struct runjson_plugin *p = a ? plugin_add(pl, n, cap, "attack", a->name) : NULL;

	if (p) {
		strlcopy(p->category, atk_category_name(a->category), sizeof p->category);
		char t[sizeof p->threat - 16];
		atk_threat_text(a->threat, t, sizeof t);
		/* a query-path attack sits in front of the API it serves */
		if (a->query_path)
			snprintf(p->threat, sizeof p->threat, "the API%s%s", a->threat ? ", " : "",
				 a->threat ? t : "");
		else
			strlcopy(p->threat, t, sizeof p->threat);
	}
	for (const struct param_def *d = p ? atk_params(a) : NULL;
	     d && d->key && p->nparams < RUNJSON_MAXPARAMS; d++) {
		strlcopy(p->param_key[p->nparams], d->key, RESULT_KEYLEN);
		strlcopy(p->param_help[p->nparams], d->help ? d->help : "", RUNJSON_HELPLEN);
		p->nparams++;
	}
}

/* The plug-ins of the run, with the facts the report draws with: the
 * unmarked scheme (of every clean model), then the job file's schemes and
 * attacks. pl is malloc'd; returns how many. */
static int run_plugins(const struct run_spec *rs, struct runjson_plugin **pl)
{
	int n = 0, cap = rs->nschemes + rs->nattacks;

	for (int k = 0; wm_schemes[k]; k++)
		cap += wm_schemes[k]->unmarked;
	*pl = xcalloc((size_t)(cap ? cap : 1), sizeof **pl);
	for (int k = 0; wm_schemes[k]; k++)
		if (wm_schemes[k]->unmarked)
			plugin_scheme(*pl, &n, cap, wm_schemes[k]);
	for (int i = 0; i < rs->nschemes; i++)
		plugin_scheme(*pl, &n, cap, wm_scheme_find(rs->schemes[i].name));
	for (int i = 0; i < rs->nattacks; i++)
		plugin_attack(*pl, &n, cap, atk_find(rs->attacks[i].name));
	return n;
}

int provenance_write(const char *rundir, const struct run_spec *rs, int size, const char *start,
		     const char *end, int njobs, const struct run_counts *s, char *err,
		     size_t errlen)
{
	char mpiv[MPI_MAX_LIBRARY_VERSION_STRING], cpu[256], files[RUNJSON_MAXFILES][1024];
	struct runjson rj = {
	    .version = WMBENCH_VERSION,
	    .job_file = rs->path,
	    .job_file_sha256 = rs->sha256,
	    .name = rs->name,
	    .alpha = rs->alpha,
	    .run_seed = (unsigned long long)rs->run_seed,
	    .jobs = njobs,
	    .ranks = size,
	    .threads_per_rank = rs->threads,
	    .start = start,
	    .end = end,
	    .openblas = openblas_get_config(),
	    .openblas_core = openblas_get_corename(),
	    .libarchive = archive_version_string(),
	    .libyaml = yaml_get_version_string(),
	    .mpi = mpiv,
	    .cpu = cpu,
	    .dataset = rs->dataset,
	};
	struct runjson_plugin *pl;
	int len = 0, rc;

	MPI_Get_library_version(mpiv, &len);
	mpiv[strcspn(mpiv, "\n")] = 0;
	cpu_model(cpu, sizeof cpu);
	if (s) {
		rj.have_counts = 1;
		rj.ok = s->ok;
		rj.failed = s->failed;
		rj.skipped = s->skipped;
	}
	rj.nfiles = data_files(rs->dataset, rs->data_dir, files, RUNJSON_MAXFILES);
	for (int i = 0; i < rj.nfiles; i++) {
		char e2[ERRBUF];

		rj.files[i].path = files[i];
		if (sha256_file_hex(files[i], rj.files[i].sha256, e2, sizeof e2))
			strcpy(rj.files[i].sha256, "unreadable");
	}
	rj.nplugins = run_plugins(rs, &pl);
	rj.plugins = pl;
	rc = runjson_write(rundir, &rj, err, errlen);
	free(pl);
	return rc;
}
