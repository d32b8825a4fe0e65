// What a walk reads of a location's folders, in one call each (src/jobs/walk-batch.ts): a batch's
// lstats, and a folder's listing. Both write straight into what the walk's JavaScript reads, and
// leave anything they cannot do whole to the caller's own way, which gives the error a user sees.
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

#include "open-below.h"

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
