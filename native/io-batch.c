// One call reads a batch of a location's files for their content ids (src/jobs/io-batch.ts):
// for each name below the folder `dirfd` is open on, openat2 without following a symlink anywhere
// on the way (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, as src/jobs/beneath.ts), statx of the open
// file, and the bytes the id is hashed from (src/jobs/content-id.ts: the whole of a small file, the
// samples of a large one), laid out as the id hashes them: u64le(size) || body. This saves the four
// calls per file through koffi and the JavaScript around them, about a quarter of a hashing
// thread's time per file. vd_hash_read then hashes what a call read, every file of it at once
// (blake3-lanes.h); where it cannot, the hashing stays in JavaScript (the BLAKE3 add-on).
//
// Only a file read whole and unchanged is reported as read (status 0). Anything else (a failed
// open, not a regular file, a read error, a file that shrank) is status != 0 and the caller
// identifies that file again its own way, which gives the error a user sees.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "open-below.h"
#include "blake3-lanes.h"

// Kept in step with content-id.ts (a test compares both ways on the same files).
#define SMALL_FILE_LIMIT (100 * 1024)
#define HEAD_SIZE (8 * 1024)
#define TAIL_SIZE (8 * 1024)
#define SAMPLE_COUNT 4
#define SAMPLE_SIZE (10 * 1024)
#define SIZE_PREFIX 8

// Per file, META int64 slots: status, offset of the prefix in `buf`, body length, the size the id
// is of (the bytes read of a small file, the size sampled at of a large one), and the open file's
// statx: size, mode, mtime seconds, mtime nanoseconds, inode, device major, device minor.
enum { M_STATUS, M_OFF, M_LEN, M_ID_SIZE, M_SIZE, M_MODE, M_SEC, M_NSEC, M_INO, M_MAJOR, M_MINOR, META };
// Status beyond an errno: not a regular file, it shrank while it was read, or its size is past
// what a JavaScript number holds exactly (2^53 - 1: the per-file way decides what such a file is).
#define ST_NOT_FILE 100000
#define ST_SHRANK 100001
#define ST_TOO_LARGE 100002
#define MAX_EXACT_SIZE 9007199254740991LL

// What this library was built with, for io-batch.ts to compare in full with content-id.ts: a
// library built from another version of this file is not used.
void vd_layout(int64_t *out) {
  const int64_t layout[] = {META, SIZE_PREFIX, SMALL_FILE_LIMIT, HEAD_SIZE, TAIL_SIZE, SAMPLE_COUNT, SAMPLE_SIZE};
  memcpy(out, layout, sizeof layout);
}

static int open_below(int dirfd, const char *rel) { return open_below_as(dirfd, rel, O_RDONLY | O_NONBLOCK | O_NOFOLLOW); }

// The open file's attributes into m; 0 for a regular file, ST_NOT_FILE for anything else, or an errno.
static int64_t stat_into(int fd, int64_t *m) {
  struct statx sx;
  if (statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx) != 0) return errno;
  m[M_SIZE] = (int64_t)sx.stx_size;
  m[M_MODE] = sx.stx_mode;
  m[M_SEC] = sx.stx_mtime.tv_sec;
  m[M_NSEC] = sx.stx_mtime.tv_nsec;
  m[M_INO] = (int64_t)sx.stx_ino;
  m[M_MAJOR] = sx.stx_dev_major;
  m[M_MINOR] = sx.stx_dev_minor;
  return S_ISREG(sx.stx_mode) ? 0 : ST_NOT_FILE;
}

// Reads `len` bytes at `pos` unless the end comes first (or, once `expected` bytes are in, that
// is taken as the end); the bytes read, or -errno. Bounded: each pass reads a byte or more, or stops.
static int64_t read_fully(int fd, uint8_t *b, int64_t len, int64_t pos, int64_t expected) {
  int64_t done = 0;
  int interrupted = 0;
  while (done < len) {
    ssize_t n = pread(fd, b + done, (size_t)(len - done), pos + done);
    if (n < 0) {
      if (errno == EINTR && ++interrupted < TRIES) continue;
      return -errno;
    }
    if (n == 0) break;
    done += n;
    if (done == expected) break;
  }
  return done;
}

// The body of the file open on `fd` into b (room for SMALL_FILE_LIMIT + 1 bytes), its length in
// m[M_LEN]; 0, or a status.
static int64_t read_body(int fd, uint8_t *b, int64_t *m) {
  int64_t st = stat_into(fd, m);
  if (st) return st;
  if (m[M_SIZE] > MAX_EXACT_SIZE) return ST_TOO_LARGE;
  int64_t got = read_fully(fd, b, SMALL_FILE_LIMIT + 1, 0, m[M_SIZE]);
  if (got < 0) return -got;
  if (got <= SMALL_FILE_LIMIT) {
    m[M_LEN] = m[M_ID_SIZE] = got;
    return 0;
  }
  // Grew past the limit, or large: its samples, at the size the file has now.
  if ((st = stat_into(fd, m))) return st;
  if (m[M_SIZE] > MAX_EXACT_SIZE) return ST_TOO_LARGE;
  int64_t size = m[M_SIZE], jump = (size - HEAD_SIZE - TAIL_SIZE) / SAMPLE_COUNT, at = 0;
  if (size <= SMALL_FILE_LIMIT) return ST_SHRANK;
  for (int s = 0; s < SAMPLE_COUNT + 2; s++) {
    int64_t pos = s == 0 ? 0 : s <= SAMPLE_COUNT ? HEAD_SIZE + (s - 1) * jump : size - TAIL_SIZE;
    int64_t len = s == 0 || s > SAMPLE_COUNT ? HEAD_SIZE : SAMPLE_SIZE;
    int64_t r = read_fully(fd, b + at, len, pos, -1);
    if (r < 0) return -r;
    if (r != len) return ST_SHRANK;
    at += len;
  }
  m[M_LEN] = at;
  m[M_ID_SIZE] = size;
  return 0;
}

// Reads the files named by `count` NUL-ended relative paths at `rels`, in order, into `buf` (`cap`
// bytes), their META slots into `meta`. Returns how many it reported: fewer than `count` once `buf`
// has no room for another file's largest body (the caller calls again for the rest).
int vd_read_batch(int dirfd, const char *rels, int count, uint8_t *buf, int64_t cap, int64_t *meta) {
  int64_t at = 0;
  const char *rel = rels;
  for (int i = 0; i < count; i++, rel += strlen(rel) + 1) {
    if (cap - at < SIZE_PREFIX + SMALL_FILE_LIMIT + 1) return i;
    int64_t *m = meta + (int64_t)i * META;
    memset(m, 0, sizeof(int64_t) * META);
    m[M_OFF] = at;
    int fd = open_below(dirfd, rel);
    if (fd < 0) {
      m[M_STATUS] = -fd;
      continue;
    }
    m[M_STATUS] = read_body(fd, buf + at + SIZE_PREFIX, m);
    close(fd);
    if (m[M_STATUS]) continue;
    uint64_t size = (uint64_t)m[M_ID_SIZE];
    for (int k = 0; k < SIZE_PREFIX; k++) buf[at + k] = (uint8_t)(size >> (8 * k));
    at += SIZE_PREFIX + m[M_LEN];
  }
  return count;
}

// The lanes vd_hash_read hashes with in this process: 16 (AVX-512), 8 (AVX2), or 0 (it does not).
int vd_hash_width(void) {
#ifdef VD_B3_LANES
  return b3_lanes_in_use();
#else
  return 0;
#endif
}

// The content ids (BLAKE3-128 of u64le(size) || body) of the files a vd_read_batch call reported
// as read (status 0), from the same `buf` and `meta`, into ids + 16 * i. Returns 1 when it hashed
// them; 0 where it cannot (no AVX2, not x86-64, no memory): the caller hashes them itself.
int vd_hash_read(const uint8_t *buf, const int64_t *meta, int count, uint8_t *ids) {
#ifdef VD_B3_LANES
  if (b3_lanes_in_use() == 0) return 0;
  if (count <= 0) return 1;
  const uint8_t **in = malloc((size_t)count * sizeof *in);
  uint64_t *len = malloc((size_t)count * sizeof *len);
  int *which = malloc((size_t)count * sizeof *which);
  uint8_t *out = malloc((size_t)count * 16);
  int n = 0, done = 0;
  if (in && len && which && out) {
    for (int i = 0; i < count; i++) {
      const int64_t *m = meta + (int64_t)i * META;
      if (m[M_STATUS]) continue;
      in[n] = buf + m[M_OFF];
      len[n] = (uint64_t)(SIZE_PREFIX + m[M_LEN]);
      which[n++] = i;
    }
    done = n == 0 || b3_many16(in, len, n, out) == 0;
    if (done)
      for (int k = 0; k < n; k++) memcpy(ids + 16 * (size_t)which[k], out + 16 * (size_t)k, 16);
  }
  free(in);
  free(len);
  free(which);
  free(out);
  return done;
#else
  (void)buf;
  (void)meta;
  (void)count;
  (void)ids;
  return 0;
#endif
}
