// SPDX-License-Identifier: MIT
/* Unit tests of src/vmm/cli.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/cli.h"

#define MAX_ARGS 32

static char err[512];
static struct vmm_config cfg;

/* Parse "vmm" followed by the NULL-terminated @args. */
static int parse_list(const char *const *args)
{
	static char *argv[MAX_ARGS + 2];
	int argc = 0;

	argv[argc++] = (char *)"vmm";
	for (; *args; args++) {
		assert_true(argc <= MAX_ARGS);
		/* getopt permutes argv but never writes the strings. */
		argv[argc++] = (char *)*args;
	}
	argv[argc] = NULL;
	err[0] = '\0';
	return cli_parse(argc, argv, &cfg, err, sizeof(err));
}

/* Text meant for users must not show macro names or C expressions. */
static bool leaks_source(const char *s)
{
	return strstr(s, "CLI_") || strstr(s, "STRESS_") || strstr(s, "<<") || strstr(s, "ull");
}

#define PARSE(...) parse_list((const char *const[]){__VA_ARGS__, NULL})

/* The call fails with @want and a message containing @needle. */
#define ASSERT_FAILS(want, needle, ...)                                                            \
	do {                                                                                       \
		int r_ = PARSE(__VA_ARGS__);                                                       \
		if (r_ != (want) || !strstr(err, (needle)))                                        \
			fail_msg("got %d \"%s\", wanted %d and \"%s\"", r_, err, (want),           \
				 (needle));                                                        \
		assert_false(leaks_source(err));                                                   \
	} while (0)

#define ASSERT_OK(...)                                                                             \
	do {                                                                                       \
		int r_ = PARSE(__VA_ARGS__);                                                       \
		if (r_ != 0)                                                                       \
			fail_msg("got %d \"%s\"", r_, err);                                        \
	} while (0)

static void test_defaults(void **state)
{
	const char *const none[] = {NULL};

	assert_int_equal(parse_list(none), 0);
	assert_true(cfg.mem_size == 512ull << 20);
	assert_int_equal(cfg.ncpus, 1);
	assert_null(cfg.kernel);
	assert_string_equal(cfg.append, "");
	assert_true(cfg.duration_ns == 0);
	assert_int_equal(cfg.dirty_ring_size, 65536);
	for (int i = 0; i < STRESS_MAX_CPUS; i++)
		assert_true(cfg.dirty_limit_mib[i] == 0);
	assert_int_equal(cfg.dirty_limit_period_ms, 0); /* each law's own */
	assert_ptr_equal(cfg.dirty_limit_law.law, &dl_law_bucket);
	assert_int_equal(cfg.dirty_limit_law.ki_milli, 0);
	assert_false(cfg.dirty_limit_law.sync_wait);
	assert_int_equal(cfg.qmp.kind, CLI_QMP_NONE);
	assert_null(cfg.stats_path);
	assert_int_equal(cfg.stats_interval_ms, 1000);
	assert_int_equal(cfg.harvester, CLI_HARVESTER_SELF);
	assert_int_equal(cfg.harvest_delay_us, 0);
	assert_int_equal(cfg.tick_us, 0);
}

static void test_help_version(void **state)
{
	assert_int_equal(PARSE("-h"), CLI_HELP);
	assert_int_equal(PARSE("--help"), CLI_HELP);
	assert_int_equal(PARSE("-V"), CLI_VERSION);
	assert_int_equal(PARSE("--version"), CLI_VERSION);
	assert_int_equal(PARSE("-m", "1G", "--help"), CLI_HELP);
	/* Help wins over what follows it. */
	assert_int_equal(PARSE("-h", "--bogus"), CLI_HELP);
	/* An error before it is still an error. */
	ASSERT_FAILS(-EINVAL, "--bogus", "--bogus", "-h");
	ASSERT_FAILS(-EINVAL, "takes no argument", "--help=yes");
	ASSERT_FAILS(-EINVAL, "--version", "--version=2");
}

static void test_mem(void **state)
{
	ASSERT_OK("-m", "1G");
	assert_true(cfg.mem_size == 1ull << 30);
	ASSERT_OK("--mem", "2048");
	assert_true(cfg.mem_size == 2048ull << 20);
	ASSERT_OK("--mem=8M");
	assert_true(cfg.mem_size == 8ull << 20);
	ASSERT_OK("-m1t");
	assert_true(cfg.mem_size == 1ull << 40);
	ASSERT_OK("-m", "8196KiB");
	assert_true(cfg.mem_size == 8196ull << 10);

	ASSERT_FAILS(-EINVAL, "zero", "-m", "0");
	ASSERT_FAILS(-EINVAL, "zero", "-m", "0G");
	ASSERT_FAILS(-ERANGE, "8M", "-m", "3");
	ASSERT_FAILS(-ERANGE, "minimum", "-m", "8188K");
	/* The bundled kernel panics at 4M: the reason is in the message. */
	ASSERT_FAILS(-ERANGE, "working sets start at 4 MiB", "-m", "4M");
	ASSERT_FAILS(-ERANGE, "1T", "-m", "1025G");
	ASSERT_FAILS(-ERANGE, "maximum", "-m", "2T");
	ASSERT_FAILS(-ERANGE, "too large", "-m", "99999999999999999999");
	ASSERT_FAILS(-ERANGE, "too large", "-m", "17592186044416");
	ASSERT_FAILS(-EINVAL, "abc", "-m", "abc");
	ASSERT_FAILS(-EINVAL, "negative", "-m", "-1");
	ASSERT_FAILS(-EINVAL, "1.5G", "-m", "1.5G");
	ASSERT_FAILS(-EINVAL, "4 KiB pages", "-m", "8193K");
	ASSERT_FAILS(-EINVAL, "--mem", "-m", "");
}

static void test_cpus(void **state)
{
	ASSERT_OK("-c", "4");
	assert_int_equal(cfg.ncpus, 4);
	ASSERT_OK("--cpus=256");
	assert_int_equal(cfg.ncpus, 256);
	ASSERT_OK("-c1");
	assert_int_equal(cfg.ncpus, 1);
	ASSERT_FAILS(-ERANGE, "between 1 and 256", "-c", "0");
	ASSERT_FAILS(-ERANGE, "between 1 and 256", "-c", "257");
	ASSERT_FAILS(-ERANGE, "between 1 and 256", "-c", "99999999999999999999999");
	ASSERT_FAILS(-EINVAL, "not a whole number", "-c", "x");
	ASSERT_FAILS(-EINVAL, "not a whole number", "-c", "-1");
	ASSERT_FAILS(-EINVAL, "not a whole number", "-c", "2x");
	ASSERT_FAILS(-EINVAL, "not a whole number", "-c", " 2");
	ASSERT_FAILS(-EINVAL, "not a whole number", "-c", "");
}

static void test_kernel_append(void **state)
{
	static char long_append[CLI_APPEND_MAX + 2];

	ASSERT_OK("-k", "guest.elf", "-a", "console=ttyS0 wss=64M");
	assert_string_equal(cfg.kernel, "guest.elf");
	assert_string_equal(cfg.append, "console=ttyS0 wss=64M");
	ASSERT_OK("--kernel=/x", "--append=");
	assert_string_equal(cfg.kernel, "/x");
	assert_string_equal(cfg.append, "");
	ASSERT_FAILS(-EINVAL, "empty", "-k", "");

	memset(long_append, 'a', CLI_APPEND_MAX);
	long_append[CLI_APPEND_MAX] = '\0';
	ASSERT_OK("-a", long_append);
	assert_int_equal(strlen(cfg.append), 4095);
	long_append[CLI_APPEND_MAX] = 'a';
	long_append[CLI_APPEND_MAX + 1] = '\0';
	ASSERT_FAILS(-E2BIG, "4095", "-a", long_append);
}

static void test_duration(void **state)
{
	ASSERT_OK("-d", "10");
	assert_true(cfg.duration_ns == 10000000000ull);
	ASSERT_OK("--duration", "2.5");
	assert_true(cfg.duration_ns == 2500000000ull);
	ASSERT_OK("-d", ".25");
	assert_true(cfg.duration_ns == 250000000ull);
	ASSERT_OK("-d", "1.");
	assert_true(cfg.duration_ns == 1000000000ull);
	ASSERT_OK("-d", "0.000000001");
	assert_true(cfg.duration_ns == 1);
	ASSERT_OK("-d", "0.1234567891234");
	assert_true(cfg.duration_ns == 123456789);
	ASSERT_OK("-d", "315360000");
	assert_true(cfg.duration_ns == 315360000ull * 1000000000ull);

	ASSERT_FAILS(-EINVAL, "positive", "-d", "0");
	ASSERT_FAILS(-EINVAL, "positive", "-d", "0.0");
	ASSERT_FAILS(-EINVAL, "positive", "-d", "0.0000000001");
	ASSERT_FAILS(-EINVAL, "not a number", "-d", "-1");
	ASSERT_FAILS(-EINVAL, "not a number", "-d", "abc");
	ASSERT_FAILS(-EINVAL, "not a number", "-d", ".");
	ASSERT_FAILS(-EINVAL, "not a number", "-d", "");
	ASSERT_FAILS(-EINVAL, "not a number", "-d", "1e3");
	ASSERT_FAILS(-EINVAL, "not a number", "-d", "1.2.3");
	ASSERT_FAILS(-EINVAL, "not a number", "-d", "5s");
	ASSERT_FAILS(-ERANGE, "too long", "-d", "315360001");
	ASSERT_FAILS(-ERANGE, "too long", "-d", "99999999999999999999999999");
	ASSERT_FAILS(-ERANGE, "too long", "-d", "99999999999999999999999999.5");
	ASSERT_FAILS(-EINVAL, "not a number", "-d", "99999999999999999999999999x");
}

static void test_dirty_ring(void **state)
{
	ASSERT_OK("--dirty-ring-size", "4096");
	assert_int_equal(cfg.dirty_ring_size, 4096);
	ASSERT_OK("--dirty-ring-size=8192");
	assert_int_equal(cfg.dirty_ring_size, 8192);
	ASSERT_OK("--dirty-ring-size=65536");
	assert_int_equal(cfg.dirty_ring_size, 65536);
	ASSERT_FAILS(-EINVAL, "power of two", "--dirty-ring-size", "5000");
	/* Below the minimum: the reason is in the message (a ring-0 rep stosd wedges them). */
	ASSERT_FAILS(-ERANGE, "below the minimum of 4096: one guest instruction",
		     "--dirty-ring-size", "2048");
	ASSERT_FAILS(-ERANGE, "below the minimum of 4096", "--dirty-ring-size", "256");
	ASSERT_FAILS(-ERANGE, "below the minimum of 4096", "--dirty-ring-size", "1000");
	ASSERT_FAILS(-ERANGE, "between 4096 and 65536", "--dirty-ring-size", "131072");
	ASSERT_FAILS(-ERANGE, "below the minimum of 4096", "--dirty-ring-size", "0");
	ASSERT_FAILS(-EINVAL, "not a whole number", "--dirty-ring-size", "64k");
}

static void test_dirty_limit_all(void **state)
{
	ASSERT_OK("-c", "4", "--dirty-limit", "100");
	for (int i = 0; i < STRESS_MAX_CPUS; i++)
		assert_true(cfg.dirty_limit_mib[i] == (i < 4 ? 100 : 0));
	ASSERT_OK("--dirty-limit", "0");
	for (int i = 0; i < STRESS_MAX_CPUS; i++)
		assert_true(cfg.dirty_limit_mib[i] == 0);
	ASSERT_OK("--dirty-limit", "1048576");
	assert_true(cfg.dirty_limit_mib[0] == 1048576);
	ASSERT_FAILS(-ERANGE, "at most 1048576", "--dirty-limit", "1048577");
	ASSERT_FAILS(-ERANGE, "at most", "--dirty-limit", "99999999999999999999999");
	ASSERT_FAILS(-EINVAL, "CPU=MIB_PER_S", "--dirty-limit", "5x");
	ASSERT_FAILS(-EINVAL, "CPU=MIB_PER_S", "--dirty-limit", "-5");
	ASSERT_FAILS(-EINVAL, "CPU=MIB_PER_S", "--dirty-limit", "");
	ASSERT_FAILS(-EINVAL, "CPU=MIB_PER_S", "--dirty-limit", "1,2");
}

static void test_dirty_limit_per_cpu(void **state)
{
	ASSERT_OK("-c", "3", "--dirty-limit", "0=10,2=30");
	assert_true(cfg.dirty_limit_mib[0] == 10);
	assert_true(cfg.dirty_limit_mib[1] == 0);
	assert_true(cfg.dirty_limit_mib[2] == 30);
	/* --cpus may come after: the check waits for every option. */
	ASSERT_OK("--dirty-limit", "1=50", "-c", "2");
	assert_true(cfg.dirty_limit_mib[0] == 0);
	assert_true(cfg.dirty_limit_mib[1] == 50);
	/* Later settings win; an all-vCPU value then a per-vCPU one. */
	ASSERT_OK("-c", "2", "--dirty-limit", "100", "--dirty-limit", "1=50");
	assert_true(cfg.dirty_limit_mib[0] == 100);
	assert_true(cfg.dirty_limit_mib[1] == 50);
	ASSERT_OK("-c", "2", "--dirty-limit", "1=50", "--dirty-limit", "7");
	assert_true(cfg.dirty_limit_mib[0] == 7);
	assert_true(cfg.dirty_limit_mib[1] == 7);
	ASSERT_OK("-c", "256", "--dirty-limit", "255=1");
	assert_true(cfg.dirty_limit_mib[255] == 1);
	/* 0 = no limit for that vCPU. */
	ASSERT_OK("-c", "2", "--dirty-limit", "100", "--dirty-limit", "0=0");
	assert_true(cfg.dirty_limit_mib[0] == 0);
	assert_true(cfg.dirty_limit_mib[1] == 100);

	ASSERT_FAILS(-EINVAL, "vCPU 1", "--dirty-limit", "1=10");
	ASSERT_FAILS(-EINVAL, "only 2", "-c", "2", "--dirty-limit", "0=1,5=10");
	ASSERT_FAILS(-EINVAL, "twice", "-c", "2", "--dirty-limit", "0=1,0=2");
	ASSERT_FAILS(-ERANGE, "below 256", "-c", "2", "--dirty-limit", "256=1");
	ASSERT_FAILS(-ERANGE, "below 256", "--dirty-limit", "99999999999999999999999=1");
	ASSERT_FAILS(-EINVAL, "CPU=MIB_PER_S", "--dirty-limit", "0=");
	ASSERT_FAILS(-EINVAL, "CPU=MIB_PER_S", "--dirty-limit", "=5");
	ASSERT_FAILS(-EINVAL, "CPU=MIB_PER_S", "--dirty-limit", "0=5,");
	ASSERT_FAILS(-EINVAL, "CPU=MIB_PER_S", "-c", "2", "--dirty-limit", "0=5,,1=3");
	ASSERT_FAILS(-EINVAL, "CPU=MIB_PER_S", "--dirty-limit", "0=x");
	ASSERT_FAILS(-EINVAL, "CPU=MIB_PER_S", "--dirty-limit", "0=5;1=3");
	ASSERT_FAILS(-EINVAL, "CPU=MIB_PER_S", "--dirty-limit", "0==5");
	ASSERT_FAILS(-EINVAL, "CPU=MIB_PER_S", "--dirty-limit", "a=5");
	ASSERT_FAILS(-ERANGE, "at most", "--dirty-limit", "0=1048577");
}

static void test_dirty_limit_period(void **state)
{
	ASSERT_OK("--dirty-limit-period", "1");
	assert_int_equal(cfg.dirty_limit_period_ms, 1);
	ASSERT_OK("--dirty-limit-period=1000");
	assert_int_equal(cfg.dirty_limit_period_ms, 1000);
	ASSERT_FAILS(-ERANGE, "between 1 and 1000", "--dirty-limit-period", "0");
	ASSERT_FAILS(-ERANGE, "between 1 and 1000", "--dirty-limit-period", "1001");
	ASSERT_FAILS(-EINVAL, "--dirty-limit-period", "--dirty-limit-period", "50ms");
}

static void test_dirty_limit_law(void **state)
{
	ASSERT_OK("--dirty-limit-law", "qemu");
	assert_ptr_equal(cfg.dirty_limit_law.law, &dl_law_qemu);
	assert_false(cfg.dirty_limit_law.sync_wait);
	ASSERT_OK("--dirty-limit-law=qemu:sync=wait");
	assert_true(cfg.dirty_limit_law.sync_wait);
	ASSERT_OK("--dirty-limit-law", "pct", "--dirty-limit-law", "bucket");
	assert_ptr_equal(cfg.dirty_limit_law.law, &dl_law_bucket); /* later wins */
	ASSERT_OK("--dirty-limit-law", "linear:ki=0.5,sync=wait");
	assert_ptr_equal(cfg.dirty_limit_law.law, &dl_law_linear);
	assert_int_equal(cfg.dirty_limit_law.ki_milli, 500);
	assert_true(cfg.dirty_limit_law.sync_wait);
	ASSERT_OK("--dirty-limit-law", "linear:ki=1");
	assert_int_equal(cfg.dirty_limit_law.ki_milli, 1000);
	assert_false(cfg.dirty_limit_law.sync_wait); /* options do not carry over */
	ASSERT_FAILS(-EINVAL, "unknown law 'tcp' (laws: bucket, qemu, linear, pct)",
		     "--dirty-limit-law", "tcp");
	ASSERT_FAILS(-EINVAL, "unknown law ''", "--dirty-limit-law", "");
	ASSERT_FAILS(-EINVAL, "unknown law 'QEMU'", "--dirty-limit-law", "QEMU");
	ASSERT_FAILS(-EINVAL, "bucket takes no options", "--dirty-limit-law", "bucket:ki=1");
	ASSERT_FAILS(-EINVAL, "pct takes no options", "--dirty-limit-law", "pct:sync=wait");
	ASSERT_FAILS(-EINVAL, "nothing after ':'", "--dirty-limit-law", "linear:");
	ASSERT_FAILS(-EINVAL, "expected KEY=VALUE, not 'ki'", "--dirty-limit-law", "linear:ki");
	ASSERT_FAILS(-EINVAL, "expected KEY=VALUE, not '=1'", "--dirty-limit-law", "linear:=1");
	ASSERT_FAILS(-EINVAL, "ki=x: expected a number from 0 to 100", "--dirty-limit-law",
		     "linear:ki=x");
	ASSERT_FAILS(-EINVAL, "ki=-1", "--dirty-limit-law", "linear:ki=-1");
	ASSERT_FAILS(-EINVAL, "ki=101", "--dirty-limit-law", "linear:ki=101");
	ASSERT_FAILS(-EINVAL, "ki=nan", "--dirty-limit-law", "linear:ki=nan");
	ASSERT_FAILS(-EINVAL, "unknown option ki=1", "--dirty-limit-law", "qemu:ki=1");
	ASSERT_FAILS(-EINVAL, "unknown option sync=now", "--dirty-limit-law", "qemu:sync=now");
	ASSERT_FAILS(-EINVAL, "at most 127 characters", "--dirty-limit-law",
		     "linear:ki=1,ki=1,ki=1,ki=1,ki=1,ki=1,ki=1,ki=1,ki=1,ki=1,ki=1,ki=1,ki=1,ki=1,"
		     "ki=1,ki=1,ki=1,ki=1,ki=1,ki=1,ki=1,ki=1,ki=1,ki=1,ki=1,ki=1");
	ASSERT_FAILS(-EINVAL, "--dirty-limit-law", "--dirty-limit-law", "tcp");
}

static void test_qmp_unix(void **state)
{
	char path[CLI_QMP_PATH_MAX + 8] = "unix:";

	ASSERT_OK("--qmp", "unix:/tmp/vmm.sock");
	assert_int_equal(cfg.qmp.kind, CLI_QMP_UNIX);
	assert_string_equal(cfg.qmp.path, "/tmp/vmm.sock");
	ASSERT_FAILS(-EINVAL, "empty", "--qmp", "unix:");

	memset(path + 5, 'p', CLI_QMP_PATH_MAX - 1);
	path[5 + CLI_QMP_PATH_MAX - 1] = '\0';
	ASSERT_OK("--qmp", path);
	assert_int_equal(strlen(cfg.qmp.path), 107);
	path[5 + CLI_QMP_PATH_MAX - 1] = 'p';
	path[5 + CLI_QMP_PATH_MAX] = '\0';
	ASSERT_FAILS(-ENAMETOOLONG, "at most 107", "--qmp", path);
}

static void test_name(void **state)
{
	char name[CLI_NAME_MAX + 2];

	ASSERT_OK("--cpus", "1");
	assert_null(cfg.name);
	ASSERT_OK("--name", "guest one");
	assert_string_equal(cfg.name, "guest one");
	memset(name, 'n', CLI_NAME_MAX);
	name[CLI_NAME_MAX] = '\0';
	ASSERT_OK("--name", name);
	assert_int_equal(strlen(cfg.name), CLI_NAME_MAX);
	name[CLI_NAME_MAX] = 'n';
	name[CLI_NAME_MAX + 1] = '\0';
	ASSERT_FAILS(-EINVAL, "1 to 256 bytes", "--name", name);
	ASSERT_FAILS(-EINVAL, "1 to 256 bytes", "--name", "");
}

static void test_qmp_tcp(void **state)
{
	char host[CLI_QMP_HOST_MAX + 32];

	ASSERT_OK("--qmp", "tcp:127.0.0.1:4444");
	assert_int_equal(cfg.qmp.kind, CLI_QMP_TCP);
	assert_string_equal(cfg.qmp.host, "127.0.0.1");
	assert_int_equal(cfg.qmp.port, 4444);
	ASSERT_OK("--qmp", "tcp:localhost:65535");
	assert_string_equal(cfg.qmp.host, "localhost");
	assert_int_equal(cfg.qmp.port, 65535);
	ASSERT_OK("--qmp", "tcp:[::1]:1");
	assert_string_equal(cfg.qmp.host, "::1");
	assert_int_equal(cfg.qmp.port, 1);

	ASSERT_FAILS(-EINVAL, "brackets", "--qmp", "tcp:::1:4444");
	ASSERT_FAILS(-EINVAL, "tcp:HOST:PORT", "--qmp", "tcp:localhost");
	ASSERT_FAILS(-EINVAL, "host is empty", "--qmp", "tcp::4444");
	ASSERT_FAILS(-EINVAL, "host is empty", "--qmp", "tcp:[]:4444");
	ASSERT_FAILS(-EINVAL, "[ADDRESS]", "--qmp", "tcp:[::1]4444");
	ASSERT_FAILS(-EINVAL, "[ADDRESS]", "--qmp", "tcp:[::1");
	ASSERT_FAILS(-EINVAL, "1 to 65535", "--qmp", "tcp:h:0");
	ASSERT_FAILS(-EINVAL, "1 to 65535", "--qmp", "tcp:h:65536");
	ASSERT_FAILS(-EINVAL, "1 to 65535", "--qmp", "tcp:h:");
	ASSERT_FAILS(-EINVAL, "1 to 65535", "--qmp", "tcp:h:http");
	ASSERT_FAILS(-EINVAL, "unix:PATH or tcp:HOST:PORT", "--qmp", "/tmp/sock");
	ASSERT_FAILS(-EINVAL, "unix:PATH or tcp:HOST:PORT", "--qmp", "udp:h:1");

	snprintf(host, sizeof(host), "tcp:%0*d:80", CLI_QMP_HOST_MAX, 0);
	ASSERT_FAILS(-ENAMETOOLONG, "longer than 255", "--qmp", host);
	snprintf(host, sizeof(host), "tcp:%0*d:80", CLI_QMP_HOST_MAX - 1, 0);
	ASSERT_OK("--qmp", host);
	assert_int_equal(strlen(cfg.qmp.host), 255);
}

static void test_stats(void **state)
{
	ASSERT_OK("--stats", "-");
	assert_string_equal(cfg.stats_path, "-");
	ASSERT_OK("--stats=out.jsonl", "--stats-interval", "10");
	assert_string_equal(cfg.stats_path, "out.jsonl");
	assert_int_equal(cfg.stats_interval_ms, 10);
	ASSERT_OK("--stats-interval", "60000");
	assert_int_equal(cfg.stats_interval_ms, 60000);
	ASSERT_FAILS(-EINVAL, "empty", "--stats", "");
	ASSERT_FAILS(-ERANGE, "between 10 and 60000", "--stats-interval", "9");
	ASSERT_FAILS(-ERANGE, "between 10 and 60000", "--stats-interval", "60001");
}

static void test_test_knobs(void **state)
{
	ASSERT_OK("--x-harvester", "simple", "--x-harvest-delay-us", "1000000", "--x-tick-us",
		  "10");
	assert_int_equal(cfg.harvester, CLI_HARVESTER_SIMPLE);
	assert_int_equal(cfg.harvest_delay_us, 1000000);
	assert_int_equal(cfg.tick_us, 10);
	ASSERT_OK("--x-harvester=self", "--x-tick-us=0", "--x-harvest-delay-us=0");
	assert_int_equal(cfg.harvester, CLI_HARVESTER_SELF);
	assert_int_equal(cfg.tick_us, 0);
	ASSERT_OK("--x-tick-us", "1000000");
	assert_int_equal(cfg.tick_us, 1000000);
	ASSERT_FAILS(-EINVAL, "neither self nor simple", "--x-harvester", "both");
	ASSERT_FAILS(-ERANGE, "between 0 and 1000000", "--x-harvest-delay-us", "1000001");
	ASSERT_FAILS(-ERANGE, "0 (automatic) or between 10", "--x-tick-us", "9");
	ASSERT_FAILS(-ERANGE, "between 0 and 1000000", "--x-tick-us", "1000001");
	assert_true(cfg.x_flip_ns == 0);
	assert_false(cfg.x_no_backstop);
	ASSERT_OK("--x-flip-word", "0.5", "--x-no-backstop");
	assert_true(cfg.x_flip_ns == 500000000);
	assert_true(cfg.x_no_backstop);
	ASSERT_FAILS(-EINVAL, "--x-flip-word: \"0\" is not a positive number of seconds",
		     "--x-flip-word", "0");
	ASSERT_FAILS(-EINVAL, "--x-flip-word: \"soon\"", "--x-flip-word", "soon");
	ASSERT_FAILS(-EINVAL, "takes no argument", "--x-no-backstop=1");
}

static void test_bad_words(void **state)
{
	ASSERT_FAILS(-EINVAL, "unknown option --bogus", "--bogus");
	ASSERT_FAILS(-EINVAL, "unknown option --bogus", "--bogus=1");
	ASSERT_FAILS(-EINVAL, "unknown option -z", "-z");
	ASSERT_FAILS(-EINVAL, "unknown option -z", "-m", "1G", "-zc", "2");
	/* An unknown letter inside a cluster after a long option with a value. */
	ASSERT_FAILS(-EINVAL, "unknown option -z", "--mem=1G", "-zh");
	ASSERT_FAILS(-EINVAL, "ambiguous", "--dirty");
	ASSERT_FAILS(-EINVAL, "unexpected argument \"foo\"", "foo");
	ASSERT_FAILS(-EINVAL, "unexpected argument \"kernel.elf\"", "-c", "2", "kernel.elf");
	ASSERT_FAILS(-EINVAL, "unexpected argument \"-m\"", "--", "-m");
	ASSERT_FAILS(-EINVAL, "--mem needs an argument", "--mem");
	ASSERT_FAILS(-EINVAL, "-m needs an argument", "-m");
	ASSERT_FAILS(-EINVAL, "-m needs an argument", "-c", "2", "-m");
	ASSERT_FAILS(-EINVAL, "--qmp needs an argument", "--qmp");
	ASSERT_FAILS(-EINVAL, "is not tcp:HOST:PORT or defer", "--incoming", "unix:/x");
	ASSERT_FAILS(-EINVAL, "--x-incoming-fault needs --incoming", "--x-incoming-fault",
		     "ram1:exit");
	ASSERT_OK("--incoming", "tcp:h:1", "--x-incoming-fault", "end:stall");
	assert_string_equal(cfg.incoming, "tcp:h:1");
	assert_string_equal(cfg.x_incoming_fault, "end:stall");
	ASSERT_OK("--incoming", "defer", "--exit-after-migration");
	assert_true(cfg.exit_after_migration);
	/* Unique abbreviations are getopt_long's, and accepted. */
	ASSERT_OK("--me", "1G", "--dirty-limit-p", "5");
	assert_true(cfg.mem_size == 1ull << 30);
	assert_int_equal(cfg.dirty_limit_period_ms, 5);
}

static void test_reentrant(void **state)
{
	/* A failure halfway through one parse must not leak into the next. */
	ASSERT_FAILS(-EINVAL, "-z", "-c", "2", "-z", "-m", "1G");
	ASSERT_OK("-m", "1G");
	assert_int_equal(cfg.ncpus, 1);
	assert_true(cfg.mem_size == 1ull << 30);
	ASSERT_FAILS(-EINVAL, "-m needs", "-c", "2", "-m");
	ASSERT_OK("-c", "3");
	assert_int_equal(cfg.ncpus, 3);
	for (int i = 0; i < 3; i++) {
		ASSERT_OK("-c", "2", "--dirty-limit", "1=5");
		assert_true(cfg.dirty_limit_mib[1] == 5);
	}
}

static void test_every_error_has_a_message(void **state)
{
	static const char *const bad[][3] = {
	    {"-m", "x", NULL},		{"-c", "0", NULL},
	    {"-d", "x", NULL},		{"--qmp", "x", NULL},
	    {"--stats", "", NULL},	{"-q", NULL, NULL},
	    {"--x-tick-us", "1", NULL}, {"--dirty-limit", "x", NULL},
	    {"x", NULL, NULL},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_true(parse_list(bad[i]) < 0);
		assert_true(strlen(err) > 10);
		/* One sentence, no trailing newline: the caller formats it. */
		assert_null(strchr(err, '\n'));
	}
}

static void test_usage_tells_the_truth(void **state)
{
	static const char *const needles[] = {
	    "-m, --mem SIZE",
	    "(default 512M)",
	    "8M..1T",
	    "a bare number is MiB",
	    "-c, --cpus N",
	    "1..256 (default 1)",
	    "-k, --kernel FILE",
	    "-a, --append ARGS",
	    "at most 4095 bytes",
	    "-d, --duration SECONDS",
	    "run until interrupted",
	    "--dirty-ring-size N",
	    "4096..65536 (default 65536)",
	    "--dirty-limit SPEC",
	    "CPU=MIB_PER_S[,CPU=MIB_PER_S...]",
	    "--dirty-limit-period MS",
	    "1..1000 (default: samples every 50 ms, and each law",
	    "qemu and linear 1000, pct 15000",
	    "--dirty-limit-law NAME[:KEY=VALUE,...]",
	    "(default bucket)",
	    "bucket  a token bucket",
	    "qemu    QEMU 8.1's",
	    "linear  the same sleep",
	    "ki=K adds an integral term",
	    "pct     QEMU's first proposal",
	    "sync=wait",
	    "--qmp ADDR",
	    "unix:PATH or tcp:HOST:PORT",
	    "--stats FILE",
	    "--stats-interval MS",
	    "10..60000",
	    "(default 1000)",
	    "Testing",
	    "--x-harvester self|simple",
	    "(default self)",
	    "--x-harvest-delay-us N",
	    "0..1000000 (default 0)",
	    "--x-tick-us N",
	    "--x-flip-word SECONDS",
	    "--x-no-backstop",
	    "--incoming tcp:HOST:PORT",
	    "--incoming defer",
	    "--exit-after-migration",
	    "--x-incoming-fault STAGE:ACTION",
	    "-h, --help",
	    "-V, --version",
	    "Exit status:",
	    "255 for 255 and above",
	};
	const char *u = cli_usage();

	for (size_t i = 0; i < sizeof(needles) / sizeof(needles[0]); i++)
		if (!strstr(u, needles[i]))
			fail_msg("usage lacks \"%s\"", needles[i]);
	assert_false(leaks_source(u));
	assert_true(u[strlen(u) - 1] == '\n');

	/* No line wider than 100 columns. */
	for (const char *line = u; *line;) {
		const char *nl = strchr(line, '\n');

		assert_non_null(nl);
		assert_true(nl - line <= 100);
		line = nl + 1;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_help_version),
	    cmocka_unit_test(test_mem),
	    cmocka_unit_test(test_cpus),
	    cmocka_unit_test(test_kernel_append),
	    cmocka_unit_test(test_duration),
	    cmocka_unit_test(test_dirty_ring),
	    cmocka_unit_test(test_dirty_limit_all),
	    cmocka_unit_test(test_dirty_limit_per_cpu),
	    cmocka_unit_test(test_dirty_limit_period),
	    cmocka_unit_test(test_dirty_limit_law),
	    cmocka_unit_test(test_qmp_unix),
	    cmocka_unit_test(test_qmp_tcp),
	    cmocka_unit_test(test_name),
	    cmocka_unit_test(test_stats),
	    cmocka_unit_test(test_test_knobs),
	    cmocka_unit_test(test_bad_words),
	    cmocka_unit_test(test_reentrant),
	    cmocka_unit_test(test_every_error_has_a_message),
	    cmocka_unit_test(test_usage_tells_the_truth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
