"""Repo, Runner, Config, Secrets, Masker, Report, Record, Store and Policy."""
from __future__ import annotations

import ctypes
from ctypes import POINTER, byref, c_char_p, c_int, c_size_t, c_uint, c_uint64, c_void_p
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union

from . import _lib
from . import _structs as S
from ._base import Handle, StrPath, Trap, check, data, dec, dec_opt, enc, new_handle, req, strarray, with_buf
from ._core import Task, Workspace

fn = _lib.fn

# ---------------------------------------------------------------- repo

STAGE_FETCH, STAGE_CHECKOUT, STAGE_PUSH = 1, 2, 3


@dataclass(frozen=True)
class Progress:
    stage: int
    total_objects: int
    done_objects: int
    bytes: int


ProgressCallback = Callable[[Progress], Optional[bool]]


def content_id(content: Union[str, bytes]) -> str:
    """"sha1:<git blob id>" of @p content (what the Spec: trailer carries)."""
    b = data(content, "content")
    return dec(with_buf(lambda out: fn.devsys_repo_content_id(out, b, len(b))))


def branch_is_protected(branch: str, remote_default: Optional[str] = None,
                        protected: Sequence[str] = ()) -> bool:
    o = S.RepoOptions()
    check(fn.devsys_repo_options_init(byref(o), 1))
    pats = [req(p, "protected branch") for p in protected]
    arr = strarray(pats)
    o.protected_branches, o.nprotected_branches = arr, len(pats)
    return bool(check(fn.devsys_repo_branch_is_protected(req(branch, "branch"),
                                                         enc(remote_default, "remote_default", optional=True),
                                                         byref(o))))


def branch_name(task_id: str, template: Optional[str] = None, slug: Optional[str] = None) -> str:
    return dec(with_buf(lambda b: fn.devsys_repo_branch_name(b, enc(template, "template", optional=True),
                                                             req(task_id, "task id"),
                                                             enc(slug, "slug", optional=True))))


def change_status_name(status: int) -> str:
    return dec(fn.devsys_repo_change_status_name(status))


@dataclass(frozen=True)
class Change:
    status: int
    path: str
    old_path: Optional[str]
    old_mode: int
    new_mode: int

    @property
    def status_name(self) -> str:
        return change_status_name(self.status)


class Repo(Handle):
    """A task's git checkout (devsys_repo). One thread at a time."""

    _free_fn = "devsys_repo_free"

    def __init__(self, task: Task, url: StrPath, *, base_branch: Optional[str] = None,
                 branch_template: Optional[str] = None, slug: Optional[str] = None,
                 author_name: Optional[str] = None, author_email: Optional[str] = None,
                 protected_branches: Sequence[str] = (), allow_force_push: bool = False,
                 max_file_size: int = 0, progress: Optional[ProgressCallback] = None,
                 credentials: Optional[Sequence["CredentialProvider"]] = None,
                 ssl_ca_file: Optional[StrPath] = None) -> None:
        """@p credentials: the credential chain, asked in order (a callable
        (url, username_from_url, allowed, attempt) -> Credential, or None to
        pass; DEFAULT_CREDENTIALS, KEY_CREDENTIALS, forge.credentials());
        None: the library's default chain. An exception in a callable fails
        the fetch or push and is raised again here."""
        o = S.RepoOptions()
        check(fn.devsys_repo_options_init(byref(o), 1))
        self._trap = Trap()
        keep: List[Any] = [req(url, "url")]
        if credentials is not None:
            o.credentials, o.ncredentials = credential_chain(credentials, self._trap, keep)
        o.ssl_ca_file = enc(ssl_ca_file, "ssl_ca_file", optional=True)
        keep.append(o.ssl_ca_file)
        o.url = keep[0]
        for field, value in (("base_branch", base_branch), ("branch_template", branch_template), ("slug", slug),
                             ("author_name", author_name), ("author_email", author_email)):
            b = enc(value, field, optional=True)
            keep.append(b)
            setattr(o, field, b)
        pats = [req(p, "protected branch") for p in protected_branches]
        arr = strarray(pats)
        keep += [pats, arr]
        o.protected_branches, o.nprotected_branches = arr, len(pats)
        o.allow_force_push, o.max_file_size = int(allow_force_push), max_file_size
        if progress is not None:
            trap, on_p = self._trap, progress

            def on_progress(p: Any, _pl: Any) -> int:
                v = p.contents
                return trap.run(on_p, Progress(v.stage, v.total_objects, v.done_objects, v.bytes))
            o.progress = S.REPO_PROGRESS_CB(on_progress)
        # the options (and the progress callback) are read by later calls (push): keep them
        self._opts, self._keep = o, keep
        ptr = new_handle(lambda out: fn.devsys_repo_open_task(out, task._h, byref(o)), self._trap)
        super().__init__(ptr, task)

    def _s(self, f: Any) -> str:
        return dec(f(self._h))

    url = property(lambda self: self._s(fn.devsys_repo_url))
    branch = property(lambda self: self._s(fn.devsys_repo_branch))
    base_branch = property(lambda self: self._s(fn.devsys_repo_base_branch))
    base_sha = property(lambda self: self._s(fn.devsys_repo_base_sha))
    head_sha = property(lambda self: self._s(fn.devsys_repo_head_sha))
    checkout_path = property(lambda self: self._s(fn.devsys_repo_checkout_path))
    mirror_path = property(lambda self: self._s(fn.devsys_repo_mirror_path))
    remote_default_branch = property(lambda self: self._s(fn.devsys_repo_remote_default_branch))

    def commit(self, message: str, *, spec_path: Optional[str] = None, spec_file: Optional[StrPath] = None) -> bool:
        """Commit every change; False when there was nothing to commit."""
        o = S.RepoCommitOptions()
        check(fn.devsys_repo_commit_options_init(byref(o), 1))
        o.spec_path, o.spec_file = enc(spec_path, "spec_path", optional=True), enc(spec_file, "spec_file",
                                                                                   optional=True)
        committed = c_int()
        check(fn.devsys_repo_commit(byref(committed), self._h, req(message, "message"), byref(o)))
        return bool(committed.value)

    def push(self) -> None:
        self._trap.check(fn.devsys_repo_push(self._h))

    def changed_paths(self) -> List[Change]:
        ch = new_handle(lambda out: fn.devsys_repo_changed_paths(out, self._h))
        try:
            return _changes(ch)
        finally:
            fn.devsys_repo_changes_free(ch)

    def changed_paths_by_commit(self) -> "Commits":
        """The branch's commits from base (excluded) to head, first parents
        only, oldest first, each with the paths it changed (copies)."""
        cs = new_handle(lambda out: fn.devsys_repo_changed_paths_by_commit(out, self._h))
        try:
            return Commits([CommitChanges(dec(fn.devsys_repo_commits_sha(cs, i)),
                                          _changes(fn.devsys_repo_commits_changes(cs, i)))
                            for i in range(int(fn.devsys_repo_commits_count(cs)))],
                           _touching_of(cs))
        finally:
            fn.devsys_repo_commits_free(cs)

    def head_has_path(self, path: str) -> bool:
        """Does the head commit (not the checkout) hold @p path ("dir/" asks for a folder)?"""
        e = c_int()
        check(fn.devsys_repo_head_has_path(byref(e), self._h, req(path, "path")))
        return bool(e.value)


CRED_USERPASS, CRED_SSH_KEY, CRED_SSH_AGENT = 1 << 0, 1 << 1, 1 << 2


@dataclass(frozen=True)
class Credential:
    """What a credential callable answers (devsys_repo_credential). The
    library hands the secret to libgit2 only: never to a file, log or URL."""
    type: int                               #: CRED_USERPASS, CRED_SSH_KEY or CRED_SSH_AGENT
    username: Optional[str] = None          #: USERPASS: "x-access-token"...; ssh: the user (None: the URL's)
    secret: Optional[Union[str, bytes]] = None  #: USERPASS: the token or password
    ssh_public_key: Optional[StrPath] = None
    ssh_private_key: Optional[StrPath] = None
    ssh_passphrase: Optional[Union[str, bytes]] = None


class CredentialLink:
    """One of the library's own credential providers, as a link of a chain."""

    def __init__(self, function: str, payload: Optional[int] = None, owner: object = None) -> None:
        self.function, self.payload, self.owner = function, payload, owner

    def __repr__(self) -> str:
        return f"<devsys.CredentialLink {self.function}>"


#: $GITHUB_TOKEN for https, key files or ssh-agent for ssh (devsys_repo_default_credentials)
DEFAULT_CREDENTIALS = CredentialLink("devsys_repo_default_credentials")
#: key files or ssh-agent only, never a token from the environment (devsys_repo_key_credentials)
KEY_CREDENTIALS = CredentialLink("devsys_repo_key_credentials")

#: (url, username_from_url, allowed CRED_* bits, attempt: 1, 2, ...) -> a Credential, or None to pass
CredentialFn = Callable[[str, Optional[str], int, int], Optional[Credential]]
CredentialProvider = Union[CredentialFn, CredentialLink]


def credential_chain(items: Sequence[CredentialProvider], trap: Trap, keep: List[Any]) -> Tuple[Any, int]:
    """A devsys_repo_credential_provider[] for @p items; what C borrows goes into @p keep."""
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        raise TypeError("credentials: expected a sequence of callables or CredentialLinks")
    arr = (S.RepoCredentialProvider * max(len(items), 1))()
    for i, item in enumerate(items):
        if isinstance(item, CredentialLink):
            arr[i].cb = ctypes.cast(_lib.credential_fn(item.function), S.REPO_CREDENTIAL_CB)
            arr[i].payload = item.payload
            keep.append(item.owner)
        elif callable(item):
            cb = S.REPO_CREDENTIAL_CB(_credential_cb(item, trap))
            arr[i].cb = cb
            keep.append(cb)
        else:
            raise TypeError(f"credentials[{i}]: expected a callable or a CredentialLink, got {type(item).__name__}")
    keep.append(arr)
    return ctypes.cast(arr, POINTER(S.RepoCredentialProvider)), len(items)


def _credential_cb(f: CredentialFn, trap: Trap) -> Callable[..., int]:
    held: List[Any] = []  # the last answer's strings: borrowed until the next call or the operation's end

    def cb(out: Any, url: Optional[bytes], user: Optional[bytes], allowed: int, attempt: int, _pl: Any) -> int:
        try:
            c = f(dec(url), dec_opt(user), int(allowed), int(attempt))
            if c is None:
                return 1
            if not isinstance(c, Credential):
                raise TypeError(f"a credential callable returned {type(c).__name__}, not a Credential or None")
            strs = [enc(c.username, "username", optional=True),
                    data(c.secret, "secret") if c.secret is not None else None,
                    enc(c.ssh_public_key, "ssh_public_key", optional=True),
                    enc(c.ssh_private_key, "ssh_private_key", optional=True),
                    data(c.ssh_passphrase, "ssh_passphrase") if c.ssh_passphrase is not None else None]
            if any(b is not None and b"\0" in b for b in strs):
                raise ValueError("a credential contains a NUL byte")
        except BaseException as e:  # noqa: B902 - fails the git operation, raised again by the binding
            if trap.exc is None:
                trap.exc = e
            return int(fn.devsys_error_set_str(-10, f"credential provider raised {type(e).__name__}"
                                               .encode()))  # never the message: it may hold the secret
        held[:] = strs
        o = out.contents
        o.type = c.type
        o.username, o.secret, o.ssh_public_key, o.ssh_private_key, o.ssh_passphrase = strs
        return 0
    return cb


_OPTION_COUNTS = {"protected_branches": "nprotected_branches", "required_contexts": "nrequired_contexts"}


def fill_options(o: ctypes.Structure, values: Mapping[str, Any], what: str, keep: List[Any],
                 trap: Optional[Trap] = None) -> None:
    """Set the fields of options struct @p o from @p values ({field: value}):
    str/path -> a C string, a list of str -> an array (and its count field),
    a Handle -> its pointer, credentials -> a credential chain. Unknown keys
    raise TypeError naming them."""
    names = {f[0] for f in o._fields_}
    for k, v in values.items():
        if k not in names or k == "version" or k.startswith("n") and k[1:] in names:
            raise TypeError(f"{what}: no option '{k}' (options: "
                            f"{', '.join(sorted(n for n in names if n != 'version'))})")
        if k == "credentials":
            setattr(o, "credentials", None)
            arr, n = credential_chain(v, trap or Trap(), keep)
            setattr(o, "credentials", arr)
            setattr(o, "ncredentials", n)
        elif isinstance(v, Handle):
            setattr(o, k, v._h)
            keep.append(v)
        elif isinstance(v, (list, tuple)):
            items = [req(x, f"{what}.{k}") for x in v]
            arr = strarray(items)
            keep += [items, arr]
            setattr(o, k, arr)
            count = _OPTION_COUNTS.get(k, "n" + k)
            if count in names:
                setattr(o, count, len(items))
        elif isinstance(v, bool) or isinstance(v, int):
            setattr(o, k, int(v))
        elif v is None:
            setattr(o, k, None)
        else:
            b = req(v, f"{what}.{k}")
            keep.append(b)
            setattr(o, k, b)


def _changes(ch: Any) -> List[Change]:
    out = []
    for i in range(int(fn.devsys_repo_changes_count(ch))):
        c = fn.devsys_repo_changes_at(ch, i)
        out.append(Change(int(fn.devsys_repo_change_status_of(c)), dec(fn.devsys_repo_change_path(c)),
                          dec_opt(fn.devsys_repo_change_old_path(c)),
                          int(fn.devsys_repo_change_old_mode(c)), int(fn.devsys_repo_change_new_mode(c))))
    return out


def _touching_of(cs: Any) -> Dict[str, Tuple[int, int, int]]:
    """devsys_repo_commits_touching() for every path the commits name (and its folders), computed
    while the C result is alive, so Commits.touching() answers from copies."""
    paths = set()
    for i in range(int(fn.devsys_repo_commits_count(cs))):
        ch = fn.devsys_repo_commits_changes(cs, i)
        for k in range(int(fn.devsys_repo_changes_count(ch))):
            c = fn.devsys_repo_changes_at(ch, k)
            for p in (dec(fn.devsys_repo_change_path(c)), dec_opt(fn.devsys_repo_change_old_path(c))):
                if p:
                    parts = p.split("/")
                    paths.add(p)
                    paths.update("/".join(parts[:j]) + "/" for j in range(1, len(parts)))
    out: Dict[str, Tuple[int, int, int]] = {}
    for p in paths:
        first, last = c_size_t(), c_size_t()
        n = int(fn.devsys_repo_commits_touching(cs, p.encode("utf-8", "surrogateescape"), byref(first), byref(last)))
        if n:
            out[p] = (n, first.value, last.value)
    return out


@dataclass(frozen=True)
class CommitChanges:
    sha: str
    changes: List[Change]


class Commits(List[CommitChanges]):
    """Repo.changed_paths_by_commit(): a list of CommitChanges, oldest first."""

    def __init__(self, items: List[CommitChanges], touching: Dict[str, Tuple[int, int, int]]) -> None:
        super().__init__(items)
        self._touching = touching

    def touching(self, path: str) -> Tuple[int, Optional[int], Optional[int]]:
        """How many commits touched @p path (or, ending in "/", anything below
        it), and the indexes of the first and last of them (None when none)."""
        n, first, last = self._touching.get(path, (0, -1, -1))
        return (n, first, last) if n else (0, None, None)


# ---------------------------------------------------------------- runner

RUNNER_OK, RUNNER_BUILD_FAILURE, RUNNER_SYSTEM_FAILURE, RUNNER_TIMEOUT, RUNNER_CANCELED, RUNNER_NOT_RUN = range(6)
RUNNER_STALLED, RUNNER_OUTPUT_LIMIT = 6, 7
RUNNER_ALLOW_SHELL = 1 << 0
CMD_INHERIT_ENV, CMD_SHELL, CMD_IDEMPOTENT = 1 << 0, 1 << 1, 1 << 2
STDOUT, STDERR = 1, 2

OutputCallback = Callable[[int, bytes], Optional[bool]]


def failure_name(failure: int) -> str:
    return dec(fn.devsys_runner_failure_name(failure))


@dataclass(frozen=True)
class Result:
    """What one exec did (copied out of devsys_runner_result)."""
    failure: int
    exit_code: int
    signal: int
    duration_ms: int
    attempts: int
    tail: bytes
    output_bytes: int
    truncated: bool
    log_path: Optional[str]

    @property
    def failure_name(self) -> str:
        return failure_name(self.failure)

    @property
    def ok(self) -> bool:
        return self.failure == RUNNER_OK


@dataclass(frozen=True)
class Description:
    type: str
    engine: str
    where: str
    image_id: str
    image_digest: str


def run_cmd(call: Callable[[Any, Any], Any], argv: Sequence[Union[str, bytes]], *,
            env: Optional[Dict[str, str]] = None, cwd: Optional[StrPath] = None, timeout_ms: int = 0,
            stdin: Optional[Union[str, bytes]] = None, stdin_file: Optional[StrPath] = None,
            output: Optional[OutputCallback] = None, task: Optional[Task] = None, stage: Optional[str] = None,
            flags: int = 0, idle_timeout_ms: int = 0, max_output_bytes: int = 0) -> Result:
    """Build a devsys_runner_cmd, run @p call(cmd, result) and copy the result out (Runner.exec(), StageRun.exec())."""
    if isinstance(argv, (str, bytes)):
        raise TypeError("argv: expected a sequence of strings, not one string")
    args = [req(a, f"argv[{i}]") for i, a in enumerate(argv)]
    envs = [req(f"{k}={v}", f"env[{k!r}]") for k, v in (env or {}).items()]
    keep: List[Any] = [args, envs]
    cmd = S.RunnerCmd()
    # version 3 only when a budget is asked for: a library before it refuses version 3
    cmd.version, cmd.flags = (3 if idle_timeout_ms or max_output_bytes else 2), flags
    cmd.idle_timeout_ms, cmd.max_output_bytes = idle_timeout_ms, max_output_bytes
    cmd.argv = strarray(args)
    cmd.env = strarray(envs) if env is not None else None
    keep += [cmd.argv, cmd.env]
    cmd.cwd = enc(cwd, "cwd", optional=True)
    cmd.timeout_ms = timeout_ms
    if stdin is not None:
        sb = data(stdin, "stdin")
        keep.append(sb)
        cmd.stdin_data, cmd.stdin_len = ctypes.cast(ctypes.c_char_p(sb), c_void_p), len(sb)
    cmd.stdin_file = enc(stdin_file, "stdin_file", optional=True)
    trap = Trap()
    if output is not None:
        out_cb = output

        def on_output(stream: int, p: Any, n: int, _pl: Any) -> int:
            return trap.run(out_cb, stream, ctypes.string_at(p, n))
        cmd.output_cb = S.RUNNER_OUTPUT_CB(on_output)
    cmd.task = task._h if task is not None else None
    cmd.stage = enc(stage, "stage", optional=True)
    res = S.RunnerResult()
    res.version = 1
    try:
        rc = int(call(byref(cmd), byref(res)))
        out = Result(res.failure, res.exit_code, res.signal, res.duration_ms, res.attempts,
                     ctypes.string_at(res.tail, res.tail_len) if res.tail else b"", res.output_bytes,
                     bool(res.truncated), dec_opt(res.log_path))
    finally:
        fn.devsys_runner_result_dispose(byref(res))
    try:
        trap.check(rc)
    except BaseException as e:
        setattr(e, "result", out)
        raise
    return out


class Runner(Handle):
    """A runner ("inproc", "remote-ssh", ...). One thread at a time, except cancel()."""

    _free_fn = "devsys_runner_free"

    def __init__(self, type: str = "inproc", *, workspace: Optional[Workspace] = None,
                 masker: Optional["Masker"] = None, flags: int = 0, grace_ms: int = 0, tail_max: int = 0,
                 options: Optional[S.RunnerOptions] = None) -> None:
        o = options if options is not None else S.RunnerOptions()
        if options is None:
            check(fn.devsys_runner_options_init(byref(o), 2))
        o.flags |= flags
        o.ws = workspace._h if workspace is not None else None
        o.masker = masker._h if masker is not None else None
        if grace_ms:
            o.grace_ms = grace_ms
        if tail_max:
            o.tail_max = tail_max
        ptr = new_handle(lambda out: fn.devsys_runner_open(out, req(type, "runner type"), byref(o)))
        super().__init__(ptr, workspace, masker)

    @property
    def type(self) -> str:
        return dec(fn.devsys_runner_type(self._h))

    def exec(self, argv: Sequence[Union[str, bytes]], *, env: Optional[Dict[str, str]] = None,
             cwd: Optional[StrPath] = None, timeout_ms: int = 0, stdin: Optional[Union[str, bytes]] = None,
             stdin_file: Optional[StrPath] = None, output: Optional[OutputCallback] = None,
             task: Optional[Task] = None, stage: Optional[str] = None, flags: int = 0,
             idle_timeout_ms: int = 0, max_output_bytes: int = 0) -> Result:
        """Run @p argv to completion. A non-zero exit is a Result (failure
        build-failure), not an exception; a timeout, a cancel or a broken runner
        raise (with .result). An exception in @p output cancels the command and
        is re-raised here. The budgets (command version 3): @p idle_timeout_ms
        without output ends it stalled, more than @p max_output_bytes of output
        ends it output-limit; 0: none."""
        return run_cmd(lambda c, r: fn.devsys_runner_exec(self._h, c, r), argv, env=env, cwd=cwd,
                       timeout_ms=timeout_ms, stdin=stdin, stdin_file=stdin_file, output=output, task=task,
                       stage=stage, flags=flags, idle_timeout_ms=idle_timeout_ms, max_output_bytes=max_output_bytes)

    @classmethod
    def _adopt(cls, ptr: int, *parents: object) -> "Runner":
        """A Runner over a new devsys_runner the library opened (StageRun.open_runner())."""
        r = cls.__new__(cls)
        Handle.__init__(r, ptr, *parents)
        return r

    def cancel(self) -> None:
        """Stop the running exec (any thread)."""
        check(fn.devsys_runner_cancel(self._h))

    def prepare(self, task: Task) -> None:
        check(fn.devsys_runner_prepare(self._h, task._h))

    def cleanup(self, task: Task) -> None:
        check(fn.devsys_runner_cleanup(self._h, task._h))

    def workdir(self, task: Optional[Task] = None) -> Optional[str]:
        return dec_opt(fn.devsys_runner_workdir(self._h, task._h if task is not None else None))

    def upload(self, local: StrPath, remote: StrPath) -> None:
        check(fn.devsys_runner_upload(self._h, req(local, "local"), req(remote, "remote")))

    def download(self, remote: StrPath, local: StrPath) -> None:
        check(fn.devsys_runner_download(self._h, req(remote, "remote"), req(local, "local")))

    def describe(self) -> Description:
        d = S.RunnerDescription()
        d.version = 1
        check(fn.devsys_runner_describe(self._h, byref(d)))
        return Description(dec(d.type), dec(d.engine), dec(d.where), dec(d.image_id), dec(d.image_digest))


# ---------------------------------------------------------------- config

class Config(Handle):
    """The operator's devsys.yaml (read-only; may be shared between threads)."""

    _free_fn = "devsys_config_free"

    def __init__(self, ptr: int) -> None:
        super().__init__(ptr)

    @classmethod
    def load(cls, path: Optional[StrPath] = None) -> "Config":
        return cls(new_handle(lambda out: fn.devsys_config_load(out, enc(path, "path", optional=True))))

    @classmethod
    def parse(cls, text: Union[str, bytes], name: Optional[str] = None) -> "Config":
        b = data(text, "text")
        return cls(new_handle(lambda out: fn.devsys_config_parse(out, b, len(b), enc(name, "name", optional=True))))

    def runners(self) -> List[str]:
        return [dec(fn.devsys_config_runner_name(self._h, i)) for i in range(int(fn.devsys_config_runner_count(self._h)))]

    def runner(self, profile: str) -> Tuple[str, S.RunnerOptions]:
        """The profile's runner type and options (strings borrowed from this config)."""
        o = S.RunnerOptions()
        check(fn.devsys_runner_options_init(byref(o), 2))
        t = c_char_p()
        check(fn.devsys_config_runner(self._h, req(profile, "profile"), byref(t), byref(o)))
        return dec(t.value), o

    def open_runner(self, profile: str, *, workspace: Optional[Workspace] = None,
                    masker: Optional["Masker"] = None) -> Runner:
        t, o = self.runner(profile)
        return Runner(t, workspace=workspace, masker=masker, options=o)

    def runner_docker(self, profile: str) -> S.RunnerDockerOptions:
        """A host-docker profile's Docker options (image, network, limits...),
        ready for RunnerOptions.backend_options. The C call borrows its strings
        from the config; the struct returned holds copies of its own, so it
        outlives the config."""
        o = S.RunnerDockerOptions()
        o.version = 1
        check(fn.devsys_config_runner_docker(self._h, req(profile, "profile"), byref(o)))
        return _owned(o)

    def runner_dind(self, profile: str) -> S.RunnerDindOptions:
        """A `type: dind` profile's options; .docker points to the task
        containers' Docker options. Copies, as runner_docker()'s."""
        docker, o = S.RunnerDockerOptions(), S.RunnerDindOptions()
        docker.version, o.version = 1, 1
        check(fn.devsys_config_runner_dind(self._h, req(profile, "profile"), byref(o), byref(docker)))
        o = _owned(o)
        o.docker = ctypes.pointer(_owned(docker))
        return o

    def store(self) -> Optional[Tuple[str, Optional[Tuple[str, str, Optional[str]]]]]:
        """The `store:` section: (url, (secret name, provider, ref) or None when
        it names no password secret), or None when there is no such section.
        Pass them to Store(url=, secrets=, password_secret=) after defining the secret."""
        url, d = c_char_p(), S.SecretDef()
        d.version = 1
        rc = int(fn.devsys_config_store(byref(url), byref(d), self._h))
        if rc == -4:  # DEVSYS_ENOTFOUND: no store: section
            return None
        check(rc)
        pw = (dec(d.name), dec(d.provider), dec_opt(d.ref)) if d.name else None
        return dec(url.value), pw

    def runner_max_concurrent(self, profile: str) -> int:
        """`runners.<profile>.max_concurrent`: tasks of it one worker runs at once (0: no limit)."""
        m = c_uint()
        check(fn.devsys_config_runner_max_concurrent(byref(m), self._h, req(profile, "profile")))
        return m.value

    def runner_risk(self, profile: str) -> int:
        r = c_int()
        check(fn.devsys_config_runner_risk(byref(r), self._h, req(profile, "profile")))
        return r.value

    def policy_globs(self) -> List[Tuple[str, int, str]]:
        """The `policy:` section's globs (text, risk, source)."""
        p = c_void_p()
        check(fn.devsys_config_policy(byref(p), self._h))
        return _globs(p.value)

    def agent_value(self, profile: str, key: str) -> Tuple[Optional[str], Optional[str]]:
        """agents.<profile>.<key> as written (lists comma-joined) and where it
        was set ("devsys.yaml:4:19"); (None, None) when it is not set.
        NotFoundError for an unknown profile, InvalidArgumentError for an unknown key."""
        v, w = c_char_p(), c_char_p()
        check(fn.devsys_config_agent_value(byref(v), byref(w), self._h, req(profile, "profile"), req(key, "key")))
        return dec_opt(v.value), dec_opt(w.value) if v.value is not None else None

    def forges(self) -> List[str]:
        return [dec(fn.devsys_config_forge_host(self._h, i)) for i in range(int(fn.devsys_config_forge_count(self._h)))]

    def forge_match(self, host: str) -> str:
        e = c_char_p()
        check(fn.devsys_config_forge_match(byref(e), self._h, req(host, "host")))
        return dec(e.value)

    def forge_value(self, entry: str, key: str) -> Tuple[Optional[str], Optional[str]]:
        """(value, where it was set), both None when unset."""
        v, w = c_char_p(), c_char_p()
        check(fn.devsys_config_forge_value(byref(v), byref(w), self._h, req(entry, "entry"), req(key, "key")))
        return dec_opt(v.value), dec_opt(w.value)


_ST = TypeVar("_ST", bound=ctypes.Structure)


def _owned(o: _ST) -> _ST:
    """@p o with every string and NULL-terminated string list it points to
    replaced by a copy the struct itself keeps (ctypes holds assigned objects)."""
    for name, ctype in o._fields_:
        if ctype is c_char_p:
            setattr(o, name, getattr(o, name))
        elif ctype is S.c_char_pp and getattr(o, name):
            v = getattr(o, name)
            items: List[bytes] = []
            while v[len(items)] is not None:
                items.append(bytes(v[len(items)]))
            setattr(o, name, ctypes.cast(strarray(items), S.c_char_pp))
    return o


def runner_docker_sweep(options: Optional[S.RunnerDockerOptions] = None, *, host: Optional[str] = None) -> int:
    """Remove the containers and volumes host-docker left behind (labelled by
    the library, their owner process gone), as `devsys runner sweep` does: the
    number removed. @p options: a profile's (cfg.runner_docker(profile)) for
    its engine endpoint and TLS files; @p host overrides its endpoint
    ("unix:///run/docker.sock", "tcp://127.0.0.1:2376"); neither: $DOCKER_HOST,
    else /var/run/docker.sock. NetworkError naming the endpoint when no engine
    answers there. @p options is not changed."""
    if options is not None:
        o = S.RunnerDockerOptions.from_buffer_copy(options)  # the caller's strings stay alive with it
    else:
        o = S.RunnerDockerOptions()
        o.version = 1
    if host is not None:
        o.host = req(host, "host")
    n = c_uint()
    check(fn.devsys_runner_docker_sweep(byref(n), byref(o)))
    return n.value


# ---------------------------------------------------------------- secrets

@dataclass(frozen=True)
class SecretEvent:
    name: str
    provider: str
    task_id: Optional[str]
    stage: Optional[str]
    cached: bool
    error: int

    def to_json(self) -> str:
        """The event's data as the record keeps it (devsys_secret_event_json()): never a value."""
        e = S.SecretEvent(1, req(self.name, "name"), req(self.provider, "provider"),
                          enc(self.task_id, "task_id", optional=True), enc(self.stage, "stage", optional=True),
                          int(self.cached), self.error)
        return dec(with_buf(lambda b: fn.devsys_secret_event_json(b, byref(e))))


AuditCallback = Callable[[SecretEvent], None]


class Secrets(Handle):
    """Declared secrets and their values (never logged). Not thread-safe."""

    _free_fn = "devsys_secrets_free"

    def __init__(self, *, docker_secrets_dir: Optional[StrPath] = None, command_timeout_ms: int = 0,
                 audit: Optional[AuditCallback] = None, workspace: Optional[Workspace] = None,
                 record_events: bool = False) -> None:
        """@p record_events: each resolution made for a task is appended to
        that task's events.jsonl as a "secret.resolve" event (which secret,
        provider, stage, cached, error; never the value), through the
        library's devsys_record_secret_event()."""
        o = S.SecretsOptions()
        check(fn.devsys_secrets_options_init(byref(o), 2 if record_events else 1))
        if record_events:
            o.event_cb = ctypes.cast(_lib.credential_fn("devsys_record_secret_event"), S.SECRET_EVENT_CB)
        o.docker_secrets_dir = enc(docker_secrets_dir, "docker_secrets_dir", optional=True)
        o.command_timeout_ms = command_timeout_ms
        self._trap = Trap()
        self._audit: Any = None
        if audit is not None:
            trap, audit_cb = self._trap, audit

            def on_event(ev: Any, _pl: Any) -> None:
                e = ev.contents
                trap.run(audit_cb, SecretEvent(dec(e.name), dec(e.provider), dec_opt(e.task_id), dec_opt(e.stage),
                                            bool(e.cached), e.error))
            self._audit = S.SECRET_AUDIT_CB(on_event)
            o.audit_cb = self._audit
        o.ws = workspace._h if workspace is not None else None
        super().__init__(new_handle(lambda out: fn.devsys_secrets_new(out, byref(o))), workspace)

    def define(self, name: str, provider: str, ref: Optional[str] = None, *,
               argv: Optional[Sequence[str]] = None, ttl_s: int = 0) -> None:
        d = S.SecretDef()
        d.version = 1
        d.name, d.provider, d.ref = req(name, "name"), req(provider, "provider"), enc(ref, "ref", optional=True)
        args = [req(a, "argv") for a in argv] if argv is not None else None
        arr = strarray(args)
        d.argv, d.ttl_s = arr, ttl_s
        check(fn.devsys_secrets_define(self._h, byref(d)))

    def resolve(self, name: str, task: Optional[Task] = None, stage: Optional[str] = None) -> bytes:
        """The value (a copy). An exception in the audit callback is re-raised after it."""
        p, n = c_void_p(), c_size_t()
        rc = fn.devsys_secrets_resolve(self._h, req(name, "name"), task._h if task is not None else None,
                                       enc(stage, "stage", optional=True), byref(p), byref(n))
        self._trap.check(rc)
        return ctypes.string_at(p.value, n.value) if p.value else b""

    def resolve_all(self, task: Optional[Task] = None, stage: Optional[str] = None) -> None:
        self._trap.check(fn.devsys_secrets_resolve_all(self._h, task._h if task is not None else None,
                                                       enc(stage, "stage", optional=True)))

    def masker(self) -> "Masker":
        return Masker(new_handle(lambda out: fn.devsys_secrets_masker(out, self._h)))


class Masker(Handle):
    """Masks secret values as [MASKED:<name>]; immutable after first use."""

    _free_fn = "devsys_masker_free"

    def __init__(self, ptr: Optional[int] = None) -> None:
        super().__init__(ptr if ptr is not None else new_handle(lambda out: fn.devsys_masker_new(out)))

    def add(self, name: str, value: Union[str, bytes]) -> None:
        b = data(value, "value")
        check(fn.devsys_masker_add(self._h, req(name, "name"), b, len(b)))

    def __len__(self) -> int:
        return int(fn.devsys_masker_count(self._h))

    def mask(self, text: Union[str, bytes]) -> bytes:
        b = data(text, "text")
        return with_buf(lambda out: fn.devsys_masker_mask(self._h, b, len(b), out))

    def stream(self, write: Callable[[bytes], Optional[bool]]) -> "MaskStream":
        return MaskStream(self, write)


class MaskStream(Handle):
    """Streaming masking: a secret split across writes is still masked."""

    _free_fn = "devsys_mask_stream_free"

    def __init__(self, masker: Masker, write: Callable[[bytes], Optional[bool]]) -> None:
        self._trap = Trap()
        trap = self._trap

        def on_write(p: Any, n: int, _pl: Any) -> int:
            return trap.run(write, ctypes.string_at(p, n))
        self._cb = S.MASK_WRITE_CB(on_write)
        super().__init__(new_handle(lambda out: fn.devsys_mask_stream_new(out, masker._h, self._cb, None)), masker)

    def write(self, text: Union[str, bytes]) -> None:
        b = data(text, "text")
        self._trap.check(fn.devsys_mask_stream_write(self._h, b, len(b)))

    def finish(self) -> None:
        self._trap.check(fn.devsys_mask_stream_finish(self._h))


# ---------------------------------------------------------------- report

PASSED, FAILED, ERROR, SKIPPED = range(4)
REPORT_NO_CASES = 1 << 0


def report_status_name(status: int) -> str:
    return dec(fn.devsys_report_status_name(status))


@dataclass(frozen=True)
class Case:
    status: int
    time: float
    suite: str
    classname: str
    name: str
    file: Optional[str]
    message: Optional[str]
    type: Optional[str]
    text: Optional[str]
    system_out: Optional[str]
    system_err: Optional[str]
    source: str

    @property
    def status_name(self) -> str:
        return report_status_name(self.status)

    @staticmethod
    def _from(c: Any) -> "Case":
        return Case(c.status, c.time, dec(c.suite), dec(c.classname), dec(c.name), dec_opt(c.file),
                    dec_opt(c.message), dec_opt(c.type), dec_opt(c.text), dec_opt(c.system_out),
                    dec_opt(c.system_err), dec(c.source))


CaseCallback = Callable[[Case], Optional[bool]]


class Report(Handle):
    """JUnit XML results, normalised."""

    _free_fn = "devsys_report_free"

    def __init__(self, ptr: Optional[int] = None) -> None:
        super().__init__(ptr if ptr is not None else new_handle(lambda out: fn.devsys_report_new(out)))

    @staticmethod
    def _opts(totals_only: bool, max_text: int, max_depth: int, on_case: Optional[CaseCallback],
              trap: Trap) -> Tuple[S.ReportOptions, Any]:
        o = S.ReportOptions()
        check(fn.devsys_report_options_init(byref(o), 1))
        o.flags = REPORT_NO_CASES if totals_only else 0
        o.max_text, o.max_depth = max_text, max_depth
        cb = None
        if on_case is not None:
            case_cb = on_case
            cb = S.REPORT_CASE_CB(lambda c, _pl: trap.run(case_cb, Case._from(c.contents)))
            o.case_cb = cb
        return o, cb

    @classmethod
    def parse_junit(cls, path: StrPath, *, totals_only: bool = False, max_text: int = 0, max_depth: int = 0,
                    on_case: Optional[CaseCallback] = None) -> "Report":
        trap = Trap()
        o, _cb = cls._opts(totals_only, max_text, max_depth, on_case, trap)
        return cls(new_handle(lambda out: fn.devsys_report_parse_junit(out, req(path, "path"), byref(o)), trap))

    def add_junit(self, path: StrPath, *, totals_only: bool = False, max_text: int = 0, max_depth: int = 0,
                  on_case: Optional[CaseCallback] = None) -> None:
        trap = Trap()
        o, _cb = self._opts(totals_only, max_text, max_depth, on_case, trap)
        trap.check(fn.devsys_report_add_junit(self._h, req(path, "path"), byref(o)))

    def add_junit_text(self, text: Union[str, bytes], name: Optional[str] = None, *, totals_only: bool = False,
                       max_text: int = 0, max_depth: int = 0, on_case: Optional[CaseCallback] = None) -> None:
        trap = Trap()
        o, _cb = self._opts(totals_only, max_text, max_depth, on_case, trap)
        b = data(text, "text")
        trap.check(fn.devsys_report_add_junit_buffer(self._h, b, len(b), enc(name, "name", optional=True), byref(o)))

    def merge(self, other: "Report") -> None:
        check(fn.devsys_report_merge(self._h, other._h))

    @property
    def tests(self) -> int:
        return int(fn.devsys_report_tests(self._h))

    def count(self, status: int) -> int:
        return int(fn.devsys_report_count(self._h, status))

    @property
    def time(self) -> float:
        return float(fn.devsys_report_time(self._h))

    def __len__(self) -> int:
        return int(fn.devsys_report_case_count(self._h))

    def __getitem__(self, i: int) -> Case:
        p = fn.devsys_report_case_at(self._h, i)
        if not p:
            raise IndexError(i)
        return Case._from(p.contents)

    def cases(self) -> List[Case]:
        return [self[i] for i in range(len(self))]

    def foreach(self, cb: CaseCallback) -> None:
        trap = Trap()
        ccb = S.REPORT_CASE_CB(lambda c, _pl: trap.run(cb, Case._from(c.contents)))
        trap.check(fn.devsys_report_foreach(self._h, ccb, None))

    def sources(self) -> List[str]:
        return [dec(fn.devsys_report_source_at(self._h, i)) for i in range(int(fn.devsys_report_source_count(self._h)))]

    def junit(self) -> str:
        return dec(with_buf(lambda b: fn.devsys_report_junit_buf(self._h, b)))

    def write_junit(self, path: StrPath) -> None:
        check(fn.devsys_report_write_junit(self._h, req(path, "path")))

    def summary_json(self) -> str:
        return dec(with_buf(lambda b: fn.devsys_report_summary_json(self._h, b)))

    def cases_json(self) -> str:
        """The cases as the CLI's `devsys report --json` gives them (a JSON array)."""
        return dec(with_buf(lambda b: fn.devsys_report_cases_json(b, self._h)))

    def write_summary(self, path: StrPath) -> None:
        check(fn.devsys_report_write_summary(self._h, req(path, "path")))


# ---------------------------------------------------------------- record

def stage_check(stage: Optional[str]) -> None:
    check(fn.devsys_stage_check(req(stage, "stage")))


def latest_run(task: Task) -> Optional[int]:
    n = c_uint()
    rc = int(fn.devsys_record_latest_run(task._h, byref(n)))
    if rc == -4:
        return None
    check(rc)
    return n.value


RECORD_FILE_TASK_JSON, RECORD_FILE_EVENTS, RECORD_FILE_REPORTS, RECORD_FILE_LATEST = 1, 2, 3, 4
RECORD_FILE_ACCEPTANCE, RECORD_FILE_RUN_SUMMARY, RECORD_FILE_RUN_JUNIT, RECORD_FILE_LOG = 5, 6, 7, 8


def events_since(task: Task, seq: int = 0, limit: int = 0) -> Tuple[bytes, int]:
    """The task's events after @p seq (at most @p limit; 0: all) as the JSON
    lines events.jsonl holds, and the seq of the last one (@p seq when none)."""
    last = c_uint64()
    text = with_buf(lambda b: fn.devsys_record_events_since(b, byref(last), task._h, seq, limit))
    return text, last.value


def events_foreach(task: Task, on_event: Callable[[int, str, bytes], Optional[bool]], seq: int = 0,
                   limit: int = 0) -> None:
    """Call @p on_event(seq, type, line) for each event after @p seq, oldest
    first; returning False stops the walk (UserCallbackError), an exception
    stops it and is raised again."""
    trap = Trap()

    def cb(s: int, t: Optional[bytes], line: Any, n: int, _pl: Any) -> int:
        return trap.run(on_event, int(s), dec(t), ctypes.string_at(line, n))
    f = S.RECORD_EVENT_CB(cb)
    trap.check(fn.devsys_record_events_foreach(task._h, seq, limit, f, None))


def record_path(task: Task, file: int, run: int = 0, stage: Optional[str] = None) -> str:
    """The absolute path of one file of the task's record (RECORD_FILE_*; @p run
    for the RUN_* files, @p stage for RECORD_FILE_LOG); nothing is created."""
    return dec(with_buf(lambda b: fn.devsys_record_path(b, task._h, file, run, enc(stage, "stage", optional=True))))


class Record(Handle):
    """A task's auditable record (task.json, events.jsonl, reports/, logs/)."""

    _free_fn = "devsys_record_free"

    def __init__(self, task: Task) -> None:
        super().__init__(new_handle(lambda out: fn.devsys_record_open(out, task._h)), task)
        self.task = task

    def set(self, key: str, value: Union[None, str, int, bool, float, dict, list]) -> None:  # type: ignore[type-arg]
        k = req(key, "key")
        if value is None or isinstance(value, str):
            check(fn.devsys_record_set_string(self._h, k, enc(value, "value", optional=True)))
        elif isinstance(value, int) and not isinstance(value, bool):
            check(fn.devsys_record_set_int(self._h, k, value))
        else:
            import json
            check(fn.devsys_record_set_json(self._h, k, req(json.dumps(value), "value")))

    def set_json(self, key: str, json_text: str) -> None:
        check(fn.devsys_record_set_json(self._h, req(key, "key"), req(json_text, "json")))

    def set_spec(self, name: str, content: Union[str, bytes]) -> None:
        b = data(content, "content")
        check(fn.devsys_record_set_spec(self._h, req(name, "name"), b, len(b)))

    def set_repo_url(self, url: str) -> None:
        check(fn.devsys_record_set_repo_url(self._h, req(url, "url")))

    def stage_begin(self, stage: str) -> None:
        check(fn.devsys_record_stage_begin(self._h, req(stage, "stage")))

    def stage_end(self, stage: str, result: str, failure_class: Optional[str] = None) -> None:
        check(fn.devsys_record_stage_end(self._h, req(stage, "stage"), req(result, "result"),
                                         enc(failure_class, "failure_class", optional=True)))

    def save(self) -> None:
        check(fn.devsys_record_save(self._h))

    def json(self) -> str:
        return dec(with_buf(lambda b: fn.devsys_record_json(self._h, b)))

    def event(self, type: str, data_json: Optional[str] = None) -> int:
        seq = c_uint64()
        check(fn.devsys_record_event(self._h, req(type, "type"), enc(data_json, "data", optional=True), byref(seq)))
        return seq.value

    def run_begin(self) -> int:
        n = c_uint()
        check(fn.devsys_record_run_begin(self._h, byref(n)))
        return n.value

    def run_add_junit(self, run: int, path: StrPath) -> None:
        check(fn.devsys_record_run_add_junit(self._h, run, req(path, "path")))

    def run_complete(self, run: int) -> None:
        check(fn.devsys_record_run_complete(self._h, run))

    def git_step(self, type: str, *, url: Optional[str] = None, branch: Optional[str] = None,
                 base_branch: Optional[str] = None, base_sha: Optional[str] = None,
                 head_sha: Optional[str] = None) -> None:
        """Record a git step the caller made ("git.checkout", "git.commit",
        "git.push"): task.json's repo_url, branch, base_branch, base_sha and
        head_sha, then the event @p type (devsys_record_git_step())."""
        check(fn.devsys_record_git_step(self._h, req(type, "type"), enc(url, "url", optional=True),
                                        enc(branch, "branch", optional=True),
                                        enc(base_branch, "base_branch", optional=True),
                                        enc(base_sha, "base_sha", optional=True),
                                        enc(head_sha, "head_sha", optional=True)))

    def write_acceptance(self, json_text: str) -> None:
        check(fn.devsys_record_write_acceptance(self._h, req(json_text, "json")))

    def log_path(self, stage: str) -> str:
        return dec(with_buf(lambda b: fn.devsys_record_log_path(b, self._h, req(stage, "stage"))))


# ---------------------------------------------------------------- store

#: The bytes a document's version takes, with its NUL (DEVSYS_STORE_DOC_VERSION_MAX).
DOC_VERSION_MAX = 40

STATES = ("created", "validated", "checked-out", "coded", "committed", "pushed", "pr-opened", "tested", "deployed",
          "awaiting-review", "merged", "done", "no-changes", "deploy-skipped", "failed", "canceled", "interrupted",
          "queued")


def task_state_name(state: int) -> Optional[str]:
    return dec_opt(fn.devsys_task_state_name(state))


def task_state_parse(name: str) -> int:
    return check(fn.devsys_task_state_parse(req(name, "state")))


def task_state_allowed(frm: int, to: int) -> bool:
    return bool(fn.devsys_task_state_allowed(frm, to))


def _state(s: Union[int, str]) -> int:
    return task_state_parse(s) if isinstance(s, str) else s


class Store(Handle):
    """The task index <workspace>/devsys.db (calls are serialised; shareable)."""

    _free_fn = "devsys_store_free"

    def __init__(self, workspace: Workspace, *, recover: bool = True, busy_timeout_ms: int = 0,
                 url: Optional[str] = None, secrets: Optional["Secrets"] = None,
                 password_secret: Optional[str] = None, config: Optional[Config] = None) -> None:
        """@p url: "postgresql://user@host:port/db" keeps the rows in that
        database (None: $DEVSYS_STORE_URL, else SQLite in the workspace); the
        password comes from @p password_secret of @p secrets, or libpq's
        password file, never from the URL. With @p config and no @p url, the
        configuration's `store:` section names the store, as the pipeline and
        the worker open theirs (devsys_store_open_config)."""
        o = S.StoreOptions()
        check(fn.devsys_store_options_init(byref(o), 2))
        o.flags, o.busy_timeout_ms = (0 if recover else 1), busy_timeout_ms
        o.url = enc(url, "url", optional=True)
        o.password_secret = enc(password_secret, "password_secret", optional=True)
        o.secrets = secrets._h if secrets is not None else None
        if config is not None:
            cfg = config._h
            super().__init__(new_handle(lambda out: fn.devsys_store_open_config(out, workspace._h, byref(o), cfg)),
                             workspace)
        else:
            super().__init__(new_handle(lambda out: fn.devsys_store_open(out, workspace._h, byref(o))), workspace)

    @property
    def backend(self) -> str:
        """"sqlite" or "postgresql"."""
        return dec(fn.devsys_store_backend_name(self._h))

    def create(self, id: str, spec_path: Optional[str] = None) -> None:
        check(fn.devsys_store_task_create(self._h, req(id, "task id"), enc(spec_path, "spec_path", optional=True)))

    def transition(self, id: str, to: Union[int, str], reason: Optional[str] = None) -> None:
        check(fn.devsys_store_transition(self._h, req(id, "task id"), _state(to),
                                         enc(reason, "reason", optional=True)))

    def stage_begin(self, id: str, stage: str) -> None:
        check(fn.devsys_store_stage_begin(self._h, req(id, "task id"), req(stage, "stage")))

    def stage_end(self, id: str, stage: str, result: str, to: Union[int, str] = -1) -> None:
        check(fn.devsys_store_stage_end(self._h, req(id, "task id"), req(stage, "stage"), req(result, "result"),
                                        _state(to)))

    def resume(self, id: str) -> str:
        return dec(with_buf(lambda b: fn.devsys_store_resume(self._h, req(id, "task id"), b)))

    def recover(self) -> int:
        n = c_size_t()
        check(fn.devsys_store_recover(self._h, byref(n)))
        return n.value

    def state(self, id: str) -> str:
        return dec(fn.devsys_task_state_name(check(fn.devsys_store_task_state(self._h, req(id, "task id")))))

    def task_json(self, id: str) -> str:
        return dec(with_buf(lambda b: fn.devsys_store_task_json(self._h, req(id, "task id"), b)))

    def list_json(self, state: Optional[str] = None, offset: int = 0, limit: int = 0) -> str:
        return dec(with_buf(lambda b: fn.devsys_store_list_json(self._h, enc(state, "state", optional=True),
                                                                offset, limit, b)))

    def run_record(self, id: str, run: int) -> None:
        check(fn.devsys_store_run_record(self._h, req(id, "task id"), run))

    def check(self, repair: bool = False) -> Tuple[str, int]:
        n = c_size_t()
        j = with_buf(lambda b: fn.devsys_store_check(self._h, int(repair), b, byref(n)))
        return dec(j), n.value

    def metrics(self) -> str:
        return dec(with_buf(lambda b: fn.devsys_store_metrics(self._h, b)))

    # ---- the queue (store.h): several processes and threads may call these at once

    def submit(self, id: str, profile: Optional[str] = None, schema: Optional[str] = None) -> None:
        """Queue validated task @p id (validated -> queued) for a worker of
        runner profile @p profile (None: any worker). StateError when it is not
        validated (or queued already), NotFoundError when there is no such task."""
        check(fn.devsys_store_submit(self._h, req(id, "task id"), enc(profile, "profile", optional=True),
                                     enc(schema, "schema", optional=True)))

    def claim(self, owner: str, host: str, profiles: Sequence[str] = (), lease_ms: int = 0) -> Optional[str]:
        """Claim the oldest free queued task of @p profiles (empty: any) for
        worker @p owner on @p host, with a lease of @p lease_ms (0: 30 s):
        its id, or None when there is nothing to claim."""
        names = [req(p, "profile") for p in profiles]
        arr = strarray(names) if names else None
        o, h = req(owner, "owner"), req(host, "host")
        b = S.Buf()
        try:
            rc = int(fn.devsys_store_claim(byref(b), self._h, o, h, arr, len(names), lease_ms))
            if rc == -4:  # DEVSYS_ENOTFOUND: nothing to claim (no error is set)
                return None
            check(rc)
            return dec(ctypes.string_at(b.ptr, b.size)) if b.ptr else ""
        finally:
            fn.devsys_buf_dispose(byref(b))

    def heartbeat(self, id: str, owner: str, lease_ms: int = 0) -> None:
        """Extend @p owner's lease on @p id; StateError when the lease is not
        @p owner's any more (stop working on the task)."""
        check(fn.devsys_store_heartbeat(self._h, req(id, "task id"), req(owner, "owner"), lease_ms))

    def release(self, id: str, owner: str, reason: Optional[str] = None) -> None:
        """Hand @p id back to the queue (a task mid-stage becomes interrupted)."""
        check(fn.devsys_store_release(self._h, req(id, "task id"), req(owner, "owner"),
                                      enc(reason, "reason", optional=True)))

    def complete(self, id: str, owner: str) -> None:
        """Take @p id out of the queue: its worker is done with it."""
        check(fn.devsys_store_complete(self._h, req(id, "task id"), req(owner, "owner")))

    def document(self, id: str, name: str) -> bytes:
        """A record document the store keeps with its rows ("task.json",
        "tests/latest/summary.json", "tests/latest/junit.xml"), for a process
        that does not see the task's folder; NotFoundError when not kept."""
        return with_buf(lambda b: fn.devsys_store_document(b, self._h, req(id, "task id"), req(name, "name")))

    def document_changed(self, id: str, name: str, version: str = "") -> Tuple[Optional[bytes], str]:
        """document(), read only when it was written since the read that gave
        @p version ("" the first time): (its bytes, its new version), or
        (None, @p version) when unchanged, the body not sent. Each write gives
        the document a new version, one that writes the same bytes too; a
        version that is not one a read gave reads it again. A store that keeps
        no versions reads it whole each time, as changed."""
        v = req(version, "version")
        ver = ctypes.create_string_buffer(v, max(DOC_VERSION_MAX, len(v) + 1))
        b = S.Buf()
        try:
            rc = check(fn.devsys_store_document_changed(byref(b), self._h, req(id, "task id"), req(name, "name"),
                                                        ver, len(ver)))
            if rc == 0:
                return None, version
            return (ctypes.string_at(b.ptr, b.size) if b.ptr else b""), dec(ver.value)
        finally:
            fn.devsys_buf_dispose(byref(b))

    def folder_current(self, id: str) -> bool:
        """Does this workspace's folder of task @p id answer for it (True), or
        the store (False: read its rows and document())? The rule a reader of a
        shared store follows so that it never serves a folder another host has
        left behind. SQLite, which one host has alone: always True. PostgreSQL:
        True only while the folder's task.json is in the store's state from the
        same change, or when the store does not know the task; False when the
        folder is behind or absent. Nothing is written. BadIdError for a bad id."""
        return bool(check(fn.devsys_store_folder_current(self._h, req(id, "task id"))))

    def wait_work(self, timeout_ms: int) -> bool:
        """Wait up to @p timeout_ms for a sign that work was queued (PostgreSQL's
        LISTEN/NOTIFY; SQLite has none and returns False at once). A hint: claim either way."""
        return bool(check(fn.devsys_store_wait_work(self._h, timeout_ms)))

    def worker_beat(self, id: str, host: str, *, pid: int = 0, jobs: int = 1, lease_ms: int = 30000,
                    running: int = 0, claimed: int = 0, completed: int = 0, expiries: int = 0,
                    stopped: bool = False) -> None:
        """Record worker @p id's beat in the store's registry (workers_json())."""
        w = S.StoreWorkerInfo()
        w.version, w.id, w.host = 1, req(id, "worker id"), req(host, "host")
        w.pid, w.jobs, w.lease_ms, w.running, w.claimed = pid, jobs, lease_ms, running, claimed
        w.completed, w.expiries, w.stopped = completed, expiries, int(stopped)
        check(fn.devsys_store_worker_beat(self._h, byref(w)))

    def workers_json(self) -> str:
        """The worker registry as JSON ({"workers": [{"id", ..., "state": alive|stale|stopped}]})."""
        return dec(with_buf(lambda b: fn.devsys_store_workers_json(self._h, b)))

    def cancel_request(self, id: str, reason: Optional[str] = None) -> bool:
        """Ask for queued task @p id to be canceled wherever it runs: True when
        its holder was asked (it sees it at its next heartbeat), False when it
        was canceled here at once."""
        return bool(check(fn.devsys_store_cancel_request(self._h, req(id, "task id"),
                                                         enc(reason, "reason", optional=True))))

    def cancel_requested(self, id: str) -> Optional[str]:
        """The reason of a cancel requested of @p id ("" when none was given), or None when none was."""
        b = S.Buf()
        try:
            r = check(fn.devsys_store_cancel_requested(self._h, req(id, "task id"), byref(b)))
            return (dec(ctypes.string_at(b.ptr, b.size)) if b.ptr else "") if r else None
        finally:
            fn.devsys_buf_dispose(byref(b))

    def claims_json(self, task_id: Optional[str] = None) -> str:
        """The queue and the claim log as JSON ({"queue": [...], "claims": [...]})."""
        return dec(with_buf(lambda b: fn.devsys_store_claims_json(self._h, enc(task_id, "task id", optional=True),
                                                                  b)))


# ---------------------------------------------------------------- policy

RISK_UNSET, RISK_LOW, RISK_MEDIUM, RISK_HIGH, RISK_CRITICAL = -1, 0, 1, 2, 3
POLICY_AUTO_MERGE, POLICY_FORCE_PUSH, POLICY_NO_DEFAULT_GLOBS = 1 << 0, 1 << 1, 1 << 2


def risk_name(risk: int) -> str:
    return dec(fn.devsys_risk_name(risk))


def risk_from_name(name: str) -> int:
    r = c_int()
    check(fn.devsys_risk_from_name(byref(r), req(name, "risk")))
    return r.value


def glob_check(glob: str) -> None:
    check(fn.devsys_policy_glob_check(req(glob, "glob")))


def glob_match(glob: str, path: str) -> bool:
    return bool(check(fn.devsys_policy_glob_match(req(glob, "glob"), req(path, "path"))))


CHANGE_SYMLINK, CHANGE_SUBMODULE, CHANGE_MODE = 1 << 0, 1 << 1, 1 << 2


def change_flags(old_mode: int, new_mode: int) -> int:
    """CHANGE_* flags for a change from @p old_mode to @p new_mode (0: absent)."""
    return int(fn.devsys_policy_change_flags(old_mode, new_mode))


def _globs(p: Optional[int]) -> List[Tuple[str, int, str]]:
    out = []
    for i in range(int(fn.devsys_policy_glob_count(p))):
        g, r, s = c_char_p(), c_int(), c_char_p()
        check(fn.devsys_policy_glob(byref(g), byref(r), byref(s), p, i))
        out.append((dec(g.value), r.value, dec(s.value)))
    return out


class Policy(Handle):
    """Path globs per risk class and the merge gate's settings."""

    _free_fn = "devsys_policy_free"

    def __init__(self, *, flags: int = 0, critical_approvals: int = 0,
                 required_contexts: Optional[Sequence[str]] = None, protected_branches: Sequence[str] = ()) -> None:
        o = S.PolicyOptions()
        check(fn.devsys_policy_options_init(byref(o), 1))
        o.flags = flags
        if critical_approvals:
            o.critical_approvals = critical_approvals
        ctx = [req(c, "context") for c in required_contexts] if required_contexts is not None else None
        pb = [req(b, "branch") for b in protected_branches]
        ca, pa = strarray(ctx), strarray(pb)
        o.required_contexts, o.nrequired_contexts = ca, len(ctx or [])
        o.protected_branches, o.nprotected_branches = pa, len(pb)
        super().__init__(new_handle(lambda out: fn.devsys_policy_new(out, byref(o))))

    def add_glob(self, risk: Union[int, str], glob: str, source: Optional[str] = None) -> None:
        r = risk_from_name(risk) if isinstance(risk, str) else risk
        check(fn.devsys_policy_add_glob(self._h, r, req(glob, "glob"), enc(source, "source", optional=True)))

    def globs(self) -> List[Tuple[str, int, str]]:
        return _globs(self._h)

    def options(self) -> Dict[str, Any]:
        o = S.PolicyOptions()
        o.version = 1
        check(fn.devsys_policy_get_options(byref(o), self._h))
        return {"flags": o.flags, "critical_approvals": o.critical_approvals,
                "required_contexts": [dec(o.required_contexts[i]) for i in range(o.nrequired_contexts)],
                "protected_branches": [dec(o.protected_branches[i]) for i in range(o.nprotected_branches)]}

    def classify(self, path: str) -> int:
        r = c_int()
        check(fn.devsys_policy_classify(byref(r), self._h, req(path, "path")))
        return r.value

    def explain(self, path: str) -> Tuple[int, Optional[str], Optional[str]]:
        r, g, s = c_int(), c_char_p(), c_char_p()
        check(fn.devsys_policy_explain(byref(r), byref(g), byref(s), self._h, req(path, "path")))
        return r.value, dec_opt(g.value), dec_opt(s.value)

    def classify_changes(self, changes: Sequence[Union[str, Tuple[str, Optional[str], int]]]) -> Tuple[int, Optional[int]]:
        """The class of a change set (devsys_policy_classify_changes()): each
        change a path or (path, old_path, CHANGE_* flags); returns (risk, the
        index of the first change of that class, None for an empty set)."""
        items = [(c, None, 0) if isinstance(c, str) else c for c in changes]
        cs = [S.PolicyChange(1, req(p, "path"), enc(o, "old_path", optional=True), flags) for p, o, flags in items]
        arr = (POINTER(S.PolicyChange) * max(len(cs), 1))(*[ctypes.pointer(c) for c in cs])
        risk, decisive = c_int(), c_size_t()
        check(fn.devsys_policy_classify_changes(byref(risk), byref(decisive), self._h,
                                                ctypes.cast(arr, POINTER(POINTER(S.PolicyChange))), len(cs)))
        return risk.value, (None if decisive.value == ctypes.c_size_t(-1).value else decisive.value)

    def decide(self, *, head_sha: str, path_risk: int = -1, profile_risk: int = -1, spec_risk: int = -1,
               require_approval: bool = False, bot: Optional[str] = None, authors: Sequence[str] = (),
               reviews: Sequence[Tuple[str, str, int]] = (), checks: Sequence[Tuple[str, str, int, int]] = (),
               draft: bool = False) -> Any:
        """The gate's pure decision (devsys_policy_decide(): no I/O) for a PR
        at @p head_sha: @p reviews as (reviewer, commit_sha, REVIEW_*),
        @p checks as (context, sha, CHECK_*, kind 0 status / 1 check run).
        Returns a Decision. InvalidArgumentError/ValidationError for bad input."""
        from ._flow import Decision
        keep: List[Any] = []
        i = S.PolicyInput()
        i.version = 1
        i.path_risk, i.profile_risk, i.spec_risk = path_risk, profile_risk, spec_risk
        i.require_approval, i.draft = int(require_approval), int(draft)
        i.head_sha, i.bot = req(head_sha, "head_sha"), enc(bot, "bot", optional=True)
        names = [req(a, "author") for a in authors]
        aarr = strarray(names)
        i.authors, i.nauthors = aarr, len(names)
        rs = [S.PolicyReview(1, req(r, "reviewer"), req(sha, "commit_sha"), st) for r, sha, st in reviews]
        rarr = (POINTER(S.PolicyReview) * max(len(rs), 1))(*[ctypes.pointer(r) for r in rs])
        cs = [S.PolicyCheck(1, req(c, "context"), req(sha, "sha"), st, kind) for c, sha, st, kind in checks]
        carr = (POINTER(S.PolicyCheck) * max(len(cs), 1))(*[ctypes.pointer(c) for c in cs])
        i.reviews, i.nreviews = ctypes.cast(rarr, POINTER(POINTER(S.PolicyReview))), len(rs)
        i.checks, i.nchecks = ctypes.cast(carr, POINTER(POINTER(S.PolicyCheck))), len(cs)
        keep += [names, aarr, rs, rarr, cs, carr]
        return Decision(new_handle(lambda out: fn.devsys_policy_decide(out, self._h, byref(i))))

__all__ = ['STAGE_FETCH', 'STAGE_CHECKOUT', 'STAGE_PUSH', 'Progress', 'ProgressCallback', 'content_id',
           'branch_is_protected', 'branch_name', 'change_status_name', 'Change', 'CommitChanges', 'Commits', 'Repo', 'RUNNER_OK',
           'RUNNER_BUILD_FAILURE', 'RUNNER_SYSTEM_FAILURE', 'RUNNER_TIMEOUT', 'RUNNER_CANCELED',
           'RUNNER_STALLED', 'RUNNER_OUTPUT_LIMIT',
           'RUNNER_NOT_RUN', 'RUNNER_ALLOW_SHELL', 'CMD_INHERIT_ENV', 'CMD_SHELL', 'CMD_IDEMPOTENT',
           'STDOUT', 'STDERR', 'OutputCallback', 'failure_name', 'Result', 'Description', 'Runner', 'Config',
           'runner_docker_sweep',
           'SecretEvent', 'AuditCallback', 'Secrets', 'Masker', 'MaskStream', 'PASSED', 'FAILED', 'ERROR',
           'SKIPPED', 'REPORT_NO_CASES', 'report_status_name', 'Case', 'CaseCallback', 'Report',
           'stage_check', 'latest_run', 'Record', 'STATES', 'task_state_name', 'task_state_parse',
           'task_state_allowed', 'Store', 'RISK_UNSET', 'RISK_LOW', 'RISK_MEDIUM', 'RISK_HIGH',
           'RISK_CRITICAL', 'POLICY_AUTO_MERGE', 'POLICY_FORCE_PUSH', 'POLICY_NO_DEFAULT_GLOBS', 'risk_name',
           'risk_from_name', 'glob_check', 'glob_match', 'Policy', 'CRED_USERPASS', 'CRED_SSH_KEY',
           'CRED_SSH_AGENT', 'Credential', 'CredentialLink', 'CredentialFn', 'CredentialProvider',
           'DEFAULT_CREDENTIALS', 'KEY_CREDENTIALS', 'CHANGE_SYMLINK', 'CHANGE_SUBMODULE', 'CHANGE_MODE',
           'change_flags', 'RECORD_FILE_TASK_JSON', 'RECORD_FILE_EVENTS', 'RECORD_FILE_REPORTS',
           'RECORD_FILE_LATEST', 'RECORD_FILE_ACCEPTANCE', 'RECORD_FILE_RUN_SUMMARY', 'RECORD_FILE_RUN_JUNIT',
           'RECORD_FILE_LOG', 'events_since', 'events_foreach', 'record_path']
