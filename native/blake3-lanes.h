// BLAKE3 (the hash of content ids: src/jobs/content-id.ts) of many small inputs at once, for
// native/io-batch.c: every 1 KiB chunk of every input of a batch is hashed 16 at a time, one per
// 32-bit lane of an AVX-512 register (8 with AVX2), then the parent nodes level by level the same way. A file of a
// few KiB has only a few chunks, which alone would leave most lanes of a register idle; across the
// files of a batch every lane has work. Written from the BLAKE3 specification (the compression
// function, chunk and parent flags, and the left-complete binary tree of chunks). The JavaScript
// hasher (src/jobs/blake3.ts) stays the reference: tests compare both on the same bytes.
#ifndef VD_BLAKE3_LANES_H
#define VD_BLAKE3_LANES_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define VD_B3_LANES 1

static const uint32_t B3_IV[8] = {0x6A09E667u, 0xBB67AE85u, 0x3C6EF372u, 0xA54FF53Au,
                                  0x510E527Fu, 0x9B05688Cu, 0x1F83D9ABu, 0x5BE0CD19u};
enum { B3_CHUNK_START = 1, B3_CHUNK_END = 2, B3_PARENT = 4, B3_ROOT = 8 };
enum { B3_BLOCK = 64, B3_CHUNK = 1024, B3_WIDTH = 8 };
// The message words each of the 7 rounds takes: the identity, then the permutation applied again each round.
static const uint8_t B3_SCHED[7][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},  {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8},
    {3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1},  {10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6},
    {12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4},  {9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7},
    {11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13},
};

// One node to compress: a chunk (flags 0: its first block gets CHUNK_START, its last CHUNK_END)
// of `len` bytes, or a parent (flags B3_PARENT: one 64-byte block, the children's values);
// `root` is B3_ROOT for the node whose output is the hash. Its chaining value goes to `cv`.
typedef struct {
  const uint8_t *in;
  uint32_t len;
  uint64_t counter;
  uint32_t flags, root;
  uint32_t *cv;
} b3_node;

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

// What both kernels do per lane outside the registers. A lane whose node has fewer blocks than
// another's compresses zeros meanwhile, and its value is taken after its own last block.

// Each lane's block count and counter halves (lanes past n get none); returns the most blocks.
__attribute__((always_inline)) static inline uint32_t b3_lanes_begin(const b3_node *nodes, int n, int width, uint32_t *blocks, uint32_t *lo,
                                      uint32_t *hi) {
  uint32_t most = 0;
  for (int l = 0; l < width; l++) {
    blocks[l] = l < n ? (nodes[l].len == 0 ? 1 : (nodes[l].len + B3_BLOCK - 1) / B3_BLOCK) : 0;
    lo[l] = l < n ? (uint32_t)nodes[l].counter : 0;
    hi[l] = l < n ? (uint32_t)(nodes[l].counter >> 32) : 0;
    if (blocks[l] > most) most = blocks[l];
  }
  return most;
}

// Block b of each lane: where its 64 bytes are (a partial last block copied into pad, zeros past
// the node's end), its length and its flags. Returns whether a lane's node ends with this block.
__attribute__((always_inline)) static inline int b3_lanes_block(const b3_node *nodes, int width, const uint32_t *blocks, uint32_t b,
                                 const uint8_t **at, uint32_t *lens, uint32_t *flags, uint8_t (*pad)[B3_BLOCK]) {
  static const uint8_t zero[B3_BLOCK];
  int ending = 0;
  for (int l = 0; l < width; l++) {
    if (b >= blocks[l]) {
      at[l] = zero;
      lens[l] = flags[l] = 0;
      continue;
    }
    const b3_node *x = &nodes[l];
    uint32_t off = b * B3_BLOCK, left = x->len - off, last = b + 1 == blocks[l];
    ending |= last;
    flags[l] = x->flags ? x->flags | x->root : (b == 0 ? B3_CHUNK_START : 0) | (last ? B3_CHUNK_END | x->root : 0);
    if (left >= B3_BLOCK) {
      at[l] = x->in + off;
      lens[l] = B3_BLOCK;
    } else {
      memset(pad[l], 0, B3_BLOCK);
      memcpy(pad[l], x->in + off, left);
      at[l] = pad[l];
      lens[l] = left;
    }
  }
  return ending;
}

// The values of the nodes whose last block was b, from out: word j of lane l at out[j * width + l].
__attribute__((always_inline)) static inline void b3_lanes_take(const b3_node *nodes, int n, int width, const uint32_t *blocks, uint32_t b,
                                 const uint32_t *out) {
  for (int l = 0; l < n; l++)
    if (b + 1 == blocks[l])
      for (int j = 0; j < 8; j++) nodes[l].cv[j] = out[j * width + l];
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
    __m256i v0 = h[0], v1 = h[1], v2 = h[2], v3 = h[3], v4 = h[4], v5 = h[5], v6 = h[6], v7 = h[7];
    __m256i v8 = _mm256_set1_epi32((int)B3_IV[0]), v9 = _mm256_set1_epi32((int)B3_IV[1]);
    __m256i v10 = _mm256_set1_epi32((int)B3_IV[2]), v11 = _mm256_set1_epi32((int)B3_IV[3]);
    __m256i v12 = counter_lo, v13 = counter_hi;
    __m256i v14 = B3_LOAD8(lens), v15 = B3_LOAD8(flags);
#pragma GCC unroll 7
    for (int rd = 0; rd < 7; rd++) {
      const uint8_t *p = B3_SCHED[rd];
      B3_G(v0, v4, v8, v12, m[p[0]], m[p[1]]);
      B3_G(v1, v5, v9, v13, m[p[2]], m[p[3]]);
      B3_G(v2, v6, v10, v14, m[p[4]], m[p[5]]);
      B3_G(v3, v7, v11, v15, m[p[6]], m[p[7]]);
      B3_G(v0, v5, v10, v15, m[p[8]], m[p[9]]);
      B3_G(v1, v6, v11, v12, m[p[10]], m[p[11]]);
      B3_G(v2, v7, v8, v13, m[p[12]], m[p[13]]);
      B3_G(v3, v4, v9, v14, m[p[14]], m[p[15]]);
    }
    h[0] = _mm256_xor_si256(v0, v8);
    h[1] = _mm256_xor_si256(v1, v9);
    h[2] = _mm256_xor_si256(v2, v10);
    h[3] = _mm256_xor_si256(v3, v11);
    h[4] = _mm256_xor_si256(v4, v12);
    h[5] = _mm256_xor_si256(v5, v13);
    h[6] = _mm256_xor_si256(v6, v14);
    h[7] = _mm256_xor_si256(v7, v15);
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
    __m512i v0 = h[0], v1 = h[1], v2 = h[2], v3 = h[3], v4 = h[4], v5 = h[5], v6 = h[6], v7 = h[7];
    __m512i v8 = _mm512_set1_epi32((int)B3_IV[0]), v9 = _mm512_set1_epi32((int)B3_IV[1]);
    __m512i v10 = _mm512_set1_epi32((int)B3_IV[2]), v11 = _mm512_set1_epi32((int)B3_IV[3]);
    __m512i v12 = counter_lo, v13 = counter_hi;
    __m512i v14 = _mm512_loadu_si512(lens), v15 = _mm512_loadu_si512(flags);
#pragma GCC unroll 7
    for (int rd = 0; rd < 7; rd++) {
      const uint8_t *p = B3_SCHED[rd];
      B3_G16(v0, v4, v8, v12, m[p[0]], m[p[1]]);
      B3_G16(v1, v5, v9, v13, m[p[2]], m[p[3]]);
      B3_G16(v2, v6, v10, v14, m[p[4]], m[p[5]]);
      B3_G16(v3, v7, v11, v15, m[p[6]], m[p[7]]);
      B3_G16(v0, v5, v10, v15, m[p[8]], m[p[9]]);
      B3_G16(v1, v6, v11, v12, m[p[10]], m[p[11]]);
      B3_G16(v2, v7, v8, v13, m[p[12]], m[p[13]]);
      B3_G16(v3, v4, v9, v14, m[p[14]], m[p[15]]);
    }
    h[0] = _mm512_xor_si512(v0, v8);
    h[1] = _mm512_xor_si512(v1, v9);
    h[2] = _mm512_xor_si512(v2, v10);
    h[3] = _mm512_xor_si512(v3, v11);
    h[4] = _mm512_xor_si512(v4, v12);
    h[5] = _mm512_xor_si512(v5, v13);
    h[6] = _mm512_xor_si512(v6, v14);
    h[7] = _mm512_xor_si512(v7, v15);
    if (!ending) continue;
    uint32_t out[8 * 16];
    for (int j = 0; j < 8; j++) _mm512_storeu_si512(out + j * 16, h[j]);
    b3_lanes_take(nodes, n, 16, blocks, b, out);
  }
}

// Which kernel this CPU (and its OS) runs: 16 lanes with AVX-512, else 8 with AVX2, else none (0:
// the caller hashes in JavaScript). SD_B3_WIDTH=8 or 0 asks for a narrower one (tests run each).
static int b3_width(void) {
  __builtin_cpu_init();
  const char *asked = getenv("SD_B3_WIDTH");
  int most = asked ? atoi(asked) : 16;
  if (most >= 16 && __builtin_cpu_supports("avx512f")) return 16;
  if (most >= 8 && __builtin_cpu_supports("avx2")) return 8;
  return 0;
}
static int b3_lanes = -1;

static void b3_run(const b3_node *nodes, size_t n) {
  if (b3_lanes < 0) b3_lanes = b3_width();
  if (b3_lanes == 16)
    for (size_t j = 0; j < n; j += 16) b3_nodes16(nodes + j, n - j < 16 ? (int)(n - j) : 16);
  else
    for (size_t j = 0; j < n; j += B3_WIDTH) b3_nodes8(nodes + j, n - j < B3_WIDTH ? (int)(n - j) : B3_WIDTH);
}

static size_t b3_chunks(uint64_t len) { return len <= B3_CHUNK ? 1 : (size_t)((len + B3_CHUNK - 1) / B3_CHUNK); }

// The lanes of the kernel this process runs (16, 8), or 0 for none.
static int b3_lanes_in_use(void) {
  if (b3_lanes < 0) b3_lanes = b3_width();
  return b3_lanes;
}

// The first 16 bytes of BLAKE3 of each input i (count of them, `len[i]` bytes at `in[i]`), into
// out + 16 * i. Returns 0, or -1 where memory could not be had (nothing is written then).
static int b3_many16(const uint8_t *const *in, const uint64_t *len, int count, uint8_t *out) {
  size_t total = 0;
  for (int i = 0; i < count; i++) total += b3_chunks(len[i]);
  b3_node *nodes = malloc(total * sizeof *nodes);
  uint32_t(*cvs)[8] = malloc(total * sizeof *cvs);
  size_t *first = malloc((size_t)count * sizeof *first);
  size_t *left = malloc((size_t)count * sizeof *left);
  uint8_t(*blocks)[B3_BLOCK] = malloc((total / 2 + 1) * B3_BLOCK);
  int ok = nodes && cvs && first && left && blocks;
  if (ok) {
    size_t k = 0;
    for (int i = 0; i < count; i++) {
      size_t n = b3_chunks(len[i]);
      first[i] = k;
      left[i] = n;
      for (size_t c = 0; c < n; c++, k++) {
        uint64_t rest = len[i] - (uint64_t)c * B3_CHUNK;
        nodes[k] = (b3_node){in[i] + c * B3_CHUNK, rest > B3_CHUNK ? B3_CHUNK : (uint32_t)rest, c, 0,
                             n == 1 ? B3_ROOT : 0, cvs[k]};
      }
    }
    b3_run(nodes, total);
    // The parents, a level at a time: adjacent nodes pair up, and an odd last one goes up as it
    // is, which builds BLAKE3's tree (each left subtree a power of 2 chunks, as large as can be).
    // Bounded: each level halves every input's nodes (64 levels at most for a 64-bit length).
    for (int level = 0; level < 64; level++) {
      size_t p = 0;
      for (int i = 0; i < count; i++) {
        size_t m = left[i];
        if (m < 2) continue;
        uint32_t(*cv)[8] = cvs + first[i];
        for (size_t q = 0; q + 1 < m; q += 2, p++) {
          memcpy(blocks[p], cv[q], 32);
          memcpy(blocks[p] + 32, cv[q + 1], 32);
          nodes[p] = (b3_node){blocks[p], B3_BLOCK, 0, B3_PARENT, m == 2 ? B3_ROOT : 0, cv[q / 2]};
        }
        if (m & 1) memcpy(cv[m / 2], cv[m - 1], 32);
        left[i] = (m + 1) / 2;
      }
      if (p == 0) break;
      b3_run(nodes, p);
    }
    for (int i = 0; i < count; i++) memcpy(out + 16 * (size_t)i, cvs[first[i]], 16);
  }
  free(nodes);
  free(cvs);
  free(first);
  free(left);
  free(blocks);
  return ok ? 0 : -1;
}
#endif
#endif
