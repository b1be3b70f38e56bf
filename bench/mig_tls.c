// SPDX-License-Identifier: MIT
/*
 * bench/mig_tls: what the PSK channel (src/migrate/mig_tls.c) costs a
 * migration stream.  1 GiB of non-zero guest pages goes through the codec
 * (encoder on one thread, decoder on another, as the source and the
 * destination run them) over loopback TCP, plain and through TLS 1.3 with
 * each AEAD cipher a PSK can use (AES-128-GCM, ChaCha20-Poly1305: the
 * SHA-256 suites; AES-256-GCM's suite is SHA-384's), the runs interleaved (plain, TLS, ...,
 * plain, TLS, ...) so that a noisy neighbour hits every row alike.  Then
 * the handshake's time and each cipher alone (GnuTLS's AEAD API, 16 KiB
 * records, one thread).  No VM; prints markdown tables.
 *
 *   build/src/migrate/mig_tls_bench            1 GiB, median of 3 (about 1 minute here)
 *   options: --runs N, --mib N (size), --no-lock
 *
 * It holds /tmp/vmm-vm.lock (flock) for its whole run: it keeps both cores
 * busy.  docs/security.md quotes the tables.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "migrate/mig_digest.h"
#include "migrate/mig_stream.h"
#include "migrate/mig_tls.h"

#include "bench_harness.h"

#define MiB  ((uint64_t)1 << 20)
#define PAGE MIG_PAGE_SIZE

/* The rows: the plain channel, then TLS with GnuTLS's choice and with each cipher forced. */
static const struct variant {
	const char *name;
	bool tls;
	const char *cipher; /* NULL: GnuTLS's order */
} variants[] = {
    {"plain TCP", false, NULL},
    {"TLS 1.3 PSK, our order (the default)", true, NULL},
    {"TLS 1.3 PSK", true, "AES-128-GCM"},
    {"TLS 1.3 PSK", true, "CHACHA20-POLY1305"},
};
#define NVAR (sizeof(variants) / sizeof(variants[0]))

static int runs = BENCH_RUNS_DEFAULT;
static char keydir[64];

static double thread_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, const char *why)
{
	fprintf(stderr, "mig_tls_bench: %s: %s\n", what, why);
	exit(1);
}

/* Every page non-zero and distinct (a guest's data, incompressible enough). */
static uint8_t *data_region(uint64_t size)
{
	uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap", strerror(errno));
	bench_fill(p, size, 0x9e3779b97f4a7c15ull);
	return p;
}

/* The destination's RAM, populated beforehand: the channel's cost, not page faults. */
static uint8_t *dest_region(uint64_t size)
{
	uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (p == MAP_FAILED)
		die("mmap", strerror(errno));
	return p;
}

struct job {
	const struct variant *v;
	struct mig_tls_creds creds;
	const uint8_t *src;
	uint8_t *dst;
	const uint8_t *digest;
	uint64_t size;
	int fd;
	double secs, cpu, handshake_s;
	uint64_t wire;
	char desc[128];
};

static int dst_config(void *o, struct mig_dec *d, const struct mig_config *c, char *m, size_t l)
{
	return mig_dec_set_ram(d, o, c->ram_size);
}

static const struct mig_dec_ops dst_ops = {.config = dst_config};

static struct mig_tls *open_tls(struct job *j)
{
	char err[MIG_TLS_ERR_LEN];
	struct mig_tls *t = mig_tls_new(j->fd, &j->creds, err, sizeof(err));
	double t0 = now();

	if (!t)
		die("tls", err);
	if (mig_tls_handshake(t, mig_tls_deadline(10000)))
		die("handshake", mig_tls_error(t));
	j->handshake_s = now() - t0;
	mig_tls_description(t, j->desc, sizeof(j->desc));
	return t;
}

static void *source(void *arg)
{
	struct job *j = arg;
	struct mig_enc_params p = {.ram = j->src, .ram_size = j->size};
	struct mig_config c = {.page_size = PAGE,
			       .ncpus = 1,
			       .ram_size = j->size,
			       .ring_entries = 65536,
			       .digest_chunk = MIG_DIGEST_CHUNK_DEFAULT};
	struct mig_tls *t = NULL;
	struct mig_enc e;
	uint64_t first = 0;
	double cpu0 = thread_cpu();

	if (j->v->tls)
		t = open_tls(j);
	mig_enc_init(&e, &p);
#define SEND()                                                                                     \
	do {                                                                                       \
		while (mig_enc_queued(&e)) {                                                       \
			int n_;                                                                    \
			const struct iovec *v_ = mig_enc_iov(&e, &n_);                             \
			size_t len_ = 0;                                                           \
			if (t) {                                                                   \
				for (int i_ = 0; i_ < n_; i_++)                                    \
					len_ += v_[i_].iov_len;                                    \
				if (mig_tls_writev_all(t, v_, n_, MIG_TLS_NO_DEADLINE))            \
					die("send", mig_tls_error(t));                             \
			} else {                                                                   \
				ssize_t w_ = writev(j->fd, v_, n_);                                \
				if (w_ < 0)                                                        \
					die("writev", strerror(errno));                            \
				len_ = (size_t)w_;                                                 \
				j->wire += len_;                                                   \
			}                                                                          \
			mig_enc_advance(&e, len_);                                                 \
		}                                                                                  \
	} while (0)
	mig_enc_header(&e);
	mig_enc_config(&e, &c);
	mig_enc_round_begin(&e, true);
	while (first < j->size / PAGE) {
		first += (uint64_t)mig_enc_pages(&e, first, j->size / PAGE - first);
		SEND();
	}
	mig_enc_round_end(&e);
	mig_enc_end(&e, j->digest);
	SEND();
#undef SEND
	mig_enc_free(&e);
	if (t) {
		if (mig_tls_bye(t, mig_tls_deadline(10000)))
			die("bye", mig_tls_error(t));
		j->wire = mig_tls_wire_bytes_out(t);
		mig_tls_free(t);
	}
	shutdown(j->fd, SHUT_WR);
	j->cpu = thread_cpu() - cpu0;
	return NULL;
}

static void *dest(void *arg)
{
	struct job *j = arg;
	struct mig_dec_params p = {
	    .ops = &dst_ops, .opaque = j->dst, .max_ram = j->size, .ram_zeroed = false};
	struct mig_dec *d = mig_dec_new(&p);
	static uint8_t staging[64 * 1024];
	struct mig_tls *t = NULL;
	double t0 = now(), cpu0 = thread_cpu();

	if (j->v->tls)
		t = open_tls(j);
	while (!mig_dec_done(d)) {
		size_t room;
		void *buf = mig_dec_direct(d, &room);
		ssize_t n;
		int rc;

		if (!buf) {
			buf = staging;
			room = sizeof(staging);
		}
		n = t ? mig_tls_read(t, buf, room, MIG_TLS_NO_DEADLINE) : recv(j->fd, buf, room, 0);
		if (n < 0)
			die("read", t ? mig_tls_error(t) : strerror(errno));
		if (n == 0)
			rc = mig_dec_finish(d);
		else
			rc = buf == staging ? mig_dec_feed(d, staging, (size_t)n)
					    : mig_dec_commit(d, (size_t)n);
		if (rc)
			die("decode", mig_dec_error(d)->msg);
	}
	j->secs = now() - t0;
	j->cpu = thread_cpu() - cpu0;
	mig_dec_free(d);
	mig_tls_free(t);
	return NULL;
}

struct result {
	double secs, src_cpu, dst_cpu, handshake_ms, wire_ratio;
	char desc[128];
};

static void run(const struct variant *v, const uint8_t *src, uint8_t *dst, uint64_t size,
		const uint8_t *digest, struct result *r)
{
	struct job s = {.v = v, .src = src, .size = size, .digest = digest},
		   d = {.v = v, .dst = dst, .size = size};
	char err[MIG_TLS_ERR_LEN];
	pthread_t ts, td;

	bench_tcp_pair(&s.fd, &d.fd, true);
	if (v->tls) {
		if (mig_tls_creds_load(&s.creds, MIG_TLS_CLIENT, keydir, NULL, err, sizeof(err)) ||
		    mig_tls_creds_load(&d.creds, MIG_TLS_SERVER, keydir, NULL, err, sizeof(err)))
			die("keys", err);
		s.creds.cipher = d.creds.cipher = v->cipher;
	}
	pthread_create(&td, NULL, dest, &d);
	pthread_create(&ts, NULL, source, &s);
	pthread_join(ts, NULL);
	pthread_join(td, NULL);
	close(s.fd);
	close(d.fd);
	if (v->tls) {
		mig_tls_creds_free(&s.creds);
		mig_tls_creds_free(&d.creds);
	}
	r->secs = d.secs;
	r->src_cpu = s.cpu;
	r->dst_cpu = d.cpu;
	r->handshake_ms = d.handshake_s * 1e3;
	r->wire_ratio = (double)s.wire / (double)size;
	snprintf(r->desc, sizeof(r->desc), "%s", v->tls ? d.desc : "-");
}

/* One cipher alone: seal `size` bytes in 16 KiB records on this thread.  GB/s. */
static double cipher_alone(gnutls_cipher_algorithm_t alg, uint8_t *buf, uint64_t size)
{
	uint8_t key[32] = {1}, nonce[12] = {0}, out[16384 + 16];
	gnutls_datum_t k = {.data = key, .size = (unsigned int)gnutls_cipher_get_key_size(alg)};
	gnutls_aead_cipher_hd_t h;
	double t;

	if (gnutls_aead_cipher_init(&h, alg, &k) < 0)
		return 0;
	t = now();
	for (uint64_t off = 0; off < size; off += 16384) {
		size_t olen = sizeof(out);

		memcpy(nonce, &off, sizeof(off));
		if (gnutls_aead_cipher_encrypt(h, nonce, sizeof(nonce), NULL, 0, 16, buf + off,
					       16384, out, &olen) < 0)
			die("aead", "encrypt failed");
	}
	t = now() - t;
	gnutls_aead_cipher_deinit(h);
	return (double)size / t / 1e9;
}

static void make_keys(void)
{
	uint8_t key[32];
	char path[128];
	FILE *f;

	snprintf(keydir, sizeof(keydir), "/tmp/mig_tls_bench.XXXXXX");
	if (!mkdtemp(keydir))
		die("mkdtemp", strerror(errno));
	if (gnutls_rnd(GNUTLS_RND_KEY, key, sizeof(key)) < 0)
		die("key", "no random bytes");
	snprintf(path, sizeof(path), "%s/keys.psk", keydir);
	umask(077);
	f = fopen(path, "w");
	if (!f)
		die(path, strerror(errno));
	fprintf(f, "qemu:");
	for (size_t i = 0; i < sizeof(key); i++)
		fprintf(f, "%02x", key[i]);
	fprintf(f, "\n");
	fclose(f);
}

static void remove_keys(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/keys.psk", keydir);
	unlink(path);
	rmdir(keydir);
}

int main(int argc, char **argv)
{
	/* AES-256-GCM only alone: its TLS 1.3 suite hashes with SHA-384, a PSK's is SHA-256. */
	static const gnutls_cipher_algorithm_t algs[] = {
	    GNUTLS_CIPHER_AES_128_GCM, GNUTLS_CIPHER_AES_256_GCM, GNUTLS_CIPHER_CHACHA20_POLY1305};
	uint64_t size = 1024 * MiB;
	bool lock = true;
	struct result res[NVAR][16];
	uint8_t *src, *dst, digest[MIG_DIGEST_LEN];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--no-lock")) {
			lock = false;
		} else if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
			runs = bench_runs(argv[++i]);
		} else if (!strcmp(argv[i], "--mib") && i + 1 < argc) {
			size = (uint64_t)atoi(argv[++i]) * MiB;
			if (size < 16 * MiB)
				size = 16 * MiB;
		} else {
			fprintf(stderr, "usage: %s [--runs N] [--mib N] [--no-lock]\n", argv[0]);
			return 2;
		}
	}
	if (lock && bench_lock() < 0)
		return 1;
	make_keys();
	src = data_region(size);
	dst = dest_region(size);
	mig_digest_mem(src, size, MIG_DIGEST_CHUNK_DEFAULT, digest);

	printf("## bench/mig_tls: %llu MiB of non-zero pages through the codec over loopback "
	       "TCP (median of %d, runs interleaved)\n\n",
	       (unsigned long long)(size / MiB), runs);
	for (int r = 0; r < runs; r++) {
		for (size_t v = 0; v < NVAR; v++) {
			memset(dst, 0, 4096); /* the decoder checks every page: no stale pass */
			run(&variants[v], src, dst, size, digest, &res[v][r]);
			if (memcmp(dst, src, size))
				die("check", "the destination's RAM differs from the source's");
		}
	}
	printf("| channel | negotiated | GB/s of RAM | vs plain | source CPU s/GiB | destination "
	       "CPU s/GiB | wire bytes per RAM byte | handshake ms |\n");
	printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
	double plain = 0;
	for (size_t v = 0; v < NVAR; v++) {
		double gbs[16], sc[16], dc[16], hs[16], wr[16];
		double gib = (double)size / (double)(1024 * MiB);

		for (int r = 0; r < runs; r++) {
			gbs[r] = (double)size / res[v][r].secs / 1e9;
			sc[r] = res[v][r].src_cpu / gib;
			dc[r] = res[v][r].dst_cpu / gib;
			hs[r] = res[v][r].handshake_ms;
			wr[r] = res[v][r].wire_ratio;
		}
		double m = median(gbs, runs);

		if (v == 0)
			plain = m;
		printf("| %s%s%s | %s | %.2f | %.2f | %.2f | %.2f | ", variants[v].name,
		       variants[v].cipher ? ", " : "", variants[v].cipher ? variants[v].cipher : "",
		       res[v][0].desc, m, m / plain, median(sc, runs), median(dc, runs));
		if (variants[v].tls)
			printf("%.4f | %.2f |\n", median(wr, runs), median(hs, runs));
		else
			printf("%.4f | - |\n", median(wr, runs));
		fflush(stdout);
	}

	printf("\n### Each cipher alone: GnuTLS's AEAD API, 16 KiB records, one thread (GB/s, "
	       "median of %d)\n\n",
	       runs);
	printf("| cipher | seal GB/s |\n| --- | ---: |\n");
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		double v[16];

		for (int r = 0; r < runs; r++)
			v[r] = cipher_alone(algs[i], src, size);
		printf("| %s | %.2f |\n", gnutls_cipher_get_name(algs[i]), median(v, runs));
	}
	remove_keys();
	munmap(src, size);
	munmap(dst, size);
	return 0;
}
