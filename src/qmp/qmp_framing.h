/* SPDX-License-Identifier: MIT */
/*
 * Byte streams to lines and back, with bounds: a line buffer for input
 * (one request per line) and a capped output buffer.  Pure: no I/O.
 */
#ifndef QMP_FRAMING_H
#define QMP_FRAMING_H

#include <stdbool.h>
#include <stddef.h>

struct qmp_linebuf {
	char *buf;
	size_t cap;   /* the longest line, '\n' included */
	size_t start; /* first byte not yet returned as a line */
	size_t scan;  /* bytes from start already searched for '\n' */
	size_t len;   /* bytes held, from 0 */
};

int qmp_linebuf_init(struct qmp_linebuf *lb, size_t max_line);
void qmp_linebuf_free(struct qmp_linebuf *lb);

/* Where to put newly read bytes, and how many fit (0 only when a line is too long). */
char *qmp_linebuf_space(struct qmp_linebuf *lb, size_t *room);
void qmp_linebuf_commit(struct qmp_linebuf *lb, size_t n);

/*
 * The next complete line, without its "\n" or "\r\n" and NUL-terminated in
 * place; valid until the next call.  Returns 1 with a line, 0 if none is
 * complete yet, -EMSGSIZE if max_line bytes arrived without a newline.
 */
int qmp_linebuf_next(struct qmp_linebuf *lb, char **line, size_t *len);

struct qmp_outbuf {
	char *buf;
	size_t cap; /* allocated */
	size_t max; /* never grows beyond */
	size_t off; /* first byte not yet sent */
	size_t len; /* bytes held, from 0 */
};

void qmp_outbuf_init(struct qmp_outbuf *ob, size_t max);
void qmp_outbuf_free(struct qmp_outbuf *ob);
/* Queue n bytes: 0, -ENOBUFS if that would hold more than max, -ENOMEM. */
int qmp_outbuf_append(struct qmp_outbuf *ob, const char *data, size_t n);
/* What is waiting to be sent. */
static inline const char *qmp_outbuf_data(const struct qmp_outbuf *ob, size_t *n)
{
	*n = ob->len - ob->off;
	return ob->buf + ob->off;
}
/* n bytes were sent. */
void qmp_outbuf_consume(struct qmp_outbuf *ob, size_t n);
static inline bool qmp_outbuf_empty(const struct qmp_outbuf *ob)
{
	return ob->off == ob->len;
}

#endif /* QMP_FRAMING_H */
