// SPDX-License-Identifier: MIT
/* Line buffer and capped output buffer; see qmp_framing.h. */
#include "qmp/qmp_framing.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* First allocation of an output buffer: a typical reply fits. */
#define OUTBUF_INITIAL 4096

int qmp_linebuf_init(struct qmp_linebuf *lb, size_t max_line)
{
	memset(lb, 0, sizeof(*lb));
	/* One more byte for the NUL written over the '\n' of a full-length line. */
	lb->buf = malloc(max_line + 1);
	if (!lb->buf)
		return -ENOMEM;
	lb->cap = max_line;
	return 0;
}

void qmp_linebuf_free(struct qmp_linebuf *lb)
{
	free(lb->buf);
	memset(lb, 0, sizeof(*lb));
}

char *qmp_linebuf_space(struct qmp_linebuf *lb, size_t *room)
{
	/* Move the partial line to the front so it can grow to cap. */
	if (lb->start) {
		memmove(lb->buf, lb->buf + lb->start, lb->len - lb->start);
		lb->len -= lb->start;
		lb->start = 0;
	}
	*room = lb->cap - lb->len;
	return lb->buf + lb->len;
}

void qmp_linebuf_commit(struct qmp_linebuf *lb, size_t n)
{
	lb->len += n;
}

int qmp_linebuf_next(struct qmp_linebuf *lb, char **line, size_t *len)
{
	char *p = lb->buf + lb->start, *nl;
	size_t held = lb->len - lb->start;

	nl = memchr(p + lb->scan, '\n', held - lb->scan);
	if (!nl) {
		lb->scan = held;
		return held >= lb->cap ? -EMSGSIZE : 0;
	}
	*line = p;
	*len = nl - p;
	if (*len && p[*len - 1] == '\r')
		(*len)--;
	p[*len] = '\0';
	lb->start += nl - p + 1;
	lb->scan = 0;
	return 1;
}

void qmp_outbuf_init(struct qmp_outbuf *ob, size_t max)
{
	memset(ob, 0, sizeof(*ob));
	ob->max = max;
}

void qmp_outbuf_free(struct qmp_outbuf *ob)
{
	free(ob->buf);
	ob->buf = NULL;
	ob->cap = ob->off = ob->len = 0;
}

int qmp_outbuf_append(struct qmp_outbuf *ob, const char *data, size_t n)
{
	size_t need, cap;
	char *nb;

	if (ob->off == ob->len)
		ob->off = ob->len = 0;
	if (n > ob->max - (ob->len - ob->off))
		return -ENOBUFS;
	need = ob->len + n;
	if (need > ob->cap && ob->off) {
		memmove(ob->buf, ob->buf + ob->off, ob->len - ob->off);
		ob->len -= ob->off;
		ob->off = 0;
		need = ob->len + n;
	}
	if (need > ob->cap) {
		cap = ob->cap ? ob->cap : OUTBUF_INITIAL;
		while (cap < need)
			cap *= 2;
		if (cap > ob->max)
			cap = ob->max;
		nb = realloc(ob->buf, cap);
		if (!nb)
			return -ENOMEM;
		ob->buf = nb;
		ob->cap = cap;
	}
	memcpy(ob->buf + ob->len, data, n);
	ob->len += n;
	return 0;
}

void qmp_outbuf_consume(struct qmp_outbuf *ob, size_t n)
{
	ob->off += n;
	if (ob->off >= ob->len)
		ob->off = ob->len = 0;
}
