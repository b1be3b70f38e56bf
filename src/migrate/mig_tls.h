/* SPDX-License-Identifier: MIT */
/*
 * mig_tls: the migration channel authenticated and encrypted with a
 * pre-shared key: TLS 1.3 through GnuTLS, as QEMU's `tls-creds-psk` does
 * it, with no certificates.
 *
 * Keys: a directory holds `keys.psk`, one `NAME:HEXKEY` a line, the file
 * QEMU's tls-creds-psk reads and GnuTLS's `psktool -u NAME -p FILE`
 * writes.  The client (the migration source) presents one name (QEMU's
 * `username`, default "qemu") and its key; the server (the destination)
 * looks the name up in its file.  Both prove the key in the handshake (the
 * client's PSK binder, the server's Finished); a peer without it, or with
 * another, fails the handshake before one byte of application data is
 * exchanged.  Only TLS 1.3 with an ephemeral (EC)DHE exchange mixed into
 * the key (psk_dhe_ke) is offered: a key stolen later does not decrypt a
 * recorded migration.  Every record is AEAD-sealed under a sequence
 * number: a record changed, dropped, reordered or replayed fails to open.
 *
 * A session wraps a socket its caller has connected (or accepted) and
 * still owns: mig_tls_new() makes it non-blocking, mig_tls_free() does
 * not close it.  Every call that waits takes an absolute deadline on
 * CLOCK_MONOTONIC (mig_tls_deadline()); a silent or slow peer costs at most
 * that.  One thread at a time per session.  Errors: a negative errno and
 * one line (mig_tls_error()) that says what and, where it can, why.
 *
 * The key file parser (mig_tls_keys_parse()) is pure; the rest does I/O.
 */
#ifndef MIG_TLS_H
#define MIG_TLS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* The file in a credentials directory, as QEMU names it. */
#define MIG_TLS_KEYS_FILE "keys.psk"
/* The name a client presents unless told another: QEMU's default. */
#define MIG_TLS_DEFAULT_USER "qemu"
/* A name: 1..128 printable ASCII bytes, no ':' (GnuTLS caps PSK names at 128). */
#define MIG_TLS_NAME_MAX 128u
/*
 * Key length in bytes.  At least 128 bits, the strength of the cipher
 * (AES-128-GCM) and of the X25519 exchange: a shorter key would be the
 * weak link, and `psktool` makes 32 bytes.  At most 64 (psktool's -s
 * maximum).
 */
#define MIG_TLS_KEY_MIN 16u
#define MIG_TLS_KEY_MAX 64u
/* A keys file larger than this is not a keys file (1,024 keys fit in 200 KiB). */
#define MIG_TLS_KEYS_FILE_MAX (1u << 20)
/* Room for an error line. */
#define MIG_TLS_ERR_LEN 320u

/* No deadline: wait as long as it takes. */
#define MIG_TLS_NO_DEADLINE INT64_MAX

struct mig_tls_key {
	char name[MIG_TLS_NAME_MAX + 1];
	uint8_t key[MIG_TLS_KEY_MAX];
	size_t len;
};

struct mig_tls_keys {
	struct mig_tls_key *key;
	unsigned int n;
};

/*
 * Parse the text of a keys file (`where` names it in errors, e.g. its
 * path).  Blank lines and lines starting with '#' are skipped; every other
 * line must be NAME:HEXKEY, names unique.  0, or -EINVAL with one line in
 * err (which line, what is wrong); -ENOMEM.  Pure.
 */
int mig_tls_keys_parse(struct mig_tls_keys *ks, const char *text, size_t len, const char *where,
		       char *err, size_t errlen);
/*
 * Read DIR/keys.psk: a regular file (no FIFO, device or directory), at most
 * MIG_TLS_KEYS_FILE_MAX bytes, not readable or writable by group or others
 * (a key anyone can read authenticates anyone).  0 or a negative errno
 * with one line in err.
 */
int mig_tls_keys_load(struct mig_tls_keys *ks, const char *dir, char *err, size_t errlen);
const struct mig_tls_key *mig_tls_keys_find(const struct mig_tls_keys *ks, const char *name);
/* Wipes the keys, then frees them. */
void mig_tls_keys_free(struct mig_tls_keys *ks);

enum mig_tls_endpoint {
	MIG_TLS_CLIENT, /* connects: the migration source */
	MIG_TLS_SERVER, /* accepts: the destination */
};

/* What QEMU's `-object tls-creds-psk,id=ID,dir=DIR,endpoint=E,username=U` holds. */
struct mig_tls_creds {
	enum mig_tls_endpoint endpoint;
	char dir[4096];
	char username[MIG_TLS_NAME_MAX + 1]; /* client: the name it presents */
	struct mig_tls_keys keys;	     /* server: all of them; client: its own */
	/*
	 * NULL: GnuTLS's ciphers in its order.  Else the only cipher to offer
	 * or accept, a GnuTLS name (e.g. "AES-128-GCM"): for the benchmark.
	 */
	const char *cipher;
};

/*
 * Load credentials: the server takes every key of DIR/keys.psk; the client
 * the one of `username` (NULL: MIG_TLS_DEFAULT_USER), an error if the file
 * has none.  0 or a negative errno with one line in err.
 */
int mig_tls_creds_load(struct mig_tls_creds *c, enum mig_tls_endpoint endpoint, const char *dir,
		       const char *username, char *err, size_t errlen);
void mig_tls_creds_free(struct mig_tls_creds *c);

/*
 * `--object tls-creds-psk,id=ID,dir=DIR[,endpoint=client|server][,username=NAME]`,
 * QEMU's -object syntax (a comma inside a value is written ",,"; the type
 * may be given as qom-type=tls-creds-psk).  endpoint defaults to client,
 * as in QEMU.  Pure: the keys are read by mig_tls_creds_load().
 */
#define MIG_TLS_ID_MAX 64u
struct mig_tls_object {
	char id[MIG_TLS_ID_MAX + 1];
	char dir[4096];
	enum mig_tls_endpoint endpoint;
	char username[MIG_TLS_NAME_MAX + 1]; /* "" if not given */
};

/* 0, or -EINVAL with one line in err (QEMU's words where it has some). */
int mig_tls_object_parse(const char *spec, struct mig_tls_object *o, char *err, size_t errlen);

/*
 * The credentials objects of one process (its --object options), looked
 * up by id as QEMU looks up migration's tls-creds.  Filled at start-up;
 * read-only afterwards, so any thread may look up.
 */
#define MIG_TLS_OBJECTS_MAX 8u
struct mig_tls_registry {
	struct mig_tls_object obj[MIG_TLS_OBJECTS_MAX];
	struct mig_tls_creds creds[MIG_TLS_OBJECTS_MAX];
	unsigned int n;
};

/*
 * Parse spec (mig_tls_object_parse()) and load its keys: 0, or a negative
 * errno with one line in err (a duplicate id, a bad keys file, ...).
 */
int mig_tls_registry_add(struct mig_tls_registry *r, const char *spec, char *err, size_t errlen);
/*
 * The credentials of id for endpoint, or NULL with QEMU's words in err
 * ("No TLS credentials with id 'X'", "Expected TLS credentials for a
 * client endpoint").
 */
const struct mig_tls_creds *mig_tls_registry_find(const struct mig_tls_registry *r, const char *id,
						  enum mig_tls_endpoint endpoint, char *err,
						  size_t errlen);
void mig_tls_registry_free(struct mig_tls_registry *r);

struct mig_tls;

/*
 * A session over the connected socket fd, which becomes non-blocking.  The
 * credentials must outlive the session.  NULL with one line in err.
 */
struct mig_tls *mig_tls_new(int fd, const struct mig_tls_creds *c, char *err, size_t errlen);
/* Ends the session (no close_notify: see mig_tls_bye()); fd stays open. */
void mig_tls_free(struct mig_tls *t);

/*
 * The handshake, finished by `deadline`.  0; -ETIMEDOUT; -EACCES when the
 * peer did not prove the key (no key, another key, a name the server does
 * not know) or does not speak TLS; -EPROTO for any other TLS failure;
 * -ECONNRESET when the peer closed.  Nothing else may be called before it
 * has returned 0.
 */
int mig_tls_handshake(struct mig_tls *t, int64_t deadline);
/*
 * Send all of the iovecs (any number, any lengths), in records of up to
 * 16 KiB, by `deadline`.  0 or a negative errno (-ETIMEDOUT, -EPIPE, ...).
 * On error the session is unusable: a record may be half sent.
 */
int mig_tls_writev_all(struct mig_tls *t, const struct iovec *iov, int iovcnt, int64_t deadline);
int mig_tls_write_all(struct mig_tls *t, const void *buf, size_t len, int64_t deadline);
/*
 * Up to len bytes (at least 1 unless at the end) by `deadline`.  > 0; 0 at
 * the end of the stream (the peer closed, with or without close_notify:
 * the stream's own END record says whether it was whole); or a negative
 * errno: -EBADMSG for a record that fails to open (changed, replayed,
 * reordered, forged), -ETIMEDOUT, -ECONNRESET, -EPROTO.
 */
ssize_t mig_tls_read(struct mig_tls *t, void *buf, size_t len, int64_t deadline);
/* Send close_notify by `deadline` (the write side ends; reading may go on). */
int mig_tls_bye(struct mig_tls *t, int64_t deadline);

/*
 * Make every wait also end, with -ECANCELED, within slice_ms of *flag
 * becoming true (set by another thread: the driver's cancel).  The flag
 * must outlive the session.
 */
void mig_tls_set_cancel(struct mig_tls *t, const _Atomic bool *flag, int slice_ms);
/*
 * Bytes already here, decrypted or received and not yet opened: poll() on
 * the socket may not show them.  (A read may still wait for the rest of a
 * record.)
 */
size_t mig_tls_pending(struct mig_tls *t);

/* The last error, one line ("" if none). */
const char *mig_tls_error(const struct mig_tls *t);
/* After the handshake: e.g. "TLS1.3 ECDHE-PSK (X25519) AES-256-GCM"; the peer's key name. */
const char *mig_tls_description(struct mig_tls *t, char *buf, size_t len);
const char *mig_tls_peer_name(const struct mig_tls *t);
/* Bytes on the wire, both ways (headers, tags and handshake included). */
uint64_t mig_tls_wire_bytes_out(const struct mig_tls *t);
uint64_t mig_tls_wire_bytes_in(const struct mig_tls *t);

/* CLOCK_MONOTONIC now + timeout_ms, in ns; MIG_TLS_NO_DEADLINE if timeout_ms < 0. */
int64_t mig_tls_deadline(int64_t timeout_ms);

#endif
