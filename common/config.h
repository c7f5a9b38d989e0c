/* config.h: reading WSB_* settings from the environment.  Each reader
 * leaves the default when the variable is unset or empty, and on a bad
 * value fails with a reason that names the variable:
 * "WSB_MAX_LOAD: '1.5' is not a number in 0..1". */
#ifndef WSB_CONFIG_H
#define WSB_CONFIG_H

/* Returns the value of name, or NULL when unset or empty. */
const char *wsb_env(const char *name);

/* Each returns WSB_OK (with *out set, or left at its default), or
 * WSB_EINVAL with the reason in err and *out unchanged. */
int wsb_env_double(const char *name, double lo, double hi, double *out, char *err);
int wsb_env_long(const char *name, long lo, long hi, long *out, char *err);
int wsb_env_bool(const char *name, int *out, char *err);

/* A command-line option's whole-number value v in lo..hi into *out.
 * Returns 0, or -1 with "PROG: NAME: 'V' is not a whole number in LO..HI"
 * on stderr and *out unchanged. */
int wsb_arg_long(const char *prog, const char *name, const char *v, long lo, long hi, long *out);

/* Parses a whole decimal number of len bytes in lo..hi; WSB_OK or WSB_EINVAL. */
int wsb_parse_long(const char *s, long lo, long hi, long *out);

#endif
