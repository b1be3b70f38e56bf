/* SPDX-License-Identifier: MIT */
#include "dirtylimit/dl_stats.h"

#include <string.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>

#include <json-c/json.h>

#include "dirtylimit/dl_ctrl.h"
#include "vmm/nbout.h"
#include "vmm/vm.h"

void dl_stats_open(struct dl_ctrl *c, struct nbout *out, unsigned interval_ms)
{
	c->stats = out;
	c->stats_interval_ns = (uint64_t)interval_ms * 1000000ull;
	c->stats_prev_ns = vmm_now_ns();
	c->stats_next_ns = c->stats_prev_ns + c->stats_interval_ns;
}

static json_object *jd(double v)
{
	/* Two decimals are plenty for MiB/s and keep lines short. */
	char buf[32];

	snprintf(buf, sizeof(buf), "%.2f", v);
	return json_object_new_double_s(v, buf);
}

static json_object *vcpu_obj(struct dl_ctrl *c, int i, double secs)
{
	struct vm *vm = c->vm;
	struct vcpu *v = &vm->vcpus[i];
	json_object *o = json_object_new_object();
	uint64_t pages = atomic_load(&v->dirty.pages);
	struct stress_cpu_stats gs;
	struct dl_stats st;
	uint64_t law_rate;

	dl_vcpu_stats(&v->dl, &st);
	json_object_object_add(o, "cpu-index", json_object_new_int(i));
	json_object_object_add(
	    o, "dirty-rate", jd(dl_pages_to_mib((double)(pages - c->stats_prev_pages[i]) / secs)));
	json_object_object_add(o, "pages-harvested", json_object_new_uint64(pages));
	json_object_object_add(o, "limit-rate",
			       json_object_new_uint64(dl_pages_to_mib_floor(st.limit_pps)));
	json_object_object_add(o, "law", json_object_new_string(st.law_applied));
	json_object_object_add(o, "throttle", json_object_new_uint64(st.throttle));
	/* The tuning state: the controller writes it under its lock. */
	pthread_mutex_lock(&c->lock);
	law_rate = v->dl.cs.rate_mib;
	pthread_mutex_unlock(&c->lock);
	json_object_object_add(o, "law-rate", json_object_new_uint64(law_rate));
	json_object_object_add(o, "penalty-us", json_object_new_uint64(st.penalty_ns / 1000));
	json_object_object_add(o, "max-penalty-us",
			       json_object_new_uint64(st.max_penalty_ns / 1000));
	json_object_object_add(o, "sleep-us-total",
			       json_object_new_uint64(atomic_load(&v->sleep_ns_total) / 1000));
	json_object_object_add(o, "relogged",
			       json_object_new_uint64(atomic_load(&v->dirty.relogged)));
	json_object_object_add(o, "harvest-ns",
			       json_object_new_uint64(atomic_load(&v->dirty.harvest_ns)));
	json_object_object_add(o, "max-harvest-batch",
			       json_object_new_uint64(atomic_load(&v->dirty.max_batch)));
	json_object_object_add(o, "exits", json_object_new_uint64(atomic_load(&v->exits)));
	json_object_object_add(o, "ring-full-exits",
			       json_object_new_uint64(atomic_load(&v->ring_full_exits)));
	c->stats_prev_pages[i] = pages;
	if (vm_guest_stats(vm, i, &gs) == 0) {
		json_object *g = json_object_new_object();

		/*
		 * The longest stall since the last line: read, then reset at once.
		 * This also resets what x-query-guest-stats reports (docs/qmp.md).
		 */
		vm_guest_reset_stall(vm, i);

		json_object_object_add(g, "pages-written",
				       json_object_new_uint64(gs.pages_written));
		json_object_object_add(g, "bytes-read", json_object_new_uint64(gs.bytes_read));
		json_object_object_add(g, "passes", json_object_new_uint64(gs.passes));
		json_object_object_add(g, "errors", json_object_new_uint64(gs.errors));
		json_object_object_add(
		    g, "max-stall-us",
		    json_object_new_uint64(vm_guest_tsc_to_us(vm, gs.max_gap_tsc)));
		json_object_object_add(
		    g, "dirty-rate",
		    jd(dl_pages_to_mib((double)(gs.pages_written - c->stats_prev_guest[i]) /
				       secs)));
		json_object_object_add(
		    g, "read-rate",
		    jd((double)(gs.bytes_read - c->stats_prev_read[i]) / secs / 1048576.0));
		c->stats_prev_guest[i] = gs.pages_written;
		c->stats_prev_read[i] = gs.bytes_read;
		json_object_object_add(o, "guest", g);
	}
	return o;
}

/* How often dl_stats_set_section(NULL) looks whether a get() has returned. */
#define DL_STATS_SECTION_WAIT_NS 1000000L

void dl_stats_set_section(struct dl_ctrl *c, const struct dl_stats_section *s)
{
	struct timespec ts = {.tv_nsec = DL_STATS_SECTION_WAIT_NS};

	/*
	 * Sequentially consistent on both sides (dl_stats_write() raises
	 * stats_in_section, then loads the section): either the controller sees
	 * NULL, or we see it inside and wait for it to leave.
	 */
	atomic_store(&c->stats_section, s);
	while (!s && atomic_load(&c->stats_in_section))
		nanosleep(&ts, NULL);
}

static void add_section(struct dl_ctrl *c, json_object *root)
{
	const struct dl_stats_section *sec;

	atomic_store(&c->stats_in_section, true);
	sec = atomic_load(&c->stats_section);
	if (sec) {
		json_object *o = sec->get(sec->ctx);

		if (o)
			json_object_object_add(root, sec->name, o);
	}
	atomic_store(&c->stats_in_section, false);
}

void dl_stats_write(struct dl_ctrl *c, uint64_t now_ns)
{
	json_object *root = json_object_new_object();
	json_object *ts = json_object_new_object();
	json_object *arr = json_object_new_array();
	double secs = (double)(now_ns - c->stats_prev_ns) / 1e9;
	struct nbout_stats out;
	struct iovec iov[2];
	struct timeval tv;

	gettimeofday(&tv, NULL);
	json_object_object_add(ts, "seconds", json_object_new_int64(tv.tv_sec));
	json_object_object_add(ts, "microseconds", json_object_new_int64(tv.tv_usec));
	json_object_object_add(root, "timestamp", ts);
	json_object_object_add(root, "interval-ms", jd(secs * 1000.0));
	json_object_object_add(root, "status",
			       json_object_new_string(vm_is_paused(c->vm) ? "paused" : "running"));
	{
		struct dl_law_cfg law;
		uint64_t period_ns;
		char spec[64];

		dl_ctrl_get_law(c, &law, &period_ns);
		json_object_object_add(
		    root, "law", json_object_new_string(dl_law_format(&law, spec, sizeof(spec))));
		json_object_object_add(
		    root, "law-period-ms",
		    json_object_new_uint64(law.law->tune ? period_ns / 1000000ull : 0));
	}
	if (secs <= 0)
		secs = 1e-9;
	for (int i = 0; i < c->vm->ncpus; i++)
		json_object_array_add(arr, vcpu_obj(c, i, secs));
	json_object_object_add(root, "vcpus", arr);
	add_section(c, root);
	/* Records this stream could not write so far: a reader sees its gaps. */
	nbout_stats(c->stats, &out);
	json_object_object_add(root, "records-dropped", json_object_new_uint64(out.dropped));
	/* One record, one write: never blocks, never cut (nbout.h). */
	iov[0].iov_base = (void *)json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	iov[0].iov_len = strlen(iov[0].iov_base);
	iov[1].iov_base = "\n";
	iov[1].iov_len = 1;
	nbout_writev(c->stats, iov, 2);
	json_object_put(root);
	c->stats_prev_ns = now_ns;
}

void dl_stats_close(struct dl_ctrl *c)
{
	/* The stream belongs to the caller of dl_ctrl_start(), who closes it. */
	c->stats = NULL;
}
