// The register kernels of native/blake3-lanes.h (included from it only, after its constants,
// b3_node and the lane helpers): up to 8 nodes at once in AVX2 registers, up to 16 in AVX-512
// ones, one node per 32-bit lane. Each is the BLAKE3 compression of every lane's block, 7 rounds,
// then the next block, until every lane's node has ended.
#ifndef VD_BLAKE3_KERNELS_H
#define VD_BLAKE3_KERNELS_H
#include <immintrin.h>

// One block of every lane, as both kernels compress it: the state from the values so far (h), the
// IV, the counters, the lengths and the flags; 7 rounds of G over the columns then the diagonals,
// the message words taken in each round's order; then h = the state's two halves XORed. T is the
// register type, SET1, LOAD and XOR its intrinsics.
#define B3_COMPRESS(T, SET1, LOAD, XOR, G, h, m, counter_lo, counter_hi, lens, flags)                             \
  do {                                                                                                          \
    T v0 = h[0], v1 = h[1], v2 = h[2], v3 = h[3], v4 = h[4], v5 = h[5], v6 = h[6], v7 = h[7];                   \
    T v8 = SET1((int)B3_IV[0]), v9 = SET1((int)B3_IV[1]), v10 = SET1((int)B3_IV[2]), v11 = SET1((int)B3_IV[3]); \
    T v12 = counter_lo, v13 = counter_hi, v14 = LOAD(lens), v15 = LOAD(flags);                                  \
    _Pragma("GCC unroll 7") for (int rd = 0; rd < 7; rd++) {                                                    \
      const uint8_t *p = B3_SCHED[rd];                                                                          \
      G(v0, v4, v8, v12, m[p[0]], m[p[1]]);                                                                     \
      G(v1, v5, v9, v13, m[p[2]], m[p[3]]);                                                                     \
      G(v2, v6, v10, v14, m[p[4]], m[p[5]]);                                                                    \
      G(v3, v7, v11, v15, m[p[6]], m[p[7]]);                                                                    \
      G(v0, v5, v10, v15, m[p[8]], m[p[9]]);                                                                    \
      G(v1, v6, v11, v12, m[p[10]], m[p[11]]);                                                                  \
      G(v2, v7, v8, v13, m[p[12]], m[p[13]]);                                                                   \
      G(v3, v4, v9, v14, m[p[14]], m[p[15]]);                                                                   \
    }                                                                                                           \
    h[0] = XOR(v0, v8);                                                                                         \
    h[1] = XOR(v1, v9);                                                                                         \
    h[2] = XOR(v2, v10);                                                                                        \
    h[3] = XOR(v3, v11);                                                                                        \
    h[4] = XOR(v4, v12);                                                                                        \
    h[5] = XOR(v5, v13);                                                                                        \
    h[6] = XOR(v6, v14);                                                                                        \
    h[7] = XOR(v7, v15);                                                                                        \
  } while (0)

#define B3_AVX2 __attribute__((target("avx2")))
#define B3_LOAD8(p) _mm256_loadu_si256((const __m256i *)(p))
#define B3_STORE8(p, v) _mm256_storeu_si256((__m256i *)(p), v)
B3_AVX2 static inline __m256i b3_rot16(__m256i x) {
  return _mm256_shuffle_epi8(x, _mm256_set_epi8(13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2, 13, 12, 15,
                                                14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2));
}
B3_AVX2 static inline __m256i b3_rot8(__m256i x) {
  return _mm256_shuffle_epi8(x, _mm256_set_epi8(12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1, 12, 15, 14,
                                                13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1));
}
#define B3_ROTR(x, c) _mm256_or_si256(_mm256_srli_epi32(x, c), _mm256_slli_epi32(x, 32 - (c)))
// The G function on 8 lanes at once.
#define B3_G(a, b, c, d, x, y)                                                                                   \
  do {                                                                                                           \
    a = _mm256_add_epi32(_mm256_add_epi32(a, b), x);                                                             \
    d = b3_rot16(_mm256_xor_si256(d, a));                                                                        \
    c = _mm256_add_epi32(c, d);                                                                                  \
    b = B3_ROTR(_mm256_xor_si256(b, c), 12);                                                                     \
    a = _mm256_add_epi32(_mm256_add_epi32(a, b), y);                                                             \
    d = b3_rot8(_mm256_xor_si256(d, a));                                                                         \
    c = _mm256_add_epi32(c, d);                                                                                  \
    b = B3_ROTR(_mm256_xor_si256(b, c), 7);                                                                      \
  } while (0)

// Rows r[0..7] (8 words each, one row per lane) become columns: m[j] holds word j of every row.
B3_AVX2 static inline void b3_transpose(const __m256i r[8], __m256i m[8]) {
  __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
  __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
  __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]), t5 = _mm256_unpackhi_epi32(r[4], r[5]);
  __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]), t7 = _mm256_unpackhi_epi32(r[6], r[7]);
  __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
  __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
  __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
  __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
  m[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
  m[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
  m[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
  m[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
  m[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
  m[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
  m[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
  m[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

// Up to 8 nodes, one per lane.
B3_AVX2 static void b3_nodes8(const b3_node *nodes, int n) {
  uint8_t pad[B3_WIDTH][B3_BLOCK];
  uint32_t blocks[B3_WIDTH], lo[B3_WIDTH], hi[B3_WIDTH];
  const uint32_t most = b3_lanes_begin(nodes, n, B3_WIDTH, blocks, lo, hi);
  __m256i h[8];
  for (int j = 0; j < 8; j++) h[j] = _mm256_set1_epi32((int)B3_IV[j]);
  const __m256i counter_lo = B3_LOAD8(lo), counter_hi = B3_LOAD8(hi);
  for (uint32_t b = 0; b < most; b++) {
    uint32_t lens[B3_WIDTH], flags[B3_WIDTH];
    const uint8_t *at[B3_WIDTH];
    const int ending = b3_lanes_block(nodes, B3_WIDTH, blocks, b, at, lens, flags, pad);
    __m256i r[8], m[16];
    for (int l = 0; l < 8; l++) r[l] = B3_LOAD8(at[l]);
    b3_transpose(r, m);
    for (int l = 0; l < 8; l++) r[l] = B3_LOAD8(at[l] + 32);
    b3_transpose(r, m + 8);
    B3_COMPRESS(__m256i, _mm256_set1_epi32, B3_LOAD8, _mm256_xor_si256, B3_G, h, m, counter_lo, counter_hi, lens,
                flags);
    if (!ending) continue;
    uint32_t out[8 * B3_WIDTH];
    for (int j = 0; j < 8; j++) B3_STORE8(out + j * B3_WIDTH, h[j]);
    b3_lanes_take(nodes, n, B3_WIDTH, blocks, b, out);
  }
}

// The same on 16 lanes, where the CPU has AVX-512: a rotation is one instruction, and the 32
// registers hold the state and the message without spilling.
#define B3_AVX512 __attribute__((target("avx512f")))
#define B3_G16(a, b, c, d, x, y)                                                                                 \
  do {                                                                                                           \
    a = _mm512_add_epi32(_mm512_add_epi32(a, b), x);                                                             \
    d = _mm512_ror_epi32(_mm512_xor_si512(d, a), 16);                                                            \
    c = _mm512_add_epi32(c, d);                                                                                  \
    b = _mm512_ror_epi32(_mm512_xor_si512(b, c), 12);                                                            \
    a = _mm512_add_epi32(_mm512_add_epi32(a, b), y);                                                             \
    d = _mm512_ror_epi32(_mm512_xor_si512(d, a), 8);                                                             \
    c = _mm512_add_epi32(c, d);                                                                                  \
    b = _mm512_ror_epi32(_mm512_xor_si512(b, c), 7);                                                             \
  } while (0)

// 16 rows of 16 words (one 64-byte block per lane) become 16 columns: m[j] holds word j of every row.
B3_AVX512 static inline void b3_transpose16(const __m512i r[16], __m512i m[16]) {
  __m512i t[16], u[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  // u[4k + j], in its 128-bit lane q: word 4q + j of rows 4k .. 4k + 3.
  for (int k = 0; k < 16; k += 4) {
    u[k] = _mm512_unpacklo_epi64(t[k], t[k + 2]);
    u[k + 1] = _mm512_unpackhi_epi64(t[k], t[k + 2]);
    u[k + 2] = _mm512_unpacklo_epi64(t[k + 1], t[k + 3]);
    u[k + 3] = _mm512_unpackhi_epi64(t[k + 1], t[k + 3]);
  }
  for (int j = 0; j < 4; j++) {
    __m512i a = _mm512_shuffle_i32x4(u[j], u[4 + j], 0x44), b = _mm512_shuffle_i32x4(u[j], u[4 + j], 0xEE);
    __m512i c = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0x44), d = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0xEE);
    m[j] = _mm512_shuffle_i32x4(a, c, 0x88);
    m[4 + j] = _mm512_shuffle_i32x4(a, c, 0xDD);
    m[8 + j] = _mm512_shuffle_i32x4(b, d, 0x88);
    m[12 + j] = _mm512_shuffle_i32x4(b, d, 0xDD);
  }
}

// Up to 16 nodes, one per lane.
B3_AVX512 static void b3_nodes16(const b3_node *nodes, int n) {
  uint8_t pad[16][B3_BLOCK];
  uint32_t blocks[16], lo[16], hi[16];
  const uint32_t most = b3_lanes_begin(nodes, n, 16, blocks, lo, hi);
  __m512i h[8];
  for (int j = 0; j < 8; j++) h[j] = _mm512_set1_epi32((int)B3_IV[j]);
  const __m512i counter_lo = _mm512_loadu_si512(lo), counter_hi = _mm512_loadu_si512(hi);
  for (uint32_t b = 0; b < most; b++) {
    uint32_t lens[16], flags[16];
    const uint8_t *at[16];
    const int ending = b3_lanes_block(nodes, 16, blocks, b, at, lens, flags, pad);
    __m512i r[16], m[16];
    for (int l = 0; l < 16; l++) r[l] = _mm512_loadu_si512(at[l]);
    b3_transpose16(r, m);
    B3_COMPRESS(__m512i, _mm512_set1_epi32, _mm512_loadu_si512, _mm512_xor_si512, B3_G16, h, m, counter_lo,
                counter_hi, lens, flags);
    if (!ending) continue;
    uint32_t out[8 * 16];
    for (int j = 0; j < 8; j++) _mm512_storeu_si512(out + j * 16, h[j]);
    b3_lanes_take(nodes, n, 16, blocks, b, out);
  }
}

#endif
