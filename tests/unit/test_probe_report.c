/* test_probe_report.c: load report parsing (bytes in) and the load it
 * gives a node record. */
#include "report.h"
#include "status.h"
#include "t.h"

static enum wsb_outcome rp(const char *body, int required, struct wsb_load_report *r, char *why)
{
    why[0] = '\0';
    return wsb_report_parse(body, strlen(body), required, r, why);
}

static void test_good_reports(void)
{
    struct wsb_load_report r;
    char why[WSB_ERRLEN];
    CHECK_INT(rp("{\"connections\":1234}", 1, &r, why), WSB_OUT_OK);
    CHECK_INT(r.connections, 1234);
    CHECK_INT(r.capacity, -1);
    CHECK_INT(r.has_load, 0);
    CHECK_INT(rp("{\"connections\":1234,\"capacity\":20000}", 1, &r, why), WSB_OUT_OK);
    CHECK_INT(r.connections, 1234);
    CHECK_INT(r.capacity, 20000);
    CHECK_INT(rp("{\"load\":0.42}", 1, &r, why), WSB_OUT_OK);
    CHECK_INT(r.has_load, 1);
    CHECK(fabs(r.load - 0.42) < 1e-12, "load %g", r.load);
    CHECK_INT(r.connections, -1);
    CHECK_INT(rp(" {\"load\":0,\"connections\":0,\"version\":\"1.2\",\"x\":[1,{}]} \n", 1, &r, why), WSB_OUT_OK);
    CHECK_INT(r.has_load, 1);
    CHECK_INT(r.connections, 0);
    CHECK_INT(rp("{\"load\":1.5}", 1, &r, why), WSB_OUT_OK);   /* above capacity is a real state */
    CHECK_INT(rp("{\"connections\":0}", 0, &r, why), WSB_OUT_OK);
}

static void test_no_report(void)
{
    struct wsb_load_report r;
    char why[WSB_ERRLEN];
    CHECK_INT(rp("", 0, &r, why), WSB_OUT_NO_REPORT);
    CHECK_INT(rp(" \r\n\t", 0, &r, why), WSB_OUT_NO_REPORT);
    CHECK_INT(rp("{\"status\":\"ok\"}", 0, &r, why), WSB_OUT_NO_REPORT);
    CHECK_INT(rp("{}", 0, &r, why), WSB_OUT_NO_REPORT);
    CHECK_INT(r.has_load, 0);
    CHECK_INT(r.connections, -1);
    /* from a status_url the same bodies are bad reports */
    CHECK_INT(rp("", 1, &r, why), WSB_OUT_BAD_REPORT);
    CHECK_STR(why, "report is empty");
    CHECK_INT(rp("{\"status\":\"ok\"}", 1, &r, why), WSB_OUT_BAD_REPORT);
    CHECK_STR(why, "report has neither \"connections\" nor \"load\"");
}

static void test_bad_reports(void)
{
    static const struct {
        const char *body, *why;
    } cases[] = {
        { "not json{{", "report is not JSON" },
        { "{\"connections\":1", "report is not JSON" },
        { "[1,2]", "report is not a JSON object" },
        { "42", "report is not a JSON object" },
        { "{\"connections\":-1}", "connections: must be a whole number >= 0" },
        { "{\"connections\":1.5}", "connections: must be a whole number >= 0" },
        { "{\"connections\":\"12\"}", "connections: must be a whole number >= 0" },
        { "{\"connections\":null}", "connections: must be a whole number >= 0" },
        { "{\"connections\":1e300}", "connections: must be a whole number >= 0" },
        { "{\"connections\":5,\"capacity\":0}", "capacity: must be a whole number >= 1" },
        { "{\"connections\":5,\"capacity\":\"x\"}", "capacity: must be a whole number >= 1" },
        { "{\"load\":-0.1}", "load: must be a number 0..1e+06" },
        { "{\"load\":\"0.5\"}", "load: must be a number 0..1e+06" },
        { "{\"load\":2e6}", "load: must be a number 0..1e+06" },
        { "{\"load\":true}", "load: must be a number 0..1e+06" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct wsb_load_report r;
        char why[WSB_ERRLEN];
        for (int required = 0; required <= 1; required++) {
            CHECK_INT(rp(cases[i].body, required, &r, why), WSB_OUT_BAD_REPORT);
            CHECK_STR(why, cases[i].why);
            CHECK(r.has_load == 0 && r.connections == -1 && r.capacity == -1, "nothing reported for %s",
                  cases[i].body);
        }
    }
}

static void test_embedded_nul(void)
{
    struct wsb_load_report r;
    char why[WSB_ERRLEN];
    const char body[] = "{\"connections\":1}\0garbage";
    CHECK_INT(wsb_report_parse(body, sizeof body - 1, 1, &r, why), WSB_OUT_BAD_REPORT);
    CHECK_STR(why, "report has bytes after its JSON value");
    CHECK_INT(rp("{\"connections\":1} {}", 1, &r, why), WSB_OUT_BAD_REPORT);
    CHECK_INT(rp("{\"connections\":1}\r\n", 1, &r, why), WSB_OUT_OK);
}

static void test_too_large(void)
{
    size_t len = WSB_REPORT_MAX + 1;
    char *big = malloc(len);
    memset(big, ' ', len);
    big[0] = '{';
    big[len - 1] = '}';
    struct wsb_load_report r;
    char why[WSB_ERRLEN];
    CHECK_INT(wsb_report_parse(big, len, 1, &r, why), WSB_OUT_REPORT_TOO_LARGE);
    CHECK_INT(wsb_report_parse(big, len, 0, &r, why), WSB_OUT_REPORT_TOO_LARGE);
    CHECK_INT(wsb_report_parse(big, WSB_REPORT_MAX, 0, &r, why), WSB_OUT_BAD_REPORT);   /* at the limit: parsed */
    free(big);
    CHECK_INT(wsb_report_parse(NULL, 0, 0, &r, why), WSB_OUT_NO_REPORT);
}

static void test_apply(void)
{
    struct wsb_node n;
    struct wsb_load_report r = { 0, 0, 50, -1 };
    wsb_node_init(&n);
    wsb_report_apply(&r, 200, &n);
    CHECK_INT(n.load_known, 1);
    CHECK(fabs(n.load - 0.25) < 1e-12, "load %g", n.load);
    CHECK_INT(n.connections, 50);
    CHECK_INT(n.capacity, 200);

    r.capacity = 100;                     /* the report's capacity wins */
    wsb_report_apply(&r, 200, &n);
    CHECK(fabs(n.load - 0.5) < 1e-12, "load %g", n.load);
    CHECK_INT(n.capacity, 100);

    r.capacity = -1;                      /* connections, but no capacity anywhere */
    wsb_report_apply(&r, -1, &n);
    CHECK_INT(n.load_known, 0);
    CHECK_INT(n.connections, 50);
    CHECK_INT(n.capacity, -1);

    struct wsb_load_report l = { 1, 0.42, 7, -1 };   /* "load" wins over connections */
    wsb_report_apply(&l, 1000, &n);
    CHECK_INT(n.load_known, 1);
    CHECK(fabs(n.load - 0.42) < 1e-12, "load %g", n.load);
    CHECK_INT(n.connections, 7);

    wsb_report_apply(NULL, 1000, &n);      /* no report: load unknown */
    CHECK_INT(n.load_known, 0);
    CHECK_INT(n.connections, -1);
    CHECK_INT(n.capacity, 1000);

    struct wsb_load_report huge = { 0, 0, 9000000000000000LL, 1 };
    wsb_report_apply(&huge, -1, &n);
    CHECK(n.load_known && n.load == WSB_MAX_LOAD_VALUE, "load clamped to %g", n.load);
}

int main(void)
{
    T_RUN(test_good_reports);
    T_RUN(test_no_report);
    T_RUN(test_bad_reports);
    T_RUN(test_embedded_nul);
    T_RUN(test_too_large);
    T_RUN(test_apply);
    return t_done("test_probe_report");
}
