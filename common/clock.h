/* clock.h: the one monotonic clock of both programs, and the wall clock. */
#ifndef WSB_CLOCK_H
#define WSB_CLOCK_H

/* Milliseconds of CLOCK_MONOTONIC: for intervals and deadlines, never for
 * wall-clock time.  Cannot fail. */
long long wsb_now_ms(void);

/* Microseconds of the same clock. */
long long wsb_now_us(void);

/* Milliseconds since the Unix epoch (CLOCK_REALTIME): for what is compared
 * with times other hosts wrote (a node's changed_at, a per-second key), and
 * only that.  Cannot fail. */
long long wsb_unix_ms(void);

#endif
