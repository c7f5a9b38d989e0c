/* fcgi_const.c: the FastCGI floor for benchmarks: a minimal libfcgi
 * responder that answers every request with one constant JSON body, the
 * way any FastCGI program would.  wsb-handler is measured against it. */
#include <fcgiapp.h>
#include <string.h>

int main(void)
{
    static const char resp[] = "Status: 200 OK\r\nContent-Type: application/json\r\n"
                               "Cache-Control: no-store\r\nContent-Length: 63\r\n\r\n"
                               "{\"endpoint\":\"wss://eu-1.example.net/ws\",\"location\":\"Frankfurt\"}";
    FCGX_Request req;
    if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0)
        return 1;
    while (FCGX_Accept_r(&req) >= 0) {
        FCGX_PutStr(resp, (int)sizeof resp - 1, req.out);
        FCGX_Finish_r(&req);
    }
    return 0;
}
