"""Client side of the protocol: the importable ``Client`` and the ``client`` command."""

import json
import socket
import sys

from genesys_sim import protocol

EX_USAGE = 64


class ClientError(OSError):
    """No reply: the server could not be reached, hung up or did not answer in time."""


class Client:
    """A synchronous connection to one application, opened on first use.

    After a failure the connection is dropped; the next request opens a new one.
    """

    def __init__(self, host, port, timeout=10.0):
        self.host = host
        self.port = port
        self.timeout = timeout
        self._sock = None
        self._reader = None

    def request(self, message):
        """Send one request and return its reply (a dict with ``ok``)."""
        where = "%s:%s" % (self.host, self.port)
        try:
            if self._sock is None:
                self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
                self._reader = self._sock.makefile("rb")
            self._sock.sendall(protocol.encode(message))
            while True:
                line = self._reader.readline(protocol.MAX_LINE + 1)
                if not line:
                    raise ClientError("connection to %s closed by the server" % where)
                reply = protocol.decode(line)
                # Change notifications may precede the reply on a subscribed connection.
                if "event" not in reply:
                    return reply
        except socket.timeout:
            self.close()
            raise ClientError("no reply from %s within %s s" % (where, self.timeout)) from None
        except ClientError:
            self.close()
            raise
        except (OSError, protocol.ProtocolError) as exc:
            self.close()
            raise ClientError("cannot talk to %s: %s" % (where, exc)) from None

    def close(self):
        if self._sock is not None:
            self._sock.close()
        self._sock = None
        self._reader = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def build_request(words):
    """Turn the command words of ``client`` into a request."""
    usage = "usage: status | get TYPE NAME | put TYPE NAME JSON | delete TYPE NAME | list [TYPE]"
    op, rest = words[0], words[1:]
    if op == "status" and not rest:
        return {"op": "status"}
    if op in ("get", "delete") and len(rest) == 2:
        return {"op": op, "type": rest[0], "name": rest[1]}
    if op == "put" and len(rest) == 3:
        try:
            data = json.loads(rest[2])
        except ValueError as exc:
            raise ValueError("put: JSON argument is not valid JSON: %s" % exc) from None
        return {"op": "put", "type": rest[0], "name": rest[1], "data": data}
    if op == "list" and len(rest) <= 1:
        return {"op": "list", "type": rest[0]} if rest else {"op": "list"}
    raise ValueError(usage)


def main(args):
    """Exit status: 0 ok, 2 refused by the server, 1 no reply, 64 usage error."""
    try:
        request = build_request(args.words)
        host, port = protocol.split_hostport(args.server, "--server")
    except ValueError as exc:
        print("client: %s" % exc, file=sys.stderr)
        return EX_USAGE
    try:
        with Client(host, port, args.timeout) as client:
            reply = client.request(request)
    except ClientError as exc:
        print("client: %s" % exc, file=sys.stderr)
        return 1
    print(json.dumps(reply, indent=2, sort_keys=True))
    if not reply.get("ok"):
        print("client: refused: %s: %s" % (reply.get("code"), reply.get("error")), file=sys.stderr)
        return 2
    return 0
