/* Time the C library's tanh, exp and log1p on as many values as digits has hidden units.
 *
 * The question it answers: would a compiled, fused evaluation kernel beat NumPy on small
 * problems? Only if its transcendental functions are as fast as NumPy's SIMD ones, and
 * numpy.tanh takes about 37 µs on these 1797 × 25 values on the machine of
 * docs/performance.rst (bench_vs_mlp.py's element-wise floor).
 *
 *     gcc -O3 -o /tmp/libm_tanh benchmarks/libm_tanh.c -lm && /tmp/libm_tanh
 *     gcc -O3 -ffast-math -mavx2 -mfma -o /tmp/libm_tanh_vec benchmarks/libm_tanh.c -lm -lmvec \
 *         && /tmp/libm_tanh_vec
 *
 * The second build lets gcc call glibc's vector math library (libmvec), at the price of
 * -ffast-math and an instruction set fixed at build time.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define N (1797 * 25)
#define ROUNDS 200

static double in[N], out[N];

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(void)
{
    double best[3] = {1e9, 1e9, 1e9};
    srand(0);
    for (int i = 0; i < N; i++) {
        in[i] = 8.0 * rand() / RAND_MAX - 4.0;
    }
    for (int round = 0; round < ROUNDS; round++) {
        double start = now();
        for (int i = 0; i < N; i++) out[i] = tanh(in[i]);
        double t = now() - start;
        best[0] = t < best[0] ? t : best[0];
        start = now();
        for (int i = 0; i < N; i++) out[i] = exp(in[i]);
        t = now() - start;
        best[1] = t < best[1] ? t : best[1];
        start = now();
        for (int i = 0; i < N; i++) out[i] = log1p(out[i]);
        t = now() - start;
        best[2] = t < best[2] ? t : best[2];
    }
    printf("%d values, best of %d: tanh %.1f us, exp %.1f us, log1p %.1f us (checksum %g)\n", N,
           ROUNDS, 1e6 * best[0], 1e6 * best[1], 1e6 * best[2], out[N / 2]);
    return 0;
}
