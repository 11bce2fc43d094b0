"""Log Message Server: log events into the Log Database, across DB outages."""

from simtest import SITE, free_port, wait_for
from genesys_sim.client import Client


def start_lms(sim, pg):
    port = free_port()
    return sim.start("msgserver", "LMS", "127.0.0.1", 2020, {
        "app": {"site": SITE, "listen_host": "127.0.0.1", "port": port},
        "dbserver": pg.dbserver("ut_lms", "logdb"),
        "messageserver": {"log_db": "true"}})


def rows(pg, app):
    return pg.execute("SELECT db_site, origin_site, app, level, message FROM log_event WHERE app = %s ORDER BY id",
                      (app,), dbname="logdb")


def test_log_events_are_stored_with_db_site_and_origin(pg, installed, sim):
    lms = start_lms(sim, pg)
    wait_for(lambda: lms.status()["db"]["connected"], 5, "the LMS to connect to the Log DB")
    # An application that logs to the network sends its own start event.
    scs = sim.start("scs", "SCS", "127.0.0.1", 2020, {
        "app": {"site": "site2", "port": free_port()}, "scs": {"message_server": "127.0.0.1:%d" % free_port()},
        "log": {"network": "127.0.0.1:%d" % lms.port}})
    wait_for(lambda: rows(pg, scs.name), 5, "the SCS start event in the Log DB")
    assert rows(pg, scs.name)[0][:4] == (SITE, "site2", scs.name, "Std")
    assert "05060 Application %s (scs) started" % scs.name in rows(pg, scs.name)[0][4]

    with Client("127.0.0.1", lms.port, 5) as client:
        assert client.request({"op": "hello", "role": "app", "app": "ut_app", "site": "site3"})["ok"]
        for number in range(3):
            assert client.request({"op": "log", "level": "Alarm", "message": "event %d" % number})["ok"]
        assert client.request({"op": "log", "message": "from elsewhere", "app": "ut_app", "site": "site4"})["ok"]
    wait_for(lambda: len(rows(pg, "ut_app")) == 4, 5, "the events in the Log DB")
    assert rows(pg, "ut_app") == [(SITE, "site3", "ut_app", "Alarm", "event 0"),
                                  (SITE, "site3", "ut_app", "Alarm", "event 1"),
                                  (SITE, "site3", "ut_app", "Alarm", "event 2"),
                                  (SITE, "site4", "ut_app", "Std", "from elsewhere")]


def test_events_wait_out_a_db_outage_and_keep_their_order(pg, installed, sim):
    lms = start_lms(sim, pg)
    wait_for(lambda: lms.status()["db"]["connected"], 5, "the LMS to connect to the Log DB")
    try:
        pg.execute("REVOKE CONNECT ON DATABASE logdb FROM PUBLIC, ut_lms", dbname="logdb")
        pg.execute("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE application_name = %s",
                   (lms.name,), dbname="logdb")
        with Client("127.0.0.1", lms.port, 5) as client:
            for number in range(5):
                reply = client.request({"op": "log", "message": "queued %d" % number, "app": "ut_outage",
                                        "site": SITE})
                assert reply["ok"], reply
        wait_for(lambda: not lms.status()["db"]["connected"], 5, "the LMS to notice the outage")
        assert lms.status()["queued"] == 5
        assert rows(pg, "ut_outage") == []
        assert "Alarm 23002 Log Database 'logdb' at 127.0.0.1:%d unavailable" % pg.port in lms.log()
    finally:
        pg.execute("GRANT CONNECT ON DATABASE logdb TO PUBLIC, ut_lms", dbname="logdb")
    wait_for(lambda: len(rows(pg, "ut_outage")) == 5, 6, "the queued events to be written")
    assert [row[4] for row in rows(pg, "ut_outage")] == ["queued %d" % n for n in range(5)]
    status = lms.status()
    assert status["db"]["connected"] and status["queued"] == 0 and status["dropped"] == 0
