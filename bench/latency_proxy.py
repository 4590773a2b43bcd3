#!/usr/bin/env python3
"""A TCP proxy that adds latency and counts round trips (for bench/*.sh).

The kernel here has no netem qdisc, so latency is added in user space: every
chunk read from one side is written to the other side DELAY ms later, in
order, without holding up the chunks behind it (a pipelined burst arrives as
a burst, as on a real link). EOF travels the same way.

One process listens on many ports at once (--listen-count N): listen port i
forwards to target port i mod K of the K given with --target-port, so 500
ports in front of 4 servers look like 500 clusters. It is built on asyncio
protocols with one timer per direction, so hundreds of concurrent
connections cost little; `take` reports how late the deliveries were, so a
run can tell when the proxy itself became the bottleneck.

Round trips are counted per connection: the client sent something, the
server answered, and the client went on (sent more, or closed after the
answer came). That is the number of times the client had to wait for the
server. An answer the client does not wait for is not counted: the server's
TLS close_notify after the client's Terminate and EOF. The TCP handshake is
not counted (the proxy accepts at once); --tcp-handshake adds its round trip
to the time by holding a connection's first client chunk one RTT longer.
Encrypted traffic is counted the same way, so a TLS HelloRetryRequest (a
PostgreSQL 17 server, whose ssl_ecdh_curve is prime256v1, answering a client
that offered X25519) shows as the extra round trip it is.

With --trace, PostgreSQL's wire protocol is decoded (unencrypted traffic
only) so that each round trip can be labelled with the messages it carried,
e.g. `SSLRequest -> N` or `Query(SELECT ...) -> T D C Z`. PASSWORD literals
in SQL are redacted and SASL payloads are never recorded. Without --trace
nothing is decoded.

Control port (one command per line, one line back), for scripts:
    take    wait until no connection is open (up to 10 s), then report the
            connections that finished since the last take and forget them:
            `connections=2 round_trips=7 per_connection=3,4 ids=5,6
             peak_open=2 failed=0 late_ms_max=0.4`
            (peak_open: most connections open at once; failed: connections
            whose target refused; late_ms_max: the latest delivery behind
            its due time)
    reset   forget finished connections; answers `ok`

Each finished connection is also appended to --trace as a JSON line, which
`--show IDS` prints readably:
    latency_proxy.py --target-port 5432 --delay-ms 10 --ready-file F [--trace T]
    latency_proxy.py --target-port 5432,5433 --listen-count 500 --ready-file F
    latency_proxy.py --show 5,6 --trace T
The ready file gets one line, `listen=P1,P2,... control=C`, once every port
listens.
"""

import argparse
import asyncio
import collections
import json
import os
import re
import socket
import struct
import sys
import time

SSL_REQUEST, GSSENC_REQUEST, CANCEL_REQUEST = 80877103, 80877104, 80877102

FRONTEND = {
    "Q": "Query", "P": "Parse", "B": "Bind", "E": "Execute", "S": "Sync", "D": "Describe",
    "C": "Close", "H": "Flush", "X": "Terminate", "F": "FunctionCall", "d": "CopyData",
    "c": "CopyDone", "f": "CopyFail",
}
AUTH = {0: "AuthOk", 2: "AuthKerberos", 3: "AuthCleartext", 5: "AuthMD5", 7: "AuthGSS",
        8: "AuthGSSContinue", 9: "AuthSSPI", 10: "AuthSASL", 11: "AuthSASLContinue",
        12: "AuthSASLFinal"}
PASSWORD_LITERAL = re.compile(r"(PASSWORD\s+)E?'(?:[^']|'')*'", re.IGNORECASE)
# A direct TLS connection (PostgreSQL 17) starts with a TLS record: handshake
# type 0x16, version major 3.
TLS_HANDSHAKE = b"\x16\x03"


def sql_label(sql, width=90):
    sql = " ".join(PASSWORD_LITERAL.sub(r"\1'***'", sql).split())
    return sql if len(sql) <= width else sql[: width - 3] + "..."


class Decoder:
    """Splits one direction's byte stream into PostgreSQL messages and names
    them. `peer` is the decoder of the other direction: the frontend tells
    the backend decoder that a one-byte SSL/GSS answer is due, and the
    backend tells the frontend what a 'p' message is (password or SASL)."""

    def __init__(self, frontend):
        self.frontend = frontend
        self.buf = b""
        self.untyped = frontend      # startup-phase messages carry no type byte
        self.single_byte_answer = 0  # backend: SSL/GSS answers still due
        self.encrypted = False
        self.auth = None             # last authentication request seen
        self.peer = None

    def feed(self, data):
        if self.encrypted:
            return ["(TLS %d B)" % len(data)]
        if self.frontend and self.untyped and not self.buf and data.startswith(TLS_HANDSHAKE):
            self.encrypted = self.peer.encrypted = True
            return ["(direct TLS %d B)" % len(data)]
        self.buf += data
        out = []
        while True:
            if not self.frontend and self.single_byte_answer and self.buf:
                answer, self.buf = chr(self.buf[0]), self.buf[1:]
                self.single_byte_answer -= 1
                out.append(answer)
                if answer in ("S", "G"):
                    self.encrypted = self.peer.encrypted = True
                    return out
                continue
            if self.untyped:
                if len(self.buf) < 8:
                    break
                length, code = struct.unpack("!ii", self.buf[:8])
                if len(self.buf) < length:
                    break
                body, self.buf = self.buf[8:length], self.buf[length:]
                out.append(self.startup(code, body))
                continue
            if len(self.buf) < 5:
                break
            tag = chr(self.buf[0])
            length = struct.unpack("!i", self.buf[1:5])[0]
            if len(self.buf) < 1 + length:
                break
            body, self.buf = self.buf[5 : 1 + length], self.buf[1 + length :]
            out.append(self.typed(tag, body))
        return out

    def startup(self, code, body):
        if code in (SSL_REQUEST, GSSENC_REQUEST):
            self.peer.single_byte_answer += 1
            return "SSLRequest" if code == SSL_REQUEST else "GSSENCRequest"
        if code == CANCEL_REQUEST:
            return "CancelRequest"
        self.untyped = False
        fields = body.split(b"\0")
        params = dict(zip(fields[0::2], fields[1::2]))
        return "Startup(user=%s db=%s)" % (params.get(b"user", b"").decode(errors="replace"),
                                           params.get(b"database", b"").decode(errors="replace"))

    def typed(self, tag, body):
        if self.frontend:
            if tag == "Q":
                return "Query(%s)" % sql_label(body.rstrip(b"\0").decode(errors="replace"))
            if tag == "P":
                name, _, rest = body.partition(b"\0")
                return "Parse(%s)" % sql_label(rest.partition(b"\0")[0].decode(errors="replace"))
            if tag == "p":
                return {10: "SASLInitialResponse", 11: "SASLResponse"}.get(self.peer.auth,
                                                                           "PasswordMessage")
            return FRONTEND.get(tag, tag)
        if tag == "R":
            self.auth = struct.unpack("!i", body[:4])[0]
            return AUTH.get(self.auth, "Auth%d" % self.auth)
        if tag == "C":
            return "C(%s)" % body.rstrip(b"\0").decode(errors="replace")
        if tag == "E":
            fields = dict((f[:1], f[1:]) for f in body.split(b"\0") if f)
            return "Error(%s)" % fields.get(b"M", b"").decode(errors="replace")
        if tag == "Z":
            return "Z" + body.decode(errors="replace")
        return tag


def squeeze(names):
    """['S','S','S','K'] -> 'S*3 K'"""
    out = []
    for name in names:
        if out and out[-1][0] == name:
            out[-1][1] += 1
        else:
            out.append([name, 1])
    return " ".join(n if k == 1 else "%s*%d" % (n, k) for n, k in out)


class Connection:
    """What is known about one proxied connection: its round trips and,
    when tracing, the messages of each."""

    def __init__(self, cid, port, decode, delay_ms):
        self.id = cid
        self.delay_ms = delay_ms
        self.port = port
        self.opened = time.monotonic()
        self.round_trips = 0
        self.last = None                    # direction of the last chunk read
        self.answered = False               # the server spoke since the client last did
        self.client_done = False            # the client closed its side
        self.exchanges = []                 # [client messages, server messages]
        self.bytes = {"c2s": 0, "s2c": 0}
        self.failed = False
        self.front = self.back = None
        if decode:
            self.front, self.back = Decoder(True), Decoder(False)
            self.front.peer, self.back.peer = self.back, self.front

    def saw(self, direction, data):
        """Data read from one side; None: the client's EOF."""
        if data is None:
            if self.answered and not self.client_done:
                self.round_trips += 1
            self.answered, self.client_done = False, True
            return
        self.bytes[direction] += len(data)
        if direction == "c2s":
            if self.answered:
                self.round_trips += 1
                self.answered = False
        elif self.last is not None and not self.client_done:
            self.answered = True
        if self.front is not None:
            self.label(direction, data)
        self.last = direction

    def label(self, direction, data):
        try:
            names = (self.front if direction == "c2s" else self.back).feed(data)
        except Exception as err:  # a decoding problem must never break the proxy
            names = ["(undecodable: %s)" % err]
        # Each exchange: client messages, server messages, and when the
        # first of each reached the proxy (ms since the connection opened).
        at = round((time.monotonic() - self.opened) * 1000, 1)
        if direction == "c2s":
            if self.last != "c2s":
                self.exchanges.append([[], [], at, None])
            self.exchanges[-1][0] += names
        else:
            if not self.exchanges:
                self.exchanges.append([[], [], None, at])
            if self.exchanges[-1][3] is None:
                self.exchanges[-1][3] = at
            self.exchanges[-1][1] += names

    def record(self):
        return {
            "id": self.id,
            "port": self.port,
            "round_trips": self.round_trips,
            "ms_open": round((time.monotonic() - self.opened) * 1000, 1),
            "bytes": self.bytes,
            "failed": self.failed,
            "delay_ms": self.delay_ms,
            "exchanges": [[squeeze(c), squeeze(s), tc, ts] for c, s, tc, ts in self.exchanges],
        }


class Pipe:
    """One direction of a connection: chunks (None = EOF) queued with the
    time they are due, written in order by one timer. `done` is called once
    the EOF has been delivered or the destination is gone."""

    def __init__(self, proxy, done):
        self.proxy = proxy
        self.loop = proxy.loop
        self.items = collections.deque()
        self.timer = None
        self.due = self.aimed = 0.0
        self.dest = None                    # the transport written to
        self.finished = False
        self.done = done
        self.source = None                  # the transport read from (flow control)
        self.queued = 0
        self.paused = False

    def push(self, due, data):
        if self.finished:
            return
        self.items.append((due, data))
        if data:
            self.queued += len(data)
            # Flow control for bulk traffic: stop reading when much is queued.
            if self.queued > 4 << 20 and self.source is not None and not self.paused:
                self.source.pause_reading()
                self.paused = True
        self.arm()

    def attach(self, dest):
        self.dest = dest
        self.arm()

    def arm(self):
        if self.timer is None and self.items and self.dest is not None:
            self.due = self.items[0][0]
            # A sleeping process wakes up late (the event loop sleeps in
            # whole milliseconds, the scheduler adds its own delay): aim as
            # early as wake-ups have lately been late, so deliveries are on
            # time on average rather than ~1 ms late per hop.
            self.aimed = self.due - self.proxy.wakeup
            self.timer = self.loop.call_at(self.aimed, self.flush)

    def flush(self):
        self.timer = None
        now = self.loop.time()
        self.proxy.woke(now - self.aimed)
        limit = max(now + self.proxy.wakeup, self.due)
        self.proxy.note_late(now - self.due)
        while self.items and self.items[0][0] <= limit:
            _, data = self.items.popleft()
            if data is None:
                self.finish(eof=True)
                return
            self.queued -= len(data)
            if not self.dest.is_closing():
                self.dest.write(data)
        if self.paused and self.queued < 1 << 20:
            self.source.resume_reading()
            self.paused = False
        self.arm()

    def finish(self, eof):
        if self.finished:
            return
        self.finished = True
        self.items.clear()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if eof and self.dest is not None and not self.dest.is_closing():
            try:
                if self.dest.can_write_eof():
                    self.dest.write_eof()
            except (OSError, RuntimeError):
                pass
        self.done()


class Side(asyncio.Protocol):
    """One socket of a proxied connection, feeding the pipe that carries
    what it reads to the other socket."""

    def __init__(self, link, direction):
        self.link = link
        self.direction = direction
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        # Nagle's algorithm would hold a small chunk until the previous one
        # is acknowledged, and a delayed ACK takes 40 ms: an answer in two
        # chunks would then cost 40 ms more than it does on a real network,
        # where the far end's stack has no such wait. asyncio sets this
        # only for sockets whose proto is IPPROTO_TCP, which accepted ones
        # of a socket made here are not.
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.link.made(self)

    def data_received(self, data):
        self.link.received(self.direction, data)

    def eof_received(self):
        self.link.received(self.direction, None)
        return True                         # keep the write half open

    def connection_lost(self, exc):
        self.link.lost(self)


class Link:
    """A client connection and its connection to the target."""

    def __init__(self, proxy, port, target_port):
        self.proxy = proxy
        self.loop = proxy.loop
        self.conn = Connection(proxy.next_id, port, proxy.decode, proxy.args.delay_ms)
        proxy.next_id += 1
        self.target_port = target_port
        self.client = Side(self, "c2s")
        self.server = Side(self, "s2c")
        self.c2s = Pipe(proxy, self.pipe_done)
        self.s2c = Pipe(proxy, self.pipe_done)
        self.pipes_done = 0
        self.closed = False
        self.extra = 2 * proxy.delay if proxy.tcp_handshake else 0.0

    def made(self, side):
        if side is self.client:
            self.proxy.opened()
            self.c2s.source = side.transport
            self.s2c.attach(side.transport)
            self.loop.create_task(self.connect())
        else:
            self.s2c.source = side.transport
            self.c2s.attach(side.transport)

    async def connect(self):
        try:
            await self.loop.create_connection(lambda: self.server, self.proxy.target_host,
                                              self.target_port)
        except OSError as err:
            print("latency_proxy: connection %d to port %d: %s"
                  % (self.conn.id, self.target_port, err), file=sys.stderr)
            self.conn.failed = True
            self.close()

    def received(self, direction, data):
        now = self.loop.time()
        if data or direction == "c2s":
            self.conn.saw(direction, data or None)
        pipe = self.c2s if direction == "c2s" else self.s2c
        extra = 0.0
        if direction == "c2s" and self.extra:
            extra, self.extra = self.extra, 0.0
        pipe.push(now + self.proxy.delay + extra, data or None)

    def lost(self, side):
        # A side that vanished without EOF: what it sent still travels,
        # then the EOF; nothing more can reach it.
        pipe_from = self.c2s if side is self.client else self.s2c
        pipe_to = self.s2c if side is self.client else self.c2s
        if side is self.client:
            self.conn.saw("c2s", None)
        if not pipe_from.finished and (not pipe_from.items or pipe_from.items[-1][1] is not None):
            pipe_from.push(self.loop.time() + self.proxy.delay, None)
        pipe_to.finish(eof=False)

    def pipe_done(self):
        self.pipes_done += 1
        if self.pipes_done == 2:
            self.close()

    def close(self):
        if self.closed:
            return
        self.closed = True
        for pipe in (self.c2s, self.s2c):
            if not pipe.finished:
                pipe.finished = True
                if pipe.timer is not None:
                    pipe.timer.cancel()
        for side in (self.client, self.server):
            if side.transport is not None:
                side.transport.close()
        self.proxy.closed(self.conn)


class Proxy:
    def __init__(self, args, targets):
        self.args = args
        self.targets = targets
        self.target_host = args.target_host
        self.delay = args.delay_ms / 1000.0
        self.tcp_handshake = args.tcp_handshake
        self.decode = bool(args.trace)
        self.next_id = 1
        self.open = 0
        self.peak = 0
        self.late_max = 0.0
        self.wakeup = 0.0005
        self.finished = []
        self.loop = None
        self.idle = None
        self.trace = open(args.trace, "a", buffering=1) if args.trace else None

    def woke(self, late):
        """A timer fired `late` seconds after its time: the running
        estimate of the wake-up delay, kept between 0 and 3 ms."""
        self.wakeup = min(0.003, max(0.0, 0.9 * self.wakeup + 0.1 * late))

    def note_late(self, late):
        if late > self.late_max:
            self.late_max = late

    def opened(self):
        self.open += 1
        self.peak = max(self.peak, self.open)

    def closed(self, conn):
        record = conn.record()
        self.finished.append(record)
        if self.trace:
            self.trace.write(json.dumps(record) + "\n")
        self.open -= 1
        if self.open == 0:
            self.idle.set()

    def take(self):
        done, self.finished = self.finished, []
        rts = [r["round_trips"] for r in done]
        answer = ("connections=%d round_trips=%d per_connection=%s ids=%s peak_open=%d failed=%d"
                  " late_ms_max=%.1f" % (
                      len(done), sum(rts), ",".join(map(str, rts)) or "-",
                      ",".join(str(r["id"]) for r in done) or "-", self.peak,
                      sum(1 for r in done if r["failed"]), self.late_max * 1000))
        self.peak = self.open
        self.late_max = 0.0
        return answer

    async def control(self, reader, writer):
        while True:
            line = (await reader.readline()).decode().strip()
            if not line:
                break
            if line == "take":
                still_open = ""
                if self.open:
                    self.idle.clear()
                    try:
                        await asyncio.wait_for(self.idle.wait(), 10)
                    except asyncio.TimeoutError:
                        still_open = " still_open=%d" % self.open
                answer = self.take() + still_open
            elif line == "reset":
                self.finished = []
                self.peak = self.open
                self.late_max = 0.0
                answer = "ok"
            else:
                answer = "error unknown command %r" % line
            writer.write((answer + "\n").encode())
            await writer.drain()
        writer.close()

    async def listen(self, index):
        port = self.args.listen_port + index if self.args.listen_port else 0
        target = self.targets[index % len(self.targets)]
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        port = sock.getsockname()[1]

        def accept():
            link = Link(self, port, target)
            return link.client

        return await self.loop.create_server(accept, sock=sock, backlog=1024)

    async def run(self):
        self.loop = asyncio.get_running_loop()
        self.idle = asyncio.Event()
        listeners = [await self.listen(i) for i in range(self.args.listen_count or len(self.targets))]
        control = await asyncio.start_server(self.control, "127.0.0.1", self.args.control_port)
        ports = "listen=%s control=%d\n" % (
            ",".join(str(s.sockets[0].getsockname()[1]) for s in listeners),
            control.sockets[0].getsockname()[1])
        if self.args.ready_file:  # written whole, so a waiting script never reads half of it
            tmp = self.args.ready_file + ".tmp"
            with open(tmp, "w") as f:
                f.write(ports)
            os.replace(tmp, self.args.ready_file)
        else:
            sys.stdout.write(ports)
            sys.stdout.flush()
        async with control:
            await control.serve_forever()


def show(trace, ids):
    """Prints the round trips of the given connections from a trace file."""
    wanted = {int(i) for i in ids.split(",") if i and i != "-"}
    with open(trace) as f:
        for line in f:
            rec = json.loads(line)
            if rec["id"] not in wanted:
                continue
            print("  connection %d: %d round trips, open %.1f ms, %d bytes out, %d in"
                  % (rec["id"], rec["round_trips"], rec["ms_open"], rec["bytes"]["c2s"],
                     rec["bytes"]["s2c"]))
            n = 0
            delay = rec.get("delay_ms", 0)
            previous_answer = None
            for client, server, *times in rec["exchanges"]:
                tc, ts = times if times else (None, None)
                # The client's time: from the previous answer's delivery to
                # this request; the server's: from this request's delivery
                # to its answer.
                client_ms = server_ms = ""
                if tc is not None and previous_answer is not None:
                    client_ms = " (client %.1f ms)" % (tc - previous_answer - delay)
                if tc is not None and ts is not None:
                    server_ms = " (server %.1f ms)" % (ts - tc - delay)
                if ts is not None:
                    previous_answer = ts
                if server:
                    n += 1
                    print("    %2d. %s%s\n        -> %s%s" % (n, client or "(nothing)", client_ms,
                                                          server, server_ms))
                else:
                    print("     -. %s%s (no answer awaited)" % (client, client_ms))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target-host", default="127.0.0.1")
    p.add_argument("--target-port", action="append", default=[],
                   help="target port(s), comma-separated or repeated")
    p.add_argument("--listen-count", type=int, default=0,
                   help="ports to listen on, port i forwarding to target i mod K "
                        "(default: one per target port)")
    p.add_argument("--listen-port", type=int, default=0,
                   help="first listen port, the others follow it (default: any free ports)")
    p.add_argument("--control-port", type=int, default=0, help="0: any free port")
    p.add_argument("--delay-ms", type=float, default=10.0, help="one-way delay (default 10)")
    p.add_argument("--tcp-handshake", action="store_true",
                   help="hold each connection's first client chunk one extra RTT")
    p.add_argument("--ready-file", help="write `listen=P1,P2,... control=C` here once listening")
    p.add_argument("--trace", help="decode, and append one JSON line per finished connection")
    p.add_argument("--show", metavar="IDS", help="print connections IDS (1,2,...) from --trace")
    args = p.parse_args()
    if args.show:
        if not args.trace:
            p.error("--show needs --trace")
        show(args.trace, args.show)
        return
    try:
        targets = [int(t) for arg in args.target_port for t in arg.split(",") if t]
    except ValueError:
        p.error("--target-port takes port numbers")
    if not targets:
        p.error("--target-port is required")
    try:
        asyncio.run(Proxy(args, targets).run())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
