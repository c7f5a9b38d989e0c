/* clock.h: the one monotonic clock of both programs. */
#ifndef WSB_CLOCK_H
#define WSB_CLOCK_H

/* Milliseconds of CLOCK_MONOTONIC: for intervals and deadlines, never for
 * wall-clock time.  Cannot fail. */
long long wsb_now_ms(void);

/* Microseconds of the same clock. */
long long wsb_now_us(void);

#endif
