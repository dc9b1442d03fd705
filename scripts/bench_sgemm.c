/* OpenBLAS sgemm peak on this machine, through the same system library the engine links.
 * Build: cc -O2 scripts/bench_sgemm.c $(pkg-config --cflags --libs openblas) -o /tmp/bench_sgemm
 * Run:   OPENBLAS_NUM_THREADS=1 /tmp/bench_sgemm M N K [transB]
 * Prints one line: "M N K transB threads seconds GFLOP/s" (best of several repetitions). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: %s M N K [transB]\n", argv[0]); return 2; }
    int m = atoi(argv[1]), n = atoi(argv[2]), k = atoi(argv[3]);
    int transB = argc > 4 ? atoi(argv[4]) : 1;
    float *a = malloc(sizeof(float) * (size_t)m * k), *b = malloc(sizeof(float) * (size_t)n * k),
          *c = malloc(sizeof(float) * (size_t)m * n);
    for (size_t i = 0; i < (size_t)m * k; i++) a[i] = (float)((i * 7) % 13) / 13.0f - 0.5f;
    for (size_t i = 0; i < (size_t)n * k; i++) b[i] = (float)((i * 5) % 11) / 11.0f - 0.5f;
    double flops = 2.0 * m * n * k;
    /* Repeat until at least 0.3 s per measurement; keep the best of 5 measurements. */
    int reps = 1;
    for (;;) {
        double t0 = now();
        for (int r = 0; r < reps; r++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, transB ? CblasTrans : CblasNoTrans, m, n, k, 1, a, k, b,
                        transB ? k : n, 0, c, n);
        if (now() - t0 > 0.3) break;
        reps *= 2;
    }
    double best = 1e30;
    for (int trial = 0; trial < 5; trial++) {
        double t0 = now();
        for (int r = 0; r < reps; r++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, transB ? CblasTrans : CblasNoTrans, m, n, k, 1, a, k, b,
                        transB ? k : n, 0, c, n);
        double t = (now() - t0) / reps;
        if (t < best) best = t;
    }
    printf("%d %d %d %d %d %.6f %.2f\n", m, n, k, transB, openblas_get_num_threads(), best, flops / best / 1e9);
    printf("# core: %s config: %s\n", openblas_get_corename(), openblas_get_config());
    free(a); free(b); free(c);
    return 0;
}
