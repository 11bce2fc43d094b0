"""Solution Control Server in distributed mode: registers with its Message Server
and stays registered, reconnecting when the connection is lost."""

import threading

from genesys_sim.client import Client, ClientError
from genesys_sim.daemon import App

RETRY_INTERVAL = 2.0
PING_TIMEOUT = 4.0


class SCS(App):
    kind = "scs"

    def __init__(self, name, cs_host, cs_port, config_path):
        super().__init__(name, cs_host, cs_port, config_path)
        self.message_server = self.config.hostport("scs", "message_server")
        self.scs_mode = self.config.get("scs", "mode", "distributed")
        self._thread = threading.Thread(target=self._stay_registered, name="msgserver", daemon=True)

    def initialize(self):
        self.mode = "unregistered"
        self._thread.start()

    def status(self):
        return dict(super().status(), registered=self.mode == "registered", scs_mode=self.scs_mode,
                    message_server="%s:%d" % self.message_server)

    def _stay_registered(self):
        address = "%s:%d" % self.message_server
        failure_logged = False
        while not self.stopping.is_set():
            with Client(*self.message_server, timeout=PING_TIMEOUT) as client:
                try:
                    reply = client.request({"op": "hello", "role": "scs", "app": self.name, "site": self.site,
                                            "mode": self.scs_mode})
                    if not reply.get("ok"):
                        raise ClientError("registration refused: %s" % reply.get("code"))
                    self.set_mode("registered", "Std", 24001, "Registered with Message Server %s" % address)
                    failure_logged = False
                    while not self.stopping.wait(RETRY_INTERVAL):
                        client.request({"op": "ping"})
                except ClientError as exc:
                    if self.mode == "registered":
                        self.set_mode("unregistered", "Alarm", 24002, "Connection to Message Server %s lost (%s)"
                                      % (address, exc))
                    elif not failure_logged:
                        self.log.alarm(24003, "Message Server %s not available (%s)" % (address, exc))
                    failure_logged = True
            self.stopping.wait(RETRY_INTERVAL)
