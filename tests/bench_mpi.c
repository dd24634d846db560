/* bench_mpi.c - the MPI costs that the coordinator simulation replays
 * (tests/bench_coord_sim.sh), measured between 2 ranks with the messages of
 * a run: a job index (one int) from rank 0, a result row back.
 *
 *   mpirun -np 2 bench_mpi [ROUNDTRIPS]
 *
 * Prints the one-way latency of each message (median of ROUNDTRIPS round
 * trips, default 4000), rank 0's time in one MPI_Iprobe that finds nothing,
 * one MPI_Send of a job index and one MPI_Recv of a row that is waiting,
 * then a line "simargs: ..." of bench_coord_sim options. */
#include "job.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return v[n / 2];
}

int main(int argc, char **argv)
{
	int rank, size, n = argc > 1 ? atoi(argv[1]) : 4000, j = 7;
	static struct result_row row;
	const int tag_job = 1, tag_row = 2, rowlen = (int)sizeof row;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (size != 2 || n < 10) {
		if (!rank)
			fprintf(stderr, "usage: mpirun -np 2 bench_mpi [ROUNDTRIPS >= 10]\n");
		MPI_Finalize();
		return 2;
	}
	double *t = malloc((size_t)n * sizeof *t), *ts = malloc((size_t)n * sizeof *ts),
	       lat_int = 0, lat_rt = 0, probe, send = 0, recv = 0;
	/* 1: int there and back; 2: int there, row back (a job and its row);
	 * 3: rank 0's calls alone: a row waits (rank 1 sent it before a
	 * barrier), rank 0 receives it, sends the next index */
	for (int phase = 1; phase <= 3; phase++) {
		for (int i = -n / 10; i < n; i++) { /* the first tenth warms up */
			double t0 = MPI_Wtime(), t1, t2;
			if (rank == 0) {
				if (phase < 3) {
					MPI_Send(&j, 1, MPI_INT, 1, tag_job, MPI_COMM_WORLD);
					if (phase == 1)
						MPI_Recv(&j, 1, MPI_INT, 1, tag_job, MPI_COMM_WORLD,
							 MPI_STATUS_IGNORE);
					else
						MPI_Recv(&row, rowlen, MPI_BYTE, 1, tag_row,
							 MPI_COMM_WORLD, MPI_STATUS_IGNORE);
					t1 = MPI_Wtime();
					if (i >= 0)
						t[i] = t1 - t0;
				} else {
					int flag = 0;
					MPI_Barrier(MPI_COMM_WORLD);
					while (!flag)
						MPI_Iprobe(1, tag_row, MPI_COMM_WORLD, &flag,
							   MPI_STATUS_IGNORE);
					t0 = MPI_Wtime();
					MPI_Recv(&row, rowlen, MPI_BYTE, 1, tag_row, MPI_COMM_WORLD,
						 MPI_STATUS_IGNORE);
					t1 = MPI_Wtime();
					MPI_Send(&j, 1, MPI_INT, 1, tag_job, MPI_COMM_WORLD);
					t2 = MPI_Wtime();
					if (i >= 0) {
						t[i] = t1 - t0;
						ts[i] = t2 - t1;
					}
				}
			} else {
				if (phase < 3) {
					MPI_Recv(&j, 1, MPI_INT, 0, tag_job, MPI_COMM_WORLD,
						 MPI_STATUS_IGNORE);
					if (phase == 1)
						MPI_Send(&j, 1, MPI_INT, 0, tag_job,
							 MPI_COMM_WORLD);
					else
						MPI_Send(&row, rowlen, MPI_BYTE, 0, tag_row,
							 MPI_COMM_WORLD);
				} else {
					MPI_Send(&row, rowlen, MPI_BYTE, 0, tag_row,
						 MPI_COMM_WORLD);
					MPI_Barrier(MPI_COMM_WORLD);
					MPI_Recv(&j, 1, MPI_INT, 0, tag_job, MPI_COMM_WORLD,
						 MPI_STATUS_IGNORE);
				}
			}
		}
		if (rank == 0) {
			if (phase == 1)
				lat_int = median(t, n) / 2 * 1e6;
			else if (phase == 2)
				lat_rt = median(t, n) * 1e6;
			else {
				recv = median(t, n) * 1e6;
				send = median(ts, n) * 1e6;
			}
		}
	}
	if (rank == 0) {
		/* an MPI_Iprobe that finds nothing: what rank 0 does between naps */
		int flag, m = 100000;
		double t0 = MPI_Wtime();
		for (int i = 0; i < m; i++)
			MPI_Iprobe(MPI_ANY_SOURCE, tag_row, MPI_COMM_WORLD, &flag,
				   MPI_STATUS_IGNORE);
		probe = (MPI_Wtime() - t0) / m * 1e6;
		double lat_row = lat_rt - lat_int > 0 ? lat_rt - lat_int : 0;
		printf("mpi: job index one-way latency: %.2f us (median of %d round trips, half "
		       "of one)\n",
		       lat_int, n);
		printf("mpi: job index there, %d-byte row back: %.2f us round trip, so %.2f us "
		       "for the row\n",
		       rowlen, lat_rt, lat_row);
		printf("mpi: rank 0 per call: MPI_Iprobe finding nothing %.3f us, MPI_Recv of a "
		       "waiting row %.2f us, MPI_Send of a job index %.2f us\n",
		       probe, recv, send);
		printf("simargs: --lat-job %.3f --lat-row %.3f --probe %.3f --recv %.3f --send "
		       "%.3f\n",
		       lat_int, lat_row, probe, recv, send);
	}
	free(t);
	free(ts);
	MPI_Finalize();
	return 0;
}
