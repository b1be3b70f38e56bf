// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the stress kernel's command-line parser (guest/cmdline.c),
 * which reads what `--append` (or QEMU's -append) puts in the guest.
 *
 * Input: the command line (up to its first NUL).
 * Checked:
 *   - one warning per token it ignores, and the count it returns is the
 *     number of warnings; each names a token that lies inside the line,
 *     is not empty and holds no blank;
 *   - the configuration is what each token says on its own: the line is
 *     split again here, each key=value token handed to its value parser,
 *     and the result (and the number of tokens ignored) must be the
 *     parser's; a pattern it knows, a working set never set to zero;
 *   - the value parsers, given the whole input as one value without a NUL
 *     after it (every byte is read through its length): a u32 is exactly
 *     the decimal number, and prints back to the same text; a CPU list
 *     written back as ranges parses to the same set.
 */
#include "fuzz.h"

#include <inttypes.h>
#include <string.h>

#include "cmdline.h"

struct warn_log {
	const char *line;
	size_t len;
	unsigned int n;
};

static void on_warn(void *ctx, const char *what, const char *tok, unsigned int len)
{
	struct warn_log *w = ctx;
	unsigned int i;

	FUZZ_CHECK(what && what[0], "a warning without a reason");
	FUZZ_CHECK(tok >= w->line && len > 0 && (size_t)(tok - w->line) + len <= w->len,
		   "a warning's token lies outside the line");
	for (i = 0; i < len; i++)
		FUZZ_CHECK(tok[i] != ' ' && tok[i] != '\t' && tok[i] != '\n' && tok[i] != '\r',
			   "a warning's token holds a blank");
	w->n++;
}

/* Write a CPU set as "a-b,c" (or "none"), then parse it back. */
static void check_cpulist_roundtrip(const uint8_t *set)
{
	char text[4 * STRESS_MAX_CPUS + 8];
	uint8_t back[CPUSET_BYTES];
	size_t n = 0;
	unsigned int cpu = 0, last;

	while (cpu < STRESS_MAX_CPUS) {
		if (!cpuset_has(set, cpu)) {
			cpu++;
			continue;
		}
		for (last = cpu; last + 1 < STRESS_MAX_CPUS && cpuset_has(set, last + 1); last++)
			;
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s%u-%u", n ? "," : "", cpu,
				      last);
		cpu = last + 1;
	}
	if (n == 0)
		n = (size_t)snprintf(text, sizeof(text), "none");
	memset(back, 0xa5, sizeof(back));
	FUZZ_CHECK(cmdline_parse_cpulist(text, (unsigned int)n, back) == 0 &&
		       !memcmp(back, set, CPUSET_BYTES),
		   "CPU set written as \"%s\" does not parse back", text);
}

static void check_values(const uint8_t *data, size_t size)
{
	char *v = malloc(size ? size : 1); /* no NUL after the value */
	unsigned int len = (unsigned int)size;
	uint8_t set[CPUSET_BYTES];
	uint64_t want = 0;
	uint32_t u = 0;
	size_t i;
	bool digits = size > 0;

	if (!v)
		abort();
	memcpy(v, data, size);
	for (i = 0; i < size; i++) {
		if (v[i] < '0' || v[i] > '9') {
			digits = false;
			break;
		}
		want = want * 10 + (uint64_t)(v[i] - '0');
		if (want > UINT32_MAX)
			digits = false; /* too large: refused */
	}
	if (cmdline_parse_u32(v, len, &u) == 0) {
		char back[16];

		FUZZ_CHECK(digits && u == want, "u32 accepted, value %" PRIu32, u);
		snprintf(back, sizeof(back), "%" PRIu32, u);
		/* Leading zeros are the only other spelling. */
		FUZZ_CHECK(strlen(back) <= size &&
			       !memcmp(back, v + size - strlen(back), strlen(back)),
			   "%" PRIu32 " does not print back", u);
	} else {
		FUZZ_CHECK(!digits, "u32 %" PRIu64 " refused", want);
	}
	memset(set, 0, sizeof(set));
	if (cmdline_parse_cpulist(v, len, set) == 0)
		check_cpulist_roundtrip(set);
	free(v);
}

static bool same(const struct stress_config *a, const struct stress_config *b)
{
	return a->wss == b->wss && a->pattern == b->pattern && a->rate_mib == b->rate_mib &&
	       a->report_ms == b->report_ms && !memcmp(a->writers, b->writers, CPUSET_BYTES) &&
	       !memcmp(a->readers, b->readers, CPUSET_BYTES);
}

static bool key_is(const char *tok, unsigned int klen, const char *key)
{
	return strlen(key) == klen && !memcmp(tok, key, klen);
}

/* The line token by token, as docs/guest.md describes it; returns the tokens ignored. */
static unsigned int reference(struct stress_config *c, const char *line)
{
	unsigned int ignored = 0;
	bool first = true;

	for (;;) {
		unsigned int len, klen, vlen;
		const char *tok, *eq, *val;
		int bad = 0;

		line += strspn(line, " \t\n\r");
		if (!*line)
			break;
		tok = line;
		len = (unsigned int)strcspn(tok, " \t\n\r");
		line += len;
		eq = memchr(tok, '=', len);
		if (first && !eq) {
			first = false; /* the kernel's own name */
			continue;
		}
		first = false;
		if (!eq) {
			ignored++;
			continue;
		}
		klen = (unsigned int)(eq - tok);
		val = eq + 1;
		vlen = len - klen - 1;
		if (key_is(tok, klen, "wss")) {
			uint64_t v;

			bad = cmdline_parse_size(val, vlen, &v) || v == 0;
			if (!bad)
				c->wss = v;
		} else if (key_is(tok, klen, "pattern")) {
			if (vlen == 3 && !memcmp(val, "seq", 3))
				c->pattern = STRESS_PATTERN_SEQ;
			else if (vlen == 6 && !memcmp(val, "random", 6))
				c->pattern = STRESS_PATTERN_RANDOM;
			else
				bad = 1;
		} else if (key_is(tok, klen, "rate")) {
			bad = cmdline_parse_u32(val, vlen, &c->rate_mib);
		} else if (key_is(tok, klen, "report")) {
			bad = cmdline_parse_u32(val, vlen, &c->report_ms);
		} else if (key_is(tok, klen, "writers")) {
			bad = cmdline_parse_cpulist(val, vlen, c->writers);
		} else if (key_is(tok, klen, "readers")) {
			bad = cmdline_parse_cpulist(val, vlen, c->readers);
		} else {
			bad = 1;
		}
		ignored += bad != 0;
	}
	return ignored;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stress_config cfg, dflt, ref;
	struct warn_log w;
	unsigned int n;
	size_t len = strnlen((const char *)data, size);
	char *line = malloc(len + 1);

	if (!line)
		abort();
	memcpy(line, data, len);
	line[len] = '\0';

	cmdline_defaults(&cfg);
	cmdline_defaults(&dflt);
	cmdline_defaults(&ref);
	w = (struct warn_log){.line = line, .len = len};
	n = cmdline_parse(&cfg, line, on_warn, &w);
	FUZZ_CHECK(n == w.n, "returned %u warnings, gave %u", n, w.n);
	FUZZ_CHECK(cfg.pattern == STRESS_PATTERN_SEQ || cfg.pattern == STRESS_PATTERN_RANDOM,
		   "pattern %" PRIu32, cfg.pattern);
	FUZZ_CHECK(cfg.wss != 0 || dflt.wss == 0, "wss set to 0");
	FUZZ_CHECK(cmdline_parse(&dflt, line, NULL, NULL) == n && same(&dflt, &cfg),
		   "no warning callback: another result");
	FUZZ_CHECK(reference(&ref, line) == n && same(&ref, &cfg),
		   "the tokens on their own say otherwise");
	fuzz_valid(n == 0, "guest command line", "warnings");
	free(line);

	check_values(data, size);
	return 0;
}
