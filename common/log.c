/* log.c: one-line, level-filtered messages on stderr. */
#include "log.h"
#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *log_program = "wsb";
static enum wsb_log_level log_level = WSB_LOG_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void wsb_log_init(const char *program, enum wsb_log_level level)
{
    if (program != NULL)
        log_program = program;
    log_level = level;
}

enum wsb_log_level wsb_log_get_level(void)
{
    return log_level;
}

int wsb_log_level_parse(const char *s, enum wsb_log_level *out)
{
    for (int i = 0; i <= (int)WSB_LOG_DEBUG; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum wsb_log_level)i;
            return WSB_OK;
        }
    }
    return WSB_EINVAL;
}

void wsb_log(enum wsb_log_level level, const char *fmt, ...)
{
    if (level > log_level)
        return;
    char line[1024];
    int n = snprintf(line, sizeof line, "%s[%ld]: %s: ", log_program, (long)getpid(),
                     level_names[level]);
    if (n < 0 || (size_t)n >= sizeof line)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    size_t len = strlen(line);
    /* One message, one line: control characters from data never split it. */
    for (size_t i = (size_t)n; i < len; i++)
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
            line[i] = '?';
    if (len + 1 < sizeof line) {
        line[len++] = '\n';
    } else {
        line[sizeof line - 2] = '\n';
        len = sizeof line - 1;
    }
    /* A single write keeps lines of concurrent processes whole. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
