// SPDX-License-Identifier: MIT
/* Migration sockets: see mig_conn.h. */
#include "migrate/mig_conn.h"
#include "migrate/mig_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/*
 * Socket buffers.  Before the connection: 4 MiB each way (the most this
 * host allows, net.core.wmem_max), so that the window scale the handshake
 * agrees on can carry a long path.  Once connected they shrink to one
 * bandwidth-delay product of the path, from the handshake's round trip
 * (TCP_INFO): MIG_CONN_LINK_BPS times the RTT, at least MIG_CONN_BUF_MIN.
 * What sits in these buffers at the switchover is stream the destination
 * has not read yet, and the source's stop waits for it: with 4 MiB each
 * way on loopback (the kernel doubles the figure: up to 16 MiB in flight)
 * the 8 GiB guest's downtime was 29 to 43 ms, 7 to 11 ms with 256 KiB;
 * throughput the same (docs/bench-migration.md, "Socket buffers").
 */
#define MIG_CONN_BUF_MAX (4 << 20)
/* Loopback and a LAN: their RTT (tens of microseconds) makes a BDP below this. */
#define MIG_CONN_BUF_MIN (256 << 10)
/* The rate a path is sized for: the aim for one stream, 2.5 GB/s. */
#define MIG_CONN_LINK_BPS 2500000000ull

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int mig_uri_parse(const char *uri, bool listen, struct mig_uri *out, char *err, size_t errlen)
{
	const char *h, *colon;
	size_t hl;
	char *end;
	unsigned long port;

	memset(out, 0, sizeof(*out));
	if (!uri || strncmp(uri, "tcp:", 4)) {
		snprintf(err, errlen, "unknown migration protocol: %s (only tcp:HOST:PORT)",
			 uri ? uri : "(none)");
		return -EINVAL;
	}
	h = uri + 4;
	if (*h == '[') {
		const char *close = strchr(h, ']');

		if (!close || close[1] != ':') {
			snprintf(err, errlen, "%s: expected tcp:[IPV6]:PORT", uri);
			return -EINVAL;
		}
		hl = (size_t)(close - h - 1);
		h++;
		colon = close + 1;
	} else {
		colon = strrchr(h, ':');
		if (!colon) {
			snprintf(err, errlen, "%s: expected tcp:HOST:PORT", uri);
			return -EINVAL;
		}
		hl = (size_t)(colon - h);
	}
	if (hl == 0 || hl >= sizeof(out->host)) {
		snprintf(err, errlen, "%s: the host is %s", uri, hl ? "too long" : "missing");
		return -EINVAL;
	}
	memcpy(out->host, h, hl);
	out->host[hl] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end || errno || port > 65535 ||
	    (port == 0 && !listen)) {
		snprintf(err, errlen, "%s: the port must be a number from %d to 65535", uri,
			 listen ? 0 : 1);
		return -EINVAL;
	}
	out->port = (uint16_t)port;
	return 0;
}

void mig_conn_init(struct mig_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	atomic_init(&c->cancelled, false);
}

static struct addrinfo *resolve(const struct mig_uri *u, bool passive, char *err, size_t errlen,
				int *r)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = passive ? AI_PASSIVE : 0};
	struct addrinfo *ai = NULL;
	char port[8];
	int g;

	snprintf(port, sizeof(port), "%u", u->port);
	g = getaddrinfo(u->host, port, &hints, &ai);
	if (g) {
		snprintf(err, errlen, "cannot resolve %s: %s", u->host, gai_strerror(g));
		*r = -EHOSTUNREACH;
		return NULL;
	}
	return ai;
}

static void set_bufs(int fd, int buf)
{
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
}

static void tune(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	set_bufs(fd, MIG_CONN_BUF_MAX);
}

int mig_conn_buf_for_rtt(uint32_t rtt_us)
{
	uint64_t buf = MIG_CONN_LINK_BPS * rtt_us / 1000000u;

	if (buf < MIG_CONN_BUF_MIN)
		buf = MIG_CONN_BUF_MIN;
	if (buf > MIG_CONN_BUF_MAX)
		buf = MIG_CONN_BUF_MAX;
	return (int)buf;
}

/* Connected: the buffers down to the path's bandwidth-delay product (above). */
static void fit_bufs(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	uint32_t rtt_us = 0;

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
	    len >= offsetof(struct tcp_info, tcpi_rtt) + sizeof(ti.tcpi_rtt))
		rtt_us = ti.tcpi_rtt;
	set_bufs(fd, mig_conn_buf_for_rtt(rtt_us));
}

int mig_conn_listen(const struct mig_uri *u, int *lfd, uint16_t *port, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct addrinfo *ai;
	int r = 0, fd, one = 1;

	ai = resolve(u, true, err, errlen, &r);
	if (!ai)
		return r;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot listen on %s:%u: %s", u->host, u->port,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return r;
	}
	freeaddrinfo(ai);
	*port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					       : ((struct sockaddr_in *)&ss)->sin_port);
	*lfd = fd;
	return 0;
}

/* poll one fd for ev in slices, watching the cancel flag: 1 ready, 0 timeout, -ECANCELED. */
static int wait_fd(struct mig_conn *c, int fd, short ev, uint64_t deadline_ms)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = ev};
		uint64_t now = now_ms();
		int slice = MIG_CONN_SLICE_MS, r;

		if (atomic_load(&c->cancelled))
			return -ECANCELED;
		/* Past the deadline: one look without waiting. */
		if (deadline_ms && now >= deadline_ms)
			slice = 0;
		else if (deadline_ms && deadline_ms - now < (uint64_t)slice)
			slice = (int)(deadline_ms - now);
		r = poll(&p, 1, slice);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (slice == 0)
			return 0;
	}
}

int mig_conn_accept(struct mig_conn *c, int lfd, uint64_t deadline_ns, char *err, size_t errlen)
{
	uint64_t dl = deadline_ns ? deadline_ns / 1000000u : 0;

	for (;;) {
		int r = wait_fd(c, lfd, POLLIN, dl), fd;

		if (r == 0) {
			snprintf(err, errlen, "no source connected in time");
			return -ETIMEDOUT;
		}
		if (r < 0) {
			snprintf(err, errlen, "%s",
				 r == -ECANCELED ? "cancelled while waiting for the source"
						 : strerror(-r));
			return r;
		}
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
				continue;
			snprintf(err, errlen, "accept: %s", strerror(errno));
			return -errno;
		}
		tune(fd);
		fit_bufs(fd);
		c->fd = fd;
		return 0;
	}
}

int mig_conn_connect(struct mig_conn *c, const struct mig_uri *u, unsigned timeout_ms, char *err,
		     size_t errlen)
{
	uint64_t dl = now_ms() + timeout_ms;
	struct addrinfo *ai, *a;
	int r = -ECONNREFUSED, fd = -1;

	ai = resolve(u, false, err, errlen, &r);
	if (!ai)
		return r;
	for (a = ai; a; a = a->ai_next) {
		int w, e = 0;
		socklen_t el = sizeof(e);

		fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			r = -errno;
			continue;
		}
		tune(fd);
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		if (errno != EINPROGRESS) {
			r = -errno;
			close(fd);
			fd = -1;
			continue;
		}
		w = wait_fd(c, fd, POLLOUT, dl);
		if (w == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == 0)
			break;
		r = w == 0 ? -ETIMEDOUT : w < 0 ? w : -e;
		close(fd);
		fd = -1;
		if (w <= 0)
			break;
	}
	freeaddrinfo(ai);
	if (fd < 0) {
		snprintf(err, errlen, "cannot connect to %s:%u: %s", u->host, u->port,
			 r == -ECANCELED ? "cancelled" : strerror(-r));
		return r;
	}
	fit_bufs(fd);
	c->fd = fd;
	return 0;
}

int mig_conn_start_tls(struct mig_conn *c, const struct mig_tls_creds *creds, unsigned timeout_ms,
		       char *err, size_t errlen)
{
	int rc;

	c->tls = mig_tls_new(c->fd, creds, err, errlen);
	if (!c->tls)
		return -ENOMEM;
	mig_tls_set_cancel(c->tls, &c->cancelled, MIG_CONN_SLICE_MS);
	rc = mig_tls_handshake(c->tls, mig_tls_deadline(timeout_ms));
	if (rc)
		snprintf(err, errlen, "%s", mig_tls_error(c->tls));
	return rc;
}

const char *mig_conn_strerror(const struct mig_conn *c, int rc)
{
	if (c->tls && mig_tls_error(c->tls)[0])
		return mig_tls_error(c->tls);
	return strerror(rc < 0 ? -rc : rc);
}

/* Up to MIG_CONN_TLS_CHUNK bytes of iov through TLS: the bytes sent, or -errno. */
static ssize_t tls_writev(struct mig_conn *c, const struct iovec *iov, int n, unsigned timeout_ms)
{
	struct iovec v[64];
	size_t total = 0;
	int k = 0, rc;

	for (int i = 0; i < n && k < 64 && total < MIG_CONN_TLS_CHUNK; i++) {
		size_t len = iov[i].iov_len;

		if (len > MIG_CONN_TLS_CHUNK - total)
			len = MIG_CONN_TLS_CHUNK - total;
		if (!len)
			continue;
		v[k].iov_base = iov[i].iov_base;
		v[k++].iov_len = len;
		total += len;
	}
	if (atomic_load(&c->cancelled))
		return -ECANCELED;
	if (!total)
		return 0;
	rc = mig_tls_writev_all(c->tls, v, k, mig_tls_deadline(timeout_ms));
	if (rc)
		return rc;
	c->bytes_out += total;
	return (ssize_t)total;
}

ssize_t mig_conn_writev(struct mig_conn *c, const struct iovec *iov, int n, unsigned timeout_ms)
{
	if (c->tls)
		return tls_writev(c, iov, n, timeout_ms);
	uint64_t dl = now_ms() + timeout_ms;

	for (;;) {
		struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
		ssize_t w;
		int r;

		if (atomic_load(&c->cancelled))
			return -ECANCELED;
		w = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			c->bytes_out += (uint64_t)w;
			return w;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		r = wait_fd(c, c->fd, POLLOUT, dl);
		if (r == 0)
			return -ETIMEDOUT;
		if (r < 0)
			return r;
	}
}

int mig_conn_write_all(struct mig_conn *c, const void *buf, size_t len, unsigned timeout_ms)
{
	const uint8_t *p = buf;

	while (len) {
		struct iovec v = {.iov_base = (void *)p, .iov_len = len};
		ssize_t w = mig_conn_writev(c, &v, 1, timeout_ms);

		if (w < 0)
			return (int)w;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

ssize_t mig_conn_read(struct mig_conn *c, void *buf, size_t len, unsigned timeout_ms)
{
	uint64_t dl = now_ms() + timeout_ms;

	if (c->tls) {
		ssize_t n = atomic_load(&c->cancelled)
				? -ECANCELED
				: mig_tls_read(c->tls, buf, len, mig_tls_deadline(timeout_ms));

		if (n > 0)
			c->bytes_in += (uint64_t)n;
		return n;
	}

	for (;;) {
		ssize_t n;
		int r;

		if (atomic_load(&c->cancelled))
			return -ECANCELED;
		n = recv(c->fd, buf, len, MSG_DONTWAIT);
		if (n >= 0) {
			c->bytes_in += (uint64_t)n;
			return n;
		}
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		r = wait_fd(c, c->fd, POLLIN, dl);
		if (r == 0)
			return -ETIMEDOUT;
		if (r < 0)
			return r;
	}
}

int mig_conn_wait_readable(struct mig_conn *c, unsigned timeout_ms)
{
	if (c->tls && mig_tls_pending(c->tls))
		return 1; /* decrypted already: the socket may have nothing more */
	return wait_fd(c, c->fd, POLLIN, now_ms() + timeout_ms);
}

void mig_conn_cancel(struct mig_conn *c)
{
	atomic_store(&c->cancelled, true);
}

/* A close_notify gets this long: the peer has what it needs by then, or never will. */
#define MIG_CONN_BYE_MS 100

void mig_conn_close(struct mig_conn *c)
{
	if (c->tls) {
		if (!atomic_load(&c->cancelled))
			mig_tls_bye(c->tls, mig_tls_deadline(MIG_CONN_BYE_MS));
		mig_tls_free(c->tls);
		c->tls = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}
