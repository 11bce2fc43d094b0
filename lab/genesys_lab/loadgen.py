"""Load generator for drills: keeps writing configuration objects through one proxy and
logs every attempt (JSON per line) so the drill can check that no acknowledged write was
lost and measure how long the proxy refused writes.

Runs on a lab host (inside its namespace) with Debian's python3:
  python3 -m genesys_lab.loadgen --server ADDR:PORT --prefix load_site2 --out FILE
It stops on SIGTERM or after --duration seconds; requests are bounded by --interval.
"""
import argparse
import json
import signal
import sys
import time

from genesys_sim.client import Client, ClientError


def main(argv=None):
    parser = argparse.ArgumentParser(prog="loadgen")
    parser.add_argument("--server", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--duration", type=float, default=900.0)
    args = parser.parse_args(argv)
    host, port = args.server.rsplit(":", 1)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_a: stop.append(1))
    client = Client(host, int(port), timeout=2.0)
    deadline = time.monotonic() + args.duration
    n = 0
    with open(args.out, "a", buffering=1) as out:
        while not stop and time.monotonic() < deadline:
            n += 1
            name = "%s_%06d" % (args.prefix, n)
            started = time.time()
            try:
                reply = client.request({"op": "put", "type": "CfgPerson", "name": name, "data": {"seq": n}})
                outcome = "ack" if reply.get("ok") else reply.get("code", "refused")
            except ClientError as exc:
                outcome, reply = "no_reply", {"error": str(exc)}
            # t: when the attempt began; t_end: when its answer (or its failure) came back.
            out.write(json.dumps({"t": started, "t_end": time.time(), "name": name, "outcome": outcome,
                                  "error": None if outcome == "ack" else reply.get("error")}) + "\n")
            time.sleep(args.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
