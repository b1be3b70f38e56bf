/* SPDX-License-Identifier: MIT */
/*
 * boot_vm: puts a kernel into a created VM.  The thin layer between the
 * pure loader/mdesc/boot modules and KVM: parses and copies the kernel,
 * builds the machine description, writes the boot structures and sets every
 * vCPU's registers.  A VM that receives a migration is never booted.
 */
#ifndef VMM_BOOT_VM_H
#define VMM_BOOT_VM_H

#include <stddef.h>
#include <stdint.h>

struct vm;

/* What boot_vm() loads. */
struct vm_kernel {
	const uint8_t *image; /* Multiboot ELF */
	size_t len;
	const char *append; /* the kernel command line */
};

/* Alignment of the stats device above RAM: the guest maps 2 MiB pages. */
#define BOOT_STATS_ALIGN (2ull << 20)

/* Guest-physical address of the stats device for a guest of mem_size bytes. */
uint64_t boot_stats_gpa(uint64_t mem_size);

/*
 * Load a kernel into a created VM that has never run: copy it and its boot
 * structures into RAM and give every vCPU its first registers.  Main
 * thread, before vm_start().
 */
int boot_vm(struct vm *vm, const struct vm_kernel *k, char *err, size_t errlen);

#endif
