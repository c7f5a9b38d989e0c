/* log.h: one-line log messages on stderr, which every web server (and cron)
 * collects: "wsb-handler[1234]: warn: redis 127.0.0.1:6379: connection refused".
 * Logging never fails the caller. */
#ifndef WSB_LOG_H
#define WSB_LOG_H

enum wsb_log_level { WSB_LOG_ERROR = 0, WSB_LOG_WARN, WSB_LOG_INFO, WSB_LOG_DEBUG };

/* Sets the program name shown in every line (a static string, not copied)
 * and the most verbose level that is printed. */
void wsb_log_init(const char *program, enum wsb_log_level level);

/* Parses "error", "warn", "info" or "debug"; returns WSB_OK or WSB_EINVAL
 * and leaves *out alone on error. */
int wsb_log_level_parse(const char *s, enum wsb_log_level *out);

enum wsb_log_level wsb_log_get_level(void);

void wsb_log(enum wsb_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define wsb_log_error(...) wsb_log(WSB_LOG_ERROR, __VA_ARGS__)
#define wsb_log_warn(...) wsb_log(WSB_LOG_WARN, __VA_ARGS__)
#define wsb_log_info(...) wsb_log(WSB_LOG_INFO, __VA_ARGS__)
#define wsb_log_debug(...) wsb_log(WSB_LOG_DEBUG, __VA_ARGS__)

#endif
