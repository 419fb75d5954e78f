/*
 * The floor of the devsysd HTTP benchmark: a bare libmicrohttpd server in
 * devsysd's thread mode (epoll, internal thread pool, turbo, suspend/resume
 * allowed, the same connection and memory limits, and, like devsysd, its
 * own accepting thread handing connections to libmicrohttpd, which spreads
 * them over the polling threads), answering every request with the same
 * bytes and headers from one response kept in memory. No routing, no
 * token, no record: what is left is libmicrohttpd's own cost.
 *
 *   bench_mhd_floor PORT BODY_FILE [THREADS]
 *
 * Runs until SIGTERM or SIGINT.
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct MHD_Response *answer;
static struct MHD_Daemon *d;
static int lfd;
static volatile sig_atomic_t stop;

static void *acceptor(void *arg)
{
	(void)arg;
	while (!stop) {
		struct sockaddr_storage sa;
		socklen_t len = sizeof(sa);
		int fd = accept4(lfd, (struct sockaddr *)&sa, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0)
			MHD_add_connection(d, fd, (struct sockaddr *)&sa, len);
	}
	return NULL;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload_data, size_t *upload_data_size,
                               void **con_cls)
{
	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	(void)upload_data;
	if (!*con_cls) { /* answer on the second call, as devsysd does for a GET */
		*con_cls = c;
		return MHD_YES;
	}
	*upload_data_size = 0;
	return MHD_queue_response(c, MHD_HTTP_OK, answer);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n)
		*len = (size_t)n;
	else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr;
	pthread_t th;
	sigset_t set;
	int one = 1;
	size_t len = 0;
	char *body;
	int sig;
	unsigned int threads = argc > 3 ? (unsigned int)atoi(argv[3]) : 2;
	if (argc < 3 || atoi(argv[1]) <= 0 || threads == 0) {
		fprintf(stderr, "usage: bench_mhd_floor PORT BODY_FILE [THREADS]\n");
		return 2;
	}
	if (!(body = slurp(argv[2], &len))) {
		fprintf(stderr, "bench_mhd_floor: cannot read '%s'\n", argv[2]);
		return 2;
	}
	answer = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(answer, "Content-Type", "application/json");
	MHD_add_response_header(answer, "Cache-Control", "no-store");
	MHD_add_response_header(answer, "X-Content-Type-Options", "nosniff");
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((unsigned short)atoi(argv[1]));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(lfd, 1024) != 0) {
		fprintf(stderr, "bench_mhd_floor: cannot listen on 127.0.0.1:%s: %s\n", argv[1], strerror(errno));
		return 3;
	}
	d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC |
	                         MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | MHD_USE_TURBO,
	                     0, NULL, NULL, handler, NULL, MHD_OPTION_THREAD_POOL_SIZE, threads,
	                     MHD_OPTION_CONNECTION_LIMIT, 4096, MHD_OPTION_PER_IP_CONNECTION_LIMIT, 2000,
	                     MHD_OPTION_CONNECTION_TIMEOUT, 10, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16 * 1024,
	                     MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "bench_mhd_floor: cannot start libmicrohttpd\n");
		return 3;
	}
	pthread_create(&th, NULL, acceptor, NULL);
	while (sigwait(&set, &sig) == 0 && sig == SIGPIPE)
		;
	stop = 1;
	shutdown(lfd, SHUT_RDWR);
	pthread_join(th, NULL);
	close(lfd);
	MHD_stop_daemon(d);
	MHD_destroy_response(answer);
	free(body);
	return 0;
}
