// BLAKE3 (the hash of content ids: src/jobs/content-id.ts) of many small inputs at once, for
// native/io-batch.c: every 1 KiB chunk of every input of a batch is hashed 16 at a time, one per
// 32-bit lane of an AVX-512 register (8 with AVX2: blake3-kernels.h), then the parent nodes level
// by level the same way. A file of a few KiB has only a few chunks, which alone would leave most
// lanes of a register idle; across the files of a batch every lane has work. Written from the
// BLAKE3 specification (the compression function, chunk and parent flags, and the left-complete
// binary tree of chunks). The JavaScript
// hasher (src/jobs/blake3.ts) stays the reference: tests compare both on the same bytes.
#ifndef VD_BLAKE3_LANES_H
#define VD_BLAKE3_LANES_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// VD_B3_OFF: built without the kernels (scripts/build-native.js, for a compiler that cannot build them).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(VD_B3_OFF)
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

// Inlined into each kernel (compiled for its own instructions), so the lane count is a constant there.
#define B3_INLINE __attribute__((always_inline)) static inline

// What both kernels do per lane outside the registers. A lane whose node has fewer blocks than
// another's compresses zeros meanwhile, and its value is taken after its own last block.

// Each lane's block count and counter halves (lanes past n get none); returns the most blocks.
B3_INLINE uint32_t b3_lanes_begin(const b3_node *nodes, int n, int width, uint32_t *blocks, uint32_t *lo,
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
B3_INLINE int b3_lanes_block(const b3_node *nodes, int width, const uint32_t *blocks, uint32_t b, const uint8_t **at,
                             uint32_t *lens, uint32_t *flags, uint8_t (*pad)[B3_BLOCK]) {
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
B3_INLINE void b3_lanes_take(const b3_node *nodes, int n, int width, const uint32_t *blocks, uint32_t b,
                             const uint32_t *out) {
  for (int l = 0; l < n; l++)
    if (b + 1 == blocks[l])
      for (int j = 0; j < 8; j++) nodes[l].cv[j] = out[j * width + l];
}

#include "blake3-kernels.h"

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
