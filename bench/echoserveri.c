/*
 * echoserveri.c - the textbook iterative echo server, the anchor of bench/echo.py.
 *
 * What the sockets chapter of a systems textbook builds: open_listenfd walks
 * getaddrinfo(host, port, AI_PASSIVE) until socket/setsockopt/bind/listen all
 * work, then the main loop accepts ONE client, echoes it line by line (a
 * buffered line reader, one write() per line) until EOF, closes it and
 * accepts the next.  No threads, no poll, nothing clever: it is the baseline
 * that netprobe's ratios are taken against.
 *
 * Deviations a benchmark needs: the bind host is an argument (127.0.0.1 in
 * the bench, loopback only); SIGPIPE is ignored and a failed read or write
 * ends that client rather than the server.
 *
 *   cc -O2 -o echoserveri echoserveri.c && ./echoserveri PORT [HOST]
 */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_QUEUE 1024 /* the textbook's LISTENQ */
#define LINE_MAX_BYTES 8192

struct line_reader {
    int fd;
    size_t start, end;
    char buf[8192];
};

/* One byte at a time out of an 8 KiB buffer, refilled by read(). */
static int next_byte(struct line_reader *r, char *out)
{
    if (r->start == r->end) {
        ssize_t n;
        do {
            n = read(r->fd, r->buf, sizeof r->buf);
        } while (n < 0 && errno == EINTR);
        if (n <= 0)
            return (int)n; /* 0: EOF, -1: error */
        r->start = 0;
        r->end = (size_t)n;
    }
    *out = r->buf[r->start++];
    return 1;
}

/* A line including its '\n' (or what is left at EOF); its length, 0 at EOF, -1 on error. */
static ssize_t read_line(struct line_reader *r, char *line, size_t max)
{
    size_t n = 0;
    while (n < max) {
        char c = 0;
        int rc = next_byte(r, &c);
        if (rc < 0)
            return -1;
        if (rc == 0)
            break;
        line[n++] = c;
        if (c == '\n')
            break;
    }
    return (ssize_t)n;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void echo(int fd)
{
    static struct line_reader reader;
    static char line[LINE_MAX_BYTES];
    ssize_t n;
    reader.fd = fd;
    reader.start = reader.end = 0;
    while ((n = read_line(&reader, line, sizeof line)) > 0)
        if (write_all(fd, line, (size_t)n) < 0)
            break;
}

static int open_listenfd(const char *host, const char *port)
{
    struct addrinfo hints, *list, *p;
    int fd = -1, one = 1, rc;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if ((rc = getaddrinfo(host, port, &hints, &list)) != 0) {
        fprintf(stderr, "getaddrinfo: %s\n", gai_strerror(rc));
        return -1;
    }
    for (p = list; p; p = p->ai_next) {
        if ((fd = socket(p->ai_family, p->ai_socktype, p->ai_protocol)) < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, p->ai_addr, p->ai_addrlen) == 0 && listen(fd, LISTEN_QUEUE) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(list);
    return fd;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [HOST]\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int listenfd = open_listenfd(argc > 2 ? argv[2] : "127.0.0.1", argv[1]);
    if (listenfd < 0) {
        perror("open_listenfd");
        return 1;
    }
    for (;;) {
        int fd = accept(listenfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            perror("accept");
            return 1;
        }
        echo(fd);
        close(fd);
    }
}
