// SPDX-License-Identifier: MIT
/* The TLS unit tests' shared setup (test_mig_tls_util.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "test_mig_tls_util.h"

void tls_test_keys_dir(char dir[TLS_TEST_DIR_LEN], const char *keys)
{
	char path[TLS_TEST_DIR_LEN + 16];
	int fd;

	snprintf(dir, TLS_TEST_DIR_LEN, "/tmp/test_mig_tls.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/keys.psk", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, keys, strlen(keys)), (ssize_t)strlen(keys));
	close(fd);
}

int tls_test_keys_dir_remove(const char *dir)
{
	char path[TLS_TEST_DIR_LEN + 16];

	snprintf(path, sizeof(path), "%s/keys.psk", dir);
	return unlink(path) == 0 && rmdir(dir) == 0 ? 0 : -1;
}

int tls_test_setup(void **state)
{
	(void)state;
	alarm(TLS_TEST_HUNG_S);
	return 0;
}

int tls_test_teardown(void **state)
{
	(void)state;
	alarm(0);
	return 0;
}

void tls_test_creds(struct mig_tls_creds *c, enum mig_tls_endpoint ep, const char *dir,
		    const char *user)
{
	char err[MIG_TLS_ERR_LEN];

	if (mig_tls_creds_load(c, ep, dir, user, err, sizeof(err))) {
		print_error("%s\n", err);
		fail();
	}
}

void tls_test_tcp_pair(int *c, int *s)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&a, &alen), 0);
	*c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(*c, (struct sockaddr *)&a, sizeof(a)), 0);
	*s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(*s >= 0);
	close(l);
}

void tls_test_unix_pair(int *c, int *s)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	*c = sv[0];
	*s = sv[1];
}

int64_t tls_test_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
