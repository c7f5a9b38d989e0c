/* state.h: transitional.  The state module is split into keys.h (the key
 * layout), state_read.h (the read), handler/state_watch.h (change
 * detection), probe/state_write.h (the round write and drains) and
 * probe/lock.h (the probe lock).  Only handler/handler.h still includes
 * this header; once it includes "state_watch.h" this file goes. */
#ifndef WSB_STATE_H
#define WSB_STATE_H

#include "keys.h"
#include "state_read.h"
#include "state_watch.h"

#endif
