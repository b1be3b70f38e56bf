/* SPDX-License-Identifier: MIT */
/*
 * dev_stress: the devices of the stress kernel's contract
 * (include/stress_abi.h): the report port, the power-off port and the stats
 * device, each with its entry for the device table (devices.h).
 */
#include <errno.h>
#include <string.h>

#include "stress_abi.h"
#include "vmm/devices.h"
#include "vmm/vm.h"
#include "vmm/vstate.h"

static uint32_t le32(const uint8_t *d, int size)
{
	uint32_t v = 0;

	memcpy(&v, d, (size_t)(size > 4 ? 4 : size));
	return v;
}

/* Report port: guest events.  Its state is what the guest has told us so far. */
static void report_pio(struct vm *vm, int vcpu, uint16_t offset, bool is_out, uint8_t *data,
		       int size)
{
	(void)offset;
	if (is_out)
		vm_guest_report(vm, vcpu, le32(data, size));
	else
		memset(data, 0xff, (size_t)size);
}

static void report_save(struct vm *vm, struct wire_out *w)
{
	struct vstate_report rp = {
	    .booted = atomic_load(&vm->booted),
	    .data_errors_reported = atomic_load(&vm->data_errors_reported),
	};

	vstate_report_encode(&rp, w);
}

static int report_load(struct vm *vm, const uint8_t *b, size_t len, uint32_t version, bool apply,
		       char *err, size_t errlen)
{
	struct vstate_report rp;
	int r = vstate_report_decode(&rp, version, b, len, err, errlen);

	if (r < 0 || !apply)
		return r;
	atomic_store(&vm->booted, rp.booted != 0);
	atomic_store(&vm->data_errors_reported, rp.data_errors_reported);
	return 0;
}

const struct dev_ops dev_report_ops = {
    .name = "report",
    .port = STRESS_PORT_REPORT,
    .nports = 1,
    .pio = report_pio,
    .section = VSTATE_SEC_REPORT,
    .save = report_save,
    .load = report_load,
};

/* Power-off port: the value written is the exit status.  No state: once written, the VM stops. */
static void poweroff_pio(struct vm *vm, int vcpu, uint16_t offset, bool is_out, uint8_t *data,
			 int size)
{
	(void)vcpu;
	(void)offset;
	if (is_out)
		vm_request_stop(vm, (int)le32(data, size), VM_STOP_GUEST_POWEROFF,
				"guest powered off");
	else
		memset(data, 0xff, (size_t)size);
}

const struct dev_ops dev_poweroff_ops = {
    .name = "poweroff",
    .port = STRESS_PORT_POWEROFF,
    .nports = 1,
    .pio = poweroff_pio,
};

/*
 * Stats device: memory of its own memslot, not dirty-tracked (the guest
 * updates it after every page it writes), so it travels whole, in the final
 * stop-and-copy.
 */
static void stats_save(struct vm *vm, struct wire_out *w)
{
	vstate_stats_encode(vm->stats, (uint32_t)vm->stats_size, w);
}

static int stats_load(struct vm *vm, const uint8_t *b, size_t len, uint32_t version, bool apply,
		      char *err, size_t errlen)
{
	const uint8_t *data;
	int r = vstate_stats_decode(&data, (uint32_t)vm->stats_size, version, b, len, err, errlen);

	if (r < 0 || !apply)
		return r;
	memcpy(vm->stats, data, vm->stats_size);
	return 0;
}

const struct dev_ops dev_stats_ops = {
    .name = "stats",
    .section = VSTATE_SEC_STATS,
    .save = stats_save,
    .load = stats_load,
};
