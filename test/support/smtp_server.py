"""A real SMTP server (aiosmtpd) for Portico's mail proxy tests.

Usage: smtp_server.py PORT OUTDIR USER:PASSWORD
Saves every accepted message as OUTDIR/N.json (envelope, data, the XCLIENT line and the AUTH login it saw),
accepts XCLIENT like Postfix (replies 220), and AUTH PLAIN/LOGIN for USER:PASSWORD. Prints READY when
listening; stops on SIGTERM.
"""
import asyncio
import json
import os
import signal
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Handler:
    def __init__(self, outdir):
        self.outdir = outdir
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        record = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "data": envelope.content.decode("utf-8", "replace"),
            "helo": session.host_name,
            "xclient": getattr(session, "xclient", None),
            "login": login.decode() if isinstance(login, bytes) else login,
        }
        path = os.path.join(self.outdir, "%d.json" % self.count)
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path)
        return "250 2.0.0 Stored"


class XclientSMTP(SMTP):
    async def smtp_XCLIENT(self, arg):
        self.session.xclient = arg
        self.session.host_name = None
        await self.push("220 upstream.test ESMTP after XCLIENT")


class XclientController(Controller):
    def factory(self):
        return XclientSMTP(self.handler, **self.SMTP_kwargs)


def main():
    port, outdir, cred = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    user, password = cred.split(":", 1)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user and auth_data.password.decode() == password
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    controller = XclientController(
        Handler(outdir),
        hostname="127.0.0.1",
        port=port,
        server_hostname="upstream.test",
        authenticator=authenticator,
        auth_require_tls=False,
        auth_required=False,
    )
    controller.start()
    print("READY", flush=True)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.run_until_complete(stop.wait())
    controller.stop()


if __name__ == "__main__":
    main()
