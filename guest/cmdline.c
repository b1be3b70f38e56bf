// SPDX-License-Identifier: MIT
/* The stress kernel's command-line parser (see cmdline.h). */
#include "cmdline.h"

#define KIB 1024ull

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool token_is(const char *s, unsigned int len, const char *word)
{
	unsigned int i;

	/* Stop at the word's end: the token may hold a NUL too. */
	for (i = 0; i < len; i++)
		if (word[i] == '\0' || word[i] != s[i])
			return false;
	return word[len] == '\0';
}

static void cpuset_fill(uint8_t *set, uint8_t val)
{
	unsigned int i;

	for (i = 0; i < CPUSET_BYTES; i++)
		set[i] = val;
}

bool cpuset_has(const uint8_t *set, unsigned int cpu)
{
	return cpu < STRESS_MAX_CPUS && (set[cpu / 8] >> (cpu % 8)) & 1;
}

void cmdline_defaults(struct stress_config *cfg)
{
	cfg->wss = 0;
	cfg->pattern = STRESS_PATTERN_SEQ;
	cfg->rate_mib = 0;
	cfg->report_ms = CMDLINE_DEFAULT_REPORT_MS;
	cpuset_fill(cfg->writers, 0xff);
	cpuset_fill(cfg->readers, 0xff);
}

/* Digits only, at most 2^64 - 1: 0 or -1; *used is how many were digits. */
static int parse_digits(const char *s, unsigned int len, uint64_t *out, unsigned int *used)
{
	uint64_t val = 0;
	unsigned int i;

	for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		uint64_t digit = (uint64_t)(s[i] - '0');

		if (val > (UINT64_MAX - digit) / 10)
			return -1;
		val = val * 10 + digit;
	}
	if (i == 0)
		return -1;
	*out = val;
	*used = i;
	return 0;
}

int cmdline_parse_u32(const char *s, unsigned int len, uint32_t *out)
{
	uint64_t val;
	unsigned int used;

	if (parse_digits(s, len, &val, &used) || used != len || val > UINT32_MAX)
		return -1;
	*out = (uint32_t)val;
	return 0;
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

int cmdline_parse_size(const char *s, unsigned int len, uint64_t *out)
{
	uint64_t val, mult = 1;
	unsigned int used, rest;

	if (parse_digits(s, len, &val, &used))
		return -1;
	rest = len - used;
	s += used;
	if (rest) {
		switch (lower(s[0])) {
		case 'k':
			mult = KIB;
			break;
		case 'm':
			mult = KIB * KIB;
			break;
		case 'g':
			mult = KIB * KIB * KIB;
			break;
		case 't':
			mult = KIB * KIB * KIB * KIB;
			break;
		default:
			return -1;
		}
		/* "64M", "64MB", "64MiB", as vmm's own options take them. */
		if (!(rest == 1 || (rest == 2 && lower(s[1]) == 'b') ||
		      (rest == 3 && lower(s[1]) == 'i' && lower(s[2]) == 'b')))
			return -1;
	}
	if (val > UINT64_MAX / mult)
		return -1;
	*out = val * mult;
	return 0;
}

int cmdline_parse_cpulist(const char *s, unsigned int len, uint8_t *set)
{
	uint8_t tmp[CPUSET_BYTES];
	unsigned int pos = 0;

	if (token_is(s, len, "all")) {
		cpuset_fill(set, 0xff);
		return 0;
	}
	cpuset_fill(tmp, 0);
	if (!token_is(s, len, "none")) {
		for (;;) {
			uint64_t lo, hi, cpu;
			unsigned int used;

			if (parse_digits(s + pos, len - pos, &lo, &used))
				return -1;
			pos += used;
			hi = lo;
			if (pos < len && s[pos] == '-') {
				pos++;
				if (parse_digits(s + pos, len - pos, &hi, &used))
					return -1;
				pos += used;
			}
			if (hi < lo || hi >= STRESS_MAX_CPUS)
				return -1;
			for (cpu = lo; cpu <= hi; cpu++)
				tmp[cpu / 8] |= (uint8_t)(1u << (cpu % 8));
			if (pos == len)
				break;
			if (s[pos] != ',')
				return -1;
			pos++;
		}
	}
	for (pos = 0; pos < CPUSET_BYTES; pos++)
		set[pos] = tmp[pos];
	return 0;
}

static int parse_pattern(const char *s, unsigned int len, uint32_t *out)
{
	if (token_is(s, len, "seq"))
		*out = STRESS_PATTERN_SEQ;
	else if (token_is(s, len, "random"))
		*out = STRESS_PATTERN_RANDOM;
	else
		return -1;
	return 0;
}

/* One key=value token; returns 0, or 1 after warning. */
static unsigned int parse_token(struct stress_config *cfg, const char *tok, unsigned int len,
				cmdline_warn_fn *warn, void *ctx)
{
	const char *val;
	unsigned int klen, vlen;
	int err;

	for (klen = 0; klen < len && tok[klen] != '='; klen++)
		;
	if (klen == len) {
		if (warn)
			warn(ctx, "not key=value, ignored", tok, len);
		return 1;
	}
	val = tok + klen + 1;
	vlen = len - klen - 1;

	if (token_is(tok, klen, "wss")) {
		uint64_t wss;

		err = cmdline_parse_size(val, vlen, &wss) || wss == 0;
		if (!err)
			cfg->wss = wss;
	} else if (token_is(tok, klen, "writers")) {
		err = cmdline_parse_cpulist(val, vlen, cfg->writers);
	} else if (token_is(tok, klen, "readers")) {
		err = cmdline_parse_cpulist(val, vlen, cfg->readers);
	} else if (token_is(tok, klen, "pattern")) {
		err = parse_pattern(val, vlen, &cfg->pattern);
	} else if (token_is(tok, klen, "rate")) {
		err = cmdline_parse_u32(val, vlen, &cfg->rate_mib);
	} else if (token_is(tok, klen, "report")) {
		err = cmdline_parse_u32(val, vlen, &cfg->report_ms);
	} else {
		if (warn)
			warn(ctx, "unknown parameter, ignored", tok, len);
		return 1;
	}
	if (err) {
		if (warn)
			warn(ctx, "bad value, ignored", tok, len);
		return 1;
	}
	return 0;
}

unsigned int cmdline_parse(struct stress_config *cfg, const char *line, cmdline_warn_fn *warn,
			   void *ctx)
{
	unsigned int warnings = 0;
	bool first = true;

	if (!line)
		return 0;
	for (;;) {
		const char *tok;
		unsigned int len = 0;
		bool has_eq = false;

		while (is_space(*line))
			line++;
		if (*line == '\0')
			break;
		tok = line;
		while (tok[len] != '\0' && !is_space(tok[len])) {
			if (tok[len] == '=')
				has_eq = true;
			len++;
		}
		line += len;
		if (first && !has_eq) {
			first = false;
			continue; /* the kernel's path */
		}
		first = false;
		warnings += parse_token(cfg, tok, len, warn, ctx);
	}
	return warnings;
}
