#define _GNU_SOURCE
#include "cshims.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <signal.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

const uint32_t CSHIMS_EPOLLIN = EPOLLIN;
const uint32_t CSHIMS_EPOLLOUT = EPOLLOUT;
const uint32_t CSHIMS_EPOLLERR = EPOLLERR;
const uint32_t CSHIMS_EPOLLHUP = EPOLLHUP;
const int CSHIMS_EPOLL_CTL_ADD = EPOLL_CTL_ADD;
const int CSHIMS_EPOLL_CTL_MOD = EPOLL_CTL_MOD;
const int CSHIMS_EPOLL_CTL_DEL = EPOLL_CTL_DEL;

int cshims_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int cshims_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = {.events = events, .data = {.u64 = data}};
    return epoll_ctl(epfd, op, fd, &ev);
}

size_t cshims_epoll_event_size(void) { return sizeof(struct epoll_event); }

int cshims_epoll_wait(int epfd, void *events, int max, int timeout_ms) {
    return epoll_wait(epfd, (struct epoll_event *)events, max, timeout_ms);
}

uint32_t cshims_epoll_event_mask(const void *events, int i) {
    return ((const struct epoll_event *)events)[i].events;
}

uint64_t cshims_epoll_event_data(const void *events, int i) {
    return ((const struct epoll_event *)events)[i].data.u64;
}

int cshims_eventfd(unsigned int initval) { return eventfd(initval, EFD_NONBLOCK | EFD_CLOEXEC); }

int cshims_timerfd_create(void) { return timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC); }

int cshims_timerfd_settime(int fd, int64_t initial_ns, int64_t interval_ns) {
    struct itimerspec spec = {
        .it_interval = {.tv_sec = interval_ns / 1000000000, .tv_nsec = interval_ns % 1000000000},
        .it_value = {.tv_sec = initial_ns / 1000000000, .tv_nsec = initial_ns % 1000000000},
    };
    return timerfd_settime(fd, 0, &spec, NULL);
}

int cshims_signalfd_termination(int hangups) {
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGINT);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGPIPE);
    sigaddset(&blocked, SIGUSR1);
    if (hangups) sigaddset(&blocked, SIGHUP);
    int rc = pthread_sigmask(SIG_BLOCK, &blocked, NULL);
    if (rc != 0) {
        errno = rc;  // pthread calls return their error instead of setting errno
        return -1;
    }
    sigset_t reported;
    sigemptyset(&reported);
    sigaddset(&reported, SIGINT);
    sigaddset(&reported, SIGTERM);
    sigaddset(&reported, SIGUSR1);
    if (hangups) sigaddset(&reported, SIGHUP);
    return signalfd(-1, &reported, SFD_NONBLOCK | SFD_CLOEXEC);
}

int cshims_signalfd_read(int fd) {
    struct signalfd_siginfo info;
    ssize_t n = read(fd, &info, sizeof info);
    if (n == (ssize_t)sizeof info) return (int)info.ssi_signo;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    return -1;
}

int cshims_accept4(int fd) { return accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC); }

int cshims_socket(int family, int type) { return socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0); }

int cshims_setsockopt_int(int fd, int level, int name, int value) {
    return setsockopt(fd, level, name, &value, sizeof value);
}

int cshims_getsockopt_int(int fd, int level, int name, int *value) {
    socklen_t length = sizeof *value;
    return getsockopt(fd, level, name, value, &length);
}

int cshims_recvmmsg(int fd, struct mmsghdr *msgs, unsigned int vlen, int flags) {
    return recvmmsg(fd, msgs, vlen, flags, NULL);
}

int cshims_sendmmsg(int fd, struct mmsghdr *msgs, unsigned int vlen, int flags) {
    return sendmmsg(fd, msgs, vlen, flags);
}

void cshims_mmsghdr_set(struct mmsghdr *msgs, unsigned int i, struct iovec *iov,
                        void *addr, uint32_t addrlen) {
    struct msghdr *h = &msgs[i].msg_hdr;
    h->msg_name = addr;
    h->msg_namelen = addrlen;
    h->msg_iov = iov;
    h->msg_iovlen = 1;
    h->msg_control = NULL;
    h->msg_controllen = 0;
    h->msg_flags = 0;
    msgs[i].msg_len = 0;
}

unsigned int cshims_mmsghdr_len(const struct mmsghdr *msgs, unsigned int i) { return msgs[i].msg_len; }

int cshims_mmsghdr_flags(const struct mmsghdr *msgs, unsigned int i) { return msgs[i].msg_hdr.msg_flags; }

uint32_t cshims_mmsghdr_namelen(const struct mmsghdr *msgs, unsigned int i) { return msgs[i].msg_hdr.msg_namelen; }

size_t cshims_mmsghdr_size(void) { return sizeof(struct mmsghdr); }

ssize_t cshims_readv(int fd, const struct iovec *iov, int iovcnt) { return readv(fd, iov, iovcnt); }

ssize_t cshims_writev(int fd, const struct iovec *iov, int iovcnt) { return writev(fd, iov, iovcnt); }

int cshims_fdatasync(int fd) { return fdatasync(fd); }

int cshims_fallocate(int fd, int64_t offset, int64_t length) { return fallocate(fd, 0, offset, length); }

int cshims_write_out(int fd, int64_t offset, int64_t length) {
    return sync_file_range(fd, offset, length,
                           SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
}

int64_t cshims_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int cshims_random_bytes(void *buf, size_t len) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = getrandom((char *)buf + done, len - done, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

int cshims_errno(void) { return errno; }

// ---- checksums ---------------------------------------------------------------------------

#if defined(__x86_64__)
#include <nmmintrin.h>
#include <string.h>

int cshims_crc32c_hardware(void) { return __builtin_cpu_supports("sse4.2") ? 1 : 0; }

__attribute__((target("sse4.2")))
uint32_t cshims_crc32c_update(uint32_t remainder, const void *data, size_t len) {
    const unsigned char *p = data;
    uint64_t crc = remainder;
    while (len >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        crc = _mm_crc32_u64(crc, word);
        p += 8;
        len -= 8;
    }
    uint32_t crc32 = (uint32_t)crc;
    while (len-- > 0) crc32 = _mm_crc32_u8(crc32, *p++);
    return crc32;
}
#elif defined(__aarch64__)
#include <arm_acle.h>
#include <string.h>
#include <sys/auxv.h>
#include <asm/hwcap.h>

int cshims_crc32c_hardware(void) { return (getauxval(AT_HWCAP) & HWCAP_CRC32) ? 1 : 0; }

__attribute__((target("+crc")))
uint32_t cshims_crc32c_update(uint32_t remainder, const void *data, size_t len) {
    const unsigned char *p = data;
    uint32_t crc = remainder;
    while (len >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        crc = __crc32cd(crc, word);
        p += 8;
        len -= 8;
    }
    while (len-- > 0) crc = __crc32cb(crc, *p++);
    return crc;
}
#else
int cshims_crc32c_hardware(void) { return 0; }
uint32_t cshims_crc32c_update(uint32_t remainder, const void *data, size_t len) {
    (void)data;
    (void)len;
    return remainder;
}
#endif
