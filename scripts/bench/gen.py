#!/usr/bin/env python3
"""gen.py: deterministic inputs for the benchmarks.

  gen.py nodes N            JSON array of N node records spread uniformly over
                            the globe (the same points as the Node.js peer's
                            seed.sh: Park-Miller LCG, seed 20240607)
  gen.py peer-redis N       the same nodes as redis-cli commands in the peer's layout
  gen.py addresses JSON     one client address per located network of a
                            GeoLite2 City test JSON (IPv4 and IPv6)
"""
import ipaddress
import json
import math
import sys


CAPACITY = 10 ** 9


def points(n):
    x = 20240607
    for i in range(1, n + 1):
        x = (x * 16807) % 2147483647
        u1 = x / 2147483647
        x = (x * 16807) % 2147483647
        u2 = x / 2147483647
        x = (x * 16807) % 2147483647
        u3 = x / 2147483647
        z = 2 * u1 - 1
        lat = math.atan2(z, math.sqrt(1 - z * z)) * 180 / math.pi
        lon = u2 * 360 - 180
        load = 0.1 + 0.7 * u3
        yield "n%04d" % i, round(lat, 4), round(lon, 4), round(load, 3)


def main():
    what = sys.argv[1]
    if what == "nodes":
        out = []
        for nid, lat, lon, load in points(int(sys.argv[2])):
            # A capacity so large that the bench's hundreds of thousands of
            # answers never fill a node (each is counted as a new session
            # until the next round): the bench measures speed, make sim
            # measures filling.
            out.append({"id": nid, "endpoint": "wss://%s.ws.example.net/ws" % nid, "location": "loc-" + nid,
                        "lat": lat, "lon": lon, "versions": ["v1"], "online": True, "load": load,
                        "capacity": CAPACITY, "connections": int(load * CAPACITY)})
        json.dump(out, sys.stdout)
    elif what == "peer-redis":
        for nid, lat, lon, load in points(int(sys.argv[2])):
            print("SADD peer:nodes:v1 %s" % nid)
            print("HSET peer:node:%s endpoint wss://%s.ws.example.net/ws location loc-%s lat %.4f lon %.4f online 1 load %.3f"
                  % (nid, nid, nid, lat, lon, load))
    elif what == "addresses":
        for entry in json.load(open(sys.argv[2])):
            for net, rec in entry.items():
                if "location" not in rec:
                    continue
                n = ipaddress.ip_network(net, strict=False)
                host = n.network_address + (1 if n.num_addresses > 1 else 0)
                if n.version == 6 and n.prefixlen < 96 and str(n).startswith("::"):
                    continue   # IPv4-embedded ranges duplicate the IPv4 entries
                print(host)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
