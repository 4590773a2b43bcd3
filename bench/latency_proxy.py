#!/usr/bin/env python3
"""A TCP proxy that adds latency and counts round trips (for bench/wan.sh).

The kernel here has no netem qdisc, so latency is added in user space: every
chunk read from one side is written to the other side DELAY ms later, in
order, without holding up the chunks behind it (a pipelined burst arrives as
a burst, as on a real link). EOF travels the same way.

Round trips are counted per connection as direction changes: data from the
server that follows data from the client ends one round trip. That is the
number of times the client had to wait for the server. The TCP handshake is
not counted (the proxy accepts at once); --tcp-handshake adds its round trip
to the time by holding a connection's first client chunk one RTT longer.

PostgreSQL's wire protocol is decoded (unencrypted traffic only) so that
each round trip can be labelled with the messages it carried, e.g.
`SSLRequest -> N` or `Query(SELECT ...) -> T D C Z`. PASSWORD literals in SQL
are redacted and SASL payloads are never recorded.

Control port (one command per line, one line back), for scripts:
    take    wait until no connection is open (up to 10 s), then report the
            connections that finished since the last take and forget them:
            `connections=2 round_trips=7 per_connection=3,4 ids=5,6`
    reset   forget finished connections; answers `ok`

Each finished connection is also appended to --trace as a JSON line, which
`--show IDS` prints readably:
    latency_proxy.py --target-port 5432 --delay-ms 10 --ready-file F [--trace T]
    latency_proxy.py --show 5,6 --trace T
"""

import argparse
import asyncio
import json
import os
import re
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
            return ["(encrypted)"]
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
    def __init__(self, cid):
        self.id = cid
        self.opened = time.monotonic()
        self.round_trips = 0
        self.last = None                    # direction of the last chunk read
        self.exchanges = []                 # [client messages, server messages]
        self.front, self.back = Decoder(True), Decoder(False)
        self.front.peer, self.back.peer = self.back, self.front
        self.bytes = {"c2s": 0, "s2c": 0}

    def saw(self, direction, data):
        self.bytes[direction] += len(data)
        try:
            names = (self.front if direction == "c2s" else self.back).feed(data)
        except Exception as err:  # a decoding problem must never break the proxy
            names = ["(undecodable: %s)" % err]
        if direction == "c2s":
            if self.last != "c2s":
                self.exchanges.append([[], []])
            self.exchanges[-1][0] += names
        else:
            if self.last == "c2s":
                self.round_trips += 1
            if not self.exchanges:
                self.exchanges.append([[], []])
            self.exchanges[-1][1] += names
        self.last = direction

    def record(self):
        return {
            "id": self.id,
            "round_trips": self.round_trips,
            "ms_open": round((time.monotonic() - self.opened) * 1000, 1),
            "bytes": self.bytes,
            "exchanges": [[squeeze(c), squeeze(s)] for c, s in self.exchanges],
        }


class Proxy:
    def __init__(self, args):
        self.args = args
        self.delay = args.delay_ms / 1000.0
        self.next_id = 1
        self.open = 0
        self.finished = []
        self.idle = asyncio.Condition()
        self.trace = open(args.trace, "a", buffering=1) if args.trace else None

    async def pump(self, conn, direction, reader, writer, extra_first):
        """Reads chunks from one side and writes each to the other side
        `delay` later. A reader and a writer task share a queue, so a slow
        delivery never delays the reading of the next chunk."""
        queue = asyncio.Queue()

        async def deliver():
            while True:
                due, data = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if data is None:
                    try:
                        writer.write_eof()
                    except (OSError, RuntimeError):
                        pass
                    return
                try:
                    writer.write(data)
                    await writer.drain()
                except (OSError, RuntimeError):
                    return

        delivery = asyncio.create_task(deliver())
        extra = extra_first
        while True:
            try:
                data = await reader.read(65536)
            except (OSError, RuntimeError):
                data = b""
            now = time.monotonic()
            if data:
                conn.saw(direction, data)
            queue.put_nowait((now + self.delay + extra, data or None))
            extra = 0.0
            if not data:
                break
        await delivery

    async def handle(self, client_reader, client_writer):
        conn = Connection(self.next_id)
        self.next_id += 1
        self.open += 1
        server_writer = None
        try:
            server_reader, server_writer = await asyncio.open_connection(
                self.args.target_host, self.args.target_port)
            handshake = 2 * self.delay if self.args.tcp_handshake else 0.0
            await asyncio.gather(
                self.pump(conn, "c2s", client_reader, server_writer, handshake),
                self.pump(conn, "s2c", server_reader, client_writer, 0.0))
        except OSError as err:
            print("latency_proxy: connection %d: %s" % (conn.id, err), file=sys.stderr)
        finally:
            for w in (client_writer, server_writer):
                if w is not None:
                    w.close()
            record = conn.record()
            self.finished.append(record)
            if self.trace:
                self.trace.write(json.dumps(record) + "\n")
            async with self.idle:
                self.open -= 1
                self.idle.notify_all()

    async def control(self, reader, writer):
        while True:
            line = (await reader.readline()).decode().strip()
            if not line:
                break
            if line == "take":
                try:
                    async with self.idle:
                        await asyncio.wait_for(self.idle.wait_for(lambda: self.open == 0), 10)
                    still_open = ""
                except asyncio.TimeoutError:
                    still_open = " still_open=%d" % self.open
                done, self.finished = self.finished, []
                rts = [r["round_trips"] for r in done]
                answer = "connections=%d round_trips=%d per_connection=%s ids=%s%s" % (
                    len(done), sum(rts), ",".join(map(str, rts)) or "-",
                    ",".join(str(r["id"]) for r in done) or "-", still_open)
            elif line == "reset":
                self.finished = []
                answer = "ok"
            else:
                answer = "error unknown command %r" % line
            writer.write((answer + "\n").encode())
            await writer.drain()
        writer.close()

    async def run(self):
        listener = await asyncio.start_server(self.handle, "127.0.0.1", self.args.listen_port)
        control = await asyncio.start_server(self.control, "127.0.0.1", self.args.control_port)
        ports = "listen=%d control=%d\n" % (listener.sockets[0].getsockname()[1],
                                            control.sockets[0].getsockname()[1])
        if self.args.ready_file:  # written whole, so a waiting script never reads half of it
            tmp = self.args.ready_file + ".tmp"
            with open(tmp, "w") as f:
                f.write(ports)
            os.replace(tmp, self.args.ready_file)
        else:
            sys.stdout.write(ports)
            sys.stdout.flush()
        async with listener, control:
            await asyncio.gather(listener.serve_forever(), control.serve_forever())


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
            for client, server in rec["exchanges"]:
                if server:
                    n += 1
                    print("    %2d. %s\n        -> %s" % (n, client or "(nothing)", server))
                else:
                    print("     -. %s (no answer awaited)" % client)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target-host", default="127.0.0.1")
    p.add_argument("--target-port", type=int)
    p.add_argument("--listen-port", type=int, default=0, help="0: any free port")
    p.add_argument("--control-port", type=int, default=0, help="0: any free port")
    p.add_argument("--delay-ms", type=float, default=10.0, help="one-way delay (default 10)")
    p.add_argument("--tcp-handshake", action="store_true",
                   help="hold each connection's first client chunk one extra RTT")
    p.add_argument("--ready-file", help="write `listen=P control=C` here once listening")
    p.add_argument("--trace", help="append one JSON line per finished connection")
    p.add_argument("--show", metavar="IDS", help="print connections IDS (1,2,...) from --trace")
    args = p.parse_args()
    if args.show:
        if not args.trace:
            p.error("--show needs --trace")
        show(args.trace, args.show)
        return
    if not args.target_port:
        p.error("--target-port is required")
    try:
        asyncio.run(Proxy(args).run())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
