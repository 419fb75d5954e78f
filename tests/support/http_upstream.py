#!/usr/bin/python3
"""A scripted HTTP/1.1 upstream for the HTTP client's tests (a real server on
127.0.0.1 or a unix socket, not a mock library).

usage: http_upstream.py DIR [--unix PATH | --tls CERT KEY [CLIENT_CA]]

It listens on 127.0.0.1 and a free port (written to DIR/port when ready), or
on the unix socket PATH (DIR/port then says "unix"); with --tls it speaks
https, and with CLIENT_CA it requires a client certificate signed by it.
Keep-alive is on.

Scripts: a request for /<name>/... is answered from DIR/scripts/<name>.json,
read on every request: {"responses": [R, R, ...]}; the n-th request to that
name gets responses[n] (the last one repeats). A response R:
  status         int (200)
  headers        {"Name": "value"}; "{base}" in a value becomes http://127.0.0.1:PORT
  body | json    text, or a JSON value sent as application/json
  delay_ms       wait before answering (a slow server)
  truncate       announce the whole body's Content-Length, send this many bytes, close
  drop           close the connection without answering
  close          close the connection after answering
Every request is appended to DIR/log/<name>.jsonl before it is answered:
{"n", "conn" (connection number), "method", "path", "headers", "body"}
(a chunked request body is decoded).
SIGTERM stops it.
"""
import http.server
import json
import os
import signal
import socketserver
import ssl
import sys
import threading
import time

DIR = sys.argv[1]
LOCK = threading.Lock()
COUNTS = {}
CONNS = [0]
BASE = [""]
TLS = [None]


def next_conn():
    with LOCK:
        CONNS[0] += 1
        return CONNS[0]


def next_n(name):
    with LOCK:
        n = COUNTS.get(name, 0)
        COUNTS[name] = n + 1
        return n


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        # TLS: the handshake runs here, in the connection's own thread, so a
        # client that stalls or fails it never holds up the accept loop.
        if TLS[0] is not None:
            self.request = TLS[0].wrap_socket(self.request, server_side=True)
        super().setup()
        self.conn_id = next_conn()

    def log_message(self, *args):
        pass

    def handle_any(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = self.read_chunked()
        else:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
        name = self.path.lstrip("/").split("/", 1)[0].split("?", 1)[0]
        n = next_n(name)
        entry = {"n": n, "conn": self.conn_id, "method": self.command, "path": self.path,
                 "headers": {k.lower(): v for k, v in self.headers.items()},
                 "body": body.decode("utf-8", "replace")}
        os.makedirs(os.path.join(DIR, "log"), exist_ok=True)
        with LOCK, open(os.path.join(DIR, "log", name + ".jsonl"), "a") as f:
            f.write(json.dumps(entry) + "\n")
        try:
            with open(os.path.join(DIR, "scripts", name + ".json")) as f:
                responses = json.load(f)["responses"]
            r = responses[min(n, len(responses) - 1)]
        except (OSError, ValueError, KeyError, IndexError) as e:
            r = {"status": 599, "body": "no script for '%s': %s" % (name, e)}
        self.answer(r)

    def read_chunked(self):
        out = b""
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return out
            out += self.rfile.read(size)
            self.rfile.readline()  # CRLF after the chunk

    def answer(self, r):
        if r.get("delay_ms"):
            time.sleep(r["delay_ms"] / 1000.0)
        if r.get("drop"):
            self.close_connection = True
            return
        if "json" in r:
            data = json.dumps(r["json"]).encode()
            ctype = "application/json"
        else:
            data = r.get("body", "").encode()
            ctype = "text/plain"
        self.send_response(r.get("status", 200))
        headers = {"Content-Type": ctype}
        headers.update(r.get("headers", {}))
        for k, v in headers.items():
            self.send_header(k, str(v).replace("{base}", BASE[0]))
        self.send_header("Content-Length", str(len(data)))
        if r.get("close") or "truncate" in r:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data[:r["truncate"]] if "truncate" in r else data)
        self.wfile.flush()
        if r.get("close") or "truncate" in r:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any


class TCPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        sock, _ = super().get_request()
        return sock, ("unix", 0)


def ready(what):
    tmp = os.path.join(DIR, "port.tmp")
    with open(tmp, "w") as f:
        f.write(what)
    os.rename(tmp, os.path.join(DIR, "port"))


def main():
    args = sys.argv[2:]
    if args[:1] == ["--unix"]:
        srv = UnixServer(args[1], Handler)
        BASE[0] = "http://localhost"
        label = "unix"
    else:
        srv = TCPServer(("127.0.0.1", 0), Handler)
        port = srv.server_address[1]
        scheme = "http"
        if args[:1] == ["--tls"]:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(args[1], args[2])
            if len(args) > 3:  # require a client certificate from this CA
                ctx.verify_mode = ssl.CERT_REQUIRED
                ctx.load_verify_locations(args[3])
            TLS[0] = ctx
            scheme = "https"
        BASE[0] = "%s://127.0.0.1:%d" % (scheme, port)
        label = str(port)
    signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=srv.shutdown).start())
    ready(label)
    srv.serve_forever()
    srv.server_close()


if __name__ == "__main__":
    main()
