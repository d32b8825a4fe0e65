// openat2 below a folder's descriptor without following a symlink anywhere on the way
// (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, as src/jobs/beneath.ts), for native/io-batch.c and
// native/walk-batch.c.
#ifndef VD_OPEN_BELOW_H
#define VD_OPEN_BELOW_H
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <fcntl.h>

// An open a signal interrupts is made again, at most this many times.
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

// A descriptor of `rel` below `dirfd` opened with `flags` (and O_CLOEXEC), or -errno.
static inline int open_below_as(int dirfd, const char *rel, uint64_t flags) {
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

#endif
