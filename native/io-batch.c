// One call reads a batch of a location's files for their content ids (src/jobs/io-batch.ts):
// for each name below the folder `dirfd` is open on, openat2 without following a symlink anywhere
// on the way (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, as src/jobs/beneath.ts), statx of the open
// file, and the bytes the id is hashed from (src/jobs/content-id.ts: the whole of a small file, the
// samples of a large one), laid out as the id hashes them: u64le(size) || body. The hashing stays
// in JavaScript (the BLAKE3 add-on); this saves the four calls per file through koffi and the
// JavaScript around them, about a quarter of a hashing thread's time per file.
//
// Only a file read whole and unchanged is reported as read (status 0). Anything else (a failed
// open, not a regular file, a read error, a file that shrank) is status != 0 and the caller
// identifies that file again its own way, which gives the error a user sees.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

// Kept in step with content-id.ts (a test compares both ways on the same files).
#define SMALL_FILE_LIMIT (100 * 1024)
#define HEAD_SIZE (8 * 1024)
#define TAIL_SIZE (8 * 1024)
#define SAMPLE_COUNT 4
#define SAMPLE_SIZE (10 * 1024)
#define SIZE_PREFIX 8
#define TRIES 100

// Linux's uapi, spelled out for C libraries whose headers predate openat2 (5.6).
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
struct vd_open_how {
  uint64_t flags;
  uint64_t mode;
  uint64_t resolve;
};
#define VD_RESOLVE_NO_SYMLINKS 0x04
#define VD_RESOLVE_BENEATH 0x08

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

static int open_below_as(int dirfd, const char *rel, uint64_t flags) {
  struct vd_open_how how;
  memset(&how, 0, sizeof how);
  how.flags = flags | O_CLOEXEC;
  how.resolve = VD_RESOLVE_BENEATH | VD_RESOLVE_NO_SYMLINKS;
  for (int tries = 1;; tries++) {
    long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
    if (fd >= 0) return (int)fd;
    if (errno != EINTR || tries == TRIES) return -errno;
  }
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

// The lstat of a walk's batch below a location's root (src/jobs/io-batch.ts, as beneath.ts's eachIn
// makes it through koffi one call at a time): each folder opened once for the entries that follow
// in it (O_PATH, openat2 without following a symlink on the way), each entry's statx without
// following it, straight into the walk's stat columns (walk-stat.ts putStat's numbers).
// Per entry, status: 0 when its columns are filled (flags 1: it or its folder vanished), -1 when it
// was not asked (an empty name), else the errno of the step that failed: the caller makes that
// entry's lstat again its own way, which gives the error a user sees.
#define LSTAT_VERSION 2
int vd_lstat_version(void) { return LSTAT_VERSION; }

// walk-stat.ts's flags: 2 (stat read), plus 4 a folder, 8 a symlink, 16-128 a special file.
static uint8_t flags_of(uint16_t mode) {
  switch (mode & S_IFMT) {
    case S_IFDIR: return 2 | 4;
    case S_IFLNK: return 2 | 8;
    case S_IFIFO: return 2 | 16;
    case S_IFSOCK: return 2 | 32;
    case S_IFBLK: return 2 | 64;
    case S_IFCHR: return 2 | 128;
    default: return 2;
  }
}

// `rels`: `count` NUL-ended paths from the folder `rootfd` is open on; written in place only for a
// moment (a folder's name is cut at its last '/' while it is opened), as they were after the call.
int vd_lstat_batch(int rootfd, char *rels, int64_t bytes, int count, int32_t *status, uint8_t *flags,
                   double *size, double *mtime, uint64_t *ino, uint64_t *dev) {
  const char *end = rels + bytes;
  const char *dir = NULL;
  size_t dir_len = 0;
  int fd = -1, folder_errno = 0;
  char *rel = rels;
  for (int i = 0; i < count; i++) {
    // Names past the buffer's end (or not NUL-ended in it) are the caller's to lstat.
    size_t left = rel < end ? (size_t)(end - rel) : 0, len = strnlen(rel, left);
    if (len == left) {
      for (; i < count; i++) status[i] = EINVAL;
      break;
    }
    char *next = rel + len + 1;
    status[i] = 0;
    if (len == 0) {
      status[i] = -1;
      rel = next;
      continue;
    }
    char *cut = memrchr(rel, '/', len);
    // A last name of '.' or '..' names no entry of its folder: the caller refuses it.
    const char *last = cut ? cut + 1 : rel;
    if (last[0] == '.' && (last[1] == 0 || (last[1] == '.' && last[2] == 0))) {
      status[i] = EINVAL;
      rel = next;
      continue;
    }
    int at = rootfd;
    const char *name = rel;
    if (cut) {
      size_t n = (size_t)(cut - rel);
      if (!dir || n != dir_len || memcmp(dir, rel, n) != 0) {
        if (fd >= 0) close(fd);
        *cut = 0;
        fd = open_below_as(rootfd, rel, O_PATH | O_DIRECTORY);
        *cut = '/';
        folder_errno = fd < 0 ? -fd : 0;
        dir = rel;
        dir_len = n;
      }
      at = fd;
      name = cut + 1;
    }
    struct statx sx;
    int err = cut && folder_errno ? folder_errno
              : statx(at, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) != 0 ? errno
              : 0;
    rel = next;
    if (err == ENOENT) {
      flags[i] = 1;
      continue;
    }
    if (err) {
      status[i] = err;
      continue;
    }
    flags[i] = flags_of(sx.stx_mode);
    size[i] = S_ISDIR(sx.stx_mode) ? 0 : (double)sx.stx_size;
    // Nanoseconds exactly (past 2262 they outgrow 64 bits), rounded once, as Number(bigint) rounds them.
    mtime[i] = (double)((__int128)sx.stx_mtime.tv_sec * 1000000000 + sx.stx_mtime.tv_nsec) / 1e6;
    ino[i] = sx.stx_ino;
    dev[i] = makedev(sx.stx_dev_major, sx.stx_dev_minor);
  }
  if (fd >= 0) close(fd);
  return count;
}

// The names in the folder open on `fd` (readable, not O_PATH, read by no other thread meanwhile: the
// listing moves its position), as a walk lists it (src/jobs/walk-list.ts):
// each name NUL-ended into `names` (`cap` bytes), its type from the listing into `types` (at most
// `max`): 4 a regular file, 1 a folder, 2 a symlink, 0 a named pipe, socket or device. Returns how
// many, their bytes in info[0]; or a negative number the caller takes as "list it your own way",
// which gives the error a user sees: -errno, or LIST_TOO_MANY when they do not fit, or
// LIST_UNTYPED when the filesystem does not give an entry's type.
#define LIST_VERSION 1
#define LIST_TOO_MANY (-100000)
#define LIST_UNTYPED (-100001)
int vd_list_version(void) { return LIST_VERSION; }

struct vd_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

int vd_list(int fd, uint8_t *names, int64_t cap, uint8_t *types, int max, int64_t *info) {
  char block[32768] __attribute__((aligned(8)));
  int count = 0;
  int64_t at = 0;
  info[0] = 0;
  // The descriptor's own position: listed from its first name (no other thread may read it meanwhile).
  off_t start = lseek(fd, 0, SEEK_SET);
  if (start < 0) return -errno;
  if (start != 0) return LIST_UNTYPED;
  for (;;) {
    long n = syscall(SYS_getdents64, fd, block, sizeof block);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) break;
    for (long off = 0; off < n;) {
      struct vd_dirent64 *d = (struct vd_dirent64 *)(block + off);
      off += d->d_reclen;
      const char *name = d->d_name;
      if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
      size_t len = strlen(name);
      if (count == max || cap - at < (int64_t)len + 1) return LIST_TOO_MANY;
      uint8_t type;
      switch (d->d_type) {
        case DT_REG: type = 4; break;
        case DT_DIR: type = 1; break;
        case DT_LNK: type = 2; break;
        case DT_FIFO: case DT_SOCK: case DT_BLK: case DT_CHR: type = 0; break;
        default: return LIST_UNTYPED;
      }
      memcpy(names + at, name, len + 1);
      at += (int64_t)len + 1;
      types[count++] = type;
    }
  }
  info[0] = at;
  return count;
}
