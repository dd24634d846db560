/* main.c - the wmbench command line: run, report, verify, list, slurm. */
#include "../attacks/attack.h"
#include "../reports/report.h"
#include "../schemes/scheme.h"
#include "../workers/model.h"
#include "../workers/util.h"
#include "coord.h"
#include "version.h"
#include "keyreg.h"

#include <cblas.h>
#include <getopt.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage_main[] =
    "usage: wmbench [--version] [--help] COMMAND [ARGS]\n"
    "\n"
    "Measures how well DNN watermarks survive attacks.\n"
    "\n"
    "commands:\n"
    "  run JOBFILE        run (or resume) a job matrix; under mpirun, rank 0 coordinates\n"
    "  report RUNDIR      summary.csv, gnuplot figures and report.md of a run\n"
    "  verify             check a suspect model against an owner's key\n"
    "  register           commit to keys in a registry file (hash and time)\n"
    "  list [WHAT]        schemes, attacks and models, with their parameters\n"
    "  slurm JOBFILE      print an sbatch script that runs a job file\n"
    "\n"
    "'wmbench COMMAND --help' describes each command.\n";

static const char usage_run[] =
    "usage: wmbench run [OPTIONS] JOBFILE\n"
    "       mpirun -np N wmbench run [OPTIONS] JOBFILE\n"
    "\n"
    "Expands JOBFILE into train, embed, attack and control jobs and runs them.\n"
    "Running the same command again resumes: finished jobs are skipped.\n"
    "\n"
    "  -o, --out DIR        run directory (default runs/<run name>)\n"
    "  -n, --dry-run        print the expanded jobs, dependencies and estimates; run nothing\n"
    "      --retry-failed   run again the jobs that failed\n"
    "      --extend         accept a job file with added jobs; keep the finished ones\n"
    "  -q, --quiet          print only errors and the summary line\n"
    "      --synthetic U    replace every job by U units of fixed CPU work, about U seconds\n"
    "                       on a 3 GHz core (scheduler benchmark)\n"
    "  -h, --help           this help\n"
    "\n"
    "exit status: 0 all jobs ok, 1 the run could not start, 3 some jobs failed or were skipped\n";

static const char usage_report[] =
    "usage: wmbench report [OPTIONS] RUNDIR\n"
    "\n"
    "Writes RUNDIR/report/: summary.csv, gnuplot figures (PDF, PNG, SVG), report.md.\n"
    "\n"
    "  --bundle      also write RUNDIR.tar.gz with CSVs, figures, scripts and data\n"
    "  --latex       also write cairolatex figures\n"
    "  -h, --help    this help\n";

static const char usage_verify[] =
    "usage: wmbench verify --model M.npz --key K.npz [OPTIONS]\n"
    "\n"
    "Checks a suspect model for the owner's watermark. Prints the metric, the\n"
    "p-value and the decision. Black-box schemes use only the prediction path.\n"
    "\n"
    "  -m, --model FILE     the suspect model (.npz)\n"
    "  -k, --key FILE       the owner's key (.npz, from the run's keys/ directory)\n"
    "  -a, --alpha A        significance level (default: the run's, from the key;\n"
    "                       1e-3 for a key without one)\n"
    "  -d, --dataset NAME   data the scheme reads key inputs from (default: the\n"
    "                       run's, from the key; else %s)\n"
    "      --test-subset N  verify on the first N test samples (default: the run's,\n"
    "                       from the key; 0 = all)\n"
    "      --data-dir DIR   where that dataset lives\n"
    "      --registry FILE  accept the key only if FILE (wmbench register) holds it\n"
    "      --before TIME    ... registered before TIME (seconds since 1970 or\n"
    "                       YYYY-MM-DDTHH:MM:SSZ; e.g. when the model was published)\n"
    "  -h, --help           this help\n"
    "\n"
    "A key from a run records the run's alpha, dataset and test subset, so the\n"
    "decision printed here is the run's (README \"Decision rules\").\n"
    "\n"
    "exit status: 0 the mark is detected, 1 it is not, 2 error, 4 the key is not\n"
    "registered before TIME (nothing verified)\n";

static const char usage_register[] =
    "usage: wmbench register --registry FILE [--time TIME] KEY.npz...\n"
    "\n"
    "Commits to keys before any dispute: appends each key file's SHA-256 and TIME\n"
    "(default: now) to the registry FILE, which the owner keeps or publishes.\n"
    "'wmbench verify --registry FILE --before T' then accepts only keys\n"
    "registered before T, so a key forged after the model was published is\n"
    "refused (README \"Key registration\"). A key registered already keeps its\n"
    "first time.\n"
    "\n"
    "  -r, --registry FILE  the registry (created if absent)\n"
    "  -t, --time TIME      seconds since 1970 or YYYY-MM-DDTHH:MM:SSZ\n"
    "  -h, --help           this help\n"
    "\n"
    "exit status: 0 all registered, 2 error\n";

/* usage_verify with the default dataset filled in */
static void print_usage_verify(FILE *f)
{
	fprintf(f, usage_verify, data_sources[0].name);
}

static const char usage_list[] =
    "usage: wmbench list [schemes|attacks|models]\n"
    "\n"
    "Lists the plug-ins and every parameter with its default and valid range.\n";

static const char usage_slurm[] =
    "usage: wmbench slurm [OPTIONS] JOBFILE\n"
    "\n"
    "Prints a ready sbatch script that runs JOBFILE with srun --mpi=pmix. SLURM\n"
    "sends SIGTERM 60 s before the time limit (--signal), the run flushes and\n"
    "exits; --requeue makes a requeued (or resubmitted) job resume where it stopped.\n"
    "The script's comments give the dry run's CPU estimate over the worker ranks;\n"
    "a --time below it is reported on stderr (the run then takes several jobs).\n"
    "\n"
    "  -N, --nodes N              nodes (default 1)\n"
    "  -n, --ntasks-per-node M    MPI ranks per node (default 2; rank 0 coordinates)\n"
    "  -t, --time HH:MM[:SS]      time limit (default 01:00:00)\n"
    "  -p, --partition P          partition (default: the cluster's default)\n"
    "  -o, --out DIR              run directory (default runs/<run name>)\n"
    "  -h, --help                 this help\n";

static int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"out", required_argument, 0, 'o'},	   {"dry-run", no_argument, 0, 'n'},
	    {"retry-failed", no_argument, 0, 'r'}, {"extend", no_argument, 0, 'e'},
	    {"quiet", no_argument, 0, 'q'},	   {"synthetic", required_argument, 0, 's'},
	    {"help", no_argument, 0, 'h'},	   {0}};
	struct run_opts o = {0};
	int c, rank = 0, size = 1, status;
	while ((c = getopt_long(argc, argv, "o:nqh", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			strlcopy(o.rundir, optarg, sizeof o.rundir);
			break;
		case 'n':
			o.dry_run = 1;
			break;
		case 'r':
			o.retry_failed = 1;
			break;
		case 'e':
			o.extend = 1;
			break;
		case 'q':
			o.quiet = 1;
			break;
		case 's':
			o.synthetic = 1;
			o.synthetic_s = atof(optarg);
			if (!(o.synthetic_s >= 0)) {
				fprintf(stderr,
					"wmbench run: --synthetic '%s'; expected seconds >= 0\n",
					optarg);
				return 1;
			}
			break;
		case 'h':
			fputs(usage_run, stdout);
			return 0;
		default:
			fputs(usage_run, stderr);
			return 1;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "wmbench run: expected exactly one JOBFILE\n%s", usage_run);
		return 1;
	}
	o.jobfile = argv[optind];
	if (o.dry_run)
		return coord_run(&o, 0, 1);
	/* rank 0's journal fsyncs on a thread of its own, which makes no MPI call */
	int provided;
	MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
	journal_thread_ok = provided >= MPI_THREAD_FUNNELED;
	/* failures come back as return codes, which coord.c turns into messages */
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	status = coord_run(&o, rank, size);
	MPI_Finalize();
	return status;
}

static int cmd_report(int argc, char **argv)
{
	static const struct option opts[] = {{"bundle", no_argument, 0, 'b'},
					     {"latex", no_argument, 0, 'l'},
					     {"help", no_argument, 0, 'h'},
					     {0}};
	int c, flags = 0;
	char err[ERRBUF];
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'b')
			flags |= REPORT_BUNDLE;
		else if (c == 'l')
			flags |= REPORT_LATEX;
		else if (c == 'h') {
			fputs(usage_report, stdout);
			return 0;
		} else {
			fputs(usage_report, stderr);
			return 1;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "wmbench report: expected exactly one RUNDIR\n%s", usage_report);
		return 1;
	}
	if (report_run(argv[optind], flags, err, sizeof err)) {
		fprintf(stderr, "error: %s\n", err);
		return 1;
	}
	return 0;
}

static int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"model", required_argument, 0, 'm'},    {"key", required_argument, 0, 'k'},
	    {"alpha", required_argument, 0, 'a'},    {"dataset", required_argument, 0, 'd'},
	    {"data-dir", required_argument, 0, 'D'}, {"test-subset", required_argument, 0, 'T'},
	    {"registry", required_argument, 0, 'R'}, {"before", required_argument, 0, 'B'},
	    {"help", no_argument, 0, 'h'},	     {0}};
	const char *model = NULL, *keyf = NULL, *dataset = NULL, *dir = "", *registry = NULL;
	long long before = -1;
	double alpha = NAN;
	long subset = -1;
	char err[ERRBUF] = "", scheme[NAMELEN], key_dataset[NAMELEN];
	int c;
	while ((c = getopt_long(argc, argv, "m:k:a:d:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			model = optarg;
			break;
		case 'k':
			keyf = optarg;
			break;
		case 'a': {
			char *end;
			alpha = strtod(optarg, &end);
			if (*end || !(alpha > 0 && alpha < 1)) {
				fprintf(
				    stderr,
				    "wmbench verify: --alpha '%s'; expected a number in (0, 1)\n",
				    optarg);
				return 2;
			}
			break;
		}
		case 'd':
			dataset = optarg;
			break;
		case 'D':
			dir = optarg;
			break;
		case 'T': {
			char *end;
			subset = strtol(optarg, &end, 10);
			if (*end || !*optarg || subset < 0 || subset > 100000000) {
				fprintf(
				    stderr,
				    "wmbench verify: --test-subset '%s'; expected an integer in "
				    "[0, 100000000] (0 = the whole test set)\n",
				    optarg);
				return 2;
			}
			break;
		}
		case 'R':
			registry = optarg;
			break;
		case 'B':
			if (keyreg_parse_time(optarg, "wmbench verify: --before", &before, err,
					      sizeof err)) {
				fprintf(stderr, "%s\n", err);
				return 2;
			}
			break;
		case 'h':
			print_usage_verify(stdout);
			return 0;
		default:
			print_usage_verify(stderr);
			return 2;
		}
	}
	if (!model || !keyf || optind != argc) {
		fprintf(stderr, "wmbench verify: expected --model FILE and --key FILE\n");
		print_usage_verify(stderr);
		return 2;
	}
	if (!registry != (before < 0)) {
		fprintf(stderr, "wmbench verify: --registry and --before go together; expected "
				"both or neither\n");
		return 2;
	}
	if (registry) {
		long long when;
		char hex[65];
		int rc = keyreg_lookup(registry, keyf, &when, hex, err, sizeof err);
		if (rc < 0) {
			fprintf(stderr, "error: %s\n", err);
			return 2;
		}
		if (!rc || when >= before) {
			printf("registry: %s\nkey: %s (SHA-256 %s)\n", registry, keyf, hex);
			if (rc)
				printf("registered: %lld, not before %lld\n", when, before);
			else
				printf("registered: never\n");
			printf("decision: REFUSED (the key was not registered before the given "
			       "time; nothing verified)\n");
			return 4;
		}
		printf("registry: %s, key registered at %lld (before %lld)\n", registry, when,
		       before);
	}
	struct nn_model m;
	struct npz key;
	struct dataset train, test;
	const struct wm_scheme *s;
	npz_init(&key);
	if (model_load(&m, model, err, sizeof err)) {
		fprintf(stderr, "error: %s\n", err);
		return 2;
	}
	if (npz_read(&key, keyf, err, sizeof err)) {
		fprintf(stderr, "error: %s\n", err);
		return 2;
	}
	if (npz_get_text(&key, "scheme", scheme, sizeof scheme)) {
		fprintf(stderr,
			"error: %s: no 'scheme' array; expected a key file from a wmbench run's "
			"keys/\n",
			keyf);
		return 2;
	}
	if (!(s = wm_scheme_find(scheme))) {
		fprintf(stderr,
			"error: %s: unknown scheme '%s'; expected a key written by this wmbench\n",
			keyf, scheme);
		return 2;
	}
	/* the run's verification context, recorded in its keys */
	const struct npz_array *ka = npz_get(&key, "run.alpha"),
			       *ks = npz_get(&key, "run.test_subset");
	if (isnan(alpha))
		alpha =
		    ka && ka->dtype == NPZ_F64 && ka->count == 1 ? *(const double *)ka->data : 1e-3;
	if (!dataset)
		dataset = npz_get_text(&key, "run.dataset", key_dataset, sizeof key_dataset)
			      ? data_sources[0].name
			      : key_dataset;
	if (subset < 0)
		subset =
		    ks && ks->dtype == NPZ_I32 && ks->count == 1 ? *(const int32_t *)ks->data : 0;
	if (!(alpha > 0 && alpha < 1)) {
		fprintf(stderr, "error: %s: run.alpha = %g; expected a number in (0, 1)\n", keyf,
			alpha);
		return 2;
	}
	if (data_load(dataset, dir, &train, &test, err, sizeof err)) {
		fprintf(stderr, "error: %s\n", err);
		return 2;
	}
	if (subset > 0 && subset < test.n)
		data_truncate(&test, (int)subset);
	struct rng r;
	rng_seed(&r, 0);
	struct wm_env env = {.train = &train, .test = &test, .alpha = alpha, .rng = &r};
	struct wm_query q;
	struct wm_verdict v = {.aux = NAN};
	wm_query_init(&q, &m);
	if (wm_verify(s, &key, &m, &q, &env, &v, err, sizeof err)) {
		fprintf(stderr, "error: %s\n", err);
		return 2;
	}
	printf("scheme: %s\n%s: %.6g\np-value: %.6g\nalpha: %g\ndataset: %s (%d test samples)\n"
	       "queries: %ld\n",
	       scheme, v.metric_name, v.metric, v.pvalue, alpha, dataset, test.n, q.queries);
	if (!isnan(v.aux))
		printf("aux: %.6g%s%s%s\n", v.aux, s->aux_label ? " (" : "",
		       s->aux_label ? s->aux_label : "", s->aux_label ? ")" : "");
	printf("decision: %s\n", v.detected ? "DETECTED (watermark present)" : "not detected");
	data_free(&train);
	data_free(&test);
	nn_free(&m);
	npz_free(&key);
	return v.detected ? 0 : 1;
}

static void list_params(const struct param_def *d)
{
	for (; d && d->key; d++) {
		char exp[160];
		param_expect(d, exp, sizeof exp);
		printf("      %-14s default %-8s %s; %s\n", d->key, d->def, exp, d->help);
	}
}

static int cmd_list(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "all";
	if (!strcmp(what, "--help") || !strcmp(what, "-h")) {
		fputs(usage_list, stdout);
		return 0;
	}
	int all = !strcmp(what, "all"), any = 0;
	if (all || !strcmp(what, "schemes")) {
		printf("schemes:\n");
		for (int i = 0; wm_schemes[i]; i++) {
			printf("  %-14s %s\n", wm_schemes[i]->name, wm_schemes[i]->summary);
			list_params(wm_schemes[i]->params);
		}
		any = 1;
	}
	if (all || !strcmp(what, "attacks")) {
		printf("attacks:\n");
		for (int c = 0; c < ATK_NCAT; c++)
			for (int i = 0; atk_attacks[i]; i++) {
				const struct atk_attack *a = atk_attacks[i];
				char threat[128];
				if ((int)a->category != c)
					continue;
				atk_threat_text(a->threat, threat, sizeof threat);
				printf("  %-14s %s\n", a->name, a->summary);
				printf("      category: %s%s; needs: %s\n",
				       atk_category_name(a->category),
				       a->query_path ? " (query path: wraps the API's predict, n/a "
						       "against white-box verification)"
						     : "",
				       threat);
				list_params(atk_params(a));
			}
		any = 1;
	}
	if (all || !strcmp(what, "models")) {
		printf("models:\n");
		for (const struct nn_arch *a = nn_archs; a->name; a++)
			printf("  %-14s %s\n", a->name, a->spec);
		any = 1;
	}
	if (!any) {
		fprintf(stderr, "wmbench list: unknown '%s'; expected schemes, attacks or models\n",
			what);
		return 1;
	}
	return 0;
}

/* Single-quotes s for the shell ('it'\''s'). */
static void shell_quote(const char *s, char *out, size_t len)
{
	size_t o = 0;
	if (len < 3)
		return;
	out[o++] = '\'';
	for (; *s && o + 6 < len; s++) {
		if (*s == '\'') {
			memcpy(out + o, "'\\''", 4);
			o += 4;
		} else {
			out[o++] = *s;
		}
	}
	out[o++] = '\'';
	out[o] = 0;
}

static int valid_time(const char *t)
{
	int h, m, sec, n = 0;
	if (sscanf(t, "%d:%d:%d%n", &h, &m, &sec, &n) == 3 && !t[n])
		return h >= 0 && m >= 0 && m < 60 && sec >= 0 && sec < 60;
	n = 0;
	return sscanf(t, "%d:%d%n", &h, &m, &n) == 2 && !t[n] && h >= 0 && m >= 0 && m < 60;
}

/* HH:MM[:SS] (checked by valid_time) in seconds. */
static double time_seconds(const char *t)
{
	int h = 0, m = 0, sec = 0;
	if (sscanf(t, "%d:%d:%d", &h, &m, &sec) < 2)
		return 0;
	return 3600.0 * h + 60.0 * m + sec;
}

/* The dry run's CPU seconds of the whole job file (its estimate at this
 * per-sample costs of nn_archs[]); -1 when the matrix does not expand. */
static double dry_run_cpu(const struct run_spec *rs)
{
	struct matrix m;
	char err[ERRBUF];
	double cpu = 0;
	if (matrix_expand(rs, &m, err, sizeof err))
		return -1;
	for (int i = 0; i < m.n; i++)
		cpu += matrix_cost(&m, i);
	matrix_free(&m);
	return cpu;
}

static int cmd_register(int argc, char **argv)
{
	static const struct option opts[] = {{"registry", required_argument, 0, 'r'},
					     {"time", required_argument, 0, 't'},
					     {"help", no_argument, 0, 'h'},
					     {0}};
	const char *registry = NULL;
	long long when = (long long)time(NULL);
	char err[ERRBUF];
	int c;

	while ((c = getopt_long(argc, argv, "r:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			registry = optarg;
			break;
		case 't':
			if (keyreg_parse_time(optarg, "wmbench register: --time", &when, err,
					      sizeof err)) {
				fprintf(stderr, "%s\n", err);
				return 2;
			}
			break;
		case 'h':
			fputs(usage_register, stdout);
			return 0;
		default:
			fputs(usage_register, stderr);
			return 2;
		}
	}
	if (!registry || optind == argc) {
		fprintf(stderr, "wmbench register: expected --registry FILE and key files\n");
		fputs(usage_register, stderr);
		return 2;
	}
	for (int i = optind; i < argc; i++) {
		struct npz key;
		char scheme[NAMELEN];
		/* only a key of a scheme: a registry of anything else proves nothing */
		npz_init(&key);
		if (npz_read(&key, argv[i], err, sizeof err) ||
		    npz_get_text(&key, "scheme", scheme, sizeof scheme)) {
			fprintf(stderr, "error: %s: %s\n", argv[i],
				err[0] ? err : "no 'scheme' array; expected a wmbench key file");
			npz_free(&key);
			return 2;
		}
		npz_free(&key);
		if (keyreg_add(registry, argv[i], when, err, sizeof err)) {
			fprintf(stderr, "error: %s\n", err);
			return 2;
		}
		printf("registered %s at %lld in %s\n", argv[i], when, registry);
	}
	return 0;
}

static int cmd_slurm(int argc, char **argv)
{
	static const struct option opts[] = {{"nodes", required_argument, 0, 'N'},
					     {"ntasks-per-node", required_argument, 0, 'n'},
					     {"time", required_argument, 0, 't'},
					     {"partition", required_argument, 0, 'p'},
					     {"out", required_argument, 0, 'o'},
					     {"help", no_argument, 0, 'h'},
					     {0}};
	int c, nodes = 1, per = 2;
	const char *tlimit = "01:00:00", *part = NULL, *out = NULL;
	char *end;
	while ((c = getopt_long(argc, argv, "N:n:t:p:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'N':
			nodes = (int)strtol(optarg, &end, 10);
			if (*end || nodes < 1) {
				fprintf(stderr,
					"wmbench slurm: --nodes '%s'; expected an integer >= 1\n",
					optarg);
				return 1;
			}
			break;
		case 'n':
			per = (int)strtol(optarg, &end, 10);
			if (*end || per < 1) {
				fprintf(stderr,
					"wmbench slurm: --ntasks-per-node '%s'; expected an "
					"integer >= 1\n",
					optarg);
				return 1;
			}
			break;
		case 't':
			tlimit = optarg;
			if (!valid_time(tlimit)) {
				fprintf(stderr,
					"wmbench slurm: --time '%s'; expected HH:MM or HH:MM:SS\n",
					optarg);
				return 1;
			}
			break;
		case 'p':
			part = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'h':
			fputs(usage_slurm, stdout);
			return 0;
		default:
			fputs(usage_slurm, stderr);
			return 1;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "wmbench slurm: expected exactly one JOBFILE\n%s", usage_slurm);
		return 1;
	}
	struct run_spec rs;
	char err[ERRBUF], self[PATH_MAX], cwd[PATH_MAX], job[PATH_MAX], dir[2 * PATH_MAX + 16];
	char q_self[4 * PATH_MAX], q_job[4 * PATH_MAX], q_dir[8 * PATH_MAX + 64];
	if (jobfile_load(argv[optind], &rs, err, sizeof err)) {
		fprintf(stderr, "error: %s\n", err);
		return 1;
	}
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	self[n > 0 ? n : 0] = 0;
	if (!getcwd(cwd, sizeof cwd) || !realpath(argv[optind], job)) {
		fprintf(stderr, "error: cannot resolve the paths of %s\n", argv[optind]);
		jobfile_free(&rs);
		return 1;
	}
	if (out)
		snprintf(dir, sizeof dir, "%s%s%s", out[0] == '/' ? "" : cwd,
			 out[0] == '/' ? "" : "/", out);
	else
		snprintf(dir, sizeof dir, "%s/runs/%s", cwd, rs.name);
	if (strpbrk(cwd, " \t\n'\"")) {
		fprintf(stderr,
			"error: the working directory '%s' holds whitespace or quotes, which "
			"#SBATCH --chdir cannot carry; expected a plain path\n",
			cwd);
		jobfile_free(&rs);
		return 1;
	}
	/* the estimate over the workers (rank 0 coordinates): a lower bound of
	 * the wall time, at the per-sample costs of nn_archs[] (measured on the
	 * development machine's cores) */
	int workers = nodes * per > 1 ? nodes * per - 1 : 1;
	double cpu = dry_run_cpu(&rs), wall = cpu / workers;
	if (cpu >= 0 && wall > time_seconds(tlimit))
		fprintf(
		    stderr,
		    "wmbench slurm: the dry run estimates %.1f CPU-hours, %.2f h on %d worker "
		    "rank%s at the development machine's speed per core, more than --time %s; the "
		    "job will stop "
		    "at the limit and resume when resubmitted (or raise --time or the ranks)\n",
		    cpu / 3600, wall / 3600, workers, workers == 1 ? "" : "s", tlimit);
	shell_quote(self[0] ? self : "wmbench", q_self, sizeof q_self);
	shell_quote(dir, q_dir, sizeof q_dir);
	shell_quote(job, q_job, sizeof q_job);
	printf("#!/bin/bash\n"
	       "#SBATCH --job-name=wmbench-%s\n"
	       "#SBATCH --nodes=%d\n"
	       "#SBATCH --ntasks-per-node=%d\n"
	       "#SBATCH --time=%s\n"
	       "#SBATCH --requeue\n"
	       "#SBATCH --signal=TERM@60\n"
	       "#SBATCH --open-mode=append\n"
	       "#SBATCH --chdir=%s\n"
	       "#SBATCH --output=wmbench-%s-%%j.out\n",
	       rs.name, nodes, per, tlimit, cwd, rs.name);
	if (part)
		printf("#SBATCH --partition=%s\n", part);
	if (cpu >= 0)
		printf("# The dry run estimates %.1f CPU-hours: %.2f h on %d worker rank%s at the\n"
		       "# development machine's speed per core (wmbench run --dry-run lists it).\n",
		       cpu / 3600, wall / 3600, workers, workers == 1 ? "" : "s");
	printf(
	    "# Generated by wmbench %s for %s.\n"
	    "# Rank 0 coordinates, the other ranks train. At the time limit SLURM sends\n"
	    "# SIGTERM 60 s early: finished rows are on disk, jobs in flight are redone.\n"
	    "# A requeued or resubmitted job resumes where it stopped.\n"
	    "export OPENBLAS_NUM_THREADS=%d OMP_NUM_THREADS=%d\n"
	    "echo \"wmbench: SLURM job $SLURM_JOB_ID, restart count ${SLURM_RESTART_COUNT:-0}\"\n"
	    "srun --mpi=pmix %s run --out %s %s\n"
	    "status=$?\n"
	    "# 0: every job ok; 3: finished with failed jobs (see results.csv)\n"
	    "[ $status -eq 3 ] && exit 0\n"
	    "exit $status\n",
	    WMBENCH_VERSION, rs.path, rs.threads, rs.threads, q_self, q_dir, q_job);
	jobfile_free(&rs);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_main, stderr);
		return 1;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
		printf("wmbench %s\n", WMBENCH_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(usage_main, stdout);
		return 0;
	}
	argc--;
	argv++;
	if (!strcmp(cmd, "run"))
		return cmd_run(argc, argv);
	if (!strcmp(cmd, "report"))
		return cmd_report(argc, argv);
	if (!strcmp(cmd, "verify"))
		return cmd_verify(argc, argv);
	if (!strcmp(cmd, "list"))
		return cmd_list(argc, argv);
	if (!strcmp(cmd, "slurm"))
		return cmd_slurm(argc, argv);
	if (!strcmp(cmd, "register"))
		return cmd_register(argc, argv);
	fprintf(stderr,
		"wmbench: unknown command '%s'; expected run, report, verify, register, list or "
		"slurm\n%s",
		cmd, usage_main);
	return 1;
}
