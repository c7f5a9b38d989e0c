/* prom_text.h: the Prometheus text exposition format (version 0.0.4):
 * family headers, samples and escaped label values, appended to a text
 * buffer.  Each call appends; a buffer out of memory stays failed
 * (textbuf.h), nothing else can fail. */
#ifndef WSB_PROM_TEXT_H
#define WSB_PROM_TEXT_H

#include "textbuf.h"

/* "# HELP name help" and "# TYPE name type" (counter, gauge). */
void wsb_prom_family(struct wsb_textbuf *b, const char *name, const char *type, const char *help);

/* Starts a sample: "name{" when labels follow (labels != 0), else "name". */
void wsb_prom_sample_start(struct wsb_textbuf *b, const char *name, int labels);

/* One label name="value", the value escaped (\\, \", \n); first says
 * whether it opens the list (no comma before it). */
void wsb_prom_label(struct wsb_textbuf *b, int first, const char *name, const char *v);

/* Ends a sample ("}" when it had labels) with its value: whole numbers
 * without a fraction, NaN and infinities as the format spells them. */
void wsb_prom_sample_end(struct wsb_textbuf *b, int labels, double v);

#endif
