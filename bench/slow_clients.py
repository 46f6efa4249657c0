#!/usr/bin/env python3
"""Slow-reader attacks on a running sharecard server (run by bench/slow-clients.sh).

Measures whether clients that ask for cards and then never read the
answers can lock everybody else out: with the attack connections held
open, how long until a fresh client gets a 200 from /healthz?

  h1  CONNS sockets with a tiny receive buffer (SO_RCVBUF 1024, set
      before connect), 40 pipelined requests for distinct story cards at
      scale 3 on each, never read.
  h2  CONNS h2c (prior knowledge) connections with INITIAL_WINDOW_SIZE 0,
      10 streams for distinct story cards at scale 3 on each; PINGs and
      SETTINGS are answered, the flow-control window is never opened.

After each attack's setup a fresh client tries GET /healthz (new
connection per try, 2 s per try) until the first 200 or LIMIT_S. The
attack connections stay open until then. Connections the server closes
(the wanted defence) are counted, with when they closed.

  slow_clients.py BASE      (BASE = http://127.0.0.1:PORT: IPv4 loopback only)

Environment: CONNS (8), LIMIT_S (60), TARGET_S (30).
Exit status: 0 if every attack's fresh client was served within TARGET_S,
1 if not, 2 on bad usage.
"""

import http.client
import ipaddress
import os
import select
import socket
import statistics
import struct
import sys
import threading
import time
import urllib.parse

H1_REQUESTS = 40  # pipelined requests per h1 connection
H2_STREAMS = 10  # streams per h2 connection
TRY_S = 2.0  # per-try timeout of the fresh client
IO_TIMEOUT_S = 5.0  # connect/send timeout of attack sockets
DRAIN_S = 3.0  # after an attack: how long to read what is left


def fmt_s(t):
    return f"{t:.2f}"


class Closes:
    """When the server closed attack connections (seconds after setup)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.at = {}  # conn index -> (seconds after setup, how)

    def record(self, conn, t, how):
        with self.lock:
            self.at.setdefault(conn, (t, how))

    def summary(self, total):
        with self.lock:
            items = sorted(self.at.values())
        if not items:
            return f"server closed 0/{total} attack connections while the fresh client was tried"
        times = [t for t, _ in items]
        hows = sorted({h for _, h in items})
        when = (
            f"at {fmt_s(times[0])} s"
            if len(times) == 1
            else f"at {fmt_s(times[0])}..{fmt_s(times[-1])} s (median {fmt_s(statistics.median(times))} s)"
        )
        return (
            f"server closed {len(items)}/{total} attack connections {when} after setup"
            f" ({', '.join(hows)})"
        )


def fresh_client(host, port, start, limit_s):
    """Seconds from `start` to the first 200 from /healthz, or None."""
    deadline = start + limit_s
    tries = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None, tries
        tries += 1
        conn = http.client.HTTPConnection(host, port, timeout=min(TRY_S, left))
        try:
            conn.request("GET", "/healthz", headers={"Connection": "close"})
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                return time.monotonic() - start, tries
        except (OSError, http.client.HTTPException):
            pass
        finally:
            conn.close()
        time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))


def open_socket(host, port, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        # Before connect, so the window offered in the handshake is small.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(IO_TIMEOUT_S)
    try:
        s.connect((host, port))
    except OSError:
        s.close()
        raise
    return s


# --- noticing the server close attack connections ---------------------------

# FIN_WAIT1, FIN_WAIT2, TIME_WAIT, CLOSE, CLOSING
TCP_STATES_CLOSED_BY_SERVER = {"04", "05", "06", "07", "0B"}


def hex_addr(ip, port):
    """An IPv4 address as /proc/net/tcp writes it (host byte order)."""
    return f"{struct.unpack('=I', socket.inet_aton(ip))[0]:08X}:{port:04X}"


def server_side_closed(server, clients):
    """Client addresses whose server end (seen in /proc/net/tcp: all of it
    is on this machine) is closing; empty if /proc cannot be read."""
    try:
        with open("/proc/net/tcp") as f:
            lines = f.readlines()[1:]
    except OSError:
        return set()
    closed = set()
    for line in lines:
        fields = line.split()
        if (
            fields[1] == server
            and fields[2] in clients
            and fields[3] in TCP_STATES_CLOSED_BY_SERVER
        ):
            closed.add(fields[2])
    return closed


def watch(socks, server, closes, start, stop, poll_sockets):
    """Records attack connections the server closes, as soon as it does.

    The server's end is read from /proc/net/tcp (a graceful close of an
    unread connection: its FIN waits behind response bytes we never read,
    so our socket cannot see it); with poll_sockets, our sockets are also
    polled for a reset (POLLERR/POLLHUP) or a FIN that got through.
    """
    by_addr, poller, fds = {}, select.poll(), {}
    for i, s in socks:
        try:
            by_addr[hex_addr(*s.getsockname())] = i
            if poll_sockets:
                poller.register(s.fileno(), select.POLLRDHUP)
                fds[s.fileno()] = i
        except OSError:
            pass
    while (by_addr or fds) and not stop.is_set():
        for fd, ev in poller.poll(50) if fds else []:
            if fd in fds:
                how = "reset" if ev & (select.POLLERR | select.POLLHUP) else "FIN"
                closes.record(fds.pop(fd), time.monotonic() - start, how)
                poller.unregister(fd)
        if not fds:
            time.sleep(0.05)
        for addr in server_side_closed(server, by_addr):
            closes.record(by_addr.pop(addr), time.monotonic() - start, "FIN")


def drain(socks, budget_s):
    """Reads the attack sockets for up to budget_s: (ended, still open)."""
    live = {}
    for s in socks:
        if s is None:
            continue
        try:
            s.setblocking(False)
            live[s.fileno()] = s
        except OSError:
            pass
    ended = 0
    deadline = time.monotonic() + budget_s
    while live:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        readable, _, _ = select.select(list(live.values()), [], [], min(left, 0.2))
        for s in readable:
            try:
                gone = not s.recv(1 << 16)
            except BlockingIOError:
                continue
            except OSError:
                gone = True
            if gone:
                ended += 1
                live.pop(s.fileno(), None)
    return ended, len(live)


# --- h1: pipelined, never read ------------------------------------------------


def attack_h1(host, port, conns, limit_s):
    socks, failed = [], 0
    for c in range(conns):
        try:
            s = open_socket(host, port, rcvbuf=1024)
        except OSError:
            socks.append(None)
            failed += 1
            continue
        reqs = "".join(
            f"GET /cards/story.png?role=Slow%20reader%20{c}%20{i}&risk=48&scale=3 HTTP/1.1\r\n"
            "Host: x\r\n\r\n"
            for i in range(H1_REQUESTS)
        ).encode()
        try:
            s.sendall(reqs)
        except OSError:
            failed += 1  # the server closed it or stopped reading; keep it anyway
        socks.append(s)
    start = time.monotonic()
    closes, stop = Closes(), threading.Event()
    watcher = threading.Thread(
        target=watch,
        args=(
            [(i, s) for i, s in enumerate(socks) if s],
            hex_addr(host, port),
            closes,
            start,
            stop,
            True,
        ),
        daemon=True,
    )
    watcher.start()
    served, tries = fresh_client(host, port, start, limit_s)
    stop.set()
    watcher.join(1)
    notes = [closes.summary(conns)]
    if failed:
        notes.append(f"{failed} attack connection(s) failed during setup (connect or send)")
    ended, still = drain(socks, DRAIN_S)
    notes.append(
        f"drain after the measurement ({DRAIN_S:g} s of reading): {ended} ended (EOF/reset), "
        f"{still} still open"
    )
    for s in socks:
        if s is not None:
            s.close()
    return served, tries, notes


# --- h2: INITIAL_WINDOW_SIZE 0 ------------------------------------------------


class H2Attacker:
    """One h2c connection whose streams never get a window."""

    def __init__(self, idx, host, port):
        self.idx = idx
        self.sock = open_socket(host, port)
        try:
            self._start(host, port)
        except OSError:
            self.sock.close()
            raise
        self.headers = 0
        self.resets = 0

    def _start(self, host, port):
        import h2.config
        import h2.connection
        import h2.settings

        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        )
        self.conn.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0,
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
            },
        )
        self.conn.initiate_connection()
        authority = f"{host}:{port}"
        for i in range(H2_STREAMS):
            sid = self.conn.get_next_available_stream_id()
            role = urllib.parse.quote(f"Window zero {self.idx} {i}")
            self.conn.send_headers(
                sid,
                [
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":authority", authority),
                    (":path", f"/cards/story.png?role={role}&risk=48&scale=3"),
                ],
                end_stream=True,
            )
        self.sock.sendall(self.conn.data_to_send())

    def run(self, closes, start, stop):
        """Reads and answers (PING/SETTINGS acks) until stop or close."""
        import h2.events
        import h2.exceptions

        self.sock.settimeout(0.2)
        while not stop.is_set():
            try:
                data = self.sock.recv(1 << 16)
            except TimeoutError:
                continue
            except OSError:
                closes.record(self.idx, time.monotonic() - start, "reset")
                return
            if not data:
                closes.record(self.idx, time.monotonic() - start, "EOF")
                return
            try:
                events = self.conn.receive_data(data)
                out = self.conn.data_to_send()
                if out:
                    self.sock.sendall(out)
            except OSError:
                closes.record(self.idx, time.monotonic() - start, "reset")
                return
            except h2.exceptions.H2Error as e:  # stop reading, keep the socket
                closes.record(self.idx, time.monotonic() - start, f"h2 error {type(e).__name__}")
                return
            for ev in events:
                if isinstance(ev, h2.events.ResponseReceived):
                    self.headers += 1
                elif isinstance(ev, h2.events.StreamReset):
                    self.resets += 1
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    closes.record(self.idx, time.monotonic() - start, "GOAWAY")
            # Never acknowledge_received_data: the windows stay at 0.


def attack_h2(host, port, conns, limit_s):
    attackers, failed = [], 0
    for c in range(conns):
        try:
            attackers.append(H2Attacker(c, host, port))
        except OSError:
            failed += 1
    start = time.monotonic()
    closes, stop = Closes(), threading.Event()
    threads = [
        threading.Thread(target=a.run, args=(closes, start, stop), daemon=True) for a in attackers
    ]
    threads.append(
        threading.Thread(
            target=watch,
            args=(
                [(a.idx, a.sock) for a in attackers],
                hex_addr(host, port),
                closes,
                start,
                stop,
                False,
            ),
            daemon=True,
        )
    )
    for t in threads:
        t.start()
    served, tries = fresh_client(host, port, start, limit_s)
    stop.set()
    for t in threads:
        t.join(1)
    notes = [closes.summary(conns)]
    if failed:
        notes.append(f"{failed} attack connection(s) failed during setup (connect or send)")
    notes.append(
        f"response heads received on attack streams: {sum(a.headers for a in attackers)}"
        f"/{conns * H2_STREAMS}, streams reset by the server: {sum(a.resets for a in attackers)}"
    )
    for a in attackers:
        a.sock.close()
    return served, tries, notes


# ---------------------------------------------------------------------------


def env_num(name, default, kind=float):
    try:
        return kind(os.environ.get(name) or default)
    except ValueError:
        sys.exit(f"{name} must be a number")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    url = urllib.parse.urlsplit(sys.argv[1])
    host, port = url.hostname, url.port
    try:
        loopback = url.scheme == "http" and port and ipaddress.IPv4Address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        print(
            f"BASE must be http://<IPv4 loopback address>:PORT, not {sys.argv[1]}", file=sys.stderr
        )
        return 2
    conns = env_num("CONNS", 8, int)
    limit_s = env_num("LIMIT_S", 60)
    target_s = env_num("TARGET_S", 30)

    attacks = [
        ("h1 pipelined never-read", attack_h1),
        ("h2c INITIAL_WINDOW_SIZE=0", attack_h2),
    ]
    ok = True
    for name, attack in attacks:
        # Start each attack from a server that answers (the previous one's
        # connections may take a moment to go).
        recovered, _ = fresh_client(host, port, time.monotonic(), limit_s)
        if recovered is None:
            print(f"{name}: skipped, the server did not answer /healthz within {limit_s:g} s")
            ok = False
            continue
        served, tries, notes = attack(host, port, conns, limit_s)
        if served is None:
            result = f"fresh client NOT served within {limit_s:g} s ({tries} tries)"
            passed = False
        else:
            result = f"fresh client served after {fmt_s(served)} s"
            passed = served <= target_s
        ok = ok and passed
        print(
            f"{name}, {conns} conns: {result} (target <= {target_s:g} s): "
            f"{'pass' if passed else 'FAIL'}",
            flush=True,
        )
        for n in notes:
            print(f"  {n}", flush=True)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
