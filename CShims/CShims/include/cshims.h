// CShims: the project's only C. Thin wrappers over Linux calls that Swift cannot see or call
// cleanly (variadic, packed structs, macros). No policy lives here: every function returns what
// the kernel returned, with errno left for the Swift side to read.
#ifndef DOOZER_CSHIMS_H
#define DOOZER_CSHIMS_H

// The header names only opaque system types so that importing it never disagrees with
// Swift's own view of the C library; the implementation file includes the real headers.
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mmsghdr;
struct iovec;

// ---- epoll -------------------------------------------------------------------------------
// struct epoll_event is packed on x86-64; callers keep an opaque array and use the accessors.
extern const uint32_t CSHIMS_EPOLLIN;
extern const uint32_t CSHIMS_EPOLLOUT;
extern const uint32_t CSHIMS_EPOLLERR;
extern const uint32_t CSHIMS_EPOLLHUP;
extern const int CSHIMS_EPOLL_CTL_ADD;
extern const int CSHIMS_EPOLL_CTL_MOD;
extern const int CSHIMS_EPOLL_CTL_DEL;

/// epoll_create1(EPOLL_CLOEXEC).
int cshims_epoll_create(void);
/// epoll_ctl with the event built from `events` and the 64-bit user `data`.
int cshims_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
/// Size in bytes of one struct epoll_event, for allocating the event array.
size_t cshims_epoll_event_size(void);
/// epoll_wait into an array of `max` events allocated by the caller.
int cshims_epoll_wait(int epfd, void *events, int max, int timeout_ms);
/// The events mask of element `i` of an array filled by cshims_epoll_wait.
uint32_t cshims_epoll_event_mask(const void *events, int i);
/// The user data of element `i` of an array filled by cshims_epoll_wait.
uint64_t cshims_epoll_event_data(const void *events, int i);

// ---- descriptors -------------------------------------------------------------------------
/// eventfd(initval, EFD_NONBLOCK | EFD_CLOEXEC).
int cshims_eventfd(unsigned int initval);
/// timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC).
int cshims_timerfd_create(void);
/// timerfd_settime, relative, one-shot after `initial_ns` then every `interval_ns` (0 = once).
int cshims_timerfd_settime(int fd, int64_t initial_ns, int64_t interval_ns);
/// Blocks SIGINT, SIGTERM and SIGPIPE for the calling thread and returns a signalfd
/// (non-blocking, close-on-exec) that reports SIGINT and SIGTERM. SIGPIPE stays blocked so a
/// write to a closed socket fails with EPIPE instead of killing the process. With `hangups`
/// != 0, SIGHUP is blocked and reported too (a reload instead of the default termination).
int cshims_signalfd_termination(int hangups);
/// Reads one siginfo from a signalfd; returns the signal number, 0 if none, -1 on error.
int cshims_signalfd_read(int fd);

// ---- sockets -----------------------------------------------------------------------------
/// accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC).
int cshims_accept4(int fd);
/// socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0).
int cshims_socket(int family, int type);
/// setsockopt(fd, level, name, &int value, sizeof(int)).
int cshims_setsockopt_int(int fd, int level, int name, int value);
/// getsockopt(fd, level, name, value, &sizeof(int)).
int cshims_getsockopt_int(int fd, int level, int name, int *value);

/// recvmmsg/sendmmsg over an array of struct mmsghdr built with cshims_mmsghdr_set.
int cshims_recvmmsg(int fd, struct mmsghdr *msgs, unsigned int vlen, int flags);
int cshims_sendmmsg(int fd, struct mmsghdr *msgs, unsigned int vlen, int flags);
/// Points message `i` of `msgs` at one buffer and one address slot.
void cshims_mmsghdr_set(struct mmsghdr *msgs, unsigned int i, struct iovec *iov,
                        void *addr, uint32_t addrlen);
/// Bytes received/sent for message `i` after recvmmsg/sendmmsg.
unsigned int cshims_mmsghdr_len(const struct mmsghdr *msgs, unsigned int i);
/// msg_flags of message `i` after recvmmsg (MSG_TRUNC: the datagram was cut to its buffer).
int cshims_mmsghdr_flags(const struct mmsghdr *msgs, unsigned int i);
/// msg_namelen of message `i`: the length it was set with, or the sender's after recvmmsg.
uint32_t cshims_mmsghdr_namelen(const struct mmsghdr *msgs, unsigned int i);
/// Size in bytes of one struct mmsghdr, for allocating the array.
size_t cshims_mmsghdr_size(void);

// ---- files -------------------------------------------------------------------------------
ssize_t cshims_readv(int fd, const struct iovec *iov, int iovcnt);
ssize_t cshims_writev(int fd, const struct iovec *iov, int iovcnt);
int cshims_fdatasync(int fd);
/// fallocate(fd, 0, offset, length): allocates blocks and extends the size (not posix_fallocate,
/// which falls back to writing zeros on file systems without support).
int cshims_fallocate(int fd, int64_t offset, int64_t length);
/// sync_file_range(fd, offset, length, WAIT_BEFORE | WRITE | WAIT_AFTER): writes the range's
/// dirty pages out and waits for them; no metadata, no device cache flush.
int cshims_write_out(int fd, int64_t offset, int64_t length);

// ---- checksums ---------------------------------------------------------------------------
/// Whether this CPU computes CRC-32C in hardware (x86-64: SSE4.2; AArch64: the CRC32 extension).
int cshims_crc32c_hardware(void);
/// Folds `len` bytes into a CRC-32C remainder with the CPU's instruction (no initial value or
/// final xor applied here); only when cshims_crc32c_hardware() returned 1.
uint32_t cshims_crc32c_update(uint32_t remainder, const void *data, size_t len);

// ---- misc --------------------------------------------------------------------------------
/// clock_gettime(CLOCK_MONOTONIC) in nanoseconds.
int64_t cshims_monotonic_ns(void);
/// Fills `buf` with `len` bytes from getrandom(2); returns 0 or -1.
int cshims_random_bytes(void *buf, size_t len);
/// The current thread's errno.
int cshims_errno(void);

#endif
