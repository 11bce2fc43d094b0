"""Wire format and error replies of genesys_sim."""

import socket

import pytest

from simtest import free_port
from genesys_sim import protocol
from genesys_sim.client import Client
from genesys_sim.msgserver import MsgServer


def test_encode_is_one_json_line_and_decodes_back():
    message = {"op": "put", "type": "CfgPerson", "name": "jörg", "data": {"n": [1, 2]}}
    line = protocol.encode(message)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert protocol.decode(line) == message


@pytest.mark.parametrize("line", [b"{not json\n", b"[1, 2]\n", b"\"text\"\n"])
def test_decode_rejects_what_is_not_a_json_object(line):
    with pytest.raises(protocol.ProtocolError) as raised:
        protocol.decode(line)
    assert raised.value.code == "bad_request"


def test_object_types_map_to_their_tables():
    assert protocol.table_for("CfgAgentLogin") == "cfg_agent_login"
    with pytest.raises(protocol.ProtocolError) as raised:
        protocol.object_ref({"op": "get", "type": "CfgSwitch", "name": "x"})
    assert raised.value.code == "unknown_type"
    assert "CfgSwitch" in raised.value.message and "CfgPerson" in raised.value.message


@pytest.mark.parametrize("request_", [
    {"op": "get", "type": "CfgPerson"},
    {"op": "get", "type": "CfgPerson", "name": ""},
    {"op": "get", "type": "CfgPerson", "name": 7},
])
def test_object_ref_needs_a_name(request_):
    with pytest.raises(protocol.ProtocolError) as raised:
        protocol.object_ref(request_)
    assert raised.value.code == "bad_request"


def test_object_data_must_be_an_object():
    assert protocol.object_data({"data": {"a": 1}}) == {"a": 1}
    with pytest.raises(protocol.ProtocolError):
        protocol.object_data({"data": [1]})


@pytest.mark.parametrize("text,expected", [("h:1", ("h", 1)), ("10.0.0.1:5432", ("10.0.0.1", 5432))])
def test_split_hostport(text, expected):
    assert protocol.split_hostport(text) == expected


@pytest.mark.parametrize("text", ["h", "h:", ":5", "h:0", "h:70000", "h:x"])
def test_split_hostport_rejects(text):
    with pytest.raises(ValueError):
        protocol.split_hostport(text)


@pytest.fixture
def msgserver(tmp_path):
    """A Message Server (no Log DB) running in this process."""
    port = free_port()
    config = tmp_path / "ms.cfg"
    config.write_text("[app]\nsite = site1\nlisten_host = 127.0.0.1\nport = %d\n" % port)
    app = MsgServer("ut_proto_ms", "127.0.0.1", 2020, str(config))
    app.start()
    yield app
    app.stop("test over")


def test_server_answers_errors_and_keeps_the_connection(msgserver):
    with socket.create_connection(("127.0.0.1", msgserver.port), timeout=5) as sock:
        reader = sock.makefile("rb")
        for raw, code in ((b"this is not json\n", "bad_request"), (b"{\"no_op\": 1}\n", "bad_request"),
                          (b"{\"op\": \"frobnicate\"}\n", "unknown_op"),
                          (b"{\"op\": \"log\", \"message\": \"m\"}\n", "no_log_db")):
            sock.sendall(raw)
            reply = protocol.decode(reader.readline())
            assert reply["ok"] is False and reply["code"] == code, reply
            assert reply["error"]
        sock.sendall(protocol.encode({"op": "ping"}))
        assert protocol.decode(reader.readline())["ok"] is True


def test_client_reconnects_after_the_server_dropped_it(msgserver):
    client = Client("127.0.0.1", msgserver.port, 5)
    assert client.request({"op": "hello", "role": "app", "app": "x", "site": "site1"})["ok"]
    assert [c["app"] for c in client.request({"op": "status"})["clients"]] == ["x"]
    for conn in msgserver.server.connections():
        conn.close()
    with pytest.raises(OSError):
        client.request({"op": "ping"})
    assert client.request({"op": "status"})["clients"] == []
    client.close()
