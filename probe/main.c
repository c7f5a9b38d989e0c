/* main.c: wsb-probe, the program that checks every node of the inventory
 * and writes their health and load into Redis (README "The probe"):
 * command line, signals, then the run it asks for. */
#include "cli.h"
#include "log.h"
#include "run.h"

#include <signal.h>
#include <string.h>

static void on_stop(int sig)
{
    (void)sig;
    wsb_run_stop();
}

int main(int argc, char **argv)
{
    struct wsb_probe_options o;
    int a = wsb_probe_cli_parse(argc, argv, &o);
    if (a != 0)
        return a > 0 ? WSB_EXIT_DONE : WSB_EXIT_USAGE;
    wsb_log_init("wsb-probe", o.level);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (o.command != NULL)
        return wsb_run_drain(&o);
    return wsb_run_probe(&o);
}
