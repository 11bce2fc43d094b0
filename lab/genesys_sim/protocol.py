"""Wire protocol: JSON objects, one per line, over TCP.

A request is ``{"op": ..., ...}``; a reply is ``{"ok": true, ...}`` or
``{"ok": false, "code": ..., "error": ...}``. The Configuration Server may also push
``{"event": "changed", ...}`` lines to a subscribed connection between replies.
"""

import json
import socket
import struct
import threading

# Configuration object types and the cfgdb table each one lives in.
CFG_TYPES = {
    "CfgPerson": "cfg_person",
    "CfgDN": "cfg_dn",
    "CfgAgentLogin": "cfg_agent_login",
    "CfgApplication": "cfg_application",
    "CfgHost": "cfg_host",
}

# Large enough for a full `list` of a seeded configuration, small enough that a
# misbehaving peer cannot make an application buffer without bound.
MAX_LINE = 64 * 1024 * 1024

# A peer that does not drain its socket for this long is dropped rather than allowed
# to block the sender (the Configuration Server notifies proxies under its DB lock,
# a proxy must not hang on a master that vanished from the network).
SEND_TIMEOUT = 5


class ProtocolError(Exception):
    """A request that is answered with ``ok: false``."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def encode(obj):
    return json.dumps(obj, separators=(",", ":")).encode("utf-8") + b"\n"


def decode(line):
    try:
        obj = json.loads(line)
    except ValueError as exc:
        raise ProtocolError("bad_request", "not a JSON line: %s" % exc) from None
    if not isinstance(obj, dict):
        raise ProtocolError("bad_request", "a message must be a JSON object")
    return obj


def ok(**fields):
    return dict(ok=True, **fields)


def error(code, message):
    return {"ok": False, "code": code, "error": message}


def require_str(request, field):
    value = request.get(field)
    if not isinstance(value, str) or not value:
        raise ProtocolError("bad_request", "field %r must be a non-empty string" % field)
    return value


def table_for(cfg_type):
    try:
        return CFG_TYPES[cfg_type]
    except KeyError:
        raise ProtocolError("unknown_type", "unknown object type %r (known: %s)"
                            % (cfg_type, ", ".join(sorted(CFG_TYPES)))) from None


def object_ref(request):
    """Validate ``type`` and ``name`` of a get/put/delete request."""
    cfg_type = require_str(request, "type")
    table_for(cfg_type)
    return cfg_type, require_str(request, "name")


def object_data(request):
    data = request.get("data", {})
    if not isinstance(data, dict):
        raise ProtocolError("bad_request", "field 'data' must be a JSON object")
    return data


def list_filter(request):
    """The optional ``type`` of a list request (None = all types)."""
    cfg_type = request.get("type")
    if cfg_type is not None:
        table_for(cfg_type)
    return cfg_type


def split_hostport(text, what="address"):
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("%s must be HOST:PORT, got %r" % (what, text))
    return host, int(port)


class Connection:
    """One TCP connection: line reads from one thread, thread-safe sends from any."""

    def __init__(self, sock):
        self.sock = sock
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", SEND_TIMEOUT, 0))
        try:
            self.peer = "%s:%d" % sock.getpeername()[:2]
        except OSError:
            self.peer = "?"
        self._reader = sock.makefile("rb")
        self._send_lock = threading.Lock()
        self.closed = False
        # What the peer said about itself in `hello` (None until then).
        self.hello = None
        # Whether the peer asked for change notifications (Configuration Server).
        self.subscribed = False

    def read(self):
        """The next message, or None at EOF / on a broken or closed connection."""
        try:
            line = self._reader.readline(MAX_LINE + 1)
        except (OSError, ValueError):
            return None
        if not line:
            return None
        if len(line) > MAX_LINE:
            # The rest of the stream cannot be framed any more: answer, then hang up.
            self.closed = True
            raise ProtocolError("bad_request", "line longer than %d bytes" % MAX_LINE)
        return decode(line)

    def send(self, obj):
        """Send one message; False (and the connection closed) if that failed."""
        data = encode(obj)
        with self._send_lock:
            try:
                self.sock.sendall(data)
                return True
            except OSError:
                pass
        self.close()
        return False

    def close(self):
        self.closed = True
        # shutdown() wakes a thread blocked in recv(); close() alone would not.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Server:
    """Accepts connections and runs ``handler(conn, request) -> reply`` per request.

    Each connection gets its own thread and is served strictly in order, which the
    proxy relies on to match replies to its forwarded requests.
    """

    def __init__(self, host, port, handler, log):
        self._handler = handler
        self._log = log
        self._listener = socket.create_server((host, port))
        self._conns = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept_loop, name="accept", daemon=True)

    def start(self):
        self._thread.start()

    def connections(self):
        """The open connections. One closed by the server (or found closed) is not listed, even
        while its thread has not yet removed it: a status read right after a hang-up must not
        show the client as still connected."""
        with self._lock:
            return [conn for conn in self._conns if not conn.closed]

    def close(self):
        # On Linux shutdown() makes a blocked accept() return; close() alone would not.
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        for conn in self.connections():
            conn.close()

    def _accept_loop(self):
        while True:
            try:
                sock = self._listener.accept()[0]
            except OSError:
                return
            conn = Connection(sock)
            with self._lock:
                self._conns.add(conn)
            threading.Thread(target=self._serve, args=(conn,), name="conn " + conn.peer,
                             daemon=True).start()

    def _serve(self, conn):
        try:
            while not conn.closed:
                try:
                    request = conn.read()
                    if request is None:
                        break
                    reply = self._handler(conn, request)
                except ProtocolError as exc:
                    reply = error(exc.code, exc.message)
                except Exception as exc:  # pylint: disable=broad-except
                    # Keep serving; the traceback goes to the application log.
                    self._log.exception("request from %s failed" % conn.peer)
                    reply = error("internal_error", "%s: %s" % (type(exc).__name__, exc))
                if not conn.send(reply):
                    break
        finally:
            conn.close()
            with self._lock:
                self._conns.discard(conn)
