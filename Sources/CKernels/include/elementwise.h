#ifndef MODELSURGERY_ELEMENTWISE_H
#define MODELSURGERY_ELEMENTWISE_H

/// Element-wise kernels of the engine built for the widest vectors the CPU has (x86-64: AVX-512, AVX2+FMA or
/// SSE2, chosen at load time by target_clones), which Swift code compiled for the baseline cannot use.
/// exp is Cephes' expf polynomial (within 2 ulp), inputs clamped to ±88.

/// gate[i] = act(gate[i]) · up[i], act = SiLU, or GELU (tanh approximation) when `gelu` is nonzero.
void modelsurgery_gated_activation(float *gate, const float *up, long count, int gelu);

/// Σ exp(x[i] − shift).
float modelsurgery_sum_of_exponentials(const float *x, long count, float shift);

/// x[i] = exp(x[i] − shift); returns their sum.
float modelsurgery_exponentials(float *x, long count, float shift);

#endif
