/* prom_text.c: the Prometheus text format (prom_text.h). */
#include "prom_text.h"

#include <math.h>
#include <string.h>

void wsb_prom_family(struct wsb_textbuf *b, const char *name, const char *type, const char *help)
{
    wsb_textbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Appends a label value, escaped as the format wants. */
static void escaped(struct wsb_textbuf *b, const char *v, size_t len)
{
    size_t from = 0;
    for (size_t i = 0; i < len; i++) {
        const char *esc = v[i] == '\\' ? "\\\\" : v[i] == '"' ? "\\\"" : v[i] == '\n' ? "\\n" : NULL;
        if (esc == NULL)
            continue;
        wsb_textbuf_append(b, v + from, i - from);
        wsb_textbuf_append(b, esc, strlen(esc));
        from = i + 1;
    }
    wsb_textbuf_append(b, v + from, len - from);
}

void wsb_prom_sample_start(struct wsb_textbuf *b, const char *name, int labels)
{
    wsb_textbuf_printf(b, labels ? "%s{" : "%s", name);
}

void wsb_prom_label(struct wsb_textbuf *b, int first, const char *name, const char *v)
{
    wsb_textbuf_printf(b, first ? "%s=\"" : ",%s=\"", name);
    escaped(b, v, strlen(v));
    wsb_textbuf_append(b, "\"", 1);
}

void wsb_prom_sample_end(struct wsb_textbuf *b, int labels, double v)
{
    const char *close = labels ? "}" : "";
    if (isnan(v))
        wsb_textbuf_printf(b, "%s NaN\n", close);
    else if (isinf(v))
        wsb_textbuf_printf(b, "%s %sInf\n", close, v > 0 ? "+" : "-");
    else if (v == floor(v) && fabs(v) < 9e15)
        wsb_textbuf_printf(b, "%s %.0f\n", close, v);
    else
        wsb_textbuf_printf(b, "%s %.17g\n", close, v);
}
