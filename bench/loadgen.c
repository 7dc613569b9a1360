/*
 * loadgen.c - the one load generator of bench/echo.py: the same client for
 * every echo server, so the figures compare servers, not clients.
 *
 *   loadgen [-t DEADLINE_S] [-w WINDOW] HOST PORT stream TOTAL CHUNK
 *       one connection: TOTAL bytes sent as send()s of CHUNK bytes while the
 *       echo is read back at the same time; every byte is compared.
 *   loadgen [-t DEADLINE_S] [-w WINDOW] HOST PORT lines TOTAL LEN
 *       the same with lines of LEN bytes ('\n'-terminated), one send() a line.
 *   loadgen [-t DEADLINE_S] HOST PORT rate SECONDS LEN
 *       connect, send one LEN-byte line, read it back, close; again, for SECONDS.
 *   loadgen [-t DEADLINE_S] HOST PORT many CONNS ROUNDS LEN
 *       CONNS connections opened at once (non-blocking, epoll), each does
 *       ROUNDS round trips of a LEN-byte line and closes.
 *
 * Prints one JSON object on stdout; exit 0 only if every echo came back
 * intact.  -w caps the bytes in flight (sent, not yet echoed): servers that
 * block writing while the client is still sending (ncat --exec) need it.
 * HOST must be a numeric loopback address (127.0.0.0/8 or ::1): this program
 * refuses to load anything else.  Sizes accept K, M, G (x1024).
 *
 *   cc -O2 -o loadgen loadgen.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_storage server;
static socklen_t server_len;
static double deadline_s = 60.0;
static long long window_bytes = 0;

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long long parse_size(const char *text)
{
    char *end;
    long long n = strtoll(text, &end, 10);
    switch (*end) {
    case 'k': case 'K': n <<= 10; break;
    case 'm': case 'M': n <<= 20; break;
    case 'g': case 'G': n <<= 30; break;
    default: break;
    }
    return n;
}

/* Numeric loopback addresses only: the bench must never load another host. */
static int set_server(const char *host, const char *port)
{
    int p = atoi(port);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&server;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&server;
    memset(&server, 0, sizeof server);
    if (p <= 0 || p > 65535)
        return -1;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        if ((ntohl(v4->sin_addr.s_addr) >> 24) != 127)
            return -1;
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)p);
        server_len = sizeof *v4;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        if (!IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr))
            return -1;
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)p);
        server_len = sizeof *v6;
        return 0;
    }
    return -1;
}

static int new_socket(int nonblocking)
{
    int fd = socket(server.ss_family, SOCK_STREAM | (nonblocking ? SOCK_NONBLOCK : 0), 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* --- the byte pattern ------------------------------------------------------------ */

/* A pseudo-random pattern whose period is prime, stored twice so any window
 * of up to `period` bytes is contiguous: a lost, doubled or reordered byte
 * never lines up again. */
static unsigned char *pattern;
static long long period;

static void make_pattern(int lines, long long len)
{
    uint32_t x = 2463534242u;
    period = lines ? len * 7919 : 999983;
    pattern = malloc((size_t)(2 * period));
    if (!pattern) {
        perror("malloc");
        exit(1);
    }
    for (long long i = 0; i < period; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        if (lines)
            pattern[i] = (i + 1) % len == 0 ? '\n' : (unsigned char)('!' + x % 90);
        else
            pattern[i] = (unsigned char)(x >> 11);
    }
    memcpy(pattern + period, pattern, (size_t)period);
}

/* --- stream / lines ------------------------------------------------------------------ */

static int run_stream(int lines, long long total, long long unit)
{
    enum { RECV_BUF = 256 * 1024 };
    static unsigned char in[RECV_BUF];
    const char *error = NULL;
    long long sent = 0, got = 0;
    if (unit < 1 || (!lines && unit > 999983) || (lines && unit < 2)) {
        fprintf(stderr, "bad unit\n");
        return 2;
    }
    make_pattern(lines, unit);
    if (lines)
        total -= total % unit;
    /* The stream ends with '\n' so a line-echo server (the textbook one)
     * flushes its last line without waiting for EOF.  The pattern is
     * periodic, so sender and checker see the same change. */
    pattern[(total - 1) % period] = '\n';
    pattern[(total - 1) % period + period] = '\n';
    int fd = new_socket(0);
    double start = seconds_now();
    if (fd < 0 || connect(fd, (struct sockaddr *)&server, server_len) < 0) {
        printf("{\"mode\":\"%s\",\"ok\":false,\"error\":\"connect: %s\"}\n",
               lines ? "lines" : "stream", strerror(errno));
        return 1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    while (got < total && !error) {
        int may_send = sent < total && (!window_bytes || sent - got < window_bytes);
        struct pollfd pfd = {fd, (short)(POLLIN | (may_send ? POLLOUT : 0)), 0};
        if (poll(&pfd, 1, 100) < 0 && errno != EINTR) {
            error = "poll";
            break;
        }
        if (seconds_now() - start > deadline_s) {
            error = "deadline";
            break;
        }
        if (pfd.revents & POLLOUT) {
            while (sent < total) {
                long long n = lines ? unit - sent % unit : unit;
                if (n > total - sent)
                    n = total - sent;
                if (window_bytes && n > window_bytes - (sent - got))
                    n = window_bytes - (sent - got);
                if (n <= 0)
                    break;
                ssize_t w = send(fd, pattern + sent % period, (size_t)n, MSG_NOSIGNAL);
                if (w < 0) {
                    if (errno != EAGAIN && errno != EINTR)
                        error = "send";
                    break;
                }
                sent += w;
            }
        }
        if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
            for (;;) {
                ssize_t r = recv(fd, in, sizeof in, 0);
                if (r < 0) {
                    if (errno != EAGAIN && errno != EINTR)
                        error = "recv";
                    break;
                }
                if (r == 0) {
                    error = "closed early";
                    break;
                }
                if (got + r > total || memcmp(in, pattern + got % period, (size_t)r) != 0) {
                    error = "echo differs from what was sent";
                    break;
                }
                got += r;
            }
        }
    }
    double secs = seconds_now() - start;
    close(fd);
    printf("{\"mode\":\"%s\",\"ok\":%s,\"bytes\":%lld,\"secs\":%.4f,\"mbps\":%.1f%s%s%s}\n",
           lines ? "lines" : "stream", error ? "false" : "true", got, secs, got / secs / 1e6,
           error ? ",\"error\":\"" : "", error ? error : "", error ? "\"" : "");
    return error ? 1 : 0;
}

/* --- rate -------------------------------------------------------------------------------- */

static int run_rate(double seconds, int len)
{
    char *out = malloc((size_t)len), *in = malloc((size_t)len);
    long done = 0, failed = 0;
    struct timeval five = {5, 0};
    memset(out, 'r', (size_t)len);
    out[len - 1] = '\n';
    double start = seconds_now(), now;
    while ((now = seconds_now()) - start < seconds) {
        int fd = new_socket(0), ok = 0;
        if (fd < 0) {
            failed++;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &five, sizeof five);
        if (connect(fd, (struct sockaddr *)&server, server_len) == 0 &&
            send(fd, out, (size_t)len, MSG_NOSIGNAL) == len) {
            int got = 0;
            ssize_t r;
            while (got < len && (r = recv(fd, in + got, (size_t)(len - got), 0)) > 0)
                got += (int)r;
            ok = got == len && memcmp(in, out, (size_t)len) == 0;
        }
        close(fd);
        if (ok)
            done++;
        else
            failed++;
    }
    double secs = seconds_now() - start;
    printf("{\"mode\":\"rate\",\"ok\":%s,\"connections\":%ld,\"failed\":%ld,\"secs\":%.3f,"
           "\"cps\":%.1f}\n", failed ? "false" : "true", done, failed, secs, done / secs);
    return failed ? 1 : 0;
}

/* --- many ---------------------------------------------------------------------------------- */

struct conn {
    int fd;
    int round;
    int sent, got;
    int state; /* 0 connecting, 1 sending, 2 receiving, 3 done, 4 failed */
};

static void line_for(char *line, int len, int id, int round)
{
    for (int i = 0; i < len - 1; i++)
        line[i] = (char)('a' + (id + round + i) % 26);
    line[len - 1] = '\n';
}

static int run_many(int conns, int rounds, int len)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < (rlim_t)conns + 64) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    struct conn *c = calloc((size_t)conns, sizeof *c);
    char *want = malloc((size_t)len), *buf = malloc((size_t)len);
    int ep = epoll_create1(0), finished = 0, completed = 0, failed = 0;
    const char *why = NULL;
    double start = seconds_now();
    for (int i = 0; i < conns; i++) {
        struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)i};
        c[i].fd = new_socket(1);
        if (c[i].fd < 0 || (connect(c[i].fd, (struct sockaddr *)&server, server_len) < 0 &&
                            errno != EINPROGRESS) ||
            epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev) < 0) {
            c[i].state = 4;
            failed++;
            finished++;
            why = "connect";
            if (c[i].fd >= 0)
                close(c[i].fd);
        }
    }
    struct epoll_event events[256];
    while (finished < conns) {
        if (seconds_now() - start > deadline_s) {
            why = "deadline";
            break;
        }
        int n = epoll_wait(ep, events, 256, 100);
        for (int k = 0; k < n; k++) {
            struct conn *x = &c[events[k].data.u32];
            int id = (int)events[k].data.u32, fail = 0;
            if (x->state >= 3)
                continue;
            if (x->state == 0) {
                int err = 0;
                socklen_t el = sizeof err;
                getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                if (err) {
                    fail = 1;
                    why = "connect";
                } else {
                    x->state = 1;
                }
            }
            if (!fail && x->state == 1) {
                /* (re)send the rest of this round's line */
                line_for(want, len, id, x->round);
                ssize_t w = send(x->fd, want + x->sent, (size_t)(len - x->sent), MSG_NOSIGNAL);
                if (w < 0 && errno != EAGAIN) {
                    fail = 1;
                    why = "send";
                } else if (w > 0 && (x->sent += (int)w) == len) {
                    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)id};
                    x->state = 2;
                    x->got = 0;
                    epoll_ctl(ep, EPOLL_CTL_MOD, x->fd, &ev);
                }
            } else if (!fail && x->state == 2) {
                ssize_t r = recv(x->fd, buf + x->got, (size_t)(len - x->got), 0);
                if (r == 0 || (r < 0 && errno != EAGAIN)) {
                    fail = 1;
                    why = r == 0 ? "closed early" : "recv";
                } else if (r > 0 && (x->got += (int)r) == len) {
                    line_for(want, len, id, x->round);
                    if (memcmp(buf, want, (size_t)len) != 0) {
                        fail = 1;
                        why = "echo differs";
                    } else if (++x->round == rounds) {
                        x->state = 3;
                        completed++;
                        finished++;
                        close(x->fd);
                    } else {
                        /* next round at once: the socket is nearly always
                         * writable, so no trip through epoll for EPOLLOUT */
                        line_for(want, len, id, x->round);
                        x->got = 0;
                        ssize_t w = send(x->fd, want, (size_t)len, MSG_NOSIGNAL);
                        if (w < 0 && errno != EAGAIN) {
                            fail = 1;
                            why = "send";
                        } else if (w != len) {
                            struct epoll_event ev = {.events = EPOLLOUT,
                                                     .data.u32 = (uint32_t)id};
                            x->state = 1;
                            x->sent = w > 0 ? (int)w : 0;
                            epoll_ctl(ep, EPOLL_CTL_MOD, x->fd, &ev);
                        }
                    }
                }
            }
            if (fail) {
                x->state = 4;
                failed++;
                finished++;
                close(x->fd);
            }
        }
    }
    double secs = seconds_now() - start;
    for (int i = 0; i < conns; i++)
        if (c[i].state < 3)
            close(c[i].fd);
    failed = conns - completed;
    printf("{\"mode\":\"many\",\"ok\":%s,\"connections\":%d,\"completed\":%d,\"failed\":%d,"
           "\"secs\":%.3f%s%s%s}\n", failed ? "false" : "true", conns, completed, failed, secs,
           why && failed ? ",\"error\":\"" : "", why && failed ? why : "",
           why && failed ? "\"" : "");
    return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    int opt;
    signal(SIGPIPE, SIG_IGN);
    while ((opt = getopt(argc, argv, "t:w:")) != -1) {
        if (opt == 't')
            deadline_s = atof(optarg);
        else if (opt == 'w')
            window_bytes = parse_size(optarg);
        else
            return 2;
    }
    argc -= optind;
    argv += optind;
    if (argc < 4 || set_server(argv[0], argv[1]) < 0) {
        fprintf(stderr, "usage: loadgen [-t S] [-w BYTES] LOOPBACK-ADDR PORT "
                        "stream|lines TOTAL UNIT | rate SECONDS LEN | many CONNS ROUNDS LEN\n");
        return 2;
    }
    const char *mode = argv[2];
    if (!strcmp(mode, "stream") || !strcmp(mode, "lines")) {
        if (argc < 5)
            return 2;
        return run_stream(!strcmp(mode, "lines"), parse_size(argv[3]), parse_size(argv[4]));
    }
    if (!strcmp(mode, "rate") && argc >= 5)
        return run_rate(atof(argv[3]), atoi(argv[4]));
    if (!strcmp(mode, "many") && argc >= 6)
        return run_many(atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    return 2;
}
