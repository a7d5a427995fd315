/* notify_listen.c — a stand-in for systemd's notification socket, for tests/watch_test.sh:
 * binds a datagram socket at PATH and prints every message it receives (sd_notify's
 * "READY=1", "WATCHDOG=1", ...) as one line each, until "STOPPING=1" arrives or SECONDS pass.
 *     notify_listen PATH SECONDS */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: notify_listen PATH SECONDS\n");
        return 2;
    }
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    if (strlen(argv[1]) >= sizeof a.sun_path) {
        fprintf(stderr, "notify_listen: path too long\n");
        return 2;
    }
    strcpy(a.sun_path, argv[1]);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    unlink(argv[1]);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("notify_listen");
        return 1;
    }
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double limit = atof(argv[2]);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        double left = limit - ((double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) * 1e-9);
        if (left <= 0) break;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)(left * 1000) + 1) <= 0) continue;
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
        if (n <= 0) continue;
        buf[n] = 0;
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
            printf("%s\n", line);
        fflush(stdout);
        if (strstr(buf, "STOPPING=1")) break;
    }
    close(fd);
    unlink(argv[1]);
    return 0;
}
