#ifndef MODELSURGERY_DECODE_H
#define MODELSURGERY_DECODE_H

/// ggml's Q4_0 blocks (f16 scale d, 16 bytes of 4-bit quants) to floats, d · (q − 8) as dequantize_row_q4_0
/// computes it, in the widest vectors the CPU has: the most common encoding of the weights generation decodes
/// for every token. Blocks are 18 bytes, little-endian, unaligned.
void modelsurgery_decode_q4_0(const unsigned char *source, long blocks, float *destination);

#endif
