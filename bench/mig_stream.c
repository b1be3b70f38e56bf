// SPDX-License-Identifier: MIT
/*
 * bench/mig_stream: micro-benchmark of the migration stream codec and the
 * memory digest (src/migrate/mig_stream*, mig_digest*), on guest-like
 * memory in this process.  No VM; prints markdown tables.
 *
 *   build/src/migrate/mig_stream_bench            1 GiB (about 4 minutes here)
 *   build/src/migrate/mig_stream_bench --big      and 8 GiB (about 10 minutes in all)
 *   options: --runs N (median of N, default 3), --no-lock, --quick (256 MiB,
 *   one run: a smoke check), --tcp (only the loopback run, for profiling),
 *   --src-digest none|reread|pages (the loopback source's digest table:
 *   none, re-read from RAM after each span, or set from the encoder's page
 *   sums as mig_src.c does; default pages)
 *
 * It holds /tmp/vmm-vm.lock (flock) for its whole run: it keeps both cores
 * busy and would distort a VM's rates, and a VM would distort it.
 *
 * Memory profiles: "untouched" (mapped, never written: reading it maps the
 * kernel's zero page, fault by fault), "zeros" (written with zeros),
 * "data" (every page non-zero), "hot" (a working set of data at the start,
 * the rest untouched, like our stress guest: 80 MiB of 1 GiB, 2 GiB of
 * 8 GiB, the cases).  Destination RAM: fresh (as --incoming maps it), fresh with a
 * populate call ahead of each record, fresh with MADV_HUGEPAGE, or
 * populated beforehand.  docs/migration.md quotes the tables.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>
#ifdef HAVE_ZLIB
#include <zlib.h>
#endif
#ifdef HAVE_SODIUM
#include <sodium.h>
#endif

#include "migrate/mig_digest.h"
#include "migrate/mig_stream.h"

#include "bench_harness.h"

#define GiB  ((uint64_t)1 << 30)
#define MiB  ((uint64_t)1 << 20)
#define PAGE MIG_PAGE_SIZE

enum profile {
	P_UNTOUCHED,
	P_ZEROS,
	P_DATA,
	P_HOT,
	P_COUNT
};

/* How the destination's guest RAM is prepared. */
enum dmem {
	D_FRESH,
	D_AHEAD,
	D_THP,
	D_POPULATED,
	D_COUNT
};
static const char *const dname[D_COUNT] = {
    "fresh 4 KiB pages",
    "fresh, MADV_POPULATE_WRITE ahead of each record",
    "fresh, MADV_HUGEPAGE",
    "populated beforehand",
};
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
static const char *const pname[P_COUNT] = {"untouched", "zeros", "data", "hot"};

static int runs = BENCH_RUNS_DEFAULT;
static bool quick, tcp_only;
/*
 * What the loopback source does for the digest table, as mig_src.c's send
 * loop does after each span of pages (--src-digest): nothing (the codec
 * alone), re-read the span's chunks from RAM (the way before stream
 * version 2), or set them from the encoder's page sums (version 2).
 */
enum src_digest {
	SD_NONE,
	SD_REREAD,
	SD_PAGES
};
static enum src_digest src_digest = SD_PAGES;
static const char *const sdname[] = {"none", "reread", "pages"};
/* Pages per span of the loopback source: mig_src.c's MIG_SRC_CHUNK_PAGES. */
#define SRC_SPAN_PAGES 1024u

/* The hot working set: the cases, 80 MiB of a 1 GiB guest, 2 GiB of 8 GiB. */
static uint64_t hot_bytes(uint64_t size)
{
	return size >= 8 * GiB ? 2 * GiB : 80 * MiB * (size / GiB ? size / GiB : 1);
}

static uint8_t *region(enum profile pr, uint64_t size)
{
	uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	switch (pr) {
	case P_ZEROS:
		memset(p, 0, size);
		break;
	case P_DATA:
		bench_fill(p, size, 42);
		break;
	case P_HOT:
		bench_fill(p, hot_bytes(size), 43);
		break;
	default:
		break;
	}
	return p;
}

static const char *gb(uint64_t size)
{
	static char b[4][16];
	static int k;

	k = (k + 1) % 4;
	if (size >= GiB)
		snprintf(b[k], sizeof(b[k]), "%" PRIu64 " GiB", size / GiB);
	else
		snprintf(b[k], sizeof(b[k]), "%" PRIu64 " MiB", size / MiB);
	return b[k];
}

static uint8_t *dest_region(enum dmem k, uint64_t size)
{
	uint8_t *p = region(k == D_POPULATED ? P_ZEROS : P_UNTOUCHED, size);

	if (k == D_THP)
		madvise(p, size, MADV_HUGEPAGE);
	return p;
}

/* Before receiving into [p, p + n): fault it in with one call (D_AHEAD). */
static void ahead(enum dmem k, void *p, size_t n)
{
	uintptr_t a = (uintptr_t)p & ~(uintptr_t)(PAGE - 1), e = (uintptr_t)p + n;

	if (k == D_AHEAD)
		madvise((void *)a, e - a, MADV_POPULATE_WRITE);
}

/* ---- primitives ---- */

enum prim {
	X64,
	X128,
	X64PAGE,
	ZEROCHK,
	CRC32,
	BLAKE2B,
	MEMCPY,
	PRIM_COUNT
};
static const char *const primname[PRIM_COUNT] = {
    "XXH3-64, one call",   "XXH3-128, one call",  "XXH3-64 per 4 KiB page",
    "zero check per page", "zlib crc32 per page", "BLAKE2b (libsodium), one call",
    "memcpy (reference)",
};

static volatile uint64_t sink;

/* Bytes processed per second by one primitive over a region. */
static double prim_once(enum prim op, const uint8_t *p, uint64_t size, uint8_t *dst)
{
	double t = now();
	uint64_t i, s = 0;

	switch (op) {
	case X64:
		s = XXH3_64bits(p, size);
		break;
	case X128:
		s = XXH3_128bits(p, size).low64;
		break;
	case X64PAGE:
		for (i = 0; i < size; i += PAGE)
			s += XXH3_64bits(p + i, PAGE);
		break;
	case ZEROCHK:
		for (i = 0; i < size; i += PAGE)
			s += mig_page_is_zero(p + i);
		break;
	case CRC32:
#ifdef HAVE_ZLIB
		for (i = 0; i < size; i += PAGE)
			s += crc32(0, p + i, PAGE);
#endif
		break;
	case BLAKE2B:
#ifdef HAVE_SODIUM
	{
		uint8_t h[32];
		uint64_t n = size < 256 * MiB ? size : 256 * MiB; /* slow: a quarter GiB */

		crypto_generichash(h, sizeof(h), p, n, NULL, 0);
		s = h[0];
		sink += s;
		return (double)n / (now() - t);
	}
#endif
	break;
	case MEMCPY:
		memcpy(dst, p, size);
		s = dst[size - 1];
		break;
	default:
		break;
	}
	sink += s;
	return (double)size / (now() - t);
}

static bool prim_available(enum prim op)
{
#ifndef HAVE_ZLIB
	if (op == CRC32)
		return false;
#endif
#ifndef HAVE_SODIUM
	if (op == BLAKE2B)
		return false;
#endif
	return true;
}

static void bench_primitives(uint64_t size)
{
	double res[PRIM_COUNT][P_COUNT];
	uint8_t *dst = NULL;
	int op, pr, r;

	printf("\n### Primitives over %s (GB/s, median of %d)\n\n", gb(size), runs);
	printf("| operation | untouched (first read) | zeros | data | hot (%" PRIu64
	       " MiB data, rest untouched) |\n",
	       hot_bytes(size) / MiB);
	printf("| --- | ---: | ---: | ---: | ---: |\n");
	fflush(stdout);
	for (pr = 0; pr < P_COUNT; pr++) {
		uint8_t *p = pr == P_UNTOUCHED || pr == P_HOT ? NULL : region(pr, size);

		for (op = 0; op < PRIM_COUNT; op++) {
			double v[16];

			res[op][pr] = 0;
			if (!prim_available(op) || (op == MEMCPY && size > GiB))
				continue;
			if (op == MEMCPY && !dst)
				dst = region(P_ZEROS, size);
			for (r = 0; r < runs; r++) {
				/* Untouched memory is touched by reading it: a fresh one each run. */
				uint8_t *q = p ? p : region(pr, size);

				v[r] = prim_once(op, q, size, dst);
				if (!p)
					munmap(q, size);
			}
			res[op][pr] = median(v, runs);
		}
		if (p)
			munmap(p, size);
	}
	if (dst)
		munmap(dst, size);
	for (op = 0; op < PRIM_COUNT; op++) {
		if (!prim_available(op) || (op == MEMCPY && !res[op][P_ZEROS]))
			continue;
		printf("| %s |", primname[op]);
		for (pr = 0; pr < P_COUNT; pr++)
			if (res[op][pr] > 0)
				printf(" %.2f |", res[op][pr] / 1e9);
			else
				printf(" - |");
		printf("\n");
	}
}

/* ---- the codec ---- */

struct stream {
	uint8_t *buf;
	size_t len, cap;
};

/* Encode one final round over all of RAM; into s if given (else the iovecs are only walked). */
static double encode(const uint8_t *ram, uint64_t size, struct stream *s, uint8_t *sink_buf,
		     size_t sink_len, const uint8_t digest[MIG_DIGEST_LEN])
{
	struct mig_enc_params p = {.ram = ram, .ram_size = size};
	struct mig_config c = {.page_size = PAGE,
			       .ncpus = 1,
			       .ram_size = size,
			       .ring_entries = 65536,
			       .digest_chunk = MIG_DIGEST_CHUNK_DEFAULT};
	struct mig_enc e;
	uint64_t first = 0, sunk = 0;
	double t;

	if (mig_enc_init(&e, &p))
		exit(1);
	t = now();
#define DRAIN()                                                                                    \
	do {                                                                                       \
		int n_, i_;                                                                        \
		const struct iovec *v_ = mig_enc_iov(&e, &n_);                                     \
		for (i_ = 0; i_ < n_; i_++) {                                                      \
			if (s) {                                                                   \
				memcpy(s->buf + s->len, v_[i_].iov_base, v_[i_].iov_len);          \
				s->len += v_[i_].iov_len;                                          \
			} else if (sink_buf) {                                                     \
				/* the kernel's copy into the socket, into a ring */               \
				size_t k_ = 0;                                                     \
				while (k_ < v_[i_].iov_len) {                                      \
					size_t at_ = sunk % sink_len, m_ = sink_len - at_;         \
					if (m_ > v_[i_].iov_len - k_)                              \
						m_ = v_[i_].iov_len - k_;                          \
					memcpy(sink_buf + at_, (uint8_t *)v_[i_].iov_base + k_,    \
					       m_);                                                \
					k_ += m_;                                                  \
					sunk += m_;                                                \
				}                                                                  \
			}                                                                          \
		}                                                                                  \
		mig_enc_advance(&e, mig_enc_queued(&e));                                           \
	} while (0)
	mig_enc_header(&e);
	mig_enc_config(&e, &c);
	mig_enc_round_begin(&e, true);
	while (first < size / PAGE) {
		long k = mig_enc_pages(&e, first, size / PAGE - first);

		first += (uint64_t)k;
		DRAIN();
	}
	mig_enc_round_end(&e);
	mig_enc_end(&e, digest);
	DRAIN();
#undef DRAIN
	t = now() - t;
	mig_enc_free(&e);
	return t;
}

struct bench_dst {
	uint8_t *ram;
	double t_end; /* when the end record arrived */
};

static int bench_config(void *o, struct mig_dec *d, const struct mig_config *c, char *m, size_t l)
{
	struct bench_dst *b = o;

	return mig_dec_set_ram(d, b->ram, c->ram_size);
}

static int bench_end(void *o, const struct mig_end *e, char *m, size_t l)
{
	struct bench_dst *b = o;

	b->t_end = now();
	return 0;
}

static const struct mig_dec_ops bench_ops = {.config = bench_config, .end = bench_end};

/*
 * Decode s into fresh RAM; direct: memcpy straight into the decoder's RAM
 * window (as a recv() would).  Returns the seconds up to the end record;
 * *digest_s: the seconds the decoder then spent on the digest.
 */
static double decode(const struct stream *s, uint8_t *ram, uint64_t size, bool direct,
		     enum dmem kind, double *digest_s)
{
	struct bench_dst b = {.ram = ram};
	struct mig_dec_params p = {
	    .ops = &bench_ops, .opaque = &b, .max_ram = size, .ram_zeroed = true};
	struct mig_dec *d = mig_dec_new(&p);
	size_t off = 0;
	double t = now();

	while (off < s->len) {
		size_t room, n = s->len - off < 64 * 1024 ? s->len - off : 64 * 1024;
		void *dst = direct ? mig_dec_direct(d, &room) : NULL;

		if (dst) {
			n = room;
			ahead(kind, dst, n);
			memcpy(dst, s->buf + off, n);
			if (mig_dec_commit(d, n))
				break;
		} else if (mig_dec_feed(d, s->buf + off, n)) {
			break;
		}
		off += n;
	}
	*digest_s = now() - b.t_end;
	if (mig_dec_finish(d)) {
		fprintf(stderr, "decode: %s\n", mig_dec_error(d)->msg);
		exit(1);
	}
	mig_dec_free(d);
	return b.t_end - t;
}

/* ---- over loopback TCP: one source thread, one destination thread ---- */

struct tcp_job {
	enum dmem kind;
	const uint8_t *digest;
	const uint8_t *src;
	uint8_t *dst;
	uint64_t size;
	int fd;
	double secs;
	uint64_t bytes;
};

static void *tcp_source(void *arg)
{
	struct tcp_job *j = arg;
	struct mig_enc_params p = {.ram = j->src, .ram_size = j->size};
	struct mig_config c = {.page_size = PAGE,
			       .ncpus = 1,
			       .ram_size = j->size,
			       .ring_entries = 65536,
			       .digest_chunk = MIG_DIGEST_CHUNK_DEFAULT};
	static uint64_t hashes[SRC_SPAN_PAGES];
	const uint64_t npages = j->size / PAGE;
	struct mig_digest dg;
	struct mig_enc e;
	uint64_t first, n;

	mig_enc_init(&e, &p);
#define SEND()                                                                                     \
	do {                                                                                       \
		while (mig_enc_queued(&e)) {                                                       \
			int n_;                                                                    \
			const struct iovec *v_ = mig_enc_iov(&e, &n_);                             \
			ssize_t w_ = writev(j->fd, v_, n_);                                        \
			if (w_ < 0) {                                                              \
				perror("writev");                                                  \
				exit(1);                                                           \
			}                                                                          \
			mig_enc_advance(&e, (size_t)w_);                                           \
			j->bytes += (uint64_t)w_;                                                  \
		}                                                                                  \
	} while (0)
	mig_enc_header(&e);
	mig_enc_config(&e, &c);
	mig_enc_round_begin(&e, true);
	if (src_digest != SD_NONE && mig_digest_init(&dg, j->size, c.digest_chunk))
		exit(1);
	for (first = 0; first < npages; first += n) {
		uint64_t k = 0;

		n = npages - first < SRC_SPAN_PAGES ? npages - first : SRC_SPAN_PAGES;
		while (k < n) {
			k += (uint64_t)mig_enc_pages_hashed(&e, first + k, n - k, hashes + k);
			if (k < n)
				SEND();
		}
		if (src_digest == SD_PAGES)
			mig_digest_set_pages(&dg, first * PAGE, n * PAGE, hashes);
		if (src_digest != SD_NONE)
			mig_digest_refresh_span(&dg, j->src, first * PAGE, n * PAGE, false);
	}
	mig_enc_round_end(&e);
	mig_enc_end(&e, j->digest);
	SEND();
#undef SEND
	if (src_digest != SD_NONE) {
		uint8_t d[MIG_DIGEST_LEN];

		/* The table kept while sending is the memory's. */
		if (mig_digest_final(&dg, d) || memcmp(d, j->digest, MIG_DIGEST_LEN)) {
			fprintf(stderr, "tcp source: the digest table is wrong\n");
			exit(1);
		}
		mig_digest_free(&dg);
	}
	mig_enc_free(&e);
	shutdown(j->fd, SHUT_WR);
	return NULL;
}

static void *tcp_dest(void *arg)
{
	struct tcp_job *j = arg;
	struct bench_dst b = {.ram = j->dst};
	struct mig_dec_params p = {
	    .ops = &bench_ops, .opaque = &b, .max_ram = j->size, .ram_zeroed = true};
	struct mig_dec *d = mig_dec_new(&p);
	static uint8_t staging[64 * 1024];
	double t = now();

	for (;;) {
		size_t room;
		void *dst = mig_dec_direct(d, &room);
		ssize_t n;

		if (dst) {
			/* Page data: straight into guest RAM. */
			ahead(j->kind, dst, room);
			n = recv(j->fd, dst, room, MSG_WAITALL);
			if (n <= 0 || mig_dec_commit(d, (size_t)n))
				break;
		} else {
			n = recv(j->fd, staging, sizeof(staging), 0);
			if (n <= 0 || mig_dec_feed(d, staging, (size_t)n))
				break;
		}
		if (mig_dec_done(d))
			break;
	}
	j->secs = now() - t;
	if (!mig_dec_done(d)) {
		fprintf(stderr, "tcp decode: %s\n", mig_dec_error(d)->msg);
		exit(1);
	}
	mig_dec_free(d);
	return NULL;
}

static double tcp_run(const uint8_t *src, uint8_t *dst, uint64_t size, const uint8_t *digest,
		      enum dmem kind)
{
	struct tcp_job s = {.src = src, .size = size, .digest = digest},
		       d = {.dst = dst, .size = size, .kind = kind};
	pthread_t ts, td;

	bench_tcp_pair(&s.fd, &d.fd, true);
	pthread_create(&td, NULL, tcp_dest, &d);
	pthread_create(&ts, NULL, tcp_source, &s);
	pthread_join(ts, NULL);
	pthread_join(td, NULL);
	close(s.fd);
	close(d.fd);
	return d.secs;
}

/* Plain bytes over the same kind of socket: what one TCP stream carries here. */
static void *raw_source(void *arg)
{
	struct tcp_job *j = arg;
	uint64_t left = j->size;

	while (left) {
		ssize_t w =
		    write(j->fd, j->src + (j->size - left), left < 4 * MiB ? left : 4 * MiB);

		if (w <= 0)
			break;
		left -= (uint64_t)w;
	}
	shutdown(j->fd, SHUT_WR);
	return NULL;
}

static double tcp_raw(const uint8_t *src, uint8_t *dst, uint64_t size)
{
	struct tcp_job s = {.src = src, .size = size};
	uint64_t got = 0;
	pthread_t ts;
	double t;
	int fd;

	bench_tcp_pair(&s.fd, &fd, false);
	t = now();
	pthread_create(&ts, NULL, raw_source, &s);
	for (;;) {
		ssize_t n = recv(fd, dst + got, size - got, 0);

		if (n <= 0)
			break;
		got += (uint64_t)n;
	}
	t = now() - t;
	pthread_join(ts, NULL);
	close(s.fd);
	close(fd);
	return t;
}

static void bench_codec(uint64_t size)
{
	static const enum profile prs[] = {P_DATA, P_HOT, P_ZEROS};
	unsigned int i;
	int r, k;

	printf("\n### Encoder over %s of source RAM: GB/s of RAM covered (median of %d)\n\n",
	       gb(size), runs);
	printf("| profile | stream bytes per RAM byte | encode (iovecs only) | encode + copy out "
	       "(as the kernel's copy into the socket) |\n");
	printf("| --- | ---: | ---: | ---: |\n");
	fflush(stdout);
	for (i = 0; i < sizeof(prs) / sizeof(prs[0]); i++) {
		uint8_t *src = region(prs[i], size), *ring = region(P_ZEROS, 4 * MiB);
		struct stream st = {.cap = size + size / 256 + 1 * MiB};
		double enc[16], encc[16];
		uint8_t digest[MIG_DIGEST_LEN];

		mig_digest_mem(src, size, MIG_DIGEST_CHUNK_DEFAULT, digest);
		st.buf = region(P_UNTOUCHED, st.cap);
		for (r = 0; r < runs; r++) {
			enc[r] = (double)size / encode(src, size, NULL, NULL, 0, digest);
			encc[r] = (double)size / encode(src, size, NULL, ring, 4 * MiB, digest);
		}
		encode(src, size, &st, NULL, 0, digest);
		printf("| %s | %.4f | %.2f | %.2f |\n", pname[prs[i]],
		       (double)st.len / (double)size, median(enc, runs) / 1e9,
		       median(encc, runs) / 1e9);
		fflush(stdout);
		munmap(st.buf, st.cap);
		munmap(src, size);
		munmap(ring, 4 * MiB);
	}

	printf("\n### Decoder and loopback TCP over %s: GB/s of RAM covered (median of %d)\n\n",
	       gb(size), runs);
	printf("The destination's RAM is fresh anonymous memory, as --incoming makes it; on this "
	       "host every first write to a page faults (a VM: faults are dear).\n\n");
	printf("| profile | destination RAM | decode, fed 64 KiB at a time | decode, direct | "
	       "digest work at END (ms) | loopback TCP, one stream, end to end |\n");
	printf("| --- | --- | ---: | ---: | ---: | ---: |\n");
	fflush(stdout);
	for (i = 0; i < sizeof(prs) / sizeof(prs[0]); i++) {
		uint8_t *src = region(prs[i], size);
		struct stream st = {.cap = size + size / 256 + 1 * MiB};
		uint8_t digest[MIG_DIGEST_LEN];

		mig_digest_mem(src, size, MIG_DIGEST_CHUNK_DEFAULT, digest);
		st.buf = region(P_UNTOUCHED, st.cap);
		encode(src, size, &st, NULL, 0, digest);
		for (k = 0; k < D_COUNT; k++) {
			double decf[16], decd[16], dg[16], tcp[16], unused;

			for (r = 0; r < runs; r++) {
				uint8_t *dst = dest_region(k, size);

				decf[r] = (double)size / decode(&st, dst, size, false, k, &unused);
				munmap(dst, size);
				dst = dest_region(k, size);
				decd[r] = (double)size / decode(&st, dst, size, true, k, &dg[r]);
				dg[r] *= 1e3;
				munmap(dst, size);
				dst = dest_region(k, size);
				tcp[r] = (double)size / tcp_run(src, dst, size, digest, k);
				munmap(dst, size);
			}
			printf("| %s | %s | %.2f | %.2f | %.2f | %.2f |\n", pname[prs[i]], dname[k],
			       median(decf, runs) / 1e9, median(decd, runs) / 1e9, median(dg, runs),
			       median(tcp, runs) / 1e9);
			fflush(stdout);
		}
		munmap(st.buf, st.cap);
		munmap(src, size);
	}
	{
		uint8_t *src = region(P_DATA, size), *dst = region(P_ZEROS, size);
		double v[16];

		for (r = 0; r < runs; r++)
			v[r] = (double)size / tcp_raw(src, dst, size);
		printf(
		    "\nPlain bytes over one loopback TCP stream (write 4 MiB, recv into populated "
		    "memory): %.2f GB/s.\n",
		    median(v, runs) / 1e9);
		munmap(src, size);
		munmap(dst, size);
	}
}

/* Only the loopback runs of non-zero pages, every kind of destination RAM (--tcp). */
static void bench_tcp(uint64_t size)
{
	uint8_t *src = region(P_DATA, size), digest[MIG_DIGEST_LEN];
	int k, r;

	mig_digest_mem(src, size, MIG_DIGEST_CHUNK_DEFAULT, digest);
	printf("\n### Loopback TCP, %s of non-zero pages, source digest table: %s (GB/s; median, "
	       "min, max of %d)\n\n",
	       gb(size), sdname[src_digest], runs);
	printf("| destination RAM | median | min | max |\n| --- | ---: | ---: | ---: |\n");
	for (k = 0; k < D_COUNT + 1; k++) {
		double v[16];

		for (r = 0; r < runs; r++) {
			uint8_t *dst = dest_region(k == D_COUNT ? D_POPULATED : k, size);

			v[r] = (double)size / (k == D_COUNT ? tcp_raw(src, dst, size)
							    : tcp_run(src, dst, size, digest, k));
			munmap(dst, size);
		}
		qsort(v, (size_t)runs, sizeof(v[0]), cmp_double);
		printf("| %s | %.2f | %.2f | %.2f |\n",
		       k == D_COUNT ? "plain bytes, no codec (populated)" : dname[k],
		       median(v, runs) / 1e9, v[0] / 1e9, v[runs - 1] / 1e9);
		fflush(stdout);
	}
	munmap(src, size);
}

/* ---- the digest ---- */

struct refresh_job {
	struct mig_digest *dg;
	const uint8_t *mem;
	uint64_t first, end;
};

static void *refresh_thread(void *arg)
{
	struct refresh_job *j = arg;

	mig_digest_refresh(j->dg, j->mem, j->first, j->end);
	return NULL;
}

/* Refresh on nthreads threads; seconds. */
static double refresh_par(struct mig_digest *dg, const uint8_t *mem, int nthreads)
{
	struct refresh_job j[8];
	pthread_t t[8];
	double t0 = now();
	int i;

	for (i = 0; i < nthreads; i++) {
		j[i] = (struct refresh_job){dg, mem, dg->nchunks * (uint64_t)i / (uint64_t)nthreads,
					    dg->nchunks * (uint64_t)(i + 1) / (uint64_t)nthreads};
		pthread_create(&t[i], NULL, refresh_thread, &j[i]);
	}
	for (i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
	return now() - t0;
}

/*
 * What the source can skip soundly: pages that are neither present nor
 * swapped in /proc/self/pagemap are zeros in a private anonymous mapping.
 * Declares the chunks with no such page zero; returns seconds.
 */
static double pagemap_skip(struct mig_digest *dg, const uint8_t *mem, uint64_t *skipped)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t pages = dg->size / PAGE, i;
	static uint64_t e[65536];
	double t = now();

	*skipped = 0;
	if (fd < 0)
		return -1;
	for (i = 0; i < pages; i += 65536) {
		uint64_t k = pages - i < 65536 ? pages - i : 65536;
		off_t off = (off_t)(((uintptr_t)mem / PAGE + i) * 8);

		if (pread(fd, e, k * 8, off) != (ssize_t)(k * 8)) {
			close(fd);
			return -1;
		}
		*skipped += mig_digest_skip_unpopulated(dg, i, PAGE, e, k);
	}
	close(fd);
	return now() - t;
}

static void bench_digest(uint64_t size)
{
	static const enum profile prs[] = {P_HOT, P_DATA, P_UNTOUCHED};
	static const uint32_t chunks[] = {4096, 16384, 65536, 2u << 20};
	unsigned int i, k;
	int r;

	printf("\n### Digest of %s at switchover, source side (ms, median of %d)\n\n", gb(size),
	       runs);
	printf("| profile | one pass, 1 thread | 2 threads | pagemap read + skip | then hash the "
	       "rest, 2 threads | chunks skipped |\n");
	printf("| --- | ---: | ---: | ---: | ---: | ---: |\n");
	fflush(stdout);
	for (i = 0; i < sizeof(prs) / sizeof(prs[0]); i++) {
		double one[16], two[16], pm[16], rest[16];
		uint64_t skipped = 0;

		for (r = 0; r < runs; r++) {
			uint8_t *m = region(prs[i], size), d[16];
			struct mig_digest dg;
			double t = now();

			mig_digest_mem(m, size, MIG_DIGEST_CHUNK_DEFAULT, d);
			one[r] = (now() - t) * 1e3;
			munmap(m, size);
			m = region(prs[i], size);
			mig_digest_init(&dg, size, MIG_DIGEST_CHUNK_DEFAULT);
			two[r] = refresh_par(&dg, m, 2) * 1e3;
			mig_digest_free(&dg);
			munmap(m, size);
			m = region(prs[i], size);
			mig_digest_init(&dg, size, MIG_DIGEST_CHUNK_DEFAULT);
			pm[r] = pagemap_skip(&dg, m, &skipped) * 1e3;
			rest[r] = refresh_par(&dg, m, 2) * 1e3;
			mig_digest_free(&dg);
			munmap(m, size);
		}
		printf("| %s | %.1f | %.1f | %.1f | %.1f | %" PRIu64 " of %" PRIu64 " |\n",
		       pname[prs[i]], median(one, runs), median(two, runs), median(pm, runs),
		       median(rest, runs), skipped, size / MIG_DIGEST_CHUNK_DEFAULT);
		fflush(stdout);
	}

	printf("\n### Digest of %s, destination side, by chunk size (median of %d)\n\n", gb(size),
	       runs);
	printf("Fresh destination RAM is declared zero.  With 4 KiB chunks (the default) each "
	       "page's hash is the sum the decoder computed to check it, so nothing is re-hashed "
	       "at the end: only the combine.  Larger chunks must re-hash every chunk the "
	       "rounds wrote; the columns show the final round's share alone, as if all earlier "
	       "rounds had been hashed in time.\n\n");
	printf("| chunk | table bytes per GiB | combine (ms) | re-hash after a final round of "
	       "2,000 scattered pages (ms) | of 20,000 (ms) | of 20,000 pages in one run (ms) |\n");
	printf("| ---: | ---: | ---: | ---: | ---: | ---: |\n");
	for (k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
		uint8_t *m = region(P_DATA, size), d[16];
		double comb[16], s2k[16], s20k[16], run20k[16];
		struct mig_digest dg;
		uint64_t x = 99;

		mig_digest_init(&dg, size, chunks[k]);
		mig_digest_refresh(&dg, m, 0, dg.nchunks);
		for (r = 0; r < runs; r++) {
			static const uint64_t counts[] = {2000, 20000};
			unsigned int q;
			double t;

			t = now();
			mig_digest_final(&dg, d);
			comb[r] = (now() - t) * 1e3;
			for (q = 0; q < 2; q++) {
				uint64_t n;

				for (n = 0; n < counts[q]; n++) {
					x ^= x << 13;
					x ^= x >> 7;
					x ^= x << 17;
					mig_digest_set_stale(&dg, (x % (size / PAGE)) * PAGE, PAGE);
				}
				t = now();
				mig_digest_refresh(&dg, m, 0, dg.nchunks);
				mig_digest_final(&dg, d);
				(q ? s20k : s2k)[r] = (now() - t) * 1e3;
			}
			mig_digest_set_stale(&dg, 12345 * PAGE, 20000 * PAGE);
			t = now();
			mig_digest_refresh(&dg, m, 0, dg.nchunks);
			mig_digest_final(&dg, d);
			run20k[r] = (now() - t) * 1e3;
		}
		if (chunks[k] == PAGE)
			printf(
			    "| %u KiB | %.0f KiB | %.2f | 0 (page sums) | 0 (page sums) | 0 (page "
			    "sums) |\n",
			    chunks[k] / 1024, (double)GiB / chunks[k] * 9 / 1024,
			    median(comb, runs));
		else
			printf("| %u KiB | %.0f KiB | %.2f | %.1f | %.1f | %.1f |\n",
			       chunks[k] / 1024, (double)GiB / chunks[k] * 9 / 1024,
			       median(comb, runs), median(s2k, runs), median(s20k, runs),
			       median(run20k, runs));
		fflush(stdout);
		mig_digest_free(&dg);
		munmap(m, size);
	}
}

int main(int argc, char **argv)
{
	bool big = false, lock = true;
	uint64_t sizes[2];
	int i, nsizes;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--big")) {
			big = true;
		} else if (!strcmp(argv[i], "--no-lock")) {
			lock = false;
		} else if (!strcmp(argv[i], "--tcp")) {
			tcp_only = true;
		} else if (!strcmp(argv[i], "--quick")) {
			quick = true;
			runs = 1;
		} else if (!strcmp(argv[i], "--src-digest") && i + 1 < argc) {
			const char *m = argv[++i];

			src_digest = !strcmp(m, "none")	    ? SD_NONE
				     : !strcmp(m, "reread") ? SD_REREAD
				     : !strcmp(m, "pages")  ? SD_PAGES
							    : (enum src_digest) - 1;
			if ((int)src_digest < 0) {
				fprintf(stderr, "--src-digest: none, reread or pages\n");
				return 2;
			}
		} else if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
			runs = bench_runs(argv[++i]);
		} else {
			fprintf(stderr,
				"usage: %s [--big] [--runs N] [--quick] [--no-lock] [--tcp] "
				"[--src-digest none|reread|pages]\n",
				argv[0]);
			return 2;
		}
	}
	if (lock && bench_lock() < 0)
		return 1;
	if (tcp_only) {
		bench_tcp(quick ? GiB / 4 : GiB);
		return 0;
	}
	sizes[0] = quick ? GiB / 4 : GiB;
	sizes[1] = 8 * GiB;
	nsizes = big ? 2 : 1;
	printf("## bench/mig_stream (%d runs per cell; stream version %d, runs of %u pages, "
	       "digest chunk %u KiB)\n",
	       runs, MIG_STREAM_VERSION, MIG_RUN_MAX_PAGES, MIG_DIGEST_CHUNK_DEFAULT / 1024);
	for (i = 0; i < nsizes; i++)
		bench_primitives(sizes[i]);
	bench_codec(sizes[0]);
	for (i = 0; i < nsizes; i++)
		bench_digest(sizes[i]);
	return 0;
}
