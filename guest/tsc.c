// SPDX-License-Identifier: MIT
/*
 * TSC calibration against the PIT's channel 2, for machines without a
 * /chosen/vmm,tsc-khz (QEMU).  Channel 2 counts down once, gated by port
 * 0x61 bit 0, and its output shows in port 0x61 bit 5.
 */
#include "io.h"
#include "kernel.h"

#define PIT_HZ		1193182u
#define PIT_CH2		0x42
#define PIT_MODE	0x43
#define PIT_CH2_ONESHOT 0xb0 /* channel 2, lobyte/hibyte, mode 0, binary */
#define PORT_B		0x61
#define PORTB_GATE2	0x01
#define PORTB_SPKR	0x02
#define PORTB_OUT2	0x20

/*
 * Long enough that the few microseconds each port read costs under
 * virtualisation are below 0.1%, short enough not to slow the boot; the
 * count (59659) must fit the PIT's 16 bits.
 */
#define CALIBRATE_MS 50

/*
 * TSCs slower than this are not real: the PIT is absent (reads of 0xff
 * show OUT2 at once) or not counting.
 */
#define TSC_MIN_KHZ 100000

/*
 * Give up waiting for OUT2 after this many TSC ticks: under a second at the
 * usual 2 to 4 GHz, yet 50 ms only reach it at 40 GHz.
 */
#define CALIBRATE_TIMEOUT_TSC 2000000000ull

uint64_t tsc_calibrate_pit(void)
{
	const uint32_t count = PIT_HZ / 1000 * CALIBRATE_MS;
	uint64_t t0, t1;

	outb(PORT_B, (uint8_t)((inb(PORT_B) & ~PORTB_SPKR) | PORTB_GATE2));
	outb(PIT_MODE, PIT_CH2_ONESHOT);
	outb(PIT_CH2, count & 0xff);
	outb(PIT_CH2, (uint8_t)(count >> 8));
	t0 = rdtsc();
	do {
		t1 = rdtsc();
		if (t1 - t0 > CALIBRATE_TIMEOUT_TSC)
			return 0;
	} while (!(inb(PORT_B) & PORTB_OUT2));
	if ((t1 - t0) / CALIBRATE_MS < TSC_MIN_KHZ)
		return 0;
	return (t1 - t0) / CALIBRATE_MS;
}
