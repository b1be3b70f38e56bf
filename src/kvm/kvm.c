/* SPDX-License-Identifier: MIT */
/* kvm: the /dev/kvm system fd and its capabilities. */
#include "kvm/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* KVM_GET_SUPPORTED_CPUID fails with E2BIG until the array is big enough. */
#define CPUID_MAX_ENTRIES 256

static int open_error(const char *path, int e, char *err, size_t errlen)
{
	if (e == ENOENT)
		snprintf(err, errlen,
			 "%s does not exist: this host has no KVM (load the kvm_intel or kvm_amd "
			 "module, or enable virtualization in the firmware)",
			 path);
	else if (e == EACCES || e == EPERM)
		snprintf(err, errlen,
			 "no permission to open %s: run as root or add your user to the group "
			 "that owns it (usually 'kvm'), then log in again",
			 path);
	else
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(e));
	return -e;
}

int kvm_sys_ioctl_named(const struct kvm_sys *sys, unsigned long cmd, void *arg, const char *name,
			char *err, size_t errlen)
{
	int r = ioctl(sys->fd, cmd, arg);

	if (r < 0) {
		int e = errno;

		snprintf(err, errlen, "%s: %s", name, strerror(e));
		return -e;
	}
	return r;
}

int kvm_check_cap(const struct kvm_sys *sys, long cap)
{
	int r = ioctl(sys->fd, KVM_CHECK_EXTENSION, cap);
	return r < 0 ? 0 : r;
}

static int get_cpuid(struct kvm_sys *sys, char *err, size_t errlen)
{
	size_t sz = sizeof(struct kvm_cpuid2) + CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2);
	struct kvm_cpuid2 *c = calloc(1, sz);
	int r;

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->nent = CPUID_MAX_ENTRIES;
	r = kvm_sys_ioctl(sys, KVM_GET_SUPPORTED_CPUID, c, err, errlen);
	if (r < 0) {
		free(c);
		return r;
	}
	sys->cpuid = c;
	return 0;
}

int kvm_open(struct kvm_sys *sys, const char *path, char *err, size_t errlen)
{
	int r;

	memset(sys, 0, sizeof(*sys));
	sys->fd = open(path, O_RDWR | O_CLOEXEC);
	if (sys->fd < 0)
		return open_error(path, errno, err, errlen);

	r = ioctl(sys->fd, KVM_GET_API_VERSION, 0);
	if (r != KVM_API_VERSION_EXPECTED) {
		snprintf(err, errlen, "KVM_GET_API_VERSION: %s reports version %d, expected %d",
			 path, r, KVM_API_VERSION_EXPECTED);
		kvm_close(sys);
		return -EINVAL;
	}
	sys->max_vcpus = kvm_check_cap(sys, KVM_CAP_MAX_VCPUS);
	if (sys->max_vcpus <= 0)
		sys->max_vcpus = kvm_check_cap(sys, KVM_CAP_NR_VCPUS);
	if (sys->max_vcpus <= 0)
		sys->max_vcpus = 4; /* api.rst: assume 4 if neither cap exists */
	sys->ring_max_bytes = (uint32_t)kvm_check_cap(sys, KVM_CAP_DIRTY_LOG_RING_ACQ_REL);
	sys->ring_acq_rel = sys->ring_max_bytes > 0;
	if (!sys->ring_acq_rel)
		sys->ring_max_bytes = (uint32_t)kvm_check_cap(sys, KVM_CAP_DIRTY_LOG_RING);
	r = kvm_sys_ioctl(sys, KVM_GET_VCPU_MMAP_SIZE, NULL, err, errlen);
	if (r <= 0) {
		kvm_close(sys);
		return r < 0 ? r : -EINVAL;
	}
	sys->vcpu_mmap_size = r;
	r = get_cpuid(sys, err, errlen);
	if (r < 0) {
		kvm_close(sys);
		return r;
	}
	return 0;
}

void kvm_close(struct kvm_sys *sys)
{
	if (sys->fd >= 0)
		close(sys->fd);
	sys->fd = -1;
	free(sys->cpuid);
	sys->cpuid = NULL;
}
