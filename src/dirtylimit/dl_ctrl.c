/* SPDX-License-Identifier: MIT */
#include "dirtylimit/dl_ctrl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dirtylimit/dl_stats.h"
#include "vmm/vm.h"

static void harvest_all(struct dl_ctrl *c)
{
	struct vm *vm = c->vm;

	/* The baseline harvester thread does it; or a test asked for no backstop. */
	if (vm->harvester != VM_HARVEST_SELF || vm->dirty.no_backstop)
		return;
	for (int i = 0; i < vm->ncpus; i++)
		dirty_vcpu_harvest(&vm->dirty, &vm->vcpus[i].dirty, NULL);
}

static uint64_t pages_of(struct dl_ctrl *c, int cpu)
{
	return atomic_load_explicit(&c->vm->vcpus[cpu].dirty.pages, memory_order_relaxed);
}

static void calc_finish_locked(struct dl_ctrl *c, uint64_t now)
{
	struct dl_calc *k = &c->calc;
	double secs = (double)(now - k->start_ns) / 1e9;

	k->total_mib = 0;
	for (int i = 0; i < c->vm->ncpus; i++) {
		uint64_t d = pages_of(c, i) - k->start_pages[i];

		k->vcpu_mib[i] = secs > 0 ? dl_pages_to_mib((double)d / secs) : 0;
		k->total_mib += k->vcpu_mib[i];
	}
	k->status = DL_CALC_MEASURED;
}

static void *ctrl_thread(void *arg)
{
	struct dl_ctrl *c = arg;
	struct vm *vm = c->vm;
	uint64_t next = vmm_now_ns() + c->period_ns; /* the next tick */

	while (!atomic_load(&c->stop)) {
		uint64_t now, wake;
		struct timespec ts;

		pthread_mutex_lock(&c->lock);
		wake = next;
		if (c->calc.status == DL_CALC_MEASURING && c->calc.end_ns < wake)
			wake = c->calc.end_ns;
		if (c->stats && c->stats_next_ns < wake)
			wake = c->stats_next_ns;
		now = dl_tune_wake(&c->tune, c->dlv, vmm_now_ns());
		if (now < wake)
			wake = now;
		ts.tv_sec = (time_t)(wake / 1000000000ull);
		ts.tv_nsec = (long)(wake % 1000000000ull);
		while (!atomic_load(&c->stop) && vmm_now_ns() < wake)
			if (pthread_cond_timedwait(&c->cond, &c->lock, &ts) == ETIMEDOUT)
				break;
		pthread_mutex_unlock(&c->lock);
		if (atomic_load(&c->stop))
			break;

		harvest_all(c);
		now = vmm_now_ns();
		pthread_mutex_lock(&c->lock);
		for (int i = 0; i < vm->ncpus; i++) {
			c->cum[i] = pages_of(c, i);
			dl_rate_push(&c->rate[i], now, c->cum[i]);
		}
		if (c->calc.status == DL_CALC_MEASURING && now >= c->calc.end_ns)
			calc_finish_locked(c, now);
		dl_tune_tick(&c->tune, c->dlv, c->cum, now);
		pthread_mutex_unlock(&c->lock);
		if (c->stats && now >= c->stats_next_ns) {
			dl_stats_write(c, now);
			c->stats_next_ns += c->stats_interval_ns;
			if (c->stats_next_ns <= now)
				c->stats_next_ns = now + c->stats_interval_ns;
		}
		/* Early wakes (calc, stats, a tuning) do not move the tick. */
		if (now >= next) {
			next += c->period_ns;
			if (next <= now)
				next = now + c->period_ns; /* fell behind: no burst */
		}
	}
	return NULL;
}

int dl_ctrl_start(struct dl_ctrl *c, struct vm *vm, unsigned period_ms,
		  const struct dl_law_cfg *law, struct nbout *stats, unsigned stats_interval_ms,
		  char *err, size_t errlen)
{
	pthread_condattr_t ca;
	int r;

	memset(c, 0, sizeof(*c));
	c->vm = vm;
	c->period_req_ns = (uint64_t)period_ms * 1000000ull;
	c->period_ns = c->period_req_ns ? c->period_req_ns : DL_CTRL_TICK_NS;
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cond, &ca);
	pthread_condattr_destroy(&ca);
	c->rate = calloc((size_t)vm->ncpus, sizeof(*c->rate));
	c->stats_prev_pages = calloc((size_t)vm->ncpus, sizeof(uint64_t));
	c->stats_prev_guest = calloc((size_t)vm->ncpus, sizeof(uint64_t));
	c->stats_prev_read = calloc((size_t)vm->ncpus, sizeof(uint64_t));
	c->dlv = calloc((size_t)vm->ncpus, sizeof(*c->dlv));
	c->cum = calloc((size_t)vm->ncpus, sizeof(*c->cum));
	if (!c->rate || !c->stats_prev_pages || !c->stats_prev_guest || !c->stats_prev_read ||
	    !c->dlv || !c->cum || dl_tune_init(&c->tune, vm->ncpus, law, c->period_req_ns) < 0) {
		snprintf(err, errlen, "out of memory");
		r = -ENOMEM;
		goto fail;
	}
	for (int i = 0; i < vm->ncpus; i++) {
		dl_rate_init(&c->rate[i]);
		c->dlv[i] = &vm->vcpus[i].dl;
		dl_vcpu_set_law(c->dlv[i], law->law);
	}
	if (stats)
		dl_stats_open(c, stats, stats_interval_ms);
	r = pthread_create(&c->thread, NULL, ctrl_thread, c);
	if (r) {
		snprintf(err, errlen, "cannot start the controller thread: %s", strerror(r));
		r = -r;
		goto fail;
	}
	c->started = true;
	return 0;
fail:
	dl_ctrl_stop(c);
	return r;
}

void dl_ctrl_stop(struct dl_ctrl *c)
{
	if (c->started) {
		pthread_mutex_lock(&c->lock);
		atomic_store(&c->stop, true);
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->thread, NULL);
		c->started = false;
	}
	dl_stats_close(c);
	dl_tune_destroy(&c->tune);
	free(c->dlv);
	free(c->cum);
	c->dlv = NULL;
	c->cum = NULL;
	free(c->rate);
	free(c->stats_prev_pages);
	free(c->stats_prev_guest);
	free(c->stats_prev_read);
	c->rate = NULL;
	c->stats_prev_pages = c->stats_prev_guest = c->stats_prev_read = NULL;
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
}

/* The tuning period asked for: a migration's, else the user's (0: the law's own). */
static uint64_t tune_period_locked(const struct dl_ctrl *c)
{
	return c->mig_period_ns ? c->mig_period_ns : c->period_req_ns;
}

void dl_ctrl_set_law(struct dl_ctrl *c, const struct dl_law_cfg *law, int64_t period_ms)
{
	pthread_mutex_lock(&c->lock);
	if (period_ms >= 0) {
		c->period_req_ns = (uint64_t)period_ms * 1000000ull;
		c->period_ns = c->period_req_ns ? c->period_req_ns : DL_CTRL_TICK_NS;
	}
	dl_tune_set_law(&c->tune, c->dlv, law, tune_period_locked(c));
	pthread_cond_broadcast(&c->cond); /* the tuning restarts from now */
	pthread_mutex_unlock(&c->lock);
	vm_set_dirty_limit_law(c->vm, law->law);
}

void dl_ctrl_set_mig_period(struct dl_ctrl *c, unsigned period_ms)
{
	pthread_mutex_lock(&c->lock);
	c->mig_period_ns = (uint64_t)period_ms * 1000000ull;
	dl_tune_set_period(&c->tune, tune_period_locked(c));
	pthread_cond_broadcast(&c->cond); /* a sample may be due sooner */
	pthread_mutex_unlock(&c->lock);
}

void dl_ctrl_get_law(struct dl_ctrl *c, struct dl_law_cfg *law, uint64_t *period_ns)
{
	pthread_mutex_lock(&c->lock);
	*law = c->tune.cfg;
	*period_ns = c->tune.ctx.period_ns;
	pthread_mutex_unlock(&c->lock);
}

double dl_ctrl_rate_mib(struct dl_ctrl *c, int cpu, uint64_t window_ns)
{
	double pps;

	if (cpu < 0 || cpu >= c->vm->ncpus)
		return 0;
	pthread_mutex_lock(&c->lock);
	pps = dl_rate_pps(&c->rate[cpu], window_ns, NULL);
	pthread_mutex_unlock(&c->lock);
	return dl_pages_to_mib(pps);
}

int dl_ctrl_calc_start(struct dl_ctrl *c, uint64_t calc_ms, char *err, size_t errlen)
{
	struct dl_calc *k = &c->calc;
	uint64_t now;

	harvest_all(c);
	now = vmm_now_ns();
	pthread_mutex_lock(&c->lock);
	if (k->status == DL_CALC_MEASURING) {
		pthread_mutex_unlock(&c->lock);
		snprintf(err, errlen, "the previous dirty rate measurement is still running");
		return -EBUSY;
	}
	memset(k, 0, sizeof(*k));
	k->status = DL_CALC_MEASURING;
	k->calc_ms = calc_ms;
	k->start_time = (int64_t)time(NULL);
	k->start_ns = now;
	k->end_ns = now + calc_ms * 1000000ull;
	for (int i = 0; i < c->vm->ncpus; i++)
		k->start_pages[i] = pages_of(c, i);
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

void dl_ctrl_calc_get(struct dl_ctrl *c, struct dl_calc *out)
{
	pthread_mutex_lock(&c->lock);
	*out = c->calc;
	pthread_mutex_unlock(&c->lock);
}
