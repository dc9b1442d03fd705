#include <stddef.h>
#include <cblas.h>

// LAPACK, which OpenBLAS carries (Fortran calling convention: every argument by address, then the hidden
// lengths of the character arguments).
void dposv_(const char *uplo, const int *n, const int *nrhs, double *a, const int *lda, double *b, const int *ldb,
            int *info, size_t uplo_length);
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w, double *work,
             const int *lwork, int *iwork, const int *liwork, int *info, size_t jobz_length, size_t uplo_length);
