#!/usr/bin/python3
"""A small stateful forge upstream for the forge contract tests and bench/forge.

    forge_upstream.py DIR [--mode github] [--spec api.github.com.json]
                          [--token TOKEN] [--prefix /api/v3]

Listens on 127.0.0.1 (a free port, written to DIR/port once it accepts) and
appends every request it received, except /_ctl/ ones, to DIR/requests.jsonl:
{"seq", "method", "path", "query", "headers" (Authorization left out),
"auth": "ok" | "bad" | "missing", "body" (JSON, or text), "status", "conn"}.
The token's value is never written.

Modes are route tables: ROUTES[mode] is a list of (METHOD, path regex,
handler). The github mode implements only the endpoints lib/forge/github
calls; its answers start from GitHub's own examples in --spec (so that
`prism proxy --errors` in front of it checks them against the same
description) with the state filled in. docs/forge.md says what it fakes.

Control endpoints (any mode, never logged, no token needed):
  POST /_ctl/fault   {"match": "<regex on 'METHOD /path'>", "times": n,
                      "status": code, "body": text|json, "headers": {...},
                      "kind": "truncate" | "malformed" | "slow" | "drop",
                      "delay": seconds}
  POST /_ctl/push    {"owner", "repo", "branch", "sha"}  move a branch (and its open PRs)
  POST /_ctl/review  {"owner", "repo", "number", "user", "commit_id", "state"}
  POST /_ctl/files   {"owner", "repo", "number", "count", "link_base"}  N changed files;
                     Link next URLs start with link_base (Prism's URL) when given
  POST /_ctl/check   {"owner", "repo", "sha", "name", "status", "conclusion"}
  GET  /_ctl/state   the whole state as JSON
"""
import copy
import hashlib
import http.server
import itertools
import json
import os
import re
import socket
import sys
import threading
import time
import urllib.parse

LOCK = threading.Lock()
SEQ = itertools.count(1)
CONN = itertools.count(1)
ARGS = {"mode": "github", "spec": None, "token": None, "prefix": ""}
STATE = {"repos": {}, "faults": []}
EXAMPLES = {}
LOG = None


def fake_sha(text):
    return hashlib.sha1(text.encode()).hexdigest()


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Reply(Exception):
    """Raised by a handler to answer with a status and a JSON body."""

    def __init__(self, status, body, headers=None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


def repo_state(owner, repo):
    key = owner + "/" + repo
    r = STATE["repos"].get(key)
    if r is None:
        r = {"owner": owner, "repo": repo, "pulls": {}, "next": 1, "branches": {}, "labels": {},
             "statuses": {}, "checks": {}, "reviews": {}, "files": {}, "protection": {}}
        STATE["repos"][key] = r
    return r


# ---------------------------------------------------------------- github mode

GH_DOC = "https://docs.github.com/rest"


def gh_error(status, message, errors=None, doc=GH_DOC):
    body = {"message": message, "documentation_url": doc, "status": str(status)}
    if errors is not None:
        body["errors"] = errors
    return Reply(status, body)


def example(name):
    return copy.deepcopy(EXAMPLES[name])


def gh_user(login):
    u = example("pull-request")["user"]
    u.update({"login": login, "id": int(fake_sha(login)[:6], 16), "type": "User"})
    return u


def gh_team(slug):
    t = example("pull-request")["requested_teams"][0]
    # GitHub's own example lacks "type" and "parent", which its schema requires (docs/forge.md).
    t.update({"slug": slug, "name": slug, "type": "organization", "parent": None})
    return t


def branch_sha(r, branch):
    if branch not in r["branches"]:
        r["branches"][branch] = fake_sha(r["owner"] + "/" + r["repo"] + ":" + branch)
    return r["branches"][branch]


def gh_pr_json(r, pr):
    j = example("pull-request")
    j.update({"number": pr["number"], "title": pr["title"], "body": pr["body"], "state": pr["state"],
              "draft": pr["draft"], "merged": pr["merged"], "locked": False,
              "merged_at": pr["merged_at"], "closed_at": pr["merged_at"],
              "merge_commit_sha": pr["merge_commit_sha"], "user": gh_user(pr["user"]),
              "html_url": "https://github.com/%s/%s/pull/%d" % (r["owner"], r["repo"], pr["number"]),
              # pull-request-simple (the reviewers answer) wants a string description, where
              # GitHub sends null for a label without one (docs/forge.md).
              "labels": [{"id": i + 1, "node_id": "L%d" % i, "url": "https://api.github.com/l", "name": n,
                          "description": "", "color": "ededed", "default": False}
                         for i, n in enumerate(pr["labels"])],
              "requested_reviewers": [gh_user(u) for u in pr["reviewers"]],
              "requested_teams": [gh_team(t) for t in pr["teams"]],
              "assignee": None, "assignees": [], "milestone": None, "auto_merge": None,
              "mergeable": None if pr["merged"] else True, "merged_by": None})
    j["head"]["ref"], j["head"]["sha"] = pr["head"], branch_sha(r, pr["head"])
    j["head"]["label"] = r["owner"] + ":" + pr["head"]
    j["base"]["ref"], j["base"]["sha"] = pr["base"], branch_sha(r, pr["base"])
    j["base"]["label"] = r["owner"] + ":" + pr["base"]
    return j


def gh_pr(r, number):
    pr = r["pulls"].get(int(number))
    if pr is None:
        raise gh_error(404, "Not Found")
    return pr


def gh_need_str(body, key, required=True):
    v = body.get(key) if isinstance(body, dict) else None
    if v is None and not required:
        return None
    if not isinstance(v, str):
        raise gh_error(422, "Invalid request.\n\n\"%s\" wasn't supplied." % key)
    return v


def gh_pulls_create(r, m, q, body):
    title, head, base = gh_need_str(body, "title"), gh_need_str(body, "head"), gh_need_str(body, "base")
    if ":" in head:
        head = head.split(":", 1)[1]
    if head.startswith("nobranch"):
        raise gh_error(422, "Validation Failed",
                       [{"resource": "PullRequest", "field": "head", "code": "invalid"}],
                       GH_DOC + "/pulls/pulls#create-a-pull-request")
    for pr in r["pulls"].values():
        if pr["state"] == "open" and pr["head"] == head and pr["base"] == base:
            raise gh_error(422, "Validation Failed",
                           [{"resource": "PullRequest", "code": "custom",
                             "message": "A pull request already exists for %s:%s." % (r["owner"], head)}],
                           GH_DOC + "/pulls/pulls#create-a-pull-request")
    n = r["next"]
    r["next"] += 1
    pr = {"number": n, "title": title, "body": body.get("body") or "", "head": head, "base": base,
          "state": "open", "draft": bool(body.get("draft", False)), "merged": False, "merged_at": None,
          "merge_commit_sha": None, "user": "devsys-bot", "labels": [], "reviewers": [], "teams": []}
    r["pulls"][n] = pr
    return 201, gh_pr_json(r, pr)


def gh_pulls_list(r, m, q, body):
    head = q.get("head", [None])[0]
    state = q.get("state", ["open"])[0]
    out = []
    for pr in sorted(r["pulls"].values(), key=lambda p: -p["number"]):
        if head and r["owner"] + ":" + pr["head"] != head:
            continue
        if state != "all" and pr["state"] != state:
            continue
        out.append(gh_pr_json(r, pr))
    return 200, out


def gh_pulls_get(r, m, q, body):
    return 200, gh_pr_json(r, gh_pr(r, m["n"]))


def gh_pulls_patch(r, m, q, body):
    pr = gh_pr(r, m["n"])
    for k in ("title", "body"):
        if k in body:
            if not isinstance(body[k], str):
                raise gh_error(422, "Validation Failed", [{"resource": "PullRequest", "field": k, "code": "invalid"}])
            pr[k] = body[k]
    if body.get("state") in ("open", "closed") and not pr["merged"]:
        pr["state"] = body["state"]
    return 200, gh_pr_json(r, pr)


def gh_reviewers(r, m, q, body):
    pr = gh_pr(r, m["n"])
    for u in body.get("reviewers") or []:
        if u == pr["user"]:
            raise gh_error(422, "Review cannot be requested from pull request author.")
        if u not in pr["reviewers"]:
            pr["reviewers"].append(u)
    for t in body.get("team_reviewers") or []:
        if "/" in t:
            raise gh_error(422, "Reviews may only be requested from collaborators.")
        if t not in pr["teams"]:
            pr["teams"].append(t)
    return 201, gh_pr_json(r, pr)


def gh_labels(r, m, q, body):
    pr = gh_pr(r, m["n"])
    names = body.get("labels") if isinstance(body, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise gh_error(422, "Validation Failed", [{"resource": "Label", "field": "labels", "code": "invalid"}])
    for n in names:
        if n not in pr["labels"]:
            pr["labels"].append(n)
    tmpl = example("label-items")[0]
    out = []
    for i, n in enumerate(pr["labels"]):
        l = dict(tmpl)
        l.update({"id": i + 1, "name": n})
        out.append(l)
    return 200, out


def gh_status_post(r, m, q, body):
    state, context = gh_need_str(body, "state"), body.get("context", "default")
    if state not in ("error", "failure", "pending", "success"):
        raise gh_error(422, "Validation Failed", [{"resource": "Status", "field": "state", "code": "invalid"}])
    desc = body.get("description")
    if isinstance(desc, str) and len(desc) > 140:
        raise gh_error(422, "Validation Failed", [{"resource": "Status", "field": "description", "code": "custom",
                                                   "message": "description is too long (maximum is 140 characters)"}])
    st = example("status")
    st.update({"state": state, "context": context, "description": desc, "target_url": body.get("target_url"),
               "id": next(SEQ), "created_at": now_iso(), "updated_at": now_iso()})
    r["statuses"].setdefault(m["sha"], {})[context] = st
    return 201, st


def gh_status_get(r, m, q, body):
    sts = list(r["statuses"].get(m["sha"], {}).values())
    c = example("combined-commit-status")
    tmpl = c["statuses"][0]
    out = []
    for s in sts:
        e = dict(tmpl)
        e.update({k: s[k] for k in ("state", "context", "description", "target_url", "id")})
        out.append(e)
    states = [s["state"] for s in sts]
    overall = "pending" if not states or "pending" in states else (
        "failure" if ("failure" in states or "error" in states) else "success")
    c.update({"sha": m["sha"], "statuses": out, "total_count": len(out), "state": overall})
    return 200, c


def gh_check_runs(r, m, q, body):
    runs = list(r["checks"].get(m["sha"], {}).values())
    c = example("check-run-paginated")
    tmpl = c["check_runs"][0]
    out = []
    for cr in runs:
        e = copy.deepcopy(tmpl)
        e.update({"name": cr["name"], "head_sha": m["sha"], "status": cr["status"], "conclusion": cr["conclusion"]})
        out.append(e)
    per = int(q.get("per_page", ["30"])[0])
    page = int(q.get("page", ["1"])[0])
    c.update({"total_count": len(out), "check_runs": out[(page - 1) * per:page * per]})
    return 200, c


def gh_reviews(r, m, q, body):
    gh_pr(r, m["n"])
    tmpl = example("pull-request-review-items")[0]
    out = []
    for i, rv in enumerate(r["reviews"].get(int(m["n"]), [])):
        e = copy.deepcopy(tmpl)
        e.update({"id": i + 1, "user": gh_user(rv["user"]) if rv["user"] else None, "commit_id": rv["commit_id"],
                  "state": rv["state"]})
        out.append(e)
    return 200, out


def gh_files(r, m, q, body, handler):
    gh_pr(r, m["n"])
    total = min(r["files"].get(int(m["n"]), 1), 3000)  # GitHub lists at most 3000 files
    per = min(int(q.get("per_page", ["30"])[0]), 100)
    page = int(q.get("page", ["1"])[0])
    tmpl = example("diff-entry-items")[0]
    out = []
    for i in range((page - 1) * per, min(page * per, total)):
        e = dict(tmpl)
        e.update({"filename": "src/file%05d.c" % i, "status": "modified", "sha": fake_sha(str(i))})
        e.pop("previous_filename", None)
        out.append(e)
    headers = {}
    if page * per < total:
        # Prism's proxy sends the upstream's own Host: a test behind it names Prism's URL (link_base).
        host = r.get("link_base") or "http://" + handler.headers.get("Host", "127.0.0.1")
        base = host + urllib.parse.urlsplit(handler.path).path
        headers["Link"] = '<%s?per_page=%d&page=%d>; rel="next"' % (base, per, page + 1)
    raise Reply(200, out, headers)


def gh_commits(r, m, q, body):
    pr = gh_pr(r, m["n"])
    e = example("commit-items")[0]
    e.update({"sha": branch_sha(r, pr["head"]), "author": gh_user(pr["user"])})
    return 200, [e]


def gh_merge(r, m, q, body):
    pr = gh_pr(r, m["n"])
    if pr["merged"] or pr["state"] != "open":
        raise gh_error(405, "Pull Request is not mergeable")
    head = branch_sha(r, pr["head"])
    if isinstance(body, dict) and body.get("sha") is not None and body["sha"] != head:
        raise gh_error(409, "Head branch was modified. Review and try the merge again.")
    method = body.get("merge_method", "merge") if isinstance(body, dict) else "merge"
    if method not in ("merge", "squash", "rebase"):
        raise gh_error(422, "Validation Failed", [{"resource": "PullRequest", "field": "merge_method", "code": "invalid"}])
    sha = fake_sha("merge:" + head + ":" + method)
    pr.update({"merged": True, "state": "closed", "merged_at": now_iso(), "merge_commit_sha": sha})
    r["branches"][pr["base"]] = sha
    return 200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}


def gh_protect(r, m, q, body):
    if not isinstance(body, dict) or not all(k in body for k in ("required_status_checks", "enforce_admins",
                                                                  "required_pull_request_reviews", "restrictions")):
        raise gh_error(422, "Invalid request.\n\nNo subschema in \"anyOf\" matched.")
    branch = urllib.parse.unquote(m["branch"])
    r["protection"][branch] = body
    p = example("branch-protection-update")
    rsc = body["required_status_checks"]
    if rsc is None:
        p.pop("required_status_checks", None)
    else:
        p["required_status_checks"]["contexts"] = rsc.get("contexts", [])
        p["required_status_checks"]["checks"] = [{"context": c, "app_id": None} for c in rsc.get("contexts", [])]
    rpr = body["required_pull_request_reviews"]
    if rpr is None:
        p.pop("required_pull_request_reviews", None)
    else:
        p["required_pull_request_reviews"]["required_approving_review_count"] = rpr.get("required_approving_review_count", 1)
        p["required_pull_request_reviews"]["dismiss_stale_reviews"] = bool(rpr.get("dismiss_stale_reviews"))
    p["enforce_admins"]["enabled"] = bool(body["enforce_admins"])
    return 200, p


GH_REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
ROUTES = {
    "github": [
        ("POST", GH_REPO + r"/pulls", gh_pulls_create),
        ("GET", GH_REPO + r"/pulls", gh_pulls_list),
        ("GET", GH_REPO + r"/pulls/(?P<n>\d+)", gh_pulls_get),
        ("PATCH", GH_REPO + r"/pulls/(?P<n>\d+)", gh_pulls_patch),
        ("POST", GH_REPO + r"/pulls/(?P<n>\d+)/requested_reviewers", gh_reviewers),
        ("POST", GH_REPO + r"/issues/(?P<n>\d+)/labels", gh_labels),
        ("POST", GH_REPO + r"/statuses/(?P<sha>[0-9a-f]{40})", gh_status_post),
        ("GET", GH_REPO + r"/commits/(?P<sha>[0-9a-f]{40})/status", gh_status_get),
        ("GET", GH_REPO + r"/commits/(?P<sha>[0-9a-f]{40})/check-runs", gh_check_runs),
        ("GET", GH_REPO + r"/pulls/(?P<n>\d+)/reviews", gh_reviews),
        ("GET", GH_REPO + r"/pulls/(?P<n>\d+)/files", gh_files),
        ("GET", GH_REPO + r"/pulls/(?P<n>\d+)/commits", gh_commits),
        ("PUT", GH_REPO + r"/pulls/(?P<n>\d+)/merge", gh_merge),
        ("PUT", GH_REPO + r"/branches/(?P<branch>[^/]+)/protection", gh_protect),
    ],
}
NEEDS_HANDLER = {gh_files}


def gh_auth_reply(auth):
    if auth == "missing":
        return gh_error(401, "Requires authentication")
    return gh_error(401, "Bad credentials")


def gh_repo_missing(owner, repo):
    """Repositories named missing* do not exist."""
    return repo.startswith("missing")


AUTH_REPLY = {"github": gh_auth_reply}
REPO_MISSING = {"github": gh_repo_missing}
NOT_FOUND = {"github": lambda: gh_error(404, "Not Found")}
SETUP = {}  # mode -> function() run once at start (loads templates)


def gh_setup():
    if not ARGS["spec"]:
        sys.exit("forge_upstream: --spec api.github.com.json is needed in github mode")
    with open(ARGS["spec"]) as f:
        spec = json.load(f)
    for k, v in spec["components"]["examples"].items():
        if "value" in v:
            EXAMPLES[k] = v["value"]


SETUP["github"] = gh_setup


# ---------------------------------------------------------------- control

def ctl(handler, path, body):
    if path == "/_ctl/state":
        return 200, STATE
    if path == "/_ctl/fault":
        f = dict(body)
        f.setdefault("times", 1)
        STATE["faults"].append(f)
        return 200, {"ok": True}
    r = repo_state(body.get("owner", ""), body.get("repo", ""))
    if path == "/_ctl/push":
        r["branches"][body["branch"]] = body["sha"]
    elif path == "/_ctl/review":
        r["reviews"].setdefault(int(body["number"]), []).append(
            {"user": body.get("user"), "commit_id": body.get("commit_id"), "state": body["state"]})
    elif path == "/_ctl/files":
        r["files"][int(body["number"])] = int(body["count"])
        if body.get("link_base"):
            r["link_base"] = body["link_base"]
    elif path == "/_ctl/check":
        r["checks"].setdefault(body["sha"], {})[body["name"]] = {
            "name": body["name"], "status": body.get("status", "completed"), "conclusion": body.get("conclusion")}
    else:
        return 404, {"message": "no such control endpoint"}
    return 200, {"ok": True}


def take_fault(line):
    for f in STATE["faults"]:
        if f["times"] > 0 and re.search(f["match"], line):
            f["times"] -= 1
            return f
    return None


# ---------------------------------------------------------------- server

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "forge-upstream/1"

    def setup(self):
        super().setup()
        # Headers and body go out in two writes: without this, Nagle and the
        # client's delayed ACK stall every answer by ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn_id = next(CONN)

    def log_message(self, fmt, *args):
        pass

    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            return raw, (json.loads(raw) if raw else None)
        except ValueError:
            return raw, None

    def _send(self, status, body, headers=None, kind=None, delay=0):
        data = body if isinstance(body, bytes) else (
            body.encode() if isinstance(body, str) else json.dumps(body).encode())
        if kind == "slow":
            time.sleep(delay)
        if kind == "drop":
            self.close_connection = True
            return
        self.send_response(status)
        hdrs = {"Content-Type": "application/json; charset=utf-8"}
        hdrs.update(headers or {})
        for k, v in hdrs.items():
            self.send_header(k, str(v))
        if kind == "truncate":
            self.send_header("Content-Length", str(len(data) + 100))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
            return
        if kind == "malformed":
            data = data[: max(1, len(data) // 2)] + b"}{"
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _auth(self):
        got = self.headers.get("Authorization")
        if got is None:
            return "missing"
        return "ok" if ARGS["token"] is None or got == "Bearer " + ARGS["token"] else "bad"

    def _log(self, method, path, query, body, raw, auth, status):
        headers = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
        entry = {"seq": next(SEQ), "method": method, "path": path, "query": query, "headers": headers,
                 "auth": auth, "body": body if body is not None else raw.decode("utf-8", "replace"),
                 "status": status, "conn": self.conn_id}
        with open(LOG, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def _handle(self, method):
        url = urllib.parse.urlsplit(self.path)
        path, query = url.path, urllib.parse.parse_qs(url.query)
        raw, body = self._read_body()
        if path.startswith("/_ctl/"):
            with LOCK:
                status, out = ctl(self, path, body or {})
            return self._send(status, out)
        mode = ARGS["mode"]
        status, out, headers, kind, delay = 500, {"message": "unhandled"}, {}, None, 0
        auth = self._auth()
        with LOCK:
            fault = take_fault(method + " " + path)
            try:
                if fault:
                    kind, delay = fault.get("kind"), fault.get("delay", 0)
                    if "status" in fault:
                        status, out = fault["status"], fault.get("body", "")
                        headers = fault.get("headers", {})
                        raise StopIteration
                status, out, headers = self._route(mode, method, path, query, body if body is not None else {}, auth)
            except StopIteration:
                pass
            except Reply as rep:
                status, out, headers = rep.status, rep.body, rep.headers
            self._log(method, path, url.query, body, raw, auth, status)
        self._send(status, out, headers, kind, delay)

    def _route(self, mode, method, path, query, body, auth):
        prefix = ARGS["prefix"]
        if not prefix and path.startswith("/api/v3/"):
            prefix = "/api/v3"  # GitHub Enterprise Server's base path, served beside the plain one
        if prefix:
            if not path.startswith(prefix + "/"):
                raise NOT_FOUND[mode]()
            path = path[len(prefix):]
        if auth != "ok":
            raise AUTH_REPLY[mode](auth)
        for m_, rx, fn in ROUTES[mode]:
            mt = re.fullmatch(rx, path)
            if mt and m_ == method:
                g = mt.groupdict()
                if REPO_MISSING[mode](g["owner"], g["repo"]):
                    raise NOT_FOUND[mode]()
                r = repo_state(g["owner"], g["repo"])
                if fn in NEEDS_HANDLER:
                    fn(r, g, query, body, self)
                status, out = fn(r, g, query, body)
                return status, out, {}
        raise NOT_FOUND[mode]()

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main(argv):
    global LOG
    if len(argv) < 2:
        sys.exit(__doc__)
    d = argv[1]
    it = iter(argv[2:])
    for a in it:
        if a in ("--mode", "--spec", "--token", "--prefix"):
            ARGS[a[2:]] = next(it)
        else:
            sys.exit("forge_upstream: unknown argument " + a)
    if ARGS["mode"] not in ROUTES:
        sys.exit("forge_upstream: unknown mode " + ARGS["mode"])
    if ARGS["mode"] in SETUP:
        SETUP[ARGS["mode"]]()
    LOG = os.path.join(d, "requests.jsonl")
    srv = Server(("127.0.0.1", 0), Handler)
    tmp = os.path.join(d, ".port.tmp")
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, os.path.join(d, "port"))
    srv.serve_forever()


# ================================================================ gitea mode
# Gitea/Forgejo (/api/v1), for tests/forge/gitea*.c. Added as its own route
# table; nothing above changes for the github mode. It fakes only what
# lib/forge/gitea calls, in the shapes of Gitea's API documentation (NOT
# checked against Gitea's published OpenAPI description; docs/forge.md):
#  - labels are referenced by id; each repository starts with labels
#    devsys (11), risk:low (12), needs-review (13);
#  - POST /pulls answers 409 "pull request already exists for these targets"
#    for an open PR of the same head and base; GET /pulls/{base}/{head}
#    takes each branch as ONE percent-encoded path segment and decodes it
#    strictly (a bad escape is a 400, a raw '/' matches no route: 404);
#  - drafts do not exist: the title's "WIP:" prefix is all there is;
#  - a commit status's state is called "status" in what it answers;
#  - review requests show up in the reviews list as REQUEST_REVIEW;
#  - POST /pulls/{n}/merge checks "Do" and refuses a head_commit_id that is
#    not the head (409), answering 200 with an empty body;
#  - an existing branch protection rule is refused with 403 "Branch
#    protection already exist" (edit it with PATCH).
# The token is accepted as "token X" (Gitea's documented form) or "Bearer X".

GT_URL = "http://gitea.test"
GT_LABELS = (("devsys", 11), ("risk:low", 12), ("needs-review", 13))
GT_SEGMENT = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})+")


def gt_error(status, message):
    return Reply(status, {"message": message, "url": GT_URL + "/api/swagger"})


def gt_repo(r):
    if not r.get("gt_seeded"):
        r["gt_seeded"] = True
        r["labels"] = {n: i for n, i in GT_LABELS}
    return r


def gt_user(login):
    return {"id": int(fake_sha(login)[:6], 16), "login": login, "login_name": "", "full_name": "",
            "email": login + "@noreply.gitea.test", "avatar_url": GT_URL + "/avatar/" + login,
            "username": login}


def gt_label(r, lid):
    name = next(n for n, i in r["labels"].items() if i == lid)
    return {"id": lid, "name": name, "exclusive": False, "is_archived": False, "color": "ededed",
            "description": "", "url": "%s/api/v1/repos/%s/%s/labels/%d" % (GT_URL, r["owner"], r["repo"], lid)}


def gt_pr_json(r, pr):
    head, base = branch_sha(r, pr["head"]), branch_sha(r, pr["base"])
    return {"id": 1000 + pr["number"], "number": pr["number"], "title": pr["title"], "body": pr["body"],
            "state": pr["state"], "merged": pr["merged"], "merged_at": pr["merged_at"],
            "merge_commit_sha": pr["merge_commit_sha"] if pr["merged"] else fake_sha("test-merge:" + head),
            "mergeable": not pr["merged"], "user": gt_user(pr["user"]),
            "html_url": "%s/%s/%s/pulls/%d" % (GT_URL, r["owner"], r["repo"], pr["number"]),
            "url": "%s/%s/%s/pulls/%d" % (GT_URL, r["owner"], r["repo"], pr["number"]),
            "labels": [gt_label(r, i) for i in pr["labels"]],
            "requested_reviewers": [gt_user(u) for u in pr["reviewers"]],
            "requested_reviewers_teams": [{"id": int(fake_sha(t)[:5], 16), "name": t} for t in pr["teams"]],
            "head": {"label": pr["head"], "ref": pr["head"], "sha": head, "repo_id": 1},
            "base": {"label": pr["base"], "ref": pr["base"], "sha": base, "repo_id": 1},
            "assignees": None, "milestone": None, "comments": 0, "is_locked": False}


def gt_pr(r, number):
    pr = r["pulls"].get(int(number))
    if pr is None:
        raise gt_error(404, "The target couldn't be found.")
    return pr


def gt_str(body, key):
    v = body.get(key) if isinstance(body, dict) else None
    if not isinstance(v, str) or not v:
        raise gt_error(422, "[%s]: Required" % key.capitalize())
    return v


def gt_label_ids(r, body):
    ids = body.get("labels")
    if ids is None:
        return None
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise gt_error(422, "labels: label ids (integers) expected")
    for i in ids:
        if i not in r["labels"].values():
            raise gt_error(422, "label does not exist [id: %d]" % i)
    return sorted(set(ids))


def gt_pulls_create(r, m, q, body):
    gt_repo(r)
    title, head, base = gt_str(body, "title"), gt_str(body, "head"), gt_str(body, "base")
    if head.startswith("nobranch"):
        raise gt_error(404, "The target couldn't be found.")
    labels = gt_label_ids(r, body) or []
    for pr in r["pulls"].values():
        if pr["state"] == "open" and pr["head"] == head and pr["base"] == base:
            raise gt_error(409, "pull request already exists for these targets [id: %d, issue_id: %d, "
                                "head_repo_id: 1, base_repo_id: 1, head_branch: %s, base_branch: %s]"
                           % (1000 + pr["number"], 2000 + pr["number"], head, base))
    n = r["next"]
    r["next"] += 1
    pr = {"number": n, "title": title, "body": body.get("body") or "", "head": head, "base": base,
          "state": "open", "merged": False, "merged_at": None, "merge_commit_sha": None,
          "user": "devsys-bot", "labels": labels, "reviewers": [], "teams": []}
    r["pulls"][n] = pr
    return 201, gt_pr_json(r, pr)


def gt_segment(raw):
    if not GT_SEGMENT.fullmatch(raw):
        raise gt_error(400, "bad path segment %r" % raw)
    try:
        return urllib.parse.unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise gt_error(400, "bad path segment %r" % raw)


def gt_pulls_by_branches(r, m, q, body):
    gt_repo(r)
    base, head = gt_segment(m["base"]), gt_segment(m["head"])
    found = [p for p in r["pulls"].values() if p["base"] == base and p["head"] == head]
    if not found:
        raise gt_error(404, "The target couldn't be found.")
    return 200, gt_pr_json(r, max(found, key=lambda p: p["number"]))


def gt_pulls_get(r, m, q, body):
    return 200, gt_pr_json(gt_repo(r), gt_pr(r, m["n"]))


def gt_pulls_patch(r, m, q, body):
    pr = gt_pr(gt_repo(r), m["n"])
    for k in ("title", "body"):
        if k in body:
            if not isinstance(body[k], str):
                raise gt_error(422, "%s: string expected" % k)
            pr[k] = body[k]
    labels = gt_label_ids(r, body)
    if labels is not None:
        pr["labels"] = labels  # Gitea's edit replaces the labels
    if body.get("state") in ("open", "closed") and not pr["merged"]:
        pr["state"] = body["state"]
    return 201, gt_pr_json(r, pr)


def gt_reviewers(r, m, q, body):
    pr = gt_pr(gt_repo(r), m["n"])
    users, teams = body.get("reviewers") or [], body.get("team_reviewers") or []
    if not isinstance(users, list) or not isinstance(teams, list):
        raise gt_error(422, "reviewers and team_reviewers must be arrays")
    out = []
    for u in users:
        if u == pr["user"]:
            raise gt_error(422, "doer is the pull request author")
        if u not in pr["reviewers"]:
            pr["reviewers"].append(u)
            out.append(gt_review_json(r, pr, {"user": u, "commit_id": "", "state": "REQUEST_REVIEW"}, len(out)))
    for t in teams:
        if t not in pr["teams"]:
            pr["teams"].append(t)
    return 201, out


def gt_page(handler, q, items):
    """Gitea's page/limit paging with a Link header and X-Total-Count."""
    limit = max(1, min(int(q.get("limit", ["30"])[0]), 50))
    page = max(1, int(q.get("page", ["1"])[0]))
    out = items[(page - 1) * limit:page * limit]
    headers = {"X-Total-Count": str(len(items))}
    if page * limit < len(items):
        base = "http://" + handler.headers.get("Host", "127.0.0.1") + urllib.parse.urlsplit(handler.path).path
        headers["Link"] = '<%s?limit=%d&page=%d>; rel="next"' % (base, limit, page + 1)
    raise Reply(200, out, headers)


def gt_labels(r, m, q, body, handler):
    gt_repo(r)
    gt_page(handler, q, [gt_label(r, i) for _, i in sorted(r["labels"].items(), key=lambda x: x[1])])


GT_STATES = ("pending", "success", "error", "failure", "warning")


def gt_status_post(r, m, q, body):
    state, context = gt_str(body, "state"), body.get("context") or "default"
    if state not in GT_STATES:
        raise gt_error(422, "state: must be one of %s" % ", ".join(GT_STATES))
    st = {"id": next(SEQ), "status": state, "context": context, "description": body.get("description") or "",
          "target_url": body.get("target_url") or "", "url": GT_URL + "/api/v1/statuses/" + m["sha"],
          "creator": gt_user("devsys-bot"), "created_at": now_iso(), "updated_at": now_iso()}
    r["statuses"].setdefault(m["sha"], {})[context] = st
    return 201, st


def gt_status_get(r, m, q, body):
    sts = list(r["statuses"].get(m["sha"], {}).values())
    limit = max(1, min(int(q.get("limit", ["30"])[0]), 50))
    page = max(1, int(q.get("page", ["1"])[0]))
    states = [s["status"] for s in sts]
    overall = "pending" if not states or "pending" in states else (
        "failure" if ("failure" in states or "error" in states) else "success")
    return 200, {"state": overall, "sha": m["sha"], "total_count": len(sts),
                 "statuses": sts[(page - 1) * limit:page * limit] or None,
                 "commit_url": GT_URL + "/api/v1/repos/x/commits/" + m["sha"], "url": GT_URL + "/status"}


GT_REVIEW_STATES = ("APPROVED", "REQUEST_CHANGES", "COMMENT", "PENDING", "REQUEST_REVIEW")


def gt_review_json(r, pr, rv, i):
    state, dismissed = rv["state"], False
    if state in ("DISMISSED", "CHANGES_REQUESTED", "COMMENTED"):  # the github mode's names, for /_ctl/review
        state, dismissed = {"DISMISSED": ("APPROVED", True), "CHANGES_REQUESTED": ("REQUEST_CHANGES", False),
                            "COMMENTED": ("COMMENT", False)}[state]
    return {"id": i + 1, "user": gt_user(rv["user"]) if rv["user"] else None, "team": None, "state": state,
            "body": "", "commit_id": rv["commit_id"] or "", "stale": rv["commit_id"] != branch_sha(r, pr["head"]),
            "official": state in ("APPROVED", "REQUEST_CHANGES"), "dismissed": dismissed,
            "comments_count": 0, "submitted_at": now_iso(), "updated_at": now_iso(),
            "html_url": GT_URL + "/review", "pull_request_url": GT_URL + "/pulls/%d" % pr["number"]}


def gt_reviews(r, m, q, body, handler):
    pr = gt_pr(gt_repo(r), m["n"])
    entries = [{"user": u, "commit_id": "", "state": "REQUEST_REVIEW"} for u in pr["reviewers"]]
    entries += r["reviews"].get(int(m["n"]), [])
    gt_page(handler, q, [gt_review_json(r, pr, rv, i) for i, rv in enumerate(entries)])


def gt_files(r, m, q, body, handler):
    gt_pr(gt_repo(r), m["n"])
    total = r["files"].get(int(m["n"]), 1)
    items = []
    for i in range(total):
        e = {"filename": "src/file%05d.c" % i, "status": "changed", "additions": 1, "deletions": 0,
             "changes": 1, "html_url": GT_URL + "/f", "contents_url": GT_URL + "/c", "raw_url": GT_URL + "/r"}
        if i == 1:
            e.update({"status": "renamed", "previous_filename": "src/old%05d.c" % i})
        items.append(e)
    gt_page(handler, q, items)


def gt_commits(r, m, q, body, handler):
    pr = gt_pr(gt_repo(r), m["n"])
    sha = branch_sha(r, pr["head"])
    gt_page(handler, q, [{"sha": sha, "url": GT_URL + "/c/" + sha, "html_url": GT_URL + "/c/" + sha,
                          "author": gt_user(pr["user"]), "committer": gt_user(pr["user"]),
                          "commit": {"message": "task", "author": {"name": pr["user"], "date": now_iso(),
                                                                   "email": pr["user"] + "@noreply.gitea.test"},
                                     "committer": {"name": pr["user"], "date": now_iso(),
                                                   "email": pr["user"] + "@noreply.gitea.test"}}}])


GT_MERGE_DO = ("merge", "rebase", "rebase-merge", "squash", "fast-forward-only", "manually-merged")


def gt_merge(r, m, q, body):
    pr = gt_pr(gt_repo(r), m["n"])
    how = body.get("Do") if isinstance(body, dict) else None
    if how not in GT_MERGE_DO:
        raise gt_error(422, "[Do]: Required")
    if pr["merged"] or pr["state"] != "open":
        raise gt_error(405, "The PR is already merged or closed")
    head = branch_sha(r, pr["head"])
    if body.get("head_commit_id") and body["head_commit_id"] != head:
        raise gt_error(409, "head out of date")
    sha = fake_sha("merge:" + head + ":" + how)
    pr.update({"merged": True, "state": "closed", "merged_at": now_iso(), "merge_commit_sha": sha,
               "merged_with": body})
    r["branches"][pr["base"]] = sha
    return 200, ""


def gt_protection_json(name, p):
    out = {"branch_name": name, "rule_name": name, "created_at": now_iso(), "updated_at": now_iso()}
    out.update(p)
    return out


GT_PROTECT_KEYS = {"enable_push": bool, "enable_status_check": bool, "status_check_contexts": list,
                   "required_approvals": int, "dismiss_stale_approvals": bool, "block_on_rejected_reviews": bool,
                   "block_admin_merge_override": bool, "rule_name": str, "branch_name": str}


def gt_protect_fields(body):
    for k, v in body.items():
        t = GT_PROTECT_KEYS.get(k)
        if t is None or not isinstance(v, t) or (t is int and isinstance(v, bool)):
            raise gt_error(422, "%s: unknown field or wrong type" % k)
    return {k: v for k, v in body.items() if k not in ("rule_name", "branch_name")}


def gt_protect_create(r, m, q, body):
    name = body.get("rule_name") or body.get("branch_name") if isinstance(body, dict) else None
    if not isinstance(name, str) or not name:
        raise gt_error(422, "[RuleName]: Required")
    fields = gt_protect_fields(body)
    if name in r["protection"]:
        raise gt_error(403, "Branch protection already exist")
    r["protection"][name] = fields
    return 201, gt_protection_json(name, fields)


def gt_protect_edit(r, m, q, body):
    name = gt_segment(m["name"])
    if name not in r["protection"]:
        raise gt_error(404, "The target couldn't be found.")
    r["protection"][name].update(gt_protect_fields(body))
    return 200, gt_protection_json(name, r["protection"][name])


GT_REPO = GH_REPO
ROUTES["gitea"] = [
    ("POST", GT_REPO + r"/pulls", gt_pulls_create),
    ("GET", GT_REPO + r"/pulls/(?P<n>\d+)", gt_pulls_get),
    ("PATCH", GT_REPO + r"/pulls/(?P<n>\d+)", gt_pulls_patch),
    ("POST", GT_REPO + r"/pulls/(?P<n>\d+)/requested_reviewers", gt_reviewers),
    ("GET", GT_REPO + r"/pulls/(?P<n>\d+)/reviews", gt_reviews),
    ("GET", GT_REPO + r"/pulls/(?P<n>\d+)/files", gt_files),
    ("GET", GT_REPO + r"/pulls/(?P<n>\d+)/commits", gt_commits),
    ("POST", GT_REPO + r"/pulls/(?P<n>\d+)/merge", gt_merge),
    ("GET", GT_REPO + r"/pulls/(?P<base>[^/]+)/(?P<head>[^/]+)", gt_pulls_by_branches),
    ("GET", GT_REPO + r"/labels", gt_labels),
    ("POST", GT_REPO + r"/statuses/(?P<sha>[0-9a-f]{40})", gt_status_post),
    ("GET", GT_REPO + r"/commits/(?P<sha>[0-9a-f]{40})/status", gt_status_get),
    ("POST", GT_REPO + r"/branch_protections", gt_protect_create),
    ("PATCH", GT_REPO + r"/branch_protections/(?P<name>[^/]+)", gt_protect_edit),
]
NEEDS_HANDLER.update({gt_labels, gt_reviews, gt_files, gt_commits})


def gt_auth_reply(auth):
    if auth == "missing":
        return gt_error(401, "token is required")
    return gt_error(401, "user does not exist [uid: 0, name: ]")


AUTH_REPLY["gitea"] = gt_auth_reply
REPO_MISSING["gitea"] = gh_repo_missing
NOT_FOUND["gitea"] = lambda: gt_error(404, "The target couldn't be found.")


def gt_setup():
    if not ARGS["prefix"]:
        ARGS["prefix"] = "/api/v1"


SETUP["gitea"] = gt_setup
_GT_AUTH_OTHER = Handler._auth


def _gt_auth(self):
    if ARGS["mode"] != "gitea":
        return _GT_AUTH_OTHER(self)
    got = self.headers.get("Authorization")
    if got is None:
        return "missing"
    ok = ARGS["token"] is None or got in ("token " + ARGS["token"], "Bearer " + ARGS["token"])
    return "ok" if ok else "bad"


Handler._auth = _gt_auth
# ================================================================ end of gitea mode


if __name__ == "__main__":
    main(sys.argv)
