/* test_probe_inventory.c: the inventory parser, fed bytes; every error
 * names its place ("inv.json: nodes[0].endpoint: ..."). */
#include "inventory.h"
#include "status.h"
#include "t.h"

#include <unistd.h>

/* Test JSON is written with ' for " to stay readable. */
static char *dq(const char *s)
{
    char *d = strdup(s);
    for (char *p = d; *p; p++)
        if (*p == '\'')
            *p = '"';
    return d;
}

static int parse(const char *text, struct wsb_inventory *inv, char *err)
{
    char *j = dq(text);
    err[0] = '\0';
    int status = wsb_inventory_parse("inv.json", j, strlen(j), inv, err);
    free(j);
    return status;
}

#define EXPECT_ERROR(text, want)                                         \
    do {                                                                 \
        struct wsb_inventory inv_;                                       \
        char err_[WSB_ERRLEN];                                           \
        int st_ = parse(text, &inv_, err_);                              \
        CHECK(st_ != WSB_OK, "accepted: %s", text);                      \
        CHECK_STR(err_, want);                                           \
        CHECK(inv_.nodes == NULL && inv_.n == 0, "inventory not empty"); \
        wsb_inventory_free(&inv_);                                       \
    } while (0)

/* A node list around one node body, with the usual defaults. */
#define WITH_NODE(body) \
    "{'defaults':{'versions':['v1'],'location':'Here'},'nodes':[{'id':'a','endpoint':'wss://a.example/ws'" body "}]}"

static void test_spec_example(void)
{
    const char *text =
        "{ 'allow_insecure_ws': false, 'ca_file': '/etc/ssl/certs/ca-certificates.crt',"
        "  'defaults': { 'versions': ['v1'], 'capacity': 10000,"
        "                'check': { 'type': 'websocket', 'timeout_ms': 2000, 'rise': 2, 'fall': 3 } },"
        "  'nodes': [ { 'id': 'eu-1', 'endpoint': 'wss://eu-1.example.net/ws', 'location': 'Frankfurt',"
        "      'latitude': 50.11, 'longitude': 8.68, 'country': 'DE', 'continent': 'EU',"
        "      'versions': ['v1', 'v2'], 'capacity': 20000, 'check': { 'type': 'websocket' },"
        "      'status_url': 'https://eu-1.example.net/status' } ] }";
    struct wsb_inventory inv;
    char err[WSB_ERRLEN];
    CHECK_INT(parse(text, &inv, err), WSB_OK);
    CHECK_INT(inv.n, 1);
    if (inv.n != 1)
        return;
    const struct wsb_inv_node *n = &inv.nodes[0];
    CHECK_STR(inv.ca_file, "/etc/ssl/certs/ca-certificates.crt");
    CHECK_INT(inv.allow_insecure_ws, 0);
    CHECK_STR(n->node.id, "eu-1");
    CHECK_STR(n->node.endpoint, "wss://eu-1.example.net/ws");
    CHECK_STR(n->node.location, "Frankfurt");
    CHECK(n->node.has_coords && fabs(n->node.lat - 50.11) < 1e-9 && fabs(n->node.lon - 8.68) < 1e-9, "coords");
    CHECK_STR(n->node.country, "DE");
    CHECK_STR(n->node.continent, "EU");
    CHECK_INT(n->node.n_versions, 2);
    CHECK_INT(n->node.versions[0], 1);
    CHECK_INT(n->node.versions[1], 2);
    CHECK_INT(n->capacity, 20000);
    CHECK_INT(n->check.type, WSB_CHECK_WEBSOCKET);
    CHECK_INT(n->check.timeout_ms, 2000);
    CHECK_INT(n->check.rise, 2);
    CHECK_INT(n->check.fall, 3);
    CHECK_STR(n->check.target, "https://eu-1.example.net/ws");
    CHECK_STR(n->check.shown, "wss://eu-1.example.net/ws");
    CHECK_STR(n->status_url, "https://eu-1.example.net/status");
    CHECK_INT(n->node.drain, 0);
    CHECK_INT(inv.max_timeout_ms, 2000);
    wsb_inventory_free(&inv);
    wsb_inventory_free(&inv);   /* a freed inventory may be freed again */
}

static void test_defaults_and_merge(void)
{
    const char *text =
        "{'allow_insecure_ws':true,'_comment':'ignored',"
        " 'defaults':{'versions':['v3'],'capacity':50,'location':'Lab','country':'fr','continent':'eu',"
        "             'check':{'type':'tcp','timeout_ms':700,'fall':5}},"
        " 'nodes':[{'id':'t1','endpoint':'wss://h.example:8443/ws','_note':1},"
        "          {'id':'t2','endpoint':'wss://h2.example/ws','check':{'rise':4}},"
        "          {'id':'w','endpoint':'ws://[::1]:9000/x','check':{'type':'websocket','timeout_ms':3000}},"
        "          {'id':'w2','endpoint':'wss://a.example/ws','check':{'type':'websocket','url':'ws://127.0.0.1:81/c'}},"
        "          {'id':'h','endpoint':'wss://b.example/ws','location':'Other','drain':true,"
        "           'check':{'type':'http','url':'http://b.example:8080/health'}},"
        "          {'id':'t3','endpoint':'ws://c.example/ws','check':{'address':'[::1]:7000'}}]}";
    struct wsb_inventory inv;
    char err[WSB_ERRLEN];
    CHECK_INT(parse(text, &inv, err), WSB_OK);
    CHECK_INT(inv.n, 6);
    if (inv.n != 6) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    const struct wsb_inv_node *n = inv.nodes;
    CHECK_INT(n[0].check.type, WSB_CHECK_TCP);
    CHECK_STR(n[0].check.target, "http://h.example:8443/");
    CHECK_STR(n[0].check.shown, "h.example:8443");
    CHECK_INT(n[0].check.timeout_ms, 700);
    CHECK_INT(n[0].check.rise, 2);
    CHECK_INT(n[0].check.fall, 5);
    CHECK_INT(n[0].capacity, 50);
    CHECK_STR(n[0].node.location, "Lab");
    CHECK_STR(n[0].node.country, "FR");
    CHECK_STR(n[0].node.continent, "EU");
    CHECK_INT(n[0].node.versions[0], 3);
    CHECK_STR(n[1].check.target, "http://h2.example:443/");
    CHECK_INT(n[1].check.rise, 4);
    CHECK_INT(n[1].check.fall, 5);
    CHECK_INT(n[2].check.type, WSB_CHECK_WEBSOCKET);
    CHECK_STR(n[2].check.target, "http://[::1]:9000/x");
    CHECK_INT(n[2].check.timeout_ms, 3000);
    CHECK_STR(n[3].check.target, "http://127.0.0.1:81/c");
    CHECK_STR(n[3].check.shown, "ws://127.0.0.1:81/c");
    CHECK_INT(n[4].check.type, WSB_CHECK_HTTP);
    CHECK_STR(n[4].check.target, "http://b.example:8080/health");
    CHECK_STR(n[4].node.location, "Other");
    CHECK_INT(n[4].node.drain, 1);
    CHECK_STR(n[5].check.target, "http://[::1]:7000/");
    CHECK_STR(n[5].check.shown, "[::1]:7000");
    CHECK_INT(inv.max_timeout_ms, 3000);
    CHECK(inv.ca_file == NULL, "no ca_file");
    wsb_inventory_free(&inv);
}

static void test_empty_nodes(void)
{
    struct wsb_inventory inv;
    char err[WSB_ERRLEN];
    CHECK_INT(parse("{'nodes':[]}", &inv, err), WSB_OK);
    CHECK_INT(inv.n, 0);
    CHECK_INT(inv.max_timeout_ms, 0);
    wsb_inventory_free(&inv);
}

static void test_top_level_errors(void)
{
    EXPECT_ERROR("{'nodes':[}", "inv.json: not valid JSON (line 1, column 11)");
    EXPECT_ERROR("{\n  'nodes': [\n    {,\n", "inv.json: not valid JSON (line 3, column 7)");
    EXPECT_ERROR("", "inv.json: not valid JSON (line 1, column 1)");
    EXPECT_ERROR("{'nodes':[]}\n{}", "inv.json: not valid JSON (line 2, column 1)");
    EXPECT_ERROR("[]", "inv.json: must be a JSON object");
    EXPECT_ERROR("{}", "inv.json: nodes: missing");
    EXPECT_ERROR("{'nodes':{}}", "inv.json: nodes: must be an array");
    EXPECT_ERROR("{'nodez':[]}", "inv.json: nodez: unknown key (did you mean \"nodes\"?)");
    EXPECT_ERROR("{'nodes':[],'color':'red'}", "inv.json: color: unknown key");
    EXPECT_ERROR("{'nodes':[],'nodes':[]}", "inv.json: nodes: given twice");
    EXPECT_ERROR("{'nodes':[],'allow_insecure_ws':'yes'}", "inv.json: allow_insecure_ws: must be true or false");
    EXPECT_ERROR("{'nodes':[],'ca_file':''}", "inv.json: ca_file: must be a file path");
    EXPECT_ERROR("{'nodes':[],'ca_file':5}", "inv.json: ca_file: must be a string");
    EXPECT_ERROR("{'nodes':[],'defaults':[]}", "inv.json: defaults: must be an object");
    EXPECT_ERROR("{'nodes':[],'defaults':{'version':['v1']}}",
                 "inv.json: defaults.version: unknown key (did you mean \"versions\"?)");
    EXPECT_ERROR("{'nodes':[],'defaults':{'versions':['1']}}",
                 "inv.json: defaults.versions[0]: must be \"v1\", \"v2\", ... (at most v1000000)");
    EXPECT_ERROR("{'nodes':[],'defaults':{'capacity':0}}", "inv.json: defaults.capacity: must be a whole number 1..9000000000000000");
    EXPECT_ERROR("{'nodes':[],'defaults':{'location':''}}", "inv.json: defaults.location: is empty");
    EXPECT_ERROR("{'nodes':[],'defaults':{'check':{'url':'http://x/'}}}", "inv.json: defaults.check.url: unknown key");
    EXPECT_ERROR("{'nodes':[],'defaults':{'check':{'type':'icmp'}}}",
                 "inv.json: defaults.check.type: must be \"websocket\", \"http\" or \"tcp\"");
    EXPECT_ERROR("{'nodes':[],'defaults':{'check':[]}}", "inv.json: defaults.check: must be an object");
    EXPECT_ERROR("{'nodes':[],'defaults':{'continent':'XX'}}",
                 "inv.json: defaults.continent: must be one of AF, AN, AS, EU, NA, OC, SA");
}

static void test_node_errors(void)
{
    EXPECT_ERROR("{'nodes':[1]}", "inv.json: nodes[0]: must be an object");
    EXPECT_ERROR(WITH_NODE(",'lattitude':1"), "inv.json: nodes[0].lattitude: unknown key (did you mean \"latitude\"?)");
    EXPECT_ERROR(WITH_NODE(",'id':'b'"), "inv.json: nodes[0].id: given twice");
    EXPECT_ERROR("{'nodes':[{'endpoint':'wss://a/'}]}", "inv.json: nodes[0].id: missing");
    EXPECT_ERROR("{'nodes':[{'id':'a b','endpoint':'wss://a/'}]}",
                 "inv.json: nodes[0].id: id may only hold letters, digits and . _ : -");
    EXPECT_ERROR("{'nodes':[{'id':7,'endpoint':'wss://a/'}]}", "inv.json: nodes[0].id: must be a string");
    EXPECT_ERROR("{'defaults':{'versions':['v1'],'location':'L'},'nodes':[{'id':'a'}]}",
                 "inv.json: nodes[0].endpoint: missing");
    EXPECT_ERROR("{'defaults':{'versions':['v1'],'location':'L'},'nodes':[{'id':'a','endpoint':'ws://a/'}]}",
                 "inv.json: nodes[0].endpoint: must start with wss:// (ws:// only with allow_insecure_ws)");
    EXPECT_ERROR("{'defaults':{'versions':['v1'],'location':'L'},'nodes':[{'id':'a','endpoint':'https://a/'}]}",
                 "inv.json: nodes[0].endpoint: must start with wss://");
    EXPECT_ERROR("{'defaults':{'versions':['v1'],'location':'L'},'nodes':[{'id':'a','endpoint':'wss:///ws'}]}",
                 "inv.json: nodes[0].endpoint: has no host");
    EXPECT_ERROR("{'defaults':{'versions':['v1'],'location':'L'},'nodes':[{'id':'a','endpoint':'wss://a:0/'}]}",
                 "inv.json: nodes[0].endpoint: port must be a number 1..65535");
    EXPECT_ERROR("{'defaults':{'versions':['v1'],'location':'L'},'nodes':[{'id':'a','endpoint':'wss://u@a/'}]}",
                 "inv.json: nodes[0].endpoint: must not carry user information");
    EXPECT_ERROR("{'defaults':{'versions':['v1']},'nodes':[{'id':'a','endpoint':'wss://a/'}]}",
                 "inv.json: nodes[0].location: missing (give it here or in defaults)");
    EXPECT_ERROR("{'defaults':{'versions':['v1']},'nodes':[{'id':'a','endpoint':'wss://a/','location':'x\\ty'}]}",
                 "inv.json: nodes[0].location: must be UTF-8 text without control characters");
    EXPECT_ERROR("{'defaults':{'location':'L'},'nodes':[{'id':'a','endpoint':'wss://a/'}]}",
                 "inv.json: nodes[0].versions: missing (give it here or in defaults)");
    EXPECT_ERROR(WITH_NODE(",'versions':[]"), "inv.json: nodes[0].versions: must list at least one version");
    EXPECT_ERROR(WITH_NODE(",'versions':'v1'"), "inv.json: nodes[0].versions: must be an array of \"vN\" strings");
    EXPECT_ERROR(WITH_NODE(",'versions':['v1','v0']"),
                 "inv.json: nodes[0].versions[1]: must be \"v1\", \"v2\", ... (at most v1000000)");
    EXPECT_ERROR(WITH_NODE(",'versions':['v2','v2']"), "inv.json: nodes[0].versions[1]: \"v2\" is listed twice");
    EXPECT_ERROR(WITH_NODE(",'versions':['v1','v2','v3','v4','v5','v6','v7','v8','v9','v10','v11','v12','v13','v14','v15','v16','v17']"),
                 "inv.json: nodes[0].versions: more than 16 versions");
    EXPECT_ERROR(WITH_NODE(",'latitude':50"), "inv.json: nodes[0].longitude: missing: latitude and longitude go together");
    EXPECT_ERROR(WITH_NODE(",'longitude':5"), "inv.json: nodes[0].latitude: missing: latitude and longitude go together");
    EXPECT_ERROR(WITH_NODE(",'latitude':91,'longitude':5"), "inv.json: nodes[0].latitude: must be a number -90..90");
    EXPECT_ERROR(WITH_NODE(",'latitude':'50','longitude':5"), "inv.json: nodes[0].latitude: must be a number -90..90");
    EXPECT_ERROR(WITH_NODE(",'latitude':1,'longitude':-181"), "inv.json: nodes[0].longitude: must be a number -180..180");
    EXPECT_ERROR(WITH_NODE(",'country':'DEU'"), "inv.json: nodes[0].country: must be a two-letter ISO 3166-1 country code");
    EXPECT_ERROR(WITH_NODE(",'country':'D1'"), "inv.json: nodes[0].country: must be a two-letter ISO 3166-1 country code");
    EXPECT_ERROR(WITH_NODE(",'continent':'XX'"), "inv.json: nodes[0].continent: must be one of AF, AN, AS, EU, NA, OC, SA");
    EXPECT_ERROR(WITH_NODE(",'capacity':0"), "inv.json: nodes[0].capacity: must be a whole number 1..9000000000000000");
    EXPECT_ERROR(WITH_NODE(",'capacity':1.5"), "inv.json: nodes[0].capacity: must be a whole number 1..9000000000000000");
    EXPECT_ERROR(WITH_NODE(",'capacity':'10'"), "inv.json: nodes[0].capacity: must be a whole number 1..9000000000000000");
    EXPECT_ERROR(WITH_NODE(",'drain':'yes'"), "inv.json: nodes[0].drain: must be true or false");
    EXPECT_ERROR(WITH_NODE(",'status_url':'ftp://a/s'"),
                 "inv.json: nodes[0].status_url: must start with ws://, wss://, http:// or https://");
    EXPECT_ERROR(WITH_NODE(",'status_url':'wss://a/s'"), "inv.json: nodes[0].status_url: must start with https:// or http://");
    EXPECT_ERROR(WITH_NODE(",'status_url':'http://a b/'"),
                 "inv.json: nodes[0].status_url: byte 8 is not a printable ASCII character");
}

static void test_check_errors(void)
{
    EXPECT_ERROR(WITH_NODE(",'check':{'type':'icmp'}"),
                 "inv.json: nodes[0].check.type: must be \"websocket\", \"http\" or \"tcp\"");
    EXPECT_ERROR(WITH_NODE(",'check':{'kind':'tcp'}"), "inv.json: nodes[0].check.kind: unknown key");
    EXPECT_ERROR(WITH_NODE(",'check':{'timeout_ms':10}"), "inv.json: nodes[0].check.timeout_ms: must be a whole number 50..120000");
    EXPECT_ERROR(WITH_NODE(",'check':{'timeout_ms':200000}"), "inv.json: nodes[0].check.timeout_ms: must be a whole number 50..120000");
    EXPECT_ERROR(WITH_NODE(",'check':{'rise':0}"), "inv.json: nodes[0].check.rise: must be a whole number 1..100");
    EXPECT_ERROR(WITH_NODE(",'check':{'fall':101}"), "inv.json: nodes[0].check.fall: must be a whole number 1..100");
    EXPECT_ERROR(WITH_NODE(",'check':'tcp'"), "inv.json: nodes[0].check: must be an object");
    EXPECT_ERROR(WITH_NODE(",'check':{'type':'http'}"),
                 "inv.json: nodes[0].check.url: missing: an http check needs the URL to GET");
    EXPECT_ERROR(WITH_NODE(",'check':{'type':'http','url':'wss://a/'}"),
                 "inv.json: nodes[0].check.url: an http check URL must start with https:// or http://");
    EXPECT_ERROR(WITH_NODE(",'check':{'type':'http','url':'http://'}"), "inv.json: nodes[0].check.url: has no host");
    EXPECT_ERROR(WITH_NODE(",'check':{'type':'http','url':'http://a/','address':'a:1'}"),
                 "inv.json: nodes[0].check.address: only a tcp check takes an address");
    EXPECT_ERROR(WITH_NODE(",'check':{'address':'a:1'}"), "inv.json: nodes[0].check.address: only a tcp check takes an address");
    EXPECT_ERROR(WITH_NODE(",'check':{'url':'https://a/'}"),
                 "inv.json: nodes[0].check.url: a websocket check URL must start with wss://");
    EXPECT_ERROR(WITH_NODE(",'check':{'url':'ws://a/'}"),
                 "inv.json: nodes[0].check.url: must start with wss:// (ws:// only with allow_insecure_ws)");
    EXPECT_ERROR(WITH_NODE(",'check':{'type':'tcp','url':'http://a/'}"),
                 "inv.json: nodes[0].check.url: a tcp check takes an address, not a url");
    EXPECT_ERROR(WITH_NODE(",'check':{'type':'tcp','address':'a'}"), "inv.json: nodes[0].check.address: must be host:port");
    EXPECT_ERROR(WITH_NODE(",'check':{'type':'tcp','address':'a:99999'}"),
                 "inv.json: nodes[0].check.address: port must be a number 1..65535");
    EXPECT_ERROR(WITH_NODE(",'check':{'type':'tcp','address':'http://a:1/'}"),
                 "inv.json: nodes[0].check.address: must be host:port, not a URL");
    EXPECT_ERROR(WITH_NODE(",'check':{'type':'tcp','address':'[::1:80'}"),
                 "inv.json: nodes[0].check.address: IPv6 address lacks its closing ']'");
}

/* slow_start_s and max_new_per_s: absent -1, from defaults, a node's own
 * value over the default, 0 turns slow start off; both go into the node. */
static void test_pacing_keys(void)
{
    const char *text =
        "{'defaults':{'versions':['v1'],'location':'L','slow_start_s':60,'max_new_per_s':500},"
        " 'nodes':[{'id':'a','endpoint':'wss://a/'},"
        "          {'id':'b','endpoint':'wss://b/','slow_start_s':0,'max_new_per_s':1},"
        "          {'id':'c','endpoint':'wss://c/','slow_start_s':86400,'max_new_per_s':1000000000}]}";
    struct wsb_inventory inv;
    char err[WSB_ERRLEN];
    CHECK_INT(parse(text, &inv, err), WSB_OK);
    CHECK_INT(inv.n, 3);
    if (inv.n == 3) {
        CHECK_INT(inv.nodes[0].node.slow_start_s, 60);
        CHECK_INT(inv.nodes[0].node.max_new_per_s, 500);
        CHECK_INT(inv.nodes[1].node.slow_start_s, 0);
        CHECK_INT(inv.nodes[1].node.max_new_per_s, 1);
        CHECK_INT(inv.nodes[2].node.slow_start_s, 86400);
        CHECK_INT(inv.nodes[2].node.max_new_per_s, 1000000000);
    }
    wsb_inventory_free(&inv);

    CHECK_INT(parse(WITH_NODE(""), &inv, err), WSB_OK);
    CHECK_INT(inv.n, 1);
    if (inv.n == 1) {
        CHECK_INT(inv.nodes[0].node.slow_start_s, -1);
        CHECK_INT(inv.nodes[0].node.max_new_per_s, -1);
    }
    wsb_inventory_free(&inv);

    CHECK_INT(parse(WITH_NODE(",'slow_start_s':15"), &inv, err), WSB_OK);
    if (inv.n == 1) {
        CHECK_INT(inv.nodes[0].node.slow_start_s, 15);
        CHECK_INT(inv.nodes[0].node.max_new_per_s, -1);
    }
    wsb_inventory_free(&inv);

    EXPECT_ERROR(WITH_NODE(",'slow_start_s':-1"), "inv.json: nodes[0].slow_start_s: must be a whole number 0..86400");
    EXPECT_ERROR(WITH_NODE(",'slow_start_s':86401"), "inv.json: nodes[0].slow_start_s: must be a whole number 0..86400");
    EXPECT_ERROR(WITH_NODE(",'slow_start_s':2.5"), "inv.json: nodes[0].slow_start_s: must be a whole number 0..86400");
    EXPECT_ERROR(WITH_NODE(",'slow_start_s':'30'"), "inv.json: nodes[0].slow_start_s: must be a whole number 0..86400");
    EXPECT_ERROR(WITH_NODE(",'max_new_per_s':0"),
                 "inv.json: nodes[0].max_new_per_s: must be a whole number 1..1000000000");
    EXPECT_ERROR(WITH_NODE(",'max_new_per_s':1000000001"),
                 "inv.json: nodes[0].max_new_per_s: must be a whole number 1..1000000000");
    EXPECT_ERROR(WITH_NODE(",'max_new_per_s':true"),
                 "inv.json: nodes[0].max_new_per_s: must be a whole number 1..1000000000");
    EXPECT_ERROR(WITH_NODE(",'max_new_per_sec':5"),
                 "inv.json: nodes[0].max_new_per_sec: unknown key (did you mean \"max_new_per_s\"?)");
    EXPECT_ERROR("{'nodes':[],'defaults':{'slow_start_s':1e6}}",
                 "inv.json: defaults.slow_start_s: must be a whole number 0..86400");
    EXPECT_ERROR("{'nodes':[],'defaults':{'max_new_per_s':-5}}",
                 "inv.json: defaults.max_new_per_s: must be a whole number 1..1000000000");
    EXPECT_ERROR("{'defaults':{'versions':['v1'],'location':'L'},'nodes':[{'id':'a','endpoint':'wss://a/'},"
                 "{'id':'b','endpoint':'wss://b/'},{'id':'c','endpoint':'wss://c/'},"
                 "{'id':'d','endpoint':'wss://d/','max_new_per_s':0.5}]}",
                 "inv.json: nodes[3].max_new_per_s: must be a whole number 1..1000000000");
}

static void test_duplicate_ids(void)
{
    EXPECT_ERROR("{'defaults':{'versions':['v1'],'location':'L'},'nodes':["
                 "{'id':'x','endpoint':'wss://a/'},{'id':'a','endpoint':'wss://a/'},{'id':'b','endpoint':'wss://b/'},"
                 "{'id':'a','endpoint':'wss://c/'},{'id':'x','endpoint':'wss://d/'}]}",
                 "inv.json: nodes[3].id: \"a\" is already the id of nodes[1]");
}

static void test_second_node_place(void)
{
    EXPECT_ERROR("{'defaults':{'versions':['v1'],'location':'L'},'nodes':["
                 "{'id':'a','endpoint':'wss://a/'},{'id':'b','endpoint':'wss://b/'},{'id':'c','endpoint':'wss://c/'},"
                 "{'id':'d','endpoint':'ws://d/'}]}",
                 "inv.json: nodes[3].endpoint: must start with wss:// (ws:// only with allow_insecure_ws)");
}

static void test_too_big(void)
{
    size_t len = WSB_INVENTORY_MAX_BYTES + 1;
    char *big = malloc(len);
    memset(big, ' ', len);
    struct wsb_inventory inv;
    char err[WSB_ERRLEN];
    CHECK_INT(wsb_inventory_parse("inv.json", big, len, &inv, err), WSB_ETOOBIG);
    CHECK_STR(err, "inv.json: larger than 16777216 bytes");
    free(big);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    char *j = dq(text);
    fputs(j, f);
    fclose(f);
    free(j);
}

static void test_load_files(void)
{
    char dir[] = "/tmp/wsb-test-inv.XXXXXX";
    if (mkdtemp(dir) == NULL)
        return;
    char inv_path[256], ca_path[256], err[WSB_ERRLEN], want[1024];
    snprintf(inv_path, sizeof inv_path, "%s/inv.json", dir);
    snprintf(ca_path, sizeof ca_path, "%s/ca.pem", dir);
    struct wsb_inventory inv;

    snprintf(want, sizeof want, "%s/none.json: cannot open: No such file or directory", dir);
    char none[256];
    snprintf(none, sizeof none, "%s/none.json", dir);
    CHECK_INT(wsb_inventory_load(none, &inv, err), WSB_EIO);
    CHECK_STR(err, want);

    write_file(inv_path, "{'ca_file':'ca.pem','nodes':[]}");
    CHECK_INT(wsb_inventory_load(inv_path, &inv, err), WSB_EIO);
    snprintf(want, sizeof want, "%s: ca_file: cannot read %s: No such file or directory", inv_path, ca_path);
    CHECK_STR(err, want);

    write_file(ca_path, "not really a certificate\n");
    CHECK_INT(wsb_inventory_load(inv_path, &inv, err), WSB_OK);
    CHECK_STR(inv.ca_file, ca_path);   /* relative to the inventory's folder */
    wsb_inventory_free(&inv);

    write_file(inv_path, "{'nodes':[1]}");
    CHECK_INT(wsb_inventory_load(inv_path, &inv, err), WSB_EINVAL);
    snprintf(want, sizeof want, "%s: nodes[0]: must be an object", inv_path);
    CHECK_STR(err, want);

    CHECK_INT(wsb_inventory_load(dir, &inv, err), WSB_EIO);
    unlink(inv_path);
    unlink(ca_path);
    rmdir(dir);
}

static void test_type_names(void)
{
    CHECK_STR(wsb_check_type_name(WSB_CHECK_WEBSOCKET), "websocket");
    CHECK_STR(wsb_check_type_name(WSB_CHECK_HTTP), "http");
    CHECK_STR(wsb_check_type_name(WSB_CHECK_TCP), "tcp");
}

int main(void)
{
    T_RUN(test_spec_example);
    T_RUN(test_defaults_and_merge);
    T_RUN(test_empty_nodes);
    T_RUN(test_top_level_errors);
    T_RUN(test_node_errors);
    T_RUN(test_check_errors);
    T_RUN(test_pacing_keys);
    T_RUN(test_duplicate_ids);
    T_RUN(test_second_node_place);
    T_RUN(test_too_big);
    T_RUN(test_load_files);
    T_RUN(test_type_names);
    return t_done("test_probe_inventory");
}
