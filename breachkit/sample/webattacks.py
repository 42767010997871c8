"""The planted attacks on the web portal (scanners, bulk export, admin from outside) and on the bastions."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import quote, unquote_plus

from .attacks import Planter, floor_to
from .data import FIREFOX_LINUX, words
from .formats import ADMIN_ALLOW_LIST, BASTIONS, LOGIND_PID, AccessRecord, SyslogRecord, pam_auth_failure
from .manifest import ACCESS_LOG, AUTH_LOG, AttackPart
from .traffic import Browser, url

NIKTO_AGENT = "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:{:06d})"
SQLMAP_AGENT = "sqlmap/1.8.3#stable (https://sqlmap.org)"
NUCLEI_AGENT = "Nuclei - Open-source project (github.com/projectdiscovery/nuclei)"

_SQLI = re.compile(r"'\s*(or|and)\s|\bunion\s+(all\s+)?select\b|\bsleep\s*\(|\border\s+by\s+\d|\band\s+\d+=\d+", re.I)
_TRAVERSAL = re.compile(r"\.\.[/\\]|/\.\.$")
SQLI_INDICATORS = ("' OR 1=1--", "UNION SELECT", "UNION ALL SELECT", "SLEEP(", "ORDER BY", "AND n=n")
TRAVERSAL_INDICATORS = ("../", "..%2f", "%2e%2e%2f", "%2e%2e/", ".%2e/", "..%252f", "..%5c", "....//")


def classify_url(target: str) -> str | None:
    """'traversal', 'sqli' or None for a request target, after URL-decoding twice (double encoding)."""
    decoded = unquote_plus(unquote_plus(target))
    if _TRAVERSAL.search(decoded):
        return "traversal"
    if _SQLI.search(decoded):
        return "sqli"
    return None


NIKTO_RECON = words(
    """/robots.txt /sitemap.xml /.env /.git/HEAD /.git/config /.svn/entries /.DS_Store /.htaccess /.htpasswd
    /server-status /server-info /phpinfo.php /info.php /test.php /wp-login.php /wp-admin/ /xmlrpc.php /phpmyadmin/
    /pma/ /mysql/ /dbadmin/ /cgi-bin/test-cgi /cgi-bin/printenv /cgi-bin/php /config.php /config.inc.php /web.config
    /WEB-INF/web.xml /console/ /manager/html /jmx-console/ /solr/ /login.php /index.php /index.php?option=com_content
    /icons/README /README.md /CHANGELOG.txt /crossdomain.xml /clientaccesspolicy.xml /login /account /static/
    /.well-known/security.txt /iisstart.htm"""
)
NIKTO_GUESSES = tuple(
    f"/{w}{e}"
    for w in words("backup old test temp db data site www dev staging dump archive")
    for e in words(".zip .tar.gz .bak .sql .old .tgz .rar")
)
NIKTO_TRAVERSAL = words(
    """/static/../../../../etc/passwd /static/..%2f..%2f..%2f..%2fetc%2fpasswd /%2e%2e/%2e%2e/%2e%2e/etc/passwd
    /%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd /download?file=../../../../etc/passwd
    /static/..%5c..%5c..%5cwindows%5cwin.ini /account/devices?view=....//....//....//etc/passwd
    /export/consumption.csv?file=..%2f..%2f..%2fetc%2fpasswd"""
)
NUCLEI_PATHS = words(
    """/.git/config /.env /.env.production /actuator/env /actuator/health /v2/api-docs /swagger-ui.html /graphql
    /server-status /wp-content/debug.log /.aws/credentials /config.json /.vscode/sftp.json /debug/pprof/
    /telescope/requests /_profiler/phpinfo /.npmrc /docker-compose.yml /.circleci/config.yml /backup.sql /id_rsa
    /.ssh/id_rsa /storage/logs/laravel.log /api/.env /jenkins/login /owa/auth/logon.aspx /remote/login
    /global-protect/login.esp /vpn/index.html /dana-na/auth/url_default/welcome.cgi /webui/ /+CSCOE+/logon.html
    /Telerik.Web.UI.WebResource.axd /solr/admin/cores /.well-known/openid-configuration /favicon.ico"""
)
NUCLEI_ATTACKS = (  # some with raw spaces: the request line then has more than three parts (Apache answers 400)
    "/login?next=' OR 1=1--",
    "/login?next=1' OR '1'='1",
    "/login?next=/account%27%20OR%201%3D1--",
    "/account/consumption?period=month'+UNION+SELECT+username,password+FROM+users--",
    "/password/reset?token=x' UNION SELECT NULL,version()--",
    "/static/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/..%252f..%252f..%252fetc%252fpasswd",
    "/static/../../../../etc/passwd",
    "/download?file=../../../../../../etc/passwd",
    "/export/consumption.csv?file=../../../../etc/passwd",
    "/cgi-bin/.%2e/.%2e/.%2e/.%2e/etc/passwd",
    "/icons/.%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
)
SQLMAP_TARGETS = (
    ("/login", "next", "/account", 200, 4810),
    ("/password/reset", "token", "8f3a2c9d", 400, 1290),
    ("/account/consumption", "period", "month", 302, 0),
)
SQLMAP_PAYLOADS = (  # sqlmap's first requests carry the plain value (stability checks)
    "{v}", "{v}", "{v}).(\",'", "{v}' AND {n}={n}-- {r}", "{v}' AND {n}={m}-- {r}", "{v}' OR {n}={n}-- {r}",
    "{v}) AND {n}={n} AND ({m}={m}", "{v}' OR 1=1-- -", "{v}' UNION ALL SELECT NULL-- -",
    "{v}' UNION ALL SELECT NULL,NULL-- -", "{v}' UNION ALL SELECT NULL,NULL,NULL-- -",
    "{v}' AND (SELECT {n} FROM (SELECT(SLEEP(5))){r})-- {r}", "{v}' ORDER BY 1-- -", "{v}' ORDER BY 10-- -",
    "{v} AND {n}={n}", "{v}\" AND {n}={n}-- {r}",
)  # fmt: skip
_PLAIN_STATUS = {"/robots.txt": (200, 67), "/login": (200, 4810), "/favicon.ico": (200, 15086), "/": (302, 0),
                 "/account": (302, 0)} | dict.fromkeys(("/.htaccess", "/.htpasswd", "/server-status", "/server-info",
                                                        "/static/"), (403, 199))  # fmt: skip


def response(target: str) -> tuple[int, int]:
    """What the portal answers an unauthenticated scanner request (status, bytes)."""
    if classify_url(target) is None:
        return _PLAIN_STATUS.get(target, (404, 1245))
    if " " in target or "/../" in target or "%2e%2e/" in target.lower() or ".%2e/" in target:
        return 400, 226  # Apache refuses raw spaces and traversal that escapes the document root
    path = target.split("?", 1)[0]
    if path in ("/account/consumption", "/account/devices", "/export/consumption.csv"):
        return 302, 0
    return {"/login": (200, 4810), "/password/reset": (400, 1290)}.get(path, (404, 1245))


def scanners(p: Planter) -> None:
    rng = p.rng
    records: list[AccessRecord] = []
    parts: list[AttackPart] = []

    def run(label: str, country: str, start: datetime, requests: list[tuple[str, str, str]], gap: tuple[int, int],
            agent: str) -> None:  # fmt: skip
        ip, t, out = p.hosting(country).ip, start, []
        for method, target, ua in requests:
            status, size = (200, 0) if method == "OPTIONS" else (405, 230) if method != "GET" else response(target)
            out.append(Browser(ip, None, ua).hit(t, f"{method} {target}", status, size))
            t += timedelta(seconds=rng.randint(*gap))
        records.extend(out)
        parts.append(AttackPart(label, floor_to(out[0].ts, ACCESS_LOG), floor_to(out[-1].ts, ACCESS_LOG), len(out),
                                ip, country, agent))  # fmt: skip

    # Nikto: recon of well-known files, HTTP methods, traversal; about one request a second
    targets = ["/", *NIKTO_RECON, *rng.sample(NIKTO_GUESSES, 70), *NIKTO_TRAVERSAL]
    rng.shuffle(targets)
    requests = [("GET", target, "") for target in targets]
    for method in ("OPTIONS", "TRACE", "PROPFIND", "DEBUG"):
        requests.insert(rng.randrange(len(requests)), (method, "/", ""))
    test_id = rng.randint(1000, 5000)
    for i, (method, target, _) in enumerate(requests):
        test_id += rng.randint(1, 40)
        requests[i] = (method, target, NIKTO_AGENT.format(test_id))
    run("nikto", "RU", p.when(1, "10:12:07", False), requests, (0, 2), NIKTO_AGENT.replace("{:06d}", "NNNNNN"))

    # sqlmap against three parameters, slow and steady, across the spring-forward switch (01:00 UTC)
    requests = []
    for path, param, value, _status, _size in SQLMAP_TARGETS:
        for tpl in SQLMAP_PAYLOADS + SQLMAP_PAYLOADS[3:]:
            n, m, r = (
                rng.randint(1000, 9999),
                rng.randint(1000, 9999),
                "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=4)),
            )
            requests.append(
                ("GET", f"{path}?{param}={quote(tpl.format(v=value, n=n, m=m, r=r), safe='')}", SQLMAP_AGENT)
            )
    run("sqlmap", "RU", p.when(9, "00:40:03", False), requests, (20, 34), SQLMAP_AGENT)

    # nuclei over IPv6: exposure templates plus injection and traversal probes
    targets = [*NUCLEI_PATHS, *NUCLEI_ATTACKS]
    rng.shuffle(targets)
    run(
        "nuclei", "SG", p.when(12, "16:05:41", False), [("GET", x, NUCLEI_AGENT) for x in targets], (0, 1), NUCLEI_AGENT
    )

    p.logs.access.extend(records)
    kinds = [classify_url(r.target) for r in records]
    p.add(
        ACCESS_LOG, [r.ts for r in records], {"source.ip": [pt.source_ip or "" for pt in parts]},
        id="web_scanners", title="Vulnerability scanners with SQL injection and path traversal probes",
        description="Three unauthenticated scanner runs against the portal: Nikto (recon, HTTP methods, path "
        "traversal), sqlmap (SQL injection on three parameters, from 00:40 UTC on the night the clocks spring "
        "forward at 01:00 UTC, so the local offset changes from +0100 to +0200 inside the run) and nuclei over "
        "IPv6 (exposures, injection, traversal incl. double encoding and raw spaces in the request line).",
        technique="T1595.002", related_techniques=("T1190",),
        source_ips=tuple(pt.source_ip or "" for pt in parts), countries=("RU", "SG"), parts=tuple(parts),
        counts=(("requests", len(records)), ("sqli", kinds.count("sqli")), ("traversal", kinds.count("traversal")),
                ("raw_space_request_lines", sum(" " in r.target for r in records)),
                ("admin_paths", sum(r.target.startswith("/admin") for r in records))),
        indicators=SQLI_INDICATORS + TRAVERSAL_INDICATORS,
        notes="sqli/traversal counts follow breachkit.sample.webattacks.classify_url (decode twice, then match). "
        "No scanner request touches /admin, so admin_from_outside stays separate.",
    )  # fmt: skip


def bulk_export(p: Planter) -> None:
    rng = p.rng
    (installer,) = p.pick(lambda a: a.account_type == "installer" and a.active and len(a.customers) >= 25)
    anon = Browser(p.hosting("NL").ip, None, FIREFOX_LINUX)
    b, ref, t = (
        Browser(anon.ip, installer.user_id, FIREFOX_LINUX),
        url("/installer/customers"),
        p.when(12, "22:40:12", False),
    )
    records = [anon.hit(t, "GET /login", 200, 4810)]
    t += timedelta(seconds=rng.randint(3, 6))
    records.append(b.hit(t, "POST /login", 302, 0, url("/login")))
    records.append(
        b.hit(t + timedelta(seconds=1), "GET /installer/customers", 200, 6000 + 120 * len(installer.customers))
    )
    exported, total = list(installer.customers), 0
    for cust in exported:
        t += timedelta(seconds=rng.randint(15, 24))
        size = rng.randint(1_200_000, 6_500_000)
        total += size
        records.append(
            b.hit(t, f"GET /export/consumption.csv?customer={cust}&from=2023-01-01&to={t.date()}", 200, size, ref)
        )
    records.append(b.hit(t + timedelta(seconds=rng.randint(5, 15)), "GET /logout", 302, 0, ref))
    p.logs.access.extend(records)
    times = [r.ts for r in records]
    p.hold(installer.user_id, min(times), max(times))
    p.add(
        ACCESS_LOG, times, {"source.ip": [b.ip]},
        id="bulk_export", title="Bulk export of all an installer's customers",
        description=f"A hijacked installer login, from a hosting address at night, exports the full consumption "
        f"history of all {len(exported)} of the installer's customers via /export/consumption.csv within "
        f"{(max(times) - min(times)).seconds // 60 + 1} minutes (1.2–6.5 MB each).",
        technique="T1020", related_techniques=("T1078", "T1213"),
        source_ips=(b.ip,), countries=("NL",), user_ids=(installer.user_id,),
        target_user_ids=tuple(exported), affected_user_ids=tuple(exported),
        counts=(("exports", len(exported)), ("export_bytes", total), ("requests", len(records))),
        notes="The portal log has no user.target.id: the exported customer is the `customer` parameter of url.query.",
    )  # fmt: skip


def admin_from_outside(p: Planter) -> None:
    rng = p.rng
    (admin,) = p.pick(lambda a: a.account_type == "admin" and a.active)
    anon = Browser(p.hosting("RO").ip, None, admin.browser)
    b, t = Browser(anon.ip, admin.user_id, admin.browser), p.when(6, "18:30:26", False)
    records = [anon.hit(t, "GET /login", 200, 4810)]
    t += timedelta(seconds=rng.randint(6, 12))
    records.append(b.hit(t, "POST /login", 302, 0, url("/login")))
    users = [a.user_id for a in p.pop.accounts if a.account_type == "end_user" and a.active]
    viewed = rng.sample(users, 15)
    for path in ["/admin/", *(f"/admin/users/{u}" for u in viewed), "/admin/settings/api-keys", "/admin/audit?page=1"]:
        t += timedelta(seconds=rng.randint(15, 60))
        records.append(b.hit(t, f"GET {path}", 200, rng.randint(12_000, 23_000), url("/admin/")))
    records.append(b.hit(t + timedelta(seconds=rng.randint(5, 20)), "GET /logout", 302, 0, url("/admin/")))
    p.logs.access.extend(records)
    times = [r.ts for r in records]
    p.hold(admin.user_id, min(times), max(times))
    p.add(
        ACCESS_LOG, times, {"source.ip": [b.ip]},
        id="admin_from_outside", title="Admin console reached from outside the allow-list",
        description=f"An operator's admin login is used from a hosting address outside {ADMIN_ALLOW_LIST}: the "
        "admin dashboard, 15 customers' detail pages, the API-key settings and the audit log.",
        technique="T1078", related_techniques=("T1133",), source_ips=(b.ip,), countries=("RO",),
        user_ids=(admin.user_id,), target_user_ids=tuple(viewed), affected_user_ids=tuple(viewed),
        counts=(("requests", len(records)), ("admin_paths", sum(r.target.startswith("/admin") for r in records))),
        indicators=(f"url.path startswith /admin and source.ip not in {ADMIN_ALLOW_LIST}",),
    )  # fmt: skip


def ssh_brute_force(p: Planter) -> None:
    rng = p.rng
    ep = p.hosting("RU")
    ip, host, t = ep.ip, BASTIONS[1], p.when(7, "03:10:02", False)
    out: list[SyslogRecord] = []
    failed = attempts = invalid = 0
    users = words("admin ubuntu test oracle postgres guest user pi ftpuser git")
    plan = (
        [("root", 6)] * 4 + [(u, rng.randint(1, 3)) for u in users] + [("root", 6)] * 3 + [("deploy", 3), ("deploy", 2)]
    )
    repeated = False
    for user, tries in plan:
        pid, port, exists = rng.randint(20000, 60000), rng.randint(32768, 60999), user in ("root", "deploy")
        if exists:
            msg = pam_auth_failure(ip, user)
        else:
            msg, invalid = f"Invalid user {user} from {ip} port {port}", invalid + 1
        out.append(SyslogRecord(t, host, "sshd", pid, msg))
        failure = f"Failed password for {'' if exists else 'invalid user '}{user} from {ip} port {port} ssh2"
        done = 0
        while done < tries:
            t += timedelta(seconds=rng.randint(2, 4))
            out.append(SyslogRecord(t, host, "sshd", pid, failure))
            failed, attempts, done = failed + 1, attempts + 1, done + 1
            if user == "root" and not repeated and tries - done >= 3:  # rsyslog folds identical consecutive lines
                t += timedelta(seconds=rng.randint(6, 9))
                out.append(SyslogRecord(t, host, "sshd", pid, f"message repeated 3 times: [ {failure}]"))
                attempts, done, repeated = attempts + 3, done + 3, True
        t += timedelta(seconds=1)
        if user == "root":
            closing = [
                f"error: maximum authentication attempts exceeded for root from {ip} port {port} ssh2 [preauth]",
                f"Disconnecting authenticating user root {ip} port {port}: Too many authentication failures [preauth]",
            ]
        else:
            who = "authenticating" if exists else "invalid"
            closing = [f"Connection closed by {who} user {user} {ip} port {port} [preauth]"]
        out += [SyslogRecord(t, host, "sshd", pid, m) for m in closing]
        t += timedelta(seconds=rng.randint(20, 75))
    # the password finally guessed: deploy (a key-only CI account that still accepted passwords)
    pid, port, session, logind = rng.randint(20000, 60000), rng.randint(32768, 60999), 731, LOGIND_PID[host]
    t1 = t + timedelta(minutes=12, seconds=rng.randint(0, 59))
    out.append(SyslogRecord(t, host, "sshd", pid, f"Accepted password for deploy from {ip} port {port} ssh2"))
    no_ip = [
        SyslogRecord(
            t, host, "sshd", pid, "pam_unix(sshd:session): session opened for user deploy(uid=1002) by (uid=0)"
        ),
        SyslogRecord(t, host, "systemd-logind", logind, f"New session {session} of user deploy."),
        SyslogRecord(t1, host, "sshd", pid, "pam_unix(sshd:session): session closed for user deploy"),
        SyslogRecord(
            t1, host, "systemd-logind", logind, f"Session {session} logged out. Waiting for processes to exit."
        ),
    ]
    out.append(
        SyslogRecord(t1, host, "sshd", pid, f"Received disconnect from {ip} port {port}:11: disconnected by user")
    )
    out.append(SyslogRecord(t1, host, "sshd", pid, f"Disconnected from user deploy {ip} port {port}"))
    p.logs.auth.extend(out + no_ip)
    session_part = AttackPart("session", t, t1, len(no_ip) + 3, ip, ep.country, None, host)
    p.add(
        AUTH_LOG, [r.ts for r in out], {"source.ip": [ip]},
        id="ssh_brute_force", title="SSH password brute force on a bastion, then a successful login",
        description=f"One address tries root and ten common user names with passwords on {host} for about "
        "20 minutes, then logs in with the password of the `deploy` account and stays 12 minutes.",
        technique="T1110.001", related_techniques=("T1021.004", "T1078"),
        source_ips=(ip,), countries=(ep.country,), user_ids=("deploy",),
        parts=(session_part,),
        counts=(("lines_with_ip", len(out)), ("session_lines_without_ip", len(no_ip)),
                ("failed_password_lines", failed), ("failed_password_attempts", attempts),
                ("message_repeated_lines", 1), ("invalid_user_lines", invalid), ("connections", len(plan) + 1),
                ("accepted_password_lines", 1), ("accepted_session_pid", pid)),
        notes="events = lines containing the address (also inside `rhost=`, `message repeated …` and the session's "
        "disconnect lines); the session's pam_unix/systemd-logind lines carry no address: same pid / host.",
    )  # fmt: skip


def plant_web(p: Planter) -> None:
    for plant in (scanners, admin_from_outside, bulk_export, ssh_brute_force):
        plant(p)
