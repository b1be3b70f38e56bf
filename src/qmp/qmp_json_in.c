// SPDX-License-Identifier: MIT
/*
 * JSON values from a byte stream, cut where QEMU's streamer cuts them; see
 * qmp_json.h.  The lexer below follows QEMU's lexer state for state (what
 * is a token, what is a lexical error, how it recovers) so that the same
 * input gives the same replies in the same number; json-c parses each
 * complete value.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmp/qmp_json.h"

enum lx_state {
	LX_START,
	LX_RECOVERY, /* after a lexical error: skip to a structural or control byte */
	LX_STR,
	LX_STR_ESC,
	LX_ZERO,
	LX_SIGN,
	LX_DIGITS,
	LX_MANT,
	LX_MANT_DIGITS,
	LX_EXP_E,
	LX_EXP_SIGN,
	LX_EXP_DIGITS,
	LX_KEYWORD,
};

enum tok_type {
	TOK_LCURLY,
	TOK_RCURLY,
	TOK_LSQUARE,
	TOK_RSQUARE,
	TOK_COLON,
	TOK_COMMA,
	TOK_OTHER
};

enum step {
	STEP_OK,
	STEP_DONE,
	STEP_ERROR
};

/* Prefix of every syntax error, QEMU's. */
#define PARSE_ERR "JSON parse error, "

int qmp_json_in_init(struct qmp_json_in *in, size_t max_len, int max_depth)
{
	memset(in, 0, sizeof(*in));
	in->buf = malloc(max_len);
	if (!in->buf)
		return -ENOMEM;
	in->max_len = max_len;
	in->max_depth = max_depth;
	in->state = LX_START;
	return 0;
}

void qmp_json_in_free(struct qmp_json_in *in)
{
	free(in->buf);
	in->buf = NULL;
}

bool qmp_json_in_partial(const struct qmp_json_in *in)
{
	return in->in_value;
}

/* Forget the value under way (after it was delivered or reported). */
static void reset_value(struct qmp_json_in *in)
{
	in->len = 0;
	in->tok = 0;
	in->braces = in->brackets = 0;
	in->pairs = 0;
	in->in_value = in->discard = in->rewrite = false;
	in->utf8_left = in->hex_left = 0;
	in->want_low = in->low_slash = false;
	in->late = false;
}

static void set_desc(char *desc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_desc(char *desc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(desc, QMP_JSON_ERR_MAX, fmt, ap);
	va_end(ap);
}

/* An error inside a token: QEMU's parser finds it when the value is complete. */
static void late_error(struct qmp_json_in *in, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void late_error(struct qmp_json_in *in, size_t at, const char *fmt, ...)
{
	va_list ap;

	if (in->late || in->discard)
		return;
	in->late = true;
	in->late_at = at;
	va_start(ap, fmt);
	vsnprintf(in->late_desc, sizeof(in->late_desc), fmt, ap);
	va_end(ap);
}

/* "\uXXXX is not a valid Unicode character", quoting the escape as sent. */
static void bad_escape(struct qmp_json_in *in, size_t at)
{
	size_t n = in->len - at < 6 ? in->len - at : 6;

	late_error(in, at, PARSE_ERR "%.*s is not a valid Unicode character", (int)n, in->buf + at);
}

/*
 * Keep byte c of the value.  False when that would exceed max_len: the
 * value is then reported as too long and skipped to its end.
 */
static bool put(struct qmp_json_in *in, unsigned char c)
{
	if (in->discard)
		return true;
	if (in->len >= in->max_len) {
		in->discard = true;
		in->len = 0;
		return false;
	}
	in->buf[in->len++] = (char)c;
	return true;
}

/* The value outgrew max_len (put() said so): report it once, skip to its end. */
static enum step too_long(struct qmp_json_in *in, char *desc)
{
	(void)in;
	set_desc(desc, "JSON token size limit exceeded");
	return STEP_ERROR;
}

/* QEMU's report of a lexical error: the token so far, the bad byte included. */
static void stray(struct qmp_json_in *in, char *desc)
{
	size_t n = in->discard ? 0 : in->len - in->tok;
	const char *t = in->buf + in->tok;
	const char *nul = memchr(t, '\0', n);

	/* QEMU prints the token as a C string: it ends at a NUL byte. */
	if (nul)
		n = nul - t;
	if (n > QMP_JSON_STRAY_MAX)
		n = QMP_JSON_STRAY_MAX;
	set_desc(desc, PARSE_ERR "stray '%.*s'", (int)n, t);
	reset_value(in);
	in->state = LX_RECOVERY;
}

/* Does the integer token [t, t+n) fit in int64 (negative) or uint64? */
static bool int_fits(const char *t, size_t n)
{
	static const char *const max_neg = "9223372036854775808", *const max_pos =
								      "18446744073709551615";
	const char *max = max_pos;
	size_t mlen;

	if (*t == '-') {
		t++;
		n--;
		max = max_neg;
	}
	mlen = strlen(max);
	if (n != mlen)
		return n < mlen;
	return memcmp(t, max, n) <= 0;
}

static void end_keyword(struct qmp_json_in *in)
{
	const char *t = in->buf + in->tok;
	size_t n = in->len - in->tok;

	if (in->discard)
		return;
	if ((n == 4 && !memcmp(t, "true", 4)) || (n == 5 && !memcmp(t, "false", 5)) ||
	    (n == 4 && !memcmp(t, "null", 4)))
		return;
	late_error(in, in->tok, PARSE_ERR "invalid keyword '%.*s'",
		   (int)(n > QMP_JSON_STRAY_MAX ? QMP_JSON_STRAY_MAX : n), t);
}

/* A token is complete: count brackets as QEMU's streamer does. */
static enum step end_token(struct qmp_json_in *in, enum tok_type type, char *desc)
{
	enum step r = STEP_OK;

	switch (type) {
	case TOK_LCURLY:
		in->braces++;
		break;
	case TOK_RCURLY:
		in->braces--;
		break;
	case TOK_LSQUARE:
		in->brackets++;
		break;
	case TOK_RSQUARE:
		in->brackets--;
		break;
	case TOK_COLON:
		in->pairs++;
		break;
	default:
		break;
	}
	in->state = LX_START;
	if (!in->discard && in->braces + in->brackets > in->max_depth) {
		set_desc(desc, "JSON nesting depth limit exceeded");
		in->discard = true;
		in->len = 0;
		r = STEP_ERROR;
	}
	if (in->braces < 0 || in->brackets < 0 || (in->braces == 0 && in->brackets == 0)) {
		/* A value reported as over a limit ends here, silently. */
		if (in->discard || r == STEP_ERROR) {
			reset_value(in);
			return r;
		}
		return STEP_DONE;
	}
	return r;
}

/* A number token ended (the byte after it is not part of it). */
static enum step end_number(struct qmp_json_in *in, char *desc)
{
	if (!in->discard && in->num_int && !int_fits(in->buf + in->tok, in->len - in->tok))
		in->rewrite = true; /* becomes a double, as in QEMU */
	return end_token(in, TOK_OTHER, desc);
}

/* A \uXXXX escape is complete, its value in hex_cp. */
static void end_escape(struct qmp_json_in *in)
{
	uint32_t cp = in->hex_cp;

	if (in->want_low) {
		if (cp < 0xDC00 || cp > 0xDFFF)
			bad_escape(in, in->high_at);
		in->want_low = false;
		return;
	}
	if (cp == 0)
		late_error(in, in->esc_at, PARSE_ERR "%.6s is not supported", in->buf + in->esc_at);
	else if (cp >= 0xD800 && cp <= 0xDBFF) {
		in->want_low = true;
		in->low_slash = false;
		in->high_at = in->esc_at;
	} else if (cp >= 0xDC00 && cp <= 0xDFFF)
		bad_escape(in, in->esc_at);
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* One byte of a string's text (not a quote, backslash or control byte): check its UTF-8. */
static void string_utf8(struct qmp_json_in *in, unsigned char c)
{
	if (in->utf8_left) {
		if ((c & 0xC0) == 0x80) {
			in->utf8_cp = (in->utf8_cp << 6) | (c & 0x3F);
			if (--in->utf8_left == 0 &&
			    (in->utf8_cp < in->utf8_min || in->utf8_cp > 0x10FFFF ||
			     (in->utf8_cp >= 0xD800 && in->utf8_cp <= 0xDFFF)))
				late_error(in, in->tok,
					   PARSE_ERR "invalid UTF-8 sequence in string");
			return;
		}
		late_error(in, in->tok, PARSE_ERR "invalid UTF-8 sequence in string");
		in->utf8_left = 0;
	}
	if (c < 0x80)
		return;
	/* Overlong forms (0xC0 0x80 is QEMU's NUL), surrogates and beyond U+10FFFF are refused. */
	if (c >= 0xC2 && c <= 0xDF) {
		in->utf8_left = 1;
		in->utf8_cp = c & 0x1F;
		in->utf8_min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		in->utf8_left = 2;
		in->utf8_cp = c & 0x0F;
		in->utf8_min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		in->utf8_left = 3;
		in->utf8_cp = c & 0x07;
		in->utf8_min = 0x10000;
	} else {
		late_error(in, in->tok, PARSE_ERR "invalid UTF-8 sequence in string");
	}
}

static enum step lex_string(struct qmp_json_in *in, unsigned char c, bool *consumed, char *desc)
{
	bool fits;

	/* QEMU's lexer: control bytes and 0xFE, 0xFF end a string with an error. */
	if (c < 0x20 || c >= 0xFE) {
		put(in, c);
		stray(in, desc);
		return STEP_ERROR;
	}
	fits = put(in, c);
	/* After a high surrogate's escape, only its low half's may follow. */
	if (in->want_low && !in->low_slash && !in->hex_left && c != '\\') {
		bad_escape(in, in->high_at);
		in->want_low = false;
	}
	if (in->hex_left) {
		int h = hexval(c);

		if (h >= 0) {
			in->hex_cp = (in->hex_cp << 4) | (uint32_t)h;
			if (--in->hex_left == 0)
				end_escape(in);
			goto out;
		}
		/* json-c refuses it too; QEMU quotes the escape. */
		bad_escape(in, in->esc_at);
		in->hex_left = 0;
	}
	if (c == '\\') {
		if (in->want_low)
			in->low_slash = true;
		in->state = LX_STR_ESC;
	} else if (c == (unsigned char)in->quote) {
		if (in->utf8_left)
			late_error(in, in->tok, PARSE_ERR "invalid UTF-8 sequence in string");
		in->utf8_left = 0;
		in->want_low = false;
		return fits ? end_token(in, TOK_OTHER, desc) : too_long(in, desc);
	} else {
		string_utf8(in, c);
		/* A '"' in a single-quoted string needs escaping for json-c. */
		if (c == '"')
			in->rewrite = true;
	}
out:
	return fits ? STEP_OK : too_long(in, desc);
}

static enum step lex_escape(struct qmp_json_in *in, unsigned char c, char *desc)
{
	bool fits;

	if (c < 0x20 || c >= 0xFE) {
		put(in, c);
		stray(in, desc);
		return STEP_ERROR;
	}
	fits = put(in, c);
	in->state = LX_STR;
	if (in->want_low && c != 'u') {
		bad_escape(in, in->high_at);
		in->want_low = false;
	}
	in->low_slash = false;
	if (c == 'u') {
		in->hex_left = 4;
		in->hex_cp = 0;
		in->esc_at = in->len >= 2 ? in->len - 2 : 0;
	} else if (c == '\'') {
		/* QEMU's extra escape; json-c knows it only in single-quoted strings. */
		in->rewrite = true;
	}
	return fits ? STEP_OK : too_long(in, desc);
}

/* Where the number lexer goes from state s on digit/sign/dot/exponent byte c; -1 ends it. */
static int number_next(int s, unsigned char c)
{
	bool digit = c >= '0' && c <= '9';

	switch (s) {
	case LX_ZERO:
		return c == '.' ? LX_MANT : digit ? -2 : -1;
	case LX_SIGN:
		return c == '0' ? LX_ZERO : digit ? LX_DIGITS : -2;
	case LX_DIGITS:
		return digit			? LX_DIGITS
		       : (c == 'e' || c == 'E') ? LX_EXP_E
		       : c == '.'		? LX_MANT
						: -1;
	case LX_MANT:
		return digit ? LX_MANT_DIGITS : -2;
	case LX_MANT_DIGITS:
		return digit ? LX_MANT_DIGITS : (c == 'e' || c == 'E') ? LX_EXP_E : -1;
	case LX_EXP_E:
		return (c == '+' || c == '-') ? LX_EXP_SIGN : digit ? LX_EXP_DIGITS : -2;
	case LX_EXP_SIGN:
		return digit ? LX_EXP_DIGITS : -2;
	case LX_EXP_DIGITS:
		return digit ? LX_EXP_DIGITS : -1;
	}
	return -2;
}

/* -2 in number_next: a lexical error. */
static enum step lex_number(struct qmp_json_in *in, unsigned char c, bool *consumed, char *desc)
{
	int next = number_next(in->state, c);

	if (next == -1) {
		*consumed = false; /* the byte after the number: look at it again */
		return end_number(in, desc);
	}
	if (!put(in, c))
		return too_long(in, desc);
	if (next == -2) {
		stray(in, desc);
		return STEP_ERROR;
	}
	if (next != LX_DIGITS && next != LX_ZERO)
		in->num_int = false;
	in->state = next;
	return STEP_OK;
}

static enum step lex_start(struct qmp_json_in *in, unsigned char c, char *desc)
{
	enum tok_type t;
	enum step r;
	bool fits;

	if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
		/* Inside a value the separation matters ([1 2]); before one it does not. */
		if (in->in_value && !put(in, c))
			return too_long(in, desc);
		return STEP_OK;
	}
	if (!in->in_value)
		in->len = 0;
	in->in_value = true;
	in->tok = in->discard ? 0 : in->len;
	fits = put(in, c);
	switch (c) {
	case '{':
		t = TOK_LCURLY;
		break;
	case '}':
		t = TOK_RCURLY;
		break;
	case '[':
		t = TOK_LSQUARE;
		break;
	case ']':
		t = TOK_RSQUARE;
		break;
	case ':':
		t = TOK_COLON;
		break;
	case ',':
		t = TOK_COMMA;
		break;
	case '"':
	case '\'':
		in->quote = (char)c;
		in->utf8_left = in->hex_left = 0;
		in->want_low = false;
		if (c == '\'')
			in->rewrite = true;
		in->state = LX_STR;
		return fits ? STEP_OK : too_long(in, desc);
	case '-':
	case '0':
	case '1':
	case '2':
	case '3':
	case '4':
	case '5':
	case '6':
	case '7':
	case '8':
	case '9':
		in->num_int = true;
		in->state = c == '-' ? LX_SIGN : c == '0' ? LX_ZERO : LX_DIGITS;
		return fits ? STEP_OK : too_long(in, desc);
	default:
		if (c >= 'a' && c <= 'z') {
			in->state = LX_KEYWORD;
			return fits ? STEP_OK : too_long(in, desc);
		}
		stray(in, desc);
		return STEP_ERROR;
	}
	r = end_token(in, t, desc);
	return fits ? r : too_long(in, desc);
}

/* One byte in the current state; *consumed false: feed the same byte again. */
static enum step lex(struct qmp_json_in *in, unsigned char c, bool *consumed, char *desc)
{
	*consumed = true;
	switch (in->state) {
	case LX_START:
		return lex_start(in, c, desc);
	case LX_RECOVERY:
		if ((c < 0x20 && c != '\t') || c >= 0xFE || strchr("[]{}:,", c)) {
			in->state = LX_START;
			*consumed = false;
		}
		return STEP_OK;
	case LX_STR:
		return lex_string(in, c, consumed, desc);
	case LX_STR_ESC:
		return lex_escape(in, c, desc);
	case LX_KEYWORD:
		if (c >= 'a' && c <= 'z')
			return put(in, c) ? STEP_OK : too_long(in, desc);
		*consumed = false;
		end_keyword(in);
		return end_token(in, TOK_OTHER, desc);
	default:
		return lex_number(in, c, consumed, desc);
	}
}

/*
 * QEMU's extensions in plain JSON for json-c: single-quoted strings
 * double-quoted, \' unescaped, integers beyond 64 bits made doubles (QEMU
 * parses them with strtod()).  The text was checked by the lexer: strings
 * are closed and escapes complete.  Returns a malloc'd copy.
 */
static char *normalise(const char *t, size_t n, size_t *outlen)
{
	char *o = malloc(2 * n + 1), *p = o;
	size_t i = 0, j;

	if (!o)
		return NULL;
	while (i < n) {
		char c = t[i];

		if (c == '"' || c == '\'') {
			*p++ = '"';
			for (i++; t[i] != c; i++) {
				if (t[i] == '\\') {
					if (t[i + 1] != '\'')
						*p++ = '\\';
					*p++ = t[++i];
				} else if (t[i] == '"') {
					*p++ = '\\';
					*p++ = '"';
				} else {
					*p++ = t[i];
				}
			}
			*p++ = '"';
			i++;
		} else if (c == '-' || (c >= '0' && c <= '9')) {
			bool integer = true;

			for (j = i; j < n && strchr("0123456789+-.eE", t[j]); j++)
				if (t[j] == '.' || t[j] == 'e' || t[j] == 'E')
					integer = false;
			memcpy(p, t + i, j - i);
			p += j - i;
			if (integer && !int_fits(t + i, j - i)) {
				memcpy(p, ".0", 2);
				p += 2;
			}
			i = j;
		} else {
			*p++ = c;
			i++;
		}
	}
	*p = '\0';
	*outlen = p - o;
	return o;
}

/* json-c's complaints in QEMU's words, where one matches. */
static const char *jerr_words(enum json_tokener_error e)
{
	switch (e) {
	case json_tokener_error_parse_unexpected:
	case json_tokener_error_parse_eof:
		return "expecting value";
	case json_tokener_error_parse_array:
		return "expected separator in list";
	case json_tokener_error_parse_object_key_name:
		return "key is not a string in object";
	case json_tokener_error_parse_object_key_sep:
		return "missing : in object pair";
	case json_tokener_error_parse_object_value_sep:
		return "expected separator in dict";
	case json_tokener_error_parse_string:
		return "invalid escape sequence in string";
	case json_tokener_error_parse_utf8_string:
		return "invalid UTF-8 sequence in string";
	default:
		return json_tokener_error_desc(e);
	}
}

/*
 * Members of every object in the tree, and whether every number is finite.
 * json-c keeps the last of two equal keys: fewer members than the ':' the
 * lexer counted means a duplicate key.
 */
static unsigned count_members(json_object *o, bool *finite)
{
	unsigned n = 0;
	size_t i, len;

	switch (json_object_get_type(o)) {
	case json_type_object: {
		/* Braces: the macro declares variables, which a label may not precede in C17. */
		json_object_object_foreach(o, k, v)
		{
			(void)k;
			n += 1 + count_members(v, finite);
		}
		break;
	}
	case json_type_array:
		len = json_object_array_length(o);
		for (i = 0; i < len; i++)
			n += count_members(json_object_array_get_idx(o, i), finite);
		break;
	case json_type_double:
		if (!isfinite(json_object_get_double(o)))
			*finite = false;
		break;
	default:
		break;
	}
	return n;
}

/* The value in buf is complete: parse it. */
static int parse_value(struct qmp_json_in *in, json_object **value, char *desc)
{
	enum json_tokener_error jerr;
	struct json_tokener *tok;
	const char *text = in->buf;
	char *copy = NULL;
	size_t len = in->len, end;
	bool finite = true;
	json_object *o;

	if (in->rewrite) {
		copy = normalise(in->buf, in->len, &len);
		if (!copy)
			return -ENOMEM;
		text = copy;
	}
	tok = json_tokener_new_ex(in->max_depth + 1);
	if (!tok) {
		free(copy);
		return -ENOMEM;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	/* A bare number waits for a delimiter: the value's end is one. */
	if (jerr == json_tokener_continue) {
		o = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
		end = len;
	}
	json_tokener_free(tok);
	free(copy);
	/*
	 * QEMU reports the first problem in the text: one inside a token, or
	 * json-c's.  At the same place, QEMU parsed the token as a value (and
	 * found its flaw) unless it was looking for a separator there.
	 */
	if (in->late && (jerr == json_tokener_success || in->late_at < end ||
			 (in->late_at == end && jerr != json_tokener_error_parse_object_key_sep &&
			  jerr != json_tokener_error_parse_object_value_sep &&
			  jerr != json_tokener_error_parse_array))) {
		json_object_put(o);
		set_desc(desc, "%s", in->late_desc);
		return QMP_JSON_ERROR;
	}
	if (jerr != json_tokener_success) {
		json_object_put(o);
		if (jerr == json_tokener_error_depth)
			set_desc(desc, "JSON nesting depth limit exceeded");
		else
			set_desc(desc, PARSE_ERR "%s", jerr_words(jerr));
		return QMP_JSON_ERROR;
	}
	if (count_members(o, &finite) != in->pairs) {
		json_object_put(o);
		set_desc(desc, PARSE_ERR "duplicate key");
		return QMP_JSON_ERROR;
	}
	/* QEMU would send back "inf", which no JSON parser reads. */
	if (!finite) {
		json_object_put(o);
		set_desc(desc, PARSE_ERR "number out of range");
		return QMP_JSON_ERROR;
	}
	*value = o;
	return QMP_JSON_VALUE;
}

int qmp_json_in_feed(struct qmp_json_in *in, const char *p, size_t n, size_t *used,
		     json_object **value, char desc[QMP_JSON_ERR_MAX])
{
	size_t i = 0;
	bool consumed;
	enum step s;
	int r;

	*value = NULL;
	desc[0] = '\0';
	while (i < n) {
		s = lex(in, (unsigned char)p[i], &consumed, desc);
		if (consumed)
			i++;
		if (s == STEP_OK)
			continue;
		*used = i;
		if (s == STEP_ERROR)
			return QMP_JSON_ERROR;
		r = parse_value(in, value, desc);
		reset_value(in);
		return r;
	}
	*used = i;
	return QMP_JSON_MORE;
}
