/* SPDX-License-Identifier: MIT */
#include "vmm/runstate.h"

#include <string.h>

void runstate_init(struct runstate *s)
{
	memset(s, 0, sizeof(*s));
}

void runstate_pause(struct runstate *s, unsigned reason, struct runstate_out *out)
{
	memset(out, 0, sizeof(*out));
	if (s->reasons & reason)
		return;
	out->park = s->reasons == 0;
	s->reasons |= reason;
}

void runstate_parked(struct runstate *s, struct runstate_out *out)
{
	memset(out, 0, sizeof(*out));
	if (s->reasons && !s->paused) {
		s->paused = true;
		out->event_stop = true;
	}
}

void runstate_resume(struct runstate *s, unsigned reason, struct runstate_out *out)
{
	memset(out, 0, sizeof(*out));
	if (!(s->reasons & reason))
		return;
	s->reasons &= ~reason;
	if (s->reasons)
		return;
	out->release = true;
	if (s->paused) {
		s->paused = false;
		out->event_resume = true;
	}
}

bool runstate_holds(const struct runstate *s, unsigned reason)
{
	return (s->reasons & reason) != 0;
}
