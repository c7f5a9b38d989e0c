/* cgi.h: wsb-handler as plain CGI: one request from the environment. */
#ifndef WSB_CGI_H
#define WSB_CGI_H

#include "handler.h"

/* Answers the request of the environment on standard output.  Returns
 * the exit status: 0, or 1 when the answer could not be written. */
int wsb_cgi_serve(struct wsb_handler *h);

/* Answers 500 with its JSON body, for a configuration the handler cannot
 * serve with (the reason went to the log).  Returns 1. */
int wsb_cgi_config_error(void);

#endif
