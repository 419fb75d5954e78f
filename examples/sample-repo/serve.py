"""A tiny HTTP service for the deploy step: GET / answers greeting("world").

    python3 serve.py             serve in the foreground
    python3 serve.py --background

The port is $DEVSYS_DEPLOY_PORT (default 8000) on 127.0.0.1 only. With
--background the socket is bound first (a busy port fails here, with the
reason), then a child in its own session serves it, its pid goes to
$DEVSYS_DEPLOY_PIDFILE, and the command returns: whoever started it stops
it with that pid.
"""
import http.server
import importlib
import os
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/":
            self.reply(404, "not found\n")
            return
        try:
            import greeting

            importlib.reload(greeting)
            body = "<h1>%s</h1>\n" % greeting.greeting("world")
            self.reply(200, body)
        except Exception as e:  # the service says why, as a 500
            self.reply(500, "greeting failed: %s\n" % e)

    def reply(self, status, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def main():
    port = int(os.environ.get("DEVSYS_DEPLOY_PORT", "8000"))
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    server = http.server.HTTPServer(("127.0.0.1", port), Handler)
    if "--background" not in sys.argv[1:]:
        server.serve_forever()
        return
    pid = os.fork()
    if pid == 0:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        try:
            server.serve_forever()
        finally:
            os._exit(0)
    server.socket.close()
    pidfile = os.environ.get("DEVSYS_DEPLOY_PIDFILE")
    if pidfile:
        with open(pidfile + ".tmp", "w") as f:
            f.write("%d\n" % pid)
        os.rename(pidfile + ".tmp", pidfile)
    print("serving on http://127.0.0.1:%d/ (pid %d)" % (port, pid))


if __name__ == "__main__":
    main()
