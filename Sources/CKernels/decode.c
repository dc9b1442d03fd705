#include "decode.h"
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__linux__)
#define WIDEST __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define WIDEST
#endif

// IEEE 754 binary16 to float, exactly (every half is a float); NaN payloads are kept in the top mantissa bits.
static inline float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF, bits;
    if (exponent == 0) {
        float magnitude = (float)mantissa * 0x1p-24f; // zero or subnormal: exact
        memcpy(&bits, &magnitude, sizeof bits);
        bits |= sign;
    } else if (exponent == 31) {
        bits = sign | 0x7F800000u | (mantissa << 13);
    } else {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    }
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

WIDEST void modelsurgery_decode_q4_0(const unsigned char *source, long blocks, float *destination) {
    for (long b = 0; b < blocks; b++) {
        const unsigned char *x = source + b * 18;
        float *y = destination + b * 32;
        uint16_t bits = (uint16_t)(x[0] | x[1] << 8);
        float d = half_to_float(bits);
        for (int j = 0; j < 16; j++) {
            int q = x[2 + j];
            y[j] = d * (float)((q & 0x0F) - 8);
            y[j + 16] = d * (float)((q >> 4) - 8);
        }
    }
}
