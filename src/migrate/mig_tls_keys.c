/* SPDX-License-Identifier: MIT */
/*
 * mig_tls_keys: the pre-shared keys file (QEMU's keys.psk), the
 * credentials built from it and the --object that names them.  The parsers
 * are pure; loading checks the file before it reads it.  See mig_tls.h.
 */
#include "migrate/mig_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Wipe what held a key: the compiler may not drop these stores. */
static void wipe(void *p, size_t n)
{
	explicit_bzero(p, n);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* One NAME:HEX line (without its newline) into k.  0 or -EINVAL. */
static int parse_line(struct mig_tls_key *k, const char *s, size_t n, const char *where,
		      unsigned int lineno, char *err, size_t errlen)
{
	const char *colon = memchr(s, ':', n);
	size_t nlen, hlen;

	if (!colon)
		return fail(err, errlen, -EINVAL,
			    "%s line %u: expected NAME:HEXKEY (as psktool writes), found no ':'",
			    where, lineno);
	nlen = (size_t)(colon - s);
	hlen = n - nlen - 1;
	if (nlen == 0)
		return fail(err, errlen, -EINVAL, "%s line %u: empty name before ':'", where,
			    lineno);
	if (nlen > MIG_TLS_NAME_MAX)
		return fail(err, errlen, -EINVAL, "%s line %u: name of %zu bytes; at most %u",
			    where, lineno, nlen, MIG_TLS_NAME_MAX);
	for (size_t i = 0; i < nlen; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c > '~')
			return fail(
			    err, errlen, -EINVAL,
			    "%s line %u: the name may hold printable ASCII only, not byte 0x%02x at column %zu",
			    where, lineno, c, i + 1);
	}
	memcpy(k->name, s, nlen);
	k->name[nlen] = '\0';
	for (size_t i = 0; i < hlen; i++) {
		if (hexval(colon[1 + i]) < 0)
			return fail(
			    err, errlen, -EINVAL,
			    "%s line %u: the key of '%s' must be hexadecimal; column %zu is not",
			    where, lineno, k->name, nlen + 2 + i);
	}
	if (hlen % 2)
		return fail(err, errlen, -EINVAL,
			    "%s line %u: the key of '%s' has an odd number of hex digits (%zu)",
			    where, lineno, k->name, hlen);
	if (hlen / 2 < MIG_TLS_KEY_MIN || hlen / 2 > MIG_TLS_KEY_MAX)
		return fail(
		    err, errlen, -EINVAL,
		    "%s line %u: the key of '%s' is %zu bytes; it must be %u to %u (`psktool -u %s -p FILE` makes 32)",
		    where, lineno, k->name, hlen / 2, MIG_TLS_KEY_MIN, MIG_TLS_KEY_MAX, k->name);
	for (size_t i = 0; i < hlen / 2; i++)
		k->key[i] = (uint8_t)(hexval(colon[1 + 2 * i]) << 4 | hexval(colon[2 + 2 * i]));
	k->len = hlen / 2;
	return 0;
}

int mig_tls_keys_parse(struct mig_tls_keys *ks, const char *text, size_t len, const char *where,
		       char *err, size_t errlen)
{
	unsigned int lineno = 0, cap = 0;
	size_t pos = 0;
	int rc = 0;

	ks->key = NULL;
	ks->n = 0;
	while (pos < len) {
		const char *s = text + pos;
		const char *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos;
		struct mig_tls_key k;

		pos += n + (nl ? 1 : 0);
		lineno++;
		if (n && s[n - 1] == '\r')
			n--;
		if (n == 0 || s[0] == '#')
			continue;
		if (memchr(s, '\0', n)) {
			rc = fail(err, errlen, -EINVAL, "%s line %u: a NUL byte", where, lineno);
			break;
		}
		rc = parse_line(&k, s, n, where, lineno, err, errlen);
		if (rc == 0 && mig_tls_keys_find(ks, k.name))
			rc = fail(err, errlen, -EINVAL, "%s line %u: a second key for '%s'", where,
				  lineno, k.name);
		if (rc == 0 && ks->n == cap) {
			unsigned int ncap = cap ? 2 * cap : 4;
			struct mig_tls_key *nk = calloc(ncap, sizeof(*nk));

			if (!nk) {
				rc = fail(err, errlen, -ENOMEM, "%s: out of memory", where);
			} else {
				if (ks->n)
					memcpy(nk, ks->key, ks->n * sizeof(*nk));
				if (ks->key)
					wipe(ks->key, cap * sizeof(*nk));
				free(ks->key);
				ks->key = nk;
				cap = ncap;
			}
		}
		if (rc == 0)
			ks->key[ks->n++] = k;
		wipe(&k, sizeof(k));
		if (rc)
			break;
	}
	if (rc == 0 && ks->n == 0)
		rc = fail(err, errlen, -EINVAL, "%s: no key (expected lines NAME:HEXKEY)", where);
	if (rc) {
		if (ks->key)
			wipe(ks->key, cap * sizeof(*ks->key));
		free(ks->key);
		ks->key = NULL;
		ks->n = 0;
	}
	return rc;
}

const struct mig_tls_key *mig_tls_keys_find(const struct mig_tls_keys *ks, const char *name)
{
	for (unsigned int i = 0; i < ks->n; i++) {
		if (strcmp(ks->key[i].name, name) == 0)
			return &ks->key[i];
	}
	return NULL;
}

void mig_tls_keys_free(struct mig_tls_keys *ks)
{
	if (ks->key)
		wipe(ks->key, ks->n * sizeof(*ks->key));
	free(ks->key);
	ks->key = NULL;
	ks->n = 0;
}

int mig_tls_keys_load(struct mig_tls_keys *ks, const char *dir, char *err, size_t errlen)
{
	char path[4200];
	struct stat st;
	char *text;
	ssize_t got;
	int fd, rc;

	ks->key = NULL;
	ks->n = 0;
	if (snprintf(path, sizeof(path), "%s/%s", dir, MIG_TLS_KEYS_FILE) >= (int)sizeof(path))
		return fail(err, errlen, -ENAMETOOLONG, "tls-creds-psk: directory name too long");
	/* Non-blocking: a FIFO must not hold the open; fstat() refuses it next. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return fail(err, errlen, -errno, "tls-creds-psk: cannot open %s: %s", path,
			    strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc = fail(err, errlen, -errno, "tls-creds-psk: %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = fail(err, errlen, -EINVAL, "tls-creds-psk: %s is not a regular file", path);
		goto out;
	}
	if (st.st_mode & 077) {
		rc = fail(
		    err, errlen, -EPERM,
		    "tls-creds-psk: %s is open to group or others (mode %04o): whoever reads a key can migrate to and from us; chmod 600 it",
		    path, (unsigned int)(st.st_mode & 07777));
		goto out;
	}
	if (st.st_size > (off_t)MIG_TLS_KEYS_FILE_MAX) {
		rc = fail(err, errlen, -EFBIG, "tls-creds-psk: %s is %lld bytes; at most %u", path,
			  (long long)st.st_size, MIG_TLS_KEYS_FILE_MAX);
		goto out;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		rc = fail(err, errlen, -ENOMEM, "tls-creds-psk: out of memory");
		goto out;
	}
	got = pread(fd, text, (size_t)st.st_size + 1, 0);
	if (got < 0) {
		rc = fail(err, errlen, -errno, "tls-creds-psk: cannot read %s: %s", path,
			  strerror(errno));
	} else if (got > st.st_size) {
		rc = fail(err, errlen, -EAGAIN, "tls-creds-psk: %s grew while read", path);
	} else {
		rc = mig_tls_keys_parse(ks, text, (size_t)got, path, err, errlen);
	}
	wipe(text, (size_t)st.st_size + 1);
	free(text);
out:
	close(fd);
	return rc;
}

int mig_tls_creds_load(struct mig_tls_creds *c, enum mig_tls_endpoint endpoint, const char *dir,
		       const char *username, char *err, size_t errlen)
{
	struct mig_tls_keys all;
	const struct mig_tls_key *k;
	int rc;

	memset(c, 0, sizeof(*c));
	c->endpoint = endpoint;
	if (!username)
		username = MIG_TLS_DEFAULT_USER;
	if (snprintf(c->dir, sizeof(c->dir), "%s", dir) >= (int)sizeof(c->dir))
		return fail(err, errlen, -ENAMETOOLONG, "tls-creds-psk: directory name too long");
	if (snprintf(c->username, sizeof(c->username), "%s", username) >= (int)sizeof(c->username))
		return fail(err, errlen, -EINVAL, "tls-creds-psk: username longer than %u bytes",
			    MIG_TLS_NAME_MAX);
	rc = mig_tls_keys_load(&all, dir, err, errlen);
	if (rc)
		return rc;
	if (endpoint == MIG_TLS_SERVER) {
		c->keys = all;
		return 0;
	}
	k = mig_tls_keys_find(&all, username);
	if (!k) {
		mig_tls_keys_free(&all);
		return fail(err, errlen, -ENOENT,
			    "tls-creds-psk: %s/%s has no key for username '%s'", dir,
			    MIG_TLS_KEYS_FILE, username);
	}
	c->keys.key = calloc(1, sizeof(*c->keys.key));
	if (!c->keys.key) {
		mig_tls_keys_free(&all);
		return fail(err, errlen, -ENOMEM, "tls-creds-psk: out of memory");
	}
	c->keys.key[0] = *k;
	c->keys.n = 1;
	mig_tls_keys_free(&all);
	return 0;
}

void mig_tls_creds_free(struct mig_tls_creds *c)
{
	mig_tls_keys_free(&c->keys);
}

/*
 * The next "key=value" of a QEMU option string at *p, with ",," read as a
 * comma, into key and val.  0, 1 at the end, or -EINVAL.
 */
static int next_opt(const char **p, char *key, size_t klen, char *val, size_t vlen, bool *has_val)
{
	const char *s = *p;
	size_t k = 0, v = 0;

	if (!*s)
		return 1;
	*has_val = false;
	while (*s && *s != '=' && *s != ',') {
		if (k + 1 >= klen)
			return -EINVAL;
		key[k++] = *s++;
	}
	key[k] = '\0';
	if (*s == '=') {
		*has_val = true;
		s++;
		while (*s) {
			if (*s == ',') {
				if (s[1] != ',')
					break;
				s++; /* ",," is one comma */
			}
			if (v + 1 >= vlen)
				return -EINVAL;
			val[v++] = *s++;
		}
	}
	val[v] = '\0';
	if (*s == ',')
		s++;
	*p = s;
	return 0;
}

int mig_tls_object_parse(const char *spec, struct mig_tls_object *o, char *err, size_t errlen)
{
	char key[32], val[4096];
	const char *p = spec;
	bool has_val, typed = false, has_id = false, has_dir = false;
	int rc, n = 0;

	memset(o, 0, sizeof(*o));
	o->endpoint = MIG_TLS_CLIENT;
	while ((rc = next_opt(&p, key, sizeof(key), val, sizeof(val), &has_val)) == 0) {
		if (n++ == 0 && !has_val) {
			/* The first item without '=' is the type, as in QEMU's -object. */
			snprintf(val, sizeof(val), "%s", key);
			snprintf(key, sizeof(key), "qom-type");
			has_val = true;
		}
		if (!has_val)
			return fail(err, errlen, -EINVAL,
				    "--object: '%s' needs a value (NAME=VALUE)", key);
		if (!strcmp(key, "qom-type")) {
			if (strcmp(val, "tls-creds-psk"))
				return fail(
				    err, errlen, -EINVAL,
				    "--object: type '%s' is not supported: only tls-creds-psk",
				    val);
			typed = true;
		} else if (!strcmp(key, "id")) {
			size_t len = strlen(val);

			if (len == 0 || len > MIG_TLS_ID_MAX)
				return fail(err, errlen, -EINVAL,
					    "--object: id must be 1 to %u characters",
					    MIG_TLS_ID_MAX);
			for (size_t i = 0; i < len; i++) {
				char c = val[i];

				/* QEMU's id_wellformed(): a letter, then letters, digits, '-', '.', '_'. */
				if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				      (i && ((c >= '0' && c <= '9') || c == '-' || c == '.' ||
					     c == '_'))))
					return fail(
					    err, errlen, -EINVAL,
					    "--object: Parameter 'id' expects an identifier");
			}
			memcpy(o->id, val, len + 1);
			has_id = true;
		} else if (!strcmp(key, "dir")) {
			if (!val[0])
				return fail(err, errlen, -EINVAL, "--object: dir is empty");
			snprintf(o->dir, sizeof(o->dir), "%s", val);
			has_dir = true;
		} else if (!strcmp(key, "endpoint")) {
			if (!strcmp(val, "client"))
				o->endpoint = MIG_TLS_CLIENT;
			else if (!strcmp(val, "server"))
				o->endpoint = MIG_TLS_SERVER;
			else
				return fail(
				    err, errlen, -EINVAL,
				    "--object: Parameter 'endpoint' does not accept value '%s' (client or server)",
				    val);
		} else if (!strcmp(key, "username")) {
			if (!val[0] || strlen(val) > MIG_TLS_NAME_MAX || strchr(val, ':'))
				return fail(
				    err, errlen, -EINVAL,
				    "--object: username must be 1 to %u characters, without ':'",
				    MIG_TLS_NAME_MAX);
			snprintf(o->username, sizeof(o->username), "%s", val);
		} else {
			return fail(
			    err, errlen, -EINVAL,
			    "--object: Property 'tls-creds-psk.%s' not found (id, dir, endpoint, username)",
			    key);
		}
	}
	if (rc < 0)
		return fail(err, errlen, -EINVAL, "--object: a name or value too long in '%s'",
			    spec);
	if (!typed)
		return fail(err, errlen, -EINVAL,
			    "--object: the type must come first: tls-creds-psk,id=ID,dir=DIR,...");
	if (!has_id)
		return fail(err, errlen, -EINVAL, "--object: Parameter 'id' is missing");
	if (!has_dir)
		return fail(err, errlen, -EINVAL,
			    "--object: tls-creds-psk needs dir=DIR (the directory of keys.psk)");
	return 0;
}

int mig_tls_registry_add(struct mig_tls_registry *r, const char *spec, char *err, size_t errlen)
{
	struct mig_tls_object o;
	int rc = mig_tls_object_parse(spec, &o, err, errlen);

	if (rc)
		return rc;
	if (r->n == MIG_TLS_OBJECTS_MAX)
		return fail(err, errlen, -ENOSPC, "--object: at most %u", MIG_TLS_OBJECTS_MAX);
	for (unsigned int i = 0; i < r->n; i++) {
		if (!strcmp(r->obj[i].id, o.id))
			return fail(
			    err, errlen, -EEXIST,
			    "--object: attempt to add duplicate property '%s' to object (type 'container')",
			    o.id);
	}
	rc = mig_tls_creds_load(&r->creds[r->n], o.endpoint, o.dir,
				o.username[0] ? o.username : NULL, err, errlen);
	if (rc)
		return rc;
	r->obj[r->n++] = o;
	return 0;
}

const struct mig_tls_creds *mig_tls_registry_find(const struct mig_tls_registry *r, const char *id,
						  enum mig_tls_endpoint endpoint, char *err,
						  size_t errlen)
{
	for (unsigned int i = 0; i < r->n; i++) {
		if (strcmp(r->obj[i].id, id))
			continue;
		if (r->obj[i].endpoint != endpoint) {
			fail(err, errlen, -EINVAL, "Expected TLS credentials for a %s endpoint",
			     endpoint == MIG_TLS_CLIENT ? "client" : "server");
			return NULL;
		}
		return &r->creds[i];
	}
	fail(err, errlen, -ENOENT, "No TLS credentials with id '%s'", id);
	return NULL;
}

void mig_tls_registry_free(struct mig_tls_registry *r)
{
	for (unsigned int i = 0; i < r->n; i++)
		mig_tls_creds_free(&r->creds[i]);
	r->n = 0;
}
