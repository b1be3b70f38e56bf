// SPDX-License-Identifier: MIT
/*
 * Unit tests of src/migrate/mig_tls_keys.c: the keys.psk parser (every
 * rule, with its message) and the loader's checks of the file itself
 * (mode, type, size), on real files.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "migrate/mig_tls.h"

#define KEY32 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static int parse(struct mig_tls_keys *ks, const char *text, char *err)
{
	return mig_tls_keys_parse(ks, text, strlen(text), "keys.psk", err, MIG_TLS_ERR_LEN);
}

static void test_parse_good(void **state)
{
	struct mig_tls_keys ks;
	char err[MIG_TLS_ERR_LEN] = "";
	const struct mig_tls_key *k;

	(void)state;
	/* psktool's output, a comment, CRLF, a blank line, upper-case hex, no final newline. */
	assert_int_equal(parse(&ks,
			       "qemu:" KEY32
			       "\n# a comment\r\n\nother:00112233445566778899AABBCCDDEEFF\r\n"
			       "long-key:" KEY32 KEY32,
			       err),
			 0);
	assert_int_equal(ks.n, 3);
	k = mig_tls_keys_find(&ks, "qemu");
	assert_non_null(k);
	assert_int_equal(k->len, 32);
	for (unsigned int i = 0; i < 32; i++)
		assert_int_equal(k->key[i], i);
	k = mig_tls_keys_find(&ks, "other");
	assert_non_null(k);
	assert_int_equal(k->len, 16);
	assert_int_equal(k->key[0], 0x00);
	assert_int_equal(k->key[10], 0xaa);
	assert_int_equal(k->key[15], 0xff);
	assert_int_equal(mig_tls_keys_find(&ks, "long-key")->len, 64);
	assert_null(mig_tls_keys_find(&ks, "qem"));
	assert_null(mig_tls_keys_find(&ks, "Qemu"));
	mig_tls_keys_free(&ks);
	assert_null(ks.key);
	assert_int_equal(ks.n, 0);
}

static void test_parse_bad(void **state)
{
	static const struct {
		const char *text;
		const char *msg; /* part of the error */
	} cases[] = {
	    {"", "no key"},
	    {"\n\n# only comments\n", "no key"},
	    {"qemu" KEY32 "\n", "line 1: expected NAME:HEXKEY"},
	    {"a:" KEY32 "\n:" KEY32 "\n", "line 2: empty name"},
	    {"qemu:" KEY32 "\nqemu:" KEY32 "\n", "line 2: a second key for 'qemu'"},
	    {"qemu:00112233445566778899aabbccddee\n", "is 15 bytes; it must be 16 to 64"},
	    {"qemu:" KEY32 KEY32 "00\n", "is 65 bytes"},
	    {"qemu:\n", "is 0 bytes"},
	    {"qemu:" KEY32 "0\n", "odd number of hex digits (65)"},
	    {"qemu:" KEY32 "zz\n", "must be hexadecimal; column 70"},
	    {"qemu:0x" KEY32 "\n", "must be hexadecimal; column 7"},
	    {"qemu: " KEY32 "\n", "must be hexadecimal; column 6"},
	    {"qe mu:" KEY32 "\n", "printable ASCII only, not byte 0x20 at column 3"},
	    {"q\xc3\xa9:" KEY32 "\n", "not byte 0xc3 at column 2"},
	    {"\tqemu:" KEY32 "\n", "not byte 0x09 at column 1"},
	    {"qemu:" KEY32 ":" KEY32 "\n", "must be hexadecimal"},
	    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:" KEY32,
	     "name of 129 bytes"},
	};
	char err[MIG_TLS_ERR_LEN];
	struct mig_tls_keys ks;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		assert_int_equal(parse(&ks, cases[i].text, err), -EINVAL);
		assert_null(ks.key);
		assert_int_equal(ks.n, 0);
		if (!strstr(err, cases[i].msg) || !strstr(err, "keys.psk")) {
			print_error("case %zu: \"%s\" does not hold \"%s\"\n", i, err,
				    cases[i].msg);
			fail();
		}
	}
	/* A NUL inside a line. */
	static const char nul[] = "qemu:" KEY32 "\nab\0c:" KEY32 "\n";
	assert_int_equal(mig_tls_keys_parse(&ks, nul, sizeof(nul) - 1, "f", err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "line 2: a NUL byte"));
}

/* 200 keys: the table grows past its first allocations. */
static void test_parse_many(void **state)
{
	char *text = malloc(200 * 100);
	struct mig_tls_keys ks;
	char err[MIG_TLS_ERR_LEN], name[16];
	size_t n = 0;

	(void)state;
	for (int i = 0; i < 200; i++)
		n += (size_t)sprintf(text + n, "k%d:%02x" KEY32 "\n", i, i & 0xff);
	assert_int_equal(mig_tls_keys_parse(&ks, text, n, "f", err, sizeof(err)), 0);
	assert_int_equal(ks.n, 200);
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "k%d", i);
		assert_non_null(mig_tls_keys_find(&ks, name));
		assert_int_equal(mig_tls_keys_find(&ks, name)->key[0], i & 0xff);
		assert_int_equal(mig_tls_keys_find(&ks, name)->len, 33);
	}
	mig_tls_keys_free(&ks);
	free(text);
}

static char dir[64];

static void write_keys(const char *text, mode_t mode)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/keys.psk", dir);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static int dir_setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_mig_tls_keys.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int dir_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_load(void **state)
{
	struct mig_tls_keys ks;
	struct mig_tls_creds c;
	char err[MIG_TLS_ERR_LEN], path[128];

	(void)state;
	/* Missing. */
	assert_int_equal(mig_tls_keys_load(&ks, dir, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot open"));
	assert_non_null(strstr(err, "keys.psk"));

	write_keys("qemu:" KEY32 "\nbob:" KEY32 "\n", 0600);
	assert_int_equal(mig_tls_keys_load(&ks, dir, err, sizeof(err)), 0);
	assert_int_equal(ks.n, 2);
	mig_tls_keys_free(&ks);
	write_keys("qemu:" KEY32 "\n", 0400);
	assert_int_equal(mig_tls_keys_load(&ks, dir, err, sizeof(err)), 0);
	mig_tls_keys_free(&ks);

	/* Open to others: refused, with the remedy. */
	static const mode_t open_modes[] = {0644, 0640, 0604, 0660, 0602};
	for (size_t i = 0; i < sizeof(open_modes) / sizeof(open_modes[0]); i++) {
		write_keys("qemu:" KEY32 "\n", open_modes[i]);
		assert_int_equal(mig_tls_keys_load(&ks, dir, err, sizeof(err)), -EPERM);
		assert_non_null(strstr(err, "chmod 600"));
		assert_null(ks.key);
	}

	/* Bad content: the parser's message, with the path. */
	write_keys("qemu:1234\n", 0600);
	assert_int_equal(mig_tls_keys_load(&ks, dir, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "/keys.psk line 1: the key of 'qemu' is 2 bytes"));

	/* Not a regular file: a FIFO must neither hang the open nor be read. */
	snprintf(path, sizeof(path), "%s/keys.psk", dir);
	unlink(path);
	assert_int_equal(mkfifo(path, 0600), 0);
	alarm(10);
	assert_int_equal(mig_tls_keys_load(&ks, dir, err, sizeof(err)), -EINVAL);
	alarm(0);
	assert_non_null(strstr(err, "not a regular file"));
	unlink(path);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(mig_tls_keys_load(&ks, dir, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
	rmdir(path);

	/* Too big. */
	{
		char *big = malloc(MIG_TLS_KEYS_FILE_MAX + 2);

		memset(big, '#', MIG_TLS_KEYS_FILE_MAX + 1);
		big[MIG_TLS_KEYS_FILE_MAX + 1] = '\0';
		write_keys(big, 0600);
		free(big);
		assert_int_equal(mig_tls_keys_load(&ks, dir, err, sizeof(err)), -EFBIG);
	}

	/* Credentials: the server keeps all, the client its own name's. */
	write_keys("qemu:" KEY32 "\nbob:00112233445566778899aabbccddeeff\n", 0600);
	assert_int_equal(mig_tls_creds_load(&c, MIG_TLS_SERVER, dir, NULL, err, sizeof(err)), 0);
	assert_int_equal(c.keys.n, 2);
	mig_tls_creds_free(&c);
	assert_int_equal(mig_tls_creds_load(&c, MIG_TLS_CLIENT, dir, NULL, err, sizeof(err)), 0);
	assert_int_equal(c.keys.n, 1);
	assert_string_equal(c.username, "qemu");
	assert_string_equal(c.keys.key[0].name, "qemu");
	mig_tls_creds_free(&c);
	assert_int_equal(mig_tls_creds_load(&c, MIG_TLS_CLIENT, dir, "bob", err, sizeof(err)), 0);
	assert_int_equal(c.keys.n, 1);
	assert_int_equal(c.keys.key[0].len, 16);
	mig_tls_creds_free(&c);
	assert_int_equal(mig_tls_creds_load(&c, MIG_TLS_CLIENT, dir, "eve", err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "has no key for username 'eve'"));
}

static void test_object(void **state)
{
	static const struct {
		const char *spec;
		const char *msg; /* NULL: accepted */
	} bad[] = {
	    {"tls-creds-psk,id=a", "needs dir=DIR"},
	    {"tls-creds-psk,dir=/x", "Parameter 'id' is missing"},
	    {"tls-creds-x509,id=a,dir=/x", "type 'tls-creds-x509' is not supported"},
	    {"id=a,dir=/x", "the type must come first"},
	    {"tls-creds-psk,id=a,dir=/x,endpoint=both", "'endpoint' does not accept value 'both'"},
	    {"tls-creds-psk,id=a,dir=/x,verify-peer=on",
	     "Property 'tls-creds-psk.verify-peer' not found"},
	    {"tls-creds-psk,id=a,dir=/x,endpoint", "'endpoint' needs a value"},
	    {"tls-creds-psk,id=1a,dir=/x", "'id' expects an identifier"},
	    {"tls-creds-psk,id=a b,dir=/x", "'id' expects an identifier"},
	    {"tls-creds-psk,id=,dir=/x", "id must be 1 to 64"},
	    {"tls-creds-psk,id=a,dir=", "dir is empty"},
	    {"tls-creds-psk,id=a,dir=/x,username=a:b", "username must be"},
	    {"tls-creds-psk,id=a,dir=/x,username=", "username must be"},
	    {"tls-creds-psk,id=a,dir=/x,averyveryveryveryverylongpropertyname=1", "too long"},
	};
	struct mig_tls_object o;
	char err[MIG_TLS_ERR_LEN];

	(void)state;
	assert_int_equal(
	    mig_tls_object_parse("tls-creds-psk,id=tls0,dir=/etc/vmm", &o, err, sizeof(err)), 0);
	assert_string_equal(o.id, "tls0");
	assert_string_equal(o.dir, "/etc/vmm");
	assert_int_equal(o.endpoint, MIG_TLS_CLIENT); /* QEMU's default */
	assert_string_equal(o.username, "");
	assert_int_equal(
	    mig_tls_object_parse(
		"qom-type=tls-creds-psk,endpoint=server,id=Sv_1.x-y,dir=/a,,b,,,username=bob", &o,
		err, sizeof(err)),
	    0);
	assert_string_equal(o.id, "Sv_1.x-y");
	assert_string_equal(o.dir, "/a,b,");
	assert_int_equal(o.endpoint, MIG_TLS_SERVER);
	assert_string_equal(o.username, "bob");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(mig_tls_object_parse(bad[i].spec, &o, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].msg) || strncmp(err, "--object: ", 10)) {
			print_error("%s: \"%s\" does not hold \"%s\"\n", bad[i].spec, err,
				    bad[i].msg);
			fail();
		}
	}
}

static void test_registry(void **state)
{
	struct mig_tls_registry r = {0};
	char err[MIG_TLS_ERR_LEN], spec[256];

	(void)state;
	write_keys("qemu:" KEY32 "\nbob:" KEY32 "\n", 0600);
	snprintf(spec, sizeof(spec), "tls-creds-psk,id=s0,endpoint=server,dir=%s", dir);
	assert_int_equal(mig_tls_registry_add(&r, spec, err, sizeof(err)), 0);
	snprintf(spec, sizeof(spec), "tls-creds-psk,id=c0,dir=%s,username=bob", dir);
	assert_int_equal(mig_tls_registry_add(&r, spec, err, sizeof(err)), 0);
	assert_int_equal(r.n, 2);
	/* The same id again. */
	assert_int_equal(mig_tls_registry_add(&r, spec, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "duplicate property 'c0'"));
	/* A username the file lacks: refused at start-up, not at the first migration. */
	snprintf(spec, sizeof(spec), "tls-creds-psk,id=c1,dir=%s,username=eve", dir);
	assert_int_equal(mig_tls_registry_add(&r, spec, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "no key for username 'eve'"));
	assert_int_equal(r.n, 2);

	assert_non_null(mig_tls_registry_find(&r, "s0", MIG_TLS_SERVER, err, sizeof(err)));
	assert_int_equal(mig_tls_registry_find(&r, "c0", MIG_TLS_CLIENT, err, sizeof(err))->keys.n,
			 1);
	assert_string_equal(
	    mig_tls_registry_find(&r, "c0", MIG_TLS_CLIENT, err, sizeof(err))->username, "bob");
	assert_null(mig_tls_registry_find(&r, "s0", MIG_TLS_CLIENT, err, sizeof(err)));
	assert_string_equal(err, "Expected TLS credentials for a client endpoint");
	assert_null(mig_tls_registry_find(&r, "c0", MIG_TLS_SERVER, err, sizeof(err)));
	assert_string_equal(err, "Expected TLS credentials for a server endpoint");
	assert_null(mig_tls_registry_find(&r, "x", MIG_TLS_SERVER, err, sizeof(err)));
	assert_string_equal(err, "No TLS credentials with id 'x'");
	mig_tls_registry_free(&r);
	assert_int_equal(r.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_good),
	    cmocka_unit_test(test_parse_bad),
	    cmocka_unit_test(test_parse_many),
	    cmocka_unit_test(test_object),
	    cmocka_unit_test_setup_teardown(test_registry, dir_setup, dir_teardown),
	    cmocka_unit_test_setup_teardown(test_load, dir_setup, dir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
