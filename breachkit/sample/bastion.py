"""Benign auth.log of the two bastion hosts: hourly cron, operators over the VPN, CI deploys, internet noise.

Bounds that keep the planted SSH brute force separable: operators and CI log in with keys from 10.8.0.0/24
and 10.30.0.0/24 only; each noisy internet address makes at most 3 password attempts.
"""

from __future__ import annotations

import base64
import random
from datetime import datetime, timedelta

from .data import SSH_NOISE_USERS
from .formats import BACKGROUND, BASTIONS, LOGIND_PID, AddressBook, SyslogRecord, nets, pam_auth_failure
from .population import Population
from .traffic import poisson


class Bastions:
    def __init__(self, pop: Population, rng: random.Random, addresses: AddressBook, out: list[SyslogRecord]) -> None:
        self.pop, self.rng, self.addresses, self.out = pop, rng, addresses, out
        self.days = (pop.end - pop.start).days
        self.session_no = dict.fromkeys(BASTIONS, 1)

    def run(self) -> None:
        self.cron()
        self.operators()
        self.noise()

    def log(self, t: datetime, host: str, program: str, pid: int, message: str) -> None:
        self.out.append(SyslogRecord(t, host, program, pid, message))

    def cron(self) -> None:
        rng = self.rng
        for host in BASTIONS:
            minute = rng.randint(0, 59)
            for h in range(self.days * 24):
                t = self.pop.start + timedelta(hours=h, minutes=minute, seconds=1)
                pid = rng.randint(2000, 60000)
                opened = "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)"
                self.log(t, host, "CRON", pid, opened)
                self.log(
                    t + timedelta(seconds=rng.randint(0, 2)),
                    host,
                    "CRON",
                    pid,
                    "pam_unix(cron:session): session closed for user root",
                )

    def session(self, host: str, user: str, uid: int, ip: str, t: datetime, minutes: int, key: str) -> None:
        rng = self.rng
        pid, port, n, lp = rng.randint(2000, 60000), rng.randint(32768, 60999), self.session_no[host], LOGIND_PID[host]
        self.session_no[host] += 1
        t1 = t + timedelta(minutes=minutes, seconds=rng.randint(0, 59))
        for ts, program, p, msg in (
            (t, "sshd", pid, f"Accepted publickey for {user} from {ip} port {port} ssh2: ED25519 SHA256:{key}"),
            (t, "sshd", pid, f"pam_unix(sshd:session): session opened for user {user}(uid={uid}) by (uid=0)"),
            (t, "systemd-logind", lp, f"New session {n} of user {user}."),
            (t1, "sshd", pid, f"Received disconnect from {ip} port {port}:11: disconnected by user"),
            (t1, "sshd", pid, f"Disconnected from user {user} {ip} port {port}"),
            (t1, "sshd", pid, f"pam_unix(sshd:session): session closed for user {user}"),
            (t1, "systemd-logind", lp, f"Session {n} logged out. Waiting for processes to exit."),
            (t1, "systemd-logind", lp, f"Removed session {n}."),
        ):
            self.log(ts, host, program, p, msg)

    def fingerprint(self) -> str:
        return base64.b64encode(self.rng.randbytes(32)).decode().rstrip("=")

    def operators(self) -> None:
        rng, start = self.rng, self.pop.start
        admins = [a for a in self.pop.accounts if a.account_type == "admin" and a.active]
        for i, a in enumerate(admins):
            vpn, key = next(e for e in a.endpoints if e.kind == "vpn"), self.fingerprint()
            for day in range(self.days):
                if (start + timedelta(days=day)).weekday() >= 5:
                    continue
                for _ in range(poisson(rng, 0.5)):
                    t = start + timedelta(days=day, hours=rng.randint(6, 16), seconds=rng.randrange(3600))
                    self.session(rng.choice(BASTIONS), a.login_name, 1001 + i, vpn.ip, t, rng.randint(3, 90), key)
        ci_key = self.fingerprint()
        for day in range(self.days):
            t = start + timedelta(days=day, hours=2, minutes=30, seconds=rng.randint(0, 20))
            self.session(BASTIONS[0], "deploy", 1002, "10.30.0.5", t, 2, ci_key)

    def noise(self) -> None:
        rng = self.rng
        background = nets(role="cloud", pool=BACKGROUND)
        for day in range(self.days):
            for _ in range(rng.randint(8, 13)):
                ip, host = self.addresses.take_from(background), rng.choice(BASTIONS)
                t = self.pop.start + timedelta(days=day, seconds=rng.randrange(86400))
                for _ in range(rng.randint(1, 3)):
                    pid, port, kind = rng.randint(2000, 60000), rng.randint(32768, 60999), rng.random()
                    if kind < 0.5:
                        user = rng.choice(SSH_NOISE_USERS)
                        msgs = [
                            f"Invalid user {user} from {ip} port {port}",
                            f"Failed password for invalid user {user} from {ip} port {port} ssh2",
                            f"Connection closed by invalid user {user} {ip} port {port} [preauth]",
                        ]
                    elif kind < 0.8:
                        msgs = [
                            pam_auth_failure(ip, "root"),
                            f"Failed password for root from {ip} port {port} ssh2",
                            f"Connection closed by authenticating user root {ip} port {port} [preauth]",
                        ]
                    else:
                        msgs = [f"Connection closed by {ip} port {port} [preauth]"]
                    for msg in msgs:
                        self.log(t, host, "sshd", pid, msg)
                        t += timedelta(seconds=rng.randint(0, 2))
                    t += timedelta(seconds=rng.randint(5, 200))
