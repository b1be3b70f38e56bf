/* SPDX-License-Identifier: MIT */
/*
 * mig_stream: the live-migration stream, encoded and decoded.  Pure: no
 * sockets, no KVM, no threads, no clocks.  The format (version
 * MIG_STREAM_VERSION) is specified in docs/migration.md, "The stream".
 *
 * Source to destination: a header, a configuration record, RAM in rounds
 * (runs of pages with a checksum per page, zero pages as a count without
 * data), the vCPU and device state as generic sections, and an end record
 * with a digest of all guest RAM taken at switchover (mig_digest.h).
 * Destination to source: one reply, an acknowledgement or an error.
 *
 * The encoder (struct mig_enc) writes no page: it queues record headers in
 * a small arena and iovecs that point into guest memory, for writev() or
 * sendmsg().  The decoder (struct mig_dec) treats every byte as hostile: it
 * is fed any chunks of the stream, checks each length, count, offset and
 * index before use, writes page data straight into guest memory, and stops
 * at the first problem with one error (what, and the stream offset).
 */
#ifndef MIG_STREAM_H
#define MIG_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "migrate/mig_digest.h"

/*
 * Bump on any change of layout or meaning; a decoder accepts its own only.
 * 2: the END digest's chunk hash is made of the page sums (mig_digest.h).
 */
#define MIG_STREAM_VERSION 2

/* The only page size of the stream (x86-64 guests, 4 KiB pages). */
#define MIG_PAGE_SIZE 4096u

/*
 * Pages per DATA record at most: 1 MiB of data and 2 KiB of sums, which
 * the decoder keeps in a fixed buffer.  Longer runs would save only the
 * 40-byte head per MiB; the checks are per page in any case.
 */
#define MIG_RUN_MAX_PAGES 256u

/* Limits on the configuration (sanity of the stream, not of this host). */
#define MIG_MAX_CPUS	     1024u		  /* KVM's limit on our hosts */
#define MIG_MAX_RAM	     (1ull << 40)	  /* 1 TiB: far above any guest here */
#define MIG_MAX_RING	     (1u << 20)		  /* dirty ring entries */
#define MIG_MAX_TSC_KHZ	     (100u * 1000 * 1000) /* 100 GHz */
#define MIG_MAX_STATS_SIZE   (16u << 20)
#define MIG_MAX_SECTION	     (16u << 20) /* bytes of one state section */
#define MIG_MAX_SECTION_KIND 64u	 /* entries of a section table */
#define MIG_MAX_INSTANCES    4096u	 /* instances of one section id */
/* A reason in an error reply: one line of printable ASCII. */
#define MIG_REASON_MAX 240u

/* What went wrong: one code per kind of problem (mig_err_name()). */
enum mig_err {
	MIG_OK = 0,
	MIG_E_MAGIC,	  /* not a vmm migration stream */
	MIG_E_VERSION,	  /* a version this decoder does not speak */
	MIG_E_TYPE,	  /* unknown record type */
	MIG_E_ORDER,	  /* a record where the stream grammar allows none */
	MIG_E_LENGTH,	  /* a record length that does not fit its type or contents */
	MIG_E_CHECK,	  /* a record's own checksum does not match */
	MIG_E_FIELD,	  /* a field out of range, or a reserved field not zero */
	MIG_E_RANGE,	  /* pages outside guest RAM, or a run of 0 or too many */
	MIG_E_DATA_CHECK, /* page data (final round) or section data checksum */
	MIG_E_ROUND,	  /* round numbers or page counts that do not add up */
	MIG_E_SECTION,	  /* unknown section, instance, length, duplicate, missing */
	MIG_E_UNREPAIRED, /* pages whose checksum failed were never sent again */
	MIG_E_DIGEST,	  /* guest RAM differs from the source's at switchover */
	MIG_E_TRUNCATED,  /* the stream ended before its end record */
	MIG_E_TRAILING,	  /* bytes after the end record */
	MIG_E_CONFIG,	  /* the destination cannot or will not run this configuration */
	MIG_E_LOAD,	  /* a section's owner refused its bytes */
	MIG_E_LOCAL,	  /* the destination failed on its own (memory, KVM, ...) */
	MIG_E_STATE,	  /* the decoder was used out of order (a caller bug) */
	MIG_E_COUNT
};

const char *mig_err_name(enum mig_err e);

struct mig_error {
	enum mig_err code;
	uint64_t offset; /* stream byte where the problem was found */
	char msg[256];	 /* one sentence, with the offset */
};

/* What source and destination must agree on (the CONFIG record). */
struct mig_config {
	uint32_t page_size;    /* MIG_PAGE_SIZE */
	uint32_t ncpus;	       /* vCPUs, 1..MIG_MAX_CPUS */
	uint64_t ram_size;     /* bytes of guest RAM at guest-physical 0, whole pages */
	uint32_t ring_entries; /* dirty ring entries per vCPU, a power of two */
	uint32_t tsc_khz;      /* guest TSC frequency, 0 if not known */
	uint64_t stats_gpa;    /* the stats device: guest-physical address, page aligned */
	uint64_t stats_size;   /* and size (0: no stats device) */
	uint32_t digest_chunk; /* bytes per digest chunk (mig_digest_chunk_ok()) */
};

/*
 * The stream's configuration is sane in itself: 0, or MIG_E_FIELD with the
 * name of the field (for offsets, the decoder adds the field's place).
 */
int mig_config_check(const struct mig_config *c, const char **field, char *msg, size_t len);
/*
 * This destination can run it: every field equal to the local one (from
 * its command line), the TSC frequency unless the host can scale it.
 * 0, or -1 with a sentence naming the first difference.
 */
int mig_config_match(const struct mig_config *stream, const struct mig_config *local,
		     bool tsc_scaling, char *msg, size_t len);

/* ---- Encoder (source) ---- */

struct mig_enc_params {
	const uint8_t *ram; /* guest RAM (read only), ram_size bytes */
	uint64_t ram_size;
	unsigned int max_iov;	/* iovecs per batch (<= IOV_MAX); 0: 1024 */
	size_t batch_bytes;	/* stop queueing pages past this; 0: 4 MiB */
	unsigned int run_pages; /* pages per DATA record (<= MIG_RUN_MAX_PAGES); 0: max */
};

/* What the encoder has emitted (totals since init). */
struct mig_enc_stats {
	uint64_t bytes;	     /* stream bytes queued */
	uint64_t data_pages; /* pages sent with data */
	uint64_t zero_pages; /* pages sent as zero */
	uint64_t records;
};

struct mig_enc {
	struct mig_enc_params p;
	struct iovec *iov;
	unsigned int niov; /* queued iovecs */
	unsigned int sent; /* iovecs fully sent (advance()) */
	uint8_t *arena;	   /* record headers; iovecs point into it */
	size_t arena_used;
	size_t arena_cap;
	size_t queued;	     /* bytes in iov[sent..niov) */
	int phase;	     /* where the stream is (the grammar, as the decoder sees it) */
	uint32_t round;	     /* current or next round */
	bool final;	     /* the current round is the final one */
	uint64_t round_data; /* pages of the current round */
	uint64_t round_zero;
	uint32_t sections;
	struct mig_enc_stats st;
	uint64_t zero_sum; /* mig_digest_page_hash() of a zero page, little-endian */
};

int mig_enc_init(struct mig_enc *e, const struct mig_enc_params *p);
void mig_enc_free(struct mig_enc *e);

/*
 * Each call below queues one record, or returns -ENOBUFS when the batch
 * is full (send it, then call again) or -EPROTO when the record is out of
 * the stream's order (a caller bug).  Data pointers must stay valid and
 * unchanged until the batch is sent.
 */
int mig_enc_header(struct mig_enc *e);
int mig_enc_config(struct mig_enc *e, const struct mig_config *c);
int mig_enc_round_begin(struct mig_enc *e, bool final);
/*
 * Pages [first, first + n) of guest RAM (the caller checks the range):
 * zero pages become ZERO records, others DATA records pointing into RAM,
 * each with its checksum.  Returns how many pages were queued (fewer than
 * n when the batch filled: send it and go on from there), or -EPROTO.
 */
long mig_enc_pages(struct mig_enc *e, uint64_t first, uint64_t n);
/*
 * The same, handing back the hash of every page queued: hashes[k] for page
 * first + k, for k below the return value, little-endian, the page's
 * mig_digest_page_hash() as its DATA sum (a zero page: a zero page's).
 * They describe each page when it was read, as the sums do: a page the
 * guest writes afterwards is the dirty tracker's to report.  For
 * mig_digest_set_pages().
 */
long mig_enc_pages_hashed(struct mig_enc *e, uint64_t first, uint64_t n, uint64_t *hashes);
/*
 * Pages [first, first + n) as one ZERO record without reading them: the
 * caller knows they are zeros (never-populated memory, from the kernel's
 * page tables).  0, -ENOBUFS (send the batch first) or -EPROTO.
 */
int mig_enc_zero(struct mig_enc *e, uint64_t first, uint64_t n);
int mig_enc_round_end(struct mig_enc *e);
int mig_enc_section(struct mig_enc *e, uint32_t id, uint32_t instance, uint32_t version,
		    const void *data, uint32_t len);
int mig_enc_end(struct mig_enc *e, const uint8_t digest[MIG_DIGEST_LEN]);

/* The batch to send: iovecs not yet sent (NULL and 0 when empty). */
const struct iovec *mig_enc_iov(struct mig_enc *e, int *n);
size_t mig_enc_queued(const struct mig_enc *e);
/* n bytes of the batch were sent (a short writev() is fine). */
void mig_enc_advance(struct mig_enc *e, size_t n);

/* True if a page of MIG_PAGE_SIZE bytes is all zeros. */
bool mig_page_is_zero(const void *page);

/* ---- Decoder (destination) ---- */

/* One kind of state section the destination accepts (roster: id, instance, version, length). */
struct mig_section_spec {
	uint32_t id;
	uint32_t instances; /* instance ids 0 .. instances - 1 (<= MIG_MAX_INSTANCES) */
	uint32_t max_len;   /* bytes (<= MIG_MAX_SECTION) */
	bool required;	    /* every instance must arrive before the end record */
	const char *name;   /* for messages */
};

struct mig_section {
	uint32_t id, instance, version, len;
	const uint8_t *data; /* valid during the callback only */
	const struct mig_section_spec *spec;
};

struct mig_round {
	uint32_t round;
	bool final;
	uint64_t data_pages, zero_pages; /* at the end of a round */
};

struct mig_end {
	uint32_t rounds, sections;
	uint8_t digest[MIG_DIGEST_LEN]; /* the source's */
};

struct mig_dec;

/*
 * What the decoder asks of its owner.  Each returns 0, or -1 with a
 * sentence in msg: the decoder then fails with that code (config:
 * MIG_E_CONFIG, section: MIG_E_LOAD, the others: MIG_E_LOCAL) at the
 * offset of the record.  NULL hooks are skipped, except config.
 */
struct mig_dec_ops {
	/*
	 * The configuration (already checked by mig_config_check()).  Compare
	 * it with the local one, make guest memory of that shape and hand it
	 * over with mig_dec_set_ram() (and mig_dec_set_sections() if the table
	 * depends on it, e.g. one vCPU section per vCPU).
	 */
	int (*config)(void *opaque, struct mig_dec *d, const struct mig_config *c, char *msg,
		      size_t len);
	int (*round_begin)(void *opaque, const struct mig_round *r, char *msg, size_t len);
	int (*round_end)(void *opaque, const struct mig_round *r, char *msg, size_t len);
	/* A section whose framing, length and checksum are right: check every field, load it. */
	int (*section)(void *opaque, const struct mig_section *s, char *msg, size_t len);
	/*
	 * The end record, after the decoder's own checks, before it compares
	 * digests: a chance to refresh the digest table on several threads
	 * (mig_dec_digest()).  The decoder refreshes what is left and compares.
	 */
	int (*end)(void *opaque, const struct mig_end *e, char *msg, size_t len);
};

struct mig_dec_params {
	const struct mig_dec_ops *ops;
	void *opaque;
	uint64_t max_ram; /* refuse a configuration with more RAM (bounds every allocation) */
	/*
	 * The RAM handed over by the config hook is all zeros (fresh anonymous
	 * memory): pages never written need no zeroing and no hashing.
	 */
	bool ram_zeroed;
	const struct mig_section_spec *sections; /* may be replaced until the first section */
	unsigned int nsections;
};

/* What the decoder has seen so far. */
struct mig_dec_stats {
	uint64_t bytes;
	uint64_t data_pages, zero_pages;
	uint64_t zeroed_pages; /* zero pages that had to be cleared */
	uint64_t torn_pages;   /* pages with a bad sum in a live round (must come again) */
	uint32_t rounds, sections;
	uint64_t digest_bytes;	   /* bytes hashed for the digest by the decoder */
	uint64_t end_digest_bytes; /* of which at END (the rest while pages came) */
};

struct mig_dec *mig_dec_new(const struct mig_dec_params *p);
void mig_dec_free(struct mig_dec *d);

/* From the config hook: guest RAM of exactly the configured size.  0 or -EINVAL. */
int mig_dec_set_ram(struct mig_dec *d, uint8_t *ram, uint64_t size);
/* Replace the section table (bounded, copied): 0, -EINVAL, -EBUSY after the first section. */
int mig_dec_set_sections(struct mig_dec *d, const struct mig_section_spec *s, unsigned int n);
/* The digest table of guest RAM (after the config hook), for parallel refresh. */
struct mig_digest *mig_dec_digest(struct mig_dec *d);

/*
 * Feed len bytes of the stream (any split).  Returns 0 while all is well
 * (done or not), -1 after an error (then every call fails the same way).
 */
int mig_dec_feed(struct mig_dec *d, const void *buf, size_t len);
/*
 * Inside page data, where the rest of it goes in guest RAM and how many
 * bytes: receive straight there and call mig_dec_commit().  NULL (and 0)
 * elsewhere: feed framing bytes with mig_dec_feed().
 */
void *mig_dec_direct(struct mig_dec *d, size_t *len);
int mig_dec_commit(struct mig_dec *d, size_t n);
/* The stream ended here (EOF): an error unless the end record was decoded. */
int mig_dec_finish(struct mig_dec *d);
/* The whole stream in one buffer (tests, fuzzing): feed, then finish. */
int mig_dec_buffer(struct mig_dec *d, const void *buf, size_t len);

bool mig_dec_done(const struct mig_dec *d);
const struct mig_error *mig_dec_error(const struct mig_dec *d);
const struct mig_dec_stats *mig_dec_stats(const struct mig_dec *d);
/* The configuration decoded, or NULL before it. */
const struct mig_config *mig_dec_config(const struct mig_dec *d);

/* ---- Replies (destination to source) ---- */

enum mig_reply_type {
	MIG_REPLY_ACK = 1, /* digest verified, guest ready to resume */
	MIG_REPLY_ERROR,
};

struct mig_reply {
	enum mig_reply_type type;
	uint8_t digest[MIG_DIGEST_LEN]; /* ACK: the digest the destination verified */
	enum mig_err code;		/* ERROR: the destination's error */
	uint64_t offset;		/* ERROR: where in the stream */
	char reason[MIG_REASON_MAX + 1];
};

/* Largest encoded reply. */
#define MIG_REPLY_MAX (40u + MIG_REASON_MAX)

/* Encode into buf (at least MIG_REPLY_MAX bytes); returns the length. */
size_t mig_reply_ack(uint8_t *buf, const uint8_t digest[MIG_DIGEST_LEN]);
/* The reason is cut to MIG_REASON_MAX and anything unprintable becomes '?'. */
size_t mig_reply_error(uint8_t *buf, const struct mig_error *err);
/*
 * Parse a reply from the first len bytes received (hostile too).  Returns
 * its length when complete, 0 if more bytes are needed, -1 with err filled.
 */
long mig_reply_parse(const uint8_t *buf, size_t len, struct mig_reply *r, struct mig_error *err);

#endif /* MIG_STREAM_H */
