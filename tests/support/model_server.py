#!/usr/bin/python3
"""A scripted OpenAI-compatible model server for the agent tests (loopback only).

    model_server.py --port-file F --log F [--script F]

Listens on 127.0.0.1 on a free port and writes the port to --port-file once
it accepts connections (the fixture polls for that file; no sleeps). Every
request body is appended to --log as one JSON line {"path", "headers", "body"},
so a test can check what reached the model (no forge token, for one).

POST /v1/chat/completions answers with streamed SSE chunks from the script:

    {"turns": [TURN, ...], "repeat": false}

one TURN per request that carries tools (the agent's steps), in order; once
they are used up the last one repeats when "repeat" is true, else a plain
"done" text ends the run. A request without tools (opencode's title request)
gets a short text and uses no turn. A TURN is

    {"text": "..."}                                   text deltas
    {"tool": "write", "args": {...}}                  one tool call
    {"tools": [{"tool": ..., "args": ...}, ...]}      several tool calls
    {"usage": {"prompt_tokens": N, "completion_tokens": M}}   (with any of the above)
    {"hang": true}                                    headers, then nothing: never answers
    {"status": 429, "error": "slow down"}             an HTTP error with an OpenAI-style body
    {"status": 429, ..., "headers": {"retry-after-ms": "50"}}   with these response headers

PUT /_script replaces the script and restarts at the first turn (one server
per suite, one script per test); GET /_health answers 200.
"""
import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = {"script": {"turns": []}, "next": 0, "lock": threading.Lock(), "log": None, "calls": 0}
STOP = threading.Event()


def log_request(path, headers, body):
    line = json.dumps({"path": path, "headers": dict(headers), "body": body}) + "\n"
    with STATE["lock"]:
        with open(STATE["log"], "a", encoding="utf-8") as f:
            f.write(line)


def next_turn(has_tools):
    with STATE["lock"]:
        turns = STATE["script"].get("turns", [])
        if not has_tools:
            return {"text": "Scripted task"}
        i = STATE["next"]
        STATE["next"] += 1
        if i < len(turns):
            return turns[i]
        if STATE["script"].get("repeat") and turns:
            return turns[-1]
        return {"text": "done"}


def chunk(delta, finish=None, usage=None):
    c = {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "fake-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        c["usage"] = usage
    return "data: " + json.dumps(c) + "\n\n"


def sse_events(turn):
    """The chunks of one scripted turn."""
    STATE["calls"] += 1
    out = [chunk({"role": "assistant", "content": ""})]
    if "text" in turn:
        for word in turn["text"].split(" "):
            out.append(chunk({"content": word + " "}))
    calls = turn.get("tools") or ([{"tool": turn["tool"], "args": turn.get("args", {})}] if "tool" in turn else [])
    for i, call in enumerate(calls):
        cid = "call_%d_%d" % (STATE["calls"], i)
        args = json.dumps(call.get("args", {}))
        out.append(chunk({"tool_calls": [{"index": i, "id": cid, "type": "function",
                                           "function": {"name": call["tool"], "arguments": ""}}]}))
        out.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": args}}]}))
    usage = turn.get("usage", {"prompt_tokens": 10, "completion_tokens": 5})
    usage = dict(usage)
    usage.setdefault("total_tokens", usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0))
    out.append(chunk({}, "tool_calls" if calls else "stop", usage))
    out.append("data: [DONE]\n\n")
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the request log is the record
        pass

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            return json.loads(raw or b"null")
        except ValueError:
            return raw.decode("utf-8", "replace")

    def reply(self, status, obj, headers=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/_health":
            return self.reply(200, {"ok": True})
        log_request(self.path, self.headers, None)
        return self.reply(404, {"error": {"message": "not found: " + self.path}})

    def do_PUT(self):
        body = self.body()
        if self.path != "/_script" or not isinstance(body, dict):
            return self.reply(400, {"error": {"message": "PUT /_script takes a JSON object"}})
        with STATE["lock"]:
            STATE["script"] = body
            STATE["next"] = 0
        return self.reply(200, {"ok": True})

    def do_POST(self):
        body = self.body()
        log_request(self.path, self.headers, body)
        if not self.path.endswith("/chat/completions"):
            return self.reply(404, {"error": {"message": "not found: " + self.path}})
        turn = next_turn(isinstance(body, dict) and bool(body.get("tools")))
        if "status" in turn:
            return self.reply(int(turn["status"]), {"error": {"message": turn.get("error", "scripted error"),
                                                              "type": "scripted", "code": turn["status"]}},
                              turn.get("headers"))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if turn.get("hang"):
            self.wfile.flush()
            STOP.wait()  # until the server stops: the client sees a silent model
            return
        for ev in sse_events(turn):
            self.wfile.write(ev.encode())
            self.wfile.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--script")
    a = ap.parse_args()
    STATE["log"] = a.log
    open(a.log, "a").close()
    if a.script:
        with open(a.script, encoding="utf-8") as f:
            STATE["script"] = json.load(f)
    ThreadingHTTPServer.daemon_threads = True
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, a.port_file)  # the fixture sees the whole port or nothing
    import signal
    def stop(*_):
        STOP.set()
        threading.Thread(target=srv.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    srv.serve_forever()
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
