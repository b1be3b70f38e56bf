/* SPDX-License-Identifier: MIT */
/*
 * What the TLS unit tests (test_mig_tls.c, test_mig_conn_tls.c) share: a
 * directory of QEMU-style PSK keys (keys.psk), credentials loaded or the
 * test failed, a socket pair over TCP loopback or AF_UNIX, a monotonic
 * clock, and an alarm that turns a hung test into a failure.
 */
#ifndef TEST_MIG_TLS_UTIL_H
#define TEST_MIG_TLS_UTIL_H

#include <stdint.h>

#include "migrate/mig_tls.h"

/* Two 32-byte keys, hex, as in keys.psk: B is A with its last bit flipped,
 * a wrong key as near to the right one as a key can be. */
#define TLS_TEST_KEY_A "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define TLS_TEST_KEY_B "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1e"
/* A test that takes longer than this has hung (tls_test_setup()'s alarm). */
#define TLS_TEST_HUNG_S 60
/* Size of a directory name from tls_test_keys_dir(). */
#define TLS_TEST_DIR_LEN 64

/* A fresh directory under /tmp holding keys.psk with KEYS ("name:hex\n"...). */
void tls_test_keys_dir(char dir[TLS_TEST_DIR_LEN], const char *keys);
/* Removes a directory made by tls_test_keys_dir(); 0 on success. */
int tls_test_keys_dir_remove(const char *dir);
/* cmocka per-test setup and teardown: the alarm of TLS_TEST_HUNG_S. */
int tls_test_setup(void **state);
int tls_test_teardown(void **state);
/* Credentials of EP from DIR (USER: the client's name, NULL for "qemu"). */
void tls_test_creds(struct mig_tls_creds *c, enum mig_tls_endpoint ep, const char *dir,
		    const char *user);
/* A connected pair: *c the client's end, *s the server's. */
void tls_test_tcp_pair(int *c, int *s);
void tls_test_unix_pair(int *c, int *s);
int64_t tls_test_mono_ms(void);

#endif
