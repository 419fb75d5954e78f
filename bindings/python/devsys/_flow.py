"""Forge, PullRequest and the merge gate's Decision; Pipeline; SpecKitFeature.
Thin: each method is one libdevsys call (forge.h, pipeline.h, speckit.h)."""
from __future__ import annotations

import ctypes
from ctypes import byref, c_char_p, c_int, c_size_t, c_uint, c_void_p
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from . import _agent, _base, _lib
from . import _structs as S
from ._base import Handle, StrPath, Trap, check, data, dec, dec_opt, enc, new_handle, req, strarray, with_buf
from ._core import Task, ValidationIssue, Workspace, validation_issues
from ._errcodes import NotSupportedError
from ._ops import Config, CredentialLink, Policy, Repo, Result, Runner, fill_options, run_cmd

if TYPE_CHECKING:
    from ._ops import Masker, Secrets, Store

fn = _lib.fn


def _require(module: str) -> None:
    """Refuse to work when the library was built without @p module."""
    if "devsys_feature_enabled" in _lib.missing:
        present = module in _lib.features()
    else:
        present = bool(fn.devsys_feature_enabled(module.encode()))
    if not present:
        raise NotSupportedError(f"{_lib.path} was built without the '{module}' module", code=NotSupportedError.code,
                                name="DEVSYS_ENOTSUPPORTED")


# ---------------------------------------------------------------- forge

PR_OPEN, PR_CLOSED, PR_MERGED = 0, 1, 2
REVIEW_APPROVED, REVIEW_CHANGES_REQUESTED, REVIEW_COMMENTED, REVIEW_DISMISSED, REVIEW_PENDING = range(5)
CHECK_PENDING, CHECK_SUCCESS, CHECK_FAILURE, CHECK_NEUTRAL = range(4)
CHECK_KIND_STATUS, CHECK_KIND_RUN = 0, 1
GATE_MERGE, GATE_AWAITING_REVIEW, GATE_BLOCKED = range(3)
MERGE_COMMIT, MERGE_SQUASH, MERGE_REBASE, MERGE_FAST_FORWARD = range(4)


def pr_state_name(state: int) -> str:
    return dec(fn.devsys_pr_state_name(state))


def gate_outcome_name(outcome: int) -> str:
    return dec(fn.devsys_policy_outcome_name(outcome))


def gate_reason_name(code: int) -> str:
    return dec(fn.devsys_policy_reason_name(code))


def merge_method_name(method: int) -> str:
    return dec(fn.devsys_forge_merge_method_name(method))


def merge_method_from_name(name: str) -> int:
    """MERGE_COMMIT, MERGE_SQUASH, ... for a name; ValidationError naming the value otherwise."""
    out = c_int()
    check(fn.devsys_forge_merge_method_from_name(byref(out), req(name, "merge method")))
    return out.value


def forge_remote_host(remote_url: str) -> str:
    """The host a remote URL is matched by in `forges:` ("" for a local path or file:// URL)."""
    return dec(with_buf(lambda b: fn.devsys_forge_remote_host(b, req(remote_url, "remote_url"))))


class Forge(Handle):
    """A forge provider bound to one repository (devsys_forge). One thread at a
    time, together with the PullRequests made from it."""

    _free_fn = "devsys_forge_free"

    def __init__(self, remote_url: StrPath, *, config: Optional[Config] = None, provider: Optional[str] = None,
                 owner: Optional[str] = None, repo: Optional[str] = None, merge_method: Optional[str] = None,
                 bot: Optional[str] = None, secrets: Optional["Secrets"] = None) -> None:
        """@p secrets: what resolves the token the config's `forges:` entry
        names (token_secret, token_provider: a Python provider too)."""
        _require("forge")
        o = S.ForgeOptions()
        check(fn.devsys_forge_options_init(byref(o), 1))
        o.remote_url = req(remote_url, "remote_url")
        o.config = config._h if config is not None else None
        o.secrets = secrets._h if secrets is not None else None
        for field, value in (("provider", provider), ("owner", owner), ("repo", repo),
                             ("merge_method", merge_method), ("bot", bot)):
            setattr(o, field, enc(value, field, optional=True))
        # the strings are copied by devsys_forge_new(); the config is only read during the call
        super().__init__(new_handle(lambda out: fn.devsys_forge_new(out, byref(o))))

    provider = property(lambda self: dec(fn.devsys_forge_provider(self._h)))
    owner = property(lambda self: dec(fn.devsys_forge_owner(self._h)))
    repo = property(lambda self: dec(fn.devsys_forge_repo(self._h)))

    def describe(self) -> str:
        """A JSON object: provider, owner, repo and what the provider adds (never the token)."""
        return dec(with_buf(lambda b: fn.devsys_forge_describe(b, self._h)))

    def set_status(self, sha: str, context: str, state: int, description: Optional[str] = None,
                   target_url: Optional[str] = None) -> None:
        check(fn.devsys_forge_set_status(self._h, req(sha, "sha"), req(context, "context"), state,
                                         enc(description, "description", optional=True),
                                         enc(target_url, "target_url", optional=True)))

    def open_pr(self, title: str, head: str, base: str, *, body: Optional[str] = None,
                head_sha: Optional[str] = None, base_sha: Optional[str] = None, draft: bool = False,
                number: int = 0) -> "PullRequest":
        """Open the PR of @p head into @p base, or reuse and update the open one (PullRequest.reused)."""
        return PullRequest._open(self, title, head, base, body, head_sha, base_sha, draft, number)

    def pr(self, number: int) -> "PullRequest":
        return PullRequest(new_handle(lambda out: fn.devsys_pr_get(out, self._h, number)), self)

    def protect(self, branch: str, contexts: Optional[Sequence[str]] = None, approvals: int = 0,
                policy: Optional[Policy] = None) -> None:
        """Set branch protection on the forge (devsys_forge_protect()): the
        required contexts (None with @p policy: its required contexts) and the
        approvals the forge enforces (0 with @p policy: its critical approvals)."""
        names = [req(c, "context") for c in contexts] if contexts is not None else []
        arr = strarray(names) if contexts is not None else None
        check(fn.devsys_forge_protect(self._h, req(branch, "branch"), arr, len(names), approvals,
                                      policy._h if policy is not None else None))

    @property
    def merge_method(self) -> str:
        """How the gate merges: "merge", "squash", "rebase" or "fast-forward"."""
        return merge_method_name(int(fn.devsys_forge_merge_method_of(self._h)))

    def credentials(self) -> CredentialLink:
        """A link for Repo(credentials=[...]) (devsys_forge_credentials): an
        https remote of this forge's host gets the token its `forges:`
        entry's token_secret resolved to; it passes for anything else. The
        link keeps this Forge alive while the chain is in use."""
        return CredentialLink("devsys_forge_credentials", self._h, self)


@dataclass(frozen=True)
class Review:
    reviewer: str
    commit_sha: str
    state: int


@dataclass(frozen=True)
class Check:
    """A commit status (kind CHECK_KIND_STATUS) or check run (CHECK_KIND_RUN) of a PR's head."""
    context: str
    sha: str
    state: int  #: CHECK_PENDING, CHECK_SUCCESS, CHECK_FAILURE, CHECK_NEUTRAL
    kind: int


@dataclass(frozen=True)
class Reason:
    code: int
    text: str


class Decision(Handle):
    """The merge gate's decision (devsys_policy_decision) with its reasons."""

    _free_fn = "devsys_policy_decision_free"

    @property
    def outcome(self) -> int:
        return int(fn.devsys_policy_decision_outcome(self._h))

    @property
    def outcome_name(self) -> str:
        return gate_outcome_name(self.outcome)

    @property
    def risk(self) -> int:
        return int(fn.devsys_policy_decision_risk(self._h))

    def approvals(self) -> Tuple[int, int]:
        """(counted, required)."""
        counted, required = c_uint(), c_uint()
        check(fn.devsys_policy_decision_approvals(byref(counted), byref(required), self._h))
        return counted.value, required.value

    def reasons(self) -> List[Reason]:
        out = []
        for i in range(int(fn.devsys_policy_decision_reason_count(self._h))):
            code = c_int()
            text = fn.devsys_policy_decision_reason(self._h, i, byref(code))
            out.append(Reason(code.value, dec(text)))
        return out

    def explain(self, json: bool = False) -> str:
        return dec(with_buf(lambda b: fn.devsys_gate_explain(b, self._h, int(json))))


class PullRequest(Handle):
    """A pull request of a Forge (devsys_pr; it holds a reference on the forge)."""

    _free_fn = "devsys_pr_free"

    def __init__(self, ptr: int, forge: Forge) -> None:
        super().__init__(ptr, forge)
        self.forge = forge

    @classmethod
    def _open(cls, forge: Forge, title: str, head: str, base: str, body: Optional[str], head_sha: Optional[str],
              base_sha: Optional[str], draft: bool, number: int) -> "PullRequest":
        o = S.PrOptions()
        check(fn.devsys_pr_options_init(byref(o), 1))
        o.title, o.head, o.base = req(title, "title"), req(head, "head"), req(base, "base")
        o.body = enc(body, "body", optional=True)
        o.head_sha, o.base_sha = enc(head_sha, "head_sha", optional=True), enc(base_sha, "base_sha", optional=True)
        o.draft, o.number = int(draft), number
        return cls(new_handle(lambda out: fn.devsys_pr_open(out, forge._h, byref(o))), forge)

    number = property(lambda self: int(fn.devsys_pr_number(self._h)))
    url = property(lambda self: dec(fn.devsys_pr_url(self._h)))
    head_sha = property(lambda self: dec(fn.devsys_pr_head_sha(self._h)))
    head = property(lambda self: dec(fn.devsys_pr_head(self._h)))
    base = property(lambda self: dec(fn.devsys_pr_base(self._h)))
    title = property(lambda self: dec(fn.devsys_pr_title(self._h)))
    state = property(lambda self: int(fn.devsys_pr_state_of(self._h)))
    draft = property(lambda self: bool(fn.devsys_pr_draft(self._h)))
    reused = property(lambda self: bool(fn.devsys_pr_reused(self._h)))

    def refresh(self) -> None:
        check(fn.devsys_pr_refresh(self._h))

    def add_review(self, reviewer: str, state: int, sha: Optional[str] = None) -> None:
        """Record a review (providers without identities of their own: local)."""
        check(fn.devsys_pr_add_review(self._h, req(reviewer, "reviewer"), enc(sha, "sha", optional=True), state))

    def reviews(self) -> List[Review]:
        """Read every review from the forge (oldest first)."""
        check(fn.devsys_pr_load_reviews(self._h))
        out = []
        for i in range(int(fn.devsys_pr_review_count(self._h))):
            r = fn.devsys_pr_review(self._h, i).contents
            out.append(Review(dec(r.reviewer), dec(r.commit_sha), int(r.state)))
        return out

    def checks(self) -> List["Check"]:
        """Read the head commit's statuses and check runs from the forge (devsys_pr_load_checks())."""
        check(fn.devsys_pr_load_checks(self._h))
        out = []
        for i in range(int(fn.devsys_pr_check_count(self._h))):
            c = fn.devsys_pr_check(self._h, i).contents
            out.append(Check(dec(c.context), dec(c.sha), int(c.state), int(c.kind)))
        return out

    author = property(lambda self: dec_opt(fn.devsys_pr_author(self._h)))
    merge_sha = property(lambda self: dec_opt(fn.devsys_pr_merge_sha(self._h)))

    def gate_check(self, policy: Union[Policy, Config], *, repo: Optional[Repo] = None,
                   require_approval: bool = False, bot: Optional[str] = None, authors: Sequence[str] = (),
                   poll_timeout_ms: int = 0) -> Decision:
        """Decide whether the PR may merge now (merges nothing). @p policy: a
        Policy, or a Config whose `policy:` section is used."""
        o, keep = _gate_options(policy, repo, require_approval, bot, authors, poll_timeout_ms)
        return Decision(new_handle(lambda out: fn.devsys_gate_check(out, self._h, byref(o))))

    def gate_merge(self, policy: Union[Policy, Config], *, repo: Optional[Repo] = None,
                   require_approval: bool = False, bot: Optional[str] = None, authors: Sequence[str] = (),
                   poll_timeout_ms: int = 0) -> Decision:
        """Decide as gate_check() and merge only a merge decision, at the head
        commit it was made on (merge_sha then names the merge). Any other
        decision raises StateError (ConflictError when the head moved), with the
        decision in the exception's .decision; nothing is merged then."""
        o, keep = _gate_options(policy, repo, require_approval, bot, authors, poll_timeout_ms)
        out = c_void_p()
        rc = int(fn.devsys_gate_merge(byref(out), self._h, byref(o)))
        d = Decision(out.value) if out.value else None
        if rc < 0:
            e = _base.last_error(rc)
            e.decision = d  # type: ignore[attr-defined]
            raise e
        assert d is not None
        return d


def _gate_options(policy: Union[Policy, Config], repo: Optional[Repo], require_approval: bool, bot: Optional[str],
                  authors: Sequence[str], poll_timeout_ms: int) -> Tuple[S.GateOptions, List[Any]]:
    """The gate's options and what they point to (kept by the caller for the call)."""
    o = S.GateOptions()
    check(fn.devsys_gate_options_init(byref(o), 1))
    if isinstance(policy, Config):
        p = c_void_p()
        check(fn.devsys_config_policy(byref(p), policy._h))  # borrowed from the config, alive here
        o.policy = p.value
    else:
        o.policy = policy._h
    o.repo = repo._h if repo is not None else None
    b = enc(bot, "bot", optional=True)
    o.require_approval, o.bot = int(require_approval), b
    names = [req(a, "author") for a in authors]
    arr = (c_char_p * max(len(names), 1))(*names)
    o.authors, o.nauthors = (ctypes.cast(arr, S.c_char_pp) if names else None), len(names)
    o.poll_timeout_ms = poll_timeout_ms
    return o, [policy, repo, b, names, arr]


def pr_body(task_id: str, *, summary: Optional[str] = None, spec_path: Optional[str] = None,
            spec_id: Optional[str] = None, validation: Optional[str] = None, acceptance: Sequence[str] = (),
            report: Optional[str] = None, runner: Optional[str] = None, gate: Optional[str] = None,
            verification: Optional[str] = None, agent: Optional[str] = None,
            masker: Optional["Masker"] = None) -> str:
    """A PR body (Markdown) with the task's metadata (devsys_pr_body_build):
    cut at the forge's limit with a note, and passed through @p masker.
    @p verification: the verify stage's verdict as text; @p agent: the coding
    agent's digest (cut at 8000 characters)."""
    o = S.PrBody()
    o.version = 4
    keep: List[Any] = []
    for field, value in (("task_id", task_id), ("summary", summary), ("spec_path", spec_path), ("spec_id", spec_id),
                         ("validation", validation), ("report", report), ("runner", runner), ("gate", gate),
                         ("verification", verification), ("agent", agent)):
        b = enc(value, field, optional=field != "task_id")
        keep.append(b)
        setattr(o, field, b)
    items = [req(a, "acceptance item") for a in acceptance]
    arr = strarray(items)
    keep += [items, arr]
    o.acceptance, o.nacceptance = (ctypes.cast(arr, S.c_char_pp) if items else None), len(items)
    return dec(with_buf(lambda buf: fn.devsys_pr_body_build(buf, byref(o), masker._h if masker is not None else None)))


# ---------------------------------------------------------------- pipeline

FAILURE_NONE, FAILURE_BUILD, FAILURE_SYSTEM, FAILURE_STALLED, FAILURE_TIMEOUT, FAILURE_CANCELED, FAILURE_BUDGET = range(7)
EVENT_STAGE_BEGIN, EVENT_STAGE_END, EVENT_OUTPUT, EVENT_PROGRESS = 1, 2, 3, 4


def failure_class_name(failure_class: int) -> Optional[str]:
    """"build", "system", "stalled", "timeout", "canceled", "budget"; None for FAILURE_NONE."""
    return dec_opt(fn.devsys_failure_class_name(failure_class))


def stage_names() -> List[str]:
    """The built-in stages, in the order a task runs them ("validate" first)."""
    return [dec(fn.devsys_pipeline_stage_name(i)) for i in range(int(fn.devsys_pipeline_stage_count()))]


@dataclass(frozen=True)
class StageResult:
    stage: str
    result: str
    failure_class: int
    error: int
    outcome: str

    @staticmethod
    def _from(r: Any) -> "StageResult":
        return StageResult(dec(r.stage), dec(r.result), int(r.failure_class), int(r.error), dec(r.outcome))


@dataclass(frozen=True)
class PipelineEvent:
    """What the progress callback is told: kind (EVENT_*), the task and stage;
    STAGE_END: result; OUTPUT: data, a command's masked output bytes;
    PROGRESS: label ("objects", "tests"), current of total (0: unknown)."""
    kind: int
    task_id: str
    stage: str
    result: Optional[StageResult]
    data: Optional[bytes]
    current: int
    total: int

    @property
    def label(self) -> Optional[str]:
        return dec(self.data) if self.kind == EVENT_PROGRESS and self.data is not None else None

    @staticmethod
    def _from(e: Any) -> "PipelineEvent":
        if not e.data:
            payload = None
        elif e.kind == EVENT_OUTPUT:
            payload = ctypes.string_at(e.data, e.len)
        else:
            payload = ctypes.string_at(e.data)
        return PipelineEvent(int(e.kind), dec(e.task_id), dec(e.stage),
                             StageResult._from(e.result.contents) if e.result else None, payload,
                             int(e.current), int(e.total))


#: progress(event): return False, or raise, to cancel the running stage (a raised exception is re-raised)
PipelineProgress = Callable[[PipelineEvent], Optional[bool]]


class StageFailed(Exception):
    """Raised by a stage of one's own to fail the way a built-in stage does:
    the stage ends "failed" with @p outcome and @p failure_class, and run()
    raises the library's error with @p message. Any other exception fails the
    stage ("system") and is re-raised from run()."""

    def __init__(self, message: str, *, outcome: Optional[str] = None, failure_class: int = 1) -> None:
        super().__init__(message)
        self.message, self.outcome, self.failure_class = message, outcome, failure_class


class StageRun:
    """What a stage of one's own works with, during its call only (devsys_stage_run)."""

    def __init__(self, ptr: int) -> None:
        self._ptr = ptr

    @property
    def name(self) -> str:
        return dec(fn.devsys_stage_run_name(self._ptr))

    @property
    def task_id(self) -> str:
        return dec(fn.devsys_stage_run_task_id(self._ptr))

    @property
    def spec(self) -> Any:
        """The task's spec document as Python data (a copy), as validated or reloaded."""
        return _agent._spec_data(int(fn.devsys_stage_run_spec(self._ptr) or 0))

    @property
    def task_path(self) -> str:
        """The task's folder (its record: task.json, logs/, reports/)."""
        return dec(fn.devsys_task_path(fn.devsys_stage_run_task(self._ptr)))

    @property
    def checkout_path(self) -> str:
        """The task's checkout (opened on first use); raises before the checkout stage."""
        r = c_void_p()
        check(fn.devsys_stage_run_repo(byref(r), self._ptr))  # borrowed during the call
        return dec(fn.devsys_repo_checkout_path(r.value))

    def log(self, text: Union[str, bytes]) -> None:
        """Append to the task's logs/<stage>.log."""
        b = data(text, "text")
        check(fn.devsys_stage_run_log(self._ptr, b, len(b)))

    def set_outcome(self, outcome: str) -> None:
        """One word for what the stage did ("linted"; unset: "done")."""
        check(fn.devsys_stage_run_set_outcome(self._ptr, req(outcome, "outcome")))

    def open_runner(self, step: Optional[str] = None) -> Runner:
        """The runner step @p step names (the spec's `<step>.runner`, else its
        `runner`, else inproc; default: this stage's name), opened with the
        pipeline's runner options and devsys.yaml's profiles. A new Runner:
        close it (a `with` block) before the stage returns."""
        name = req(step if step is not None else self.name, "step")
        return Runner._adopt(new_handle(lambda out: fn.devsys_stage_run_open_runner(out, self._ptr, name)))

    def exec(self, runner: Runner, argv: Sequence[Union[str, bytes]], *, env: Optional[Dict[str, str]] = None,
             cwd: Optional[StrPath] = None, timeout_ms: int = 0, stdin: Optional[Union[str, bytes]] = None,
             output: Optional[Callable[[int, bytes], Optional[bool]]] = None, stage: Optional[str] = None,
             idle_timeout_ms: int = 0, max_output_bytes: int = 0) -> Result:
        """Run @p argv on @p runner as a built-in stage runs its command:
        Pipeline.cancel() stops it, its output goes to the progress callback
        and to the task's logs/<stage>.log. As Runner.exec(): a non-zero exit
        is a Result, a timeout or cancel raises (with .result)."""
        h = runner._h
        return run_cmd(lambda c, r: fn.devsys_stage_run_exec(self._ptr, h, c, r), argv, env=env, cwd=cwd,
                       timeout_ms=timeout_ms, stdin=stdin, output=output, stage=stage,
                       idle_timeout_ms=idle_timeout_ms, max_output_bytes=max_output_bytes)


#: a stage of one's own: run(StageRun); return to succeed, raise StageFailed (or anything) to fail
StageFn = Callable[[StageRun], None]


def _sub_options(cls: Any, init: Callable[..., int], version: int, values: Mapping[str, Any], what: str,
                 keep: List[Any], trap: Trap) -> Any:
    """A pointer to new options struct @p cls, initialised at @p version and filled from
    @p values (fill_options(); @p what names it in errors); kept in @p keep with what it holds."""
    so = cls()
    check(init(byref(so), version))
    fill_options(so, values, what, keep, trap)
    keep.append(so)
    return ctypes.pointer(so)


class Pipeline(Handle):
    """A task's stages on a workspace (devsys_pipeline): validate(), then
    run() (every stage that remains), run_stage(name) (one) or code()
    (checkout to push); load() picks an existing task to resume. One thread at
    a time, except cancel(), which any thread may call while run() runs."""

    _free_fn = "devsys_pipeline_free"

    def __init__(self, workspace: Workspace, *, config_path: Optional[StrPath] = None,
                 progress: Optional[PipelineProgress] = None, agent_idle_timeout_ms: int = 0,
                 max_output_bytes: int = 0, agent_env_scrub: Sequence[str] = (), runner_grace_ms: int = 0,
                 store: Optional[Mapping[str, Any]] = None, repo: Optional[Mapping[str, Any]] = None,
                 forge: Optional[Mapping[str, Any]] = None, runner: Optional[Mapping[str, Any]] = None) -> None:
        """@p config_path: the operator's devsys.yaml (runner profiles, forges,
        the gate's policy); None: none. @p agent_idle_timeout_ms and
        @p max_output_bytes: the budgets (0: the library's 10 min and 64 MiB).
        @p agent_env_scrub: more environment names the agent never gets.
        @p runner_grace_ms: KILL this long after TERM on a timeout or cancel.
        @p store, @p repo, @p forge, @p runner: the pipeline's own options
        for those modules, {field: value} of devsys_store_options ("url",
        "busy_timeout_ms", "secrets": a Secrets, "password_secret"),
        devsys_repo_options ("author_name", "protected_branches": [...],
        "credentials": a chain as Repo's, "ssl_ca_file", ...; url, base_branch
        and branch_template come from the spec), devsys_forge_options
        ("provider", "owner", "repo", "secrets", "bot", "merge_method", ...;
        remote_url is the spec's repo.url) and devsys_runner_options; the
        wrapper keeps them for the pipeline's life. An unknown field is a
        TypeError naming it."""
        _require("pipeline")
        o = S.PipelineOptions()
        check(fn.devsys_pipeline_options_init(byref(o), 2))
        self._trap = Trap()
        keep: List[Any] = []
        cfg = enc(config_path, "config_path", optional=True)
        o.config_path = cfg
        keep.append(cfg)
        names = [req(n, "agent_env_scrub name") for n in agent_env_scrub]
        arr = strarray(names)
        keep += [names, arr]
        o.agent_env_scrub = ctypes.cast(arr, S.c_char_pp) if names else None
        o.agent_idle_timeout_ms, o.max_output_bytes = agent_idle_timeout_ms, max_output_bytes
        if runner_grace_ms or runner is not None:
            o.runner = _sub_options(S.RunnerOptions, fn.devsys_runner_options_init, 2, runner or {}, "runner", keep,
                                    self._trap)
            if runner_grace_ms:
                o.runner.contents.grace_ms = runner_grace_ms
        if store is not None:
            o.store = _sub_options(S.StoreOptions, fn.devsys_store_options_init, 2, store, "store", keep, self._trap)
        if repo is not None:
            o.repo = _sub_options(S.RepoOptions, fn.devsys_repo_options_init, 1, repo, "repo", keep, self._trap)
        if forge is not None:
            o.forge = _sub_options(S.ForgeOptions, fn.devsys_forge_options_init, 1, forge, "forge", keep, self._trap)
        if progress is not None:
            trap, on_event = self._trap, progress

            def on_progress(e: Any, _pl: Any) -> int:
                return trap.run(on_event, PipelineEvent._from(e.contents))
            o.progress = S.PIPELINE_PROGRESS_CB(on_progress)
        # the runner options and the callback are used until devsys_pipeline_free(): the wrapper keeps them
        self._opts, self._keep = o, keep
        super().__init__(new_handle(lambda out: fn.devsys_pipeline_new(out, workspace._h, byref(o))), workspace)
        self._workspace = workspace
        self.last_result: Optional[StageResult] = None

    def validate(self, spec: Union[str, bytes], name: Optional[str] = None) -> StageResult:
        """Validate @p spec and register its task ("validated"). A refused spec
        raises (ValidationError, ParseError) and registers nothing; an existing
        task raises ExistsError (it stays this pipeline's task: run() resumes
        it). last_result holds what the stage did either way."""
        b = data(spec, "spec")
        return self._stage(lambda r: fn.devsys_pipeline_validate(r, self._h, b, len(b),
                                                                 enc(name, "name", optional=True)))

    def validation_errors(self) -> List[ValidationIssue]:
        """Why the schema refused the last validate() (ValidationError), as copies; [] otherwise."""
        return validation_issues(fn.devsys_pipeline_validation(self._h))

    def load(self, task_id: str) -> None:
        """Make the store's task @p task_id this pipeline's task (its kept
        spec is reloaded); the next run() resumes it. NotFoundError when there
        is no such task."""
        check(fn.devsys_pipeline_load(self._h, req(task_id, "task id")))

    def code(self) -> StageResult:
        """Checkout, agent, commit and push for the last validated task. Returns
        the last stage that ran ("pushed", or "no-changes"); a failed stage
        raises, with last_result saying which and why."""
        return self._stage(lambda r: fn.devsys_pipeline_code(r, self._h))

    def run(self) -> StageResult:
        """Run every stage that remains, from where the task stands, to a
        resting state (awaiting-review, merged, done, no-changes): returns the
        last stage's result. A failed stage raises (CanceledError when
        canceled), with last_result saying which and why; StateError when
        there is nothing to run."""
        return self._stage(lambda r: fn.devsys_pipeline_run(r, self._h))

    def run_stage(self, stage: str) -> StageResult:
        """Run one built-in stage (not validate) on its own; StateError names
        the stage that must run first, InvalidArgumentError an unknown name."""
        name = req(stage, "stage")
        return self._stage(lambda r: fn.devsys_pipeline_run_stage(r, self._h, name))

    def add_stage(self, after: str, name: str, stage: StageFn) -> None:
        """Run @p stage as stage @p name right after stage @p after (a built-in
        or an added one; not after "gate"). The pipeline records it as a
        built-in stage (devsys/sys/stage.h); the wrapper keeps @p stage."""
        self._register(fn.devsys_pipeline_add_stage, after, name, stage)

    def replace_stage(self, name: str, stage: StageFn) -> None:
        """Run @p stage in place of stage @p name (a built-in other than validate)."""
        self._register(fn.devsys_pipeline_replace_stage, name, name, stage)

    def _register(self, register: Any, where: str, name: str, stage: StageFn) -> None:
        trap = self._trap

        def run(r: Any, _self: Any) -> int:
            sr = StageRun(int(r))
            try:
                stage(sr)
            except StageFailed as e:
                return int(fn.devsys_stage_run_fail(r, e.failure_class, enc(e.outcome, "outcome", optional=True),
                                                    b"%s", req(e.message, "message")))
            except BaseException as e:  # noqa: B902 - re-raised from run() by the trap
                trap.exc = trap.exc or e
                return int(fn.devsys_stage_run_fail(r, FAILURE_SYSTEM, b"raised",
                                                    b"%s", req(f"{type(e).__name__}: {e}", "message")))
            return 0
        vt = S.StageVtable()
        vt.version, vt.name = 1, req(name, "stage name")
        vt.run = S.STAGE_RUN_FN(run)
        check(register(self._h, req(where, "stage"), byref(vt), None))
        self._keep.append(vt)  # the callback lives as long as the pipeline

    def cancel(self) -> None:
        """Stop the running stage (its command gets TERM, then KILL after the
        grace); the stage and then the task end "canceled". Safe from any
        thread; with nothing running, the next stage is canceled."""
        check(fn.devsys_pipeline_cancel(self._h))

    def cancel_task(self, task_id: str) -> bool:
        """Cancel the store's task @p task_id, whichever process runs it:
        True when its owner was signaled (it ends the stage), False when it
        was canceled here at once."""
        signaled = c_int()
        check(fn.devsys_pipeline_cancel_task(byref(signaled), self._h, req(task_id, "task id")))
        return bool(signaled.value)

    def _stage(self, call: Any) -> StageResult:
        r = S.StageResult()
        r.version = 1
        rc = call(byref(r))
        self.last_result = StageResult._from(r)
        raised = _agent.take_pending()  # an agent kind of one's own that raised during this call
        if raised is not None and int(rc) < 0 and self._trap.exc is None:
            self._trap.exc = raised
        self._trap.check(rc)
        return self.last_result

    @property
    def task_id(self) -> Optional[str]:
        return dec_opt(fn.devsys_pipeline_task_id(self._h))

    @property
    def spec(self) -> Any:
        """The spec of the last validate() that could load it, as Python data (a copy); None before."""
        return _agent._spec_data(int(fn.devsys_pipeline_spec(self._h) or 0))

    def state(self, task_id: Optional[str] = None) -> str:
        """The task's state in the pipeline's own store (default: this pipeline's task)."""
        tid = task_id if task_id is not None else self.task_id
        st = fn.devsys_pipeline_store(self._h)
        return dec(fn.devsys_task_state_name(check(fn.devsys_store_task_state(st, req(tid, "task id")))))


# ---------------------------------------------------------------- speckit

SPECKIT_INFO, SPECKIT_WARNING, SPECKIT_ERROR = range(3)


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: int
    file: str
    line: int
    message: str


#: SpecKitFeature.run(run_wave=): runs a wave's task ids, returns once every one ended
WaveRunner = Callable[[List[str]], None]


def _findings(f: Any) -> List[Finding]:
    out = []
    for i in range(int(fn.devsys_speckit_findings_count(f))):
        sev, file, line, msg = c_int(), c_char_p(), c_uint(), c_char_p()
        rule = fn.devsys_speckit_finding_at(f, i, byref(sev), byref(file), byref(line), byref(msg))
        out.append(Finding(dec(rule), sev.value, dec(file.value), line.value, dec(msg.value)))
    return out


@dataclass(frozen=True)
class SpecKitStory:
    number: int
    title: str
    priority: int   #: Pn gives n
    scenarios: int  #: Given/When/Then count


@dataclass(frozen=True)
class SpecKitTask:
    id: str           #: "T001"
    description: str  #: continuation lines joined by a space
    state: str        #: the checkbox: " ", "x" or "X"
    line: int         #: 1-based, in tasks.md
    phase: int        #: index of its "## Phase N" heading
    parallel: bool    #: carries [P]
    story: int        #: n of its [USn] tag, 0: none
    deps: List[str]
    paths: List[str]

    @property
    def done(self) -> bool:
        return self.state in ("x", "X")


def _task(t: Any) -> SpecKitTask:
    return SpecKitTask(dec(fn.devsys_speckit_task_id(t)), dec(fn.devsys_speckit_task_description(t)),
                       bytes(fn.devsys_speckit_task_state(t)).decode("ascii", "replace"),
                       int(fn.devsys_speckit_task_line(t)), int(fn.devsys_speckit_task_phase(t)),
                       bool(fn.devsys_speckit_task_parallel(t)), int(fn.devsys_speckit_task_story(t)),
                       [dec(fn.devsys_speckit_task_dep_at(t, i)) for i in range(int(fn.devsys_speckit_task_dep_count(t)))],
                       [dec(fn.devsys_speckit_task_path_at(t, i))
                        for i in range(int(fn.devsys_speckit_task_path_count(t)))])


class SpecKitFeature(Handle):
    """A Spec Kit feature folder (spec.md, plan.md, tasks.md), loaded and immutable."""

    _free_fn = "devsys_speckit_feature_free"

    def __init__(self, dir: StrPath, root: Optional[StrPath] = None) -> None:
        _require("speckit")
        super().__init__(new_handle(lambda out: fn.devsys_speckit_feature_load(out, req(dir, "dir"),
                                                                             enc(root, "root", optional=True))))

    dir = property(lambda self: dec(fn.devsys_speckit_feature_dir(self._h)))
    title = property(lambda self: dec_opt(fn.devsys_speckit_feature_title(self._h)))
    task_count = property(lambda self: int(fn.devsys_speckit_task_count(self._h)))

    def stories(self) -> List["SpecKitStory"]:
        """spec.md's "### User Story N - Title (Priority: Pn)" headings, in order."""
        out = []
        for i in range(int(fn.devsys_speckit_story_count(self._h))):
            n, prio, sc = c_uint(), c_uint(), c_uint()
            title = fn.devsys_speckit_story_at(self._h, i, byref(n), byref(prio), byref(sc))
            out.append(SpecKitStory(n.value, dec(title), prio.value, sc.value))
        return out

    def tasks(self) -> List["SpecKitTask"]:
        """tasks.md's task lines in document order (copies)."""
        return [_task(fn.devsys_speckit_task_at(self._h, i)) for i in range(self.task_count)]

    def task(self, id: str) -> Optional["SpecKitTask"]:
        """The first task with id @p id, or None."""
        t = fn.devsys_speckit_task_find(self._h, req(id, "task id"))
        return _task(t) if t else None

    def requirements(self) -> List[str]:
        """The FR-### and SC-### ids spec.md defines, in order (duplicates included)."""
        return [dec(fn.devsys_speckit_requirement_at(self._h, i))
                for i in range(int(fn.devsys_speckit_requirement_count(self._h)))]

    def phases(self) -> List[Tuple[str, int]]:
        """tasks.md's "## Phase N: ..." headings: (title, Checkpoint lines)."""
        out = []
        for i in range(int(fn.devsys_speckit_phase_count(self._h))):
            cp = c_uint()
            title = fn.devsys_speckit_phase_at(self._h, i, byref(cp))
            out.append((dec(title), cp.value))
        return out

    def plan_field(self, name: str) -> Optional[str]:
        """plan.md's Technical Context field @p name ("Language/Version"), or None."""
        return dec_opt(fn.devsys_speckit_plan_field(self._h, req(name, "name")))

    @property
    def clarifications(self) -> Tuple[int, int]:
        """([NEEDS CLARIFICATION markers in spec.md, "### Session" entries under its Clarifications)."""
        return (int(fn.devsys_speckit_clarification_markers(self._h)),
                int(fn.devsys_speckit_clarification_sessions(self._h)))

    def checklist_items(self) -> Tuple[int, int]:
        """CHK### items in checklists/*.md: (total, unchecked)."""
        unchecked = c_size_t()
        total = int(fn.devsys_speckit_checklist_items(self._h, byref(unchecked)))
        return total, unchecked.value

    def severity_counts(self) -> Dict[int, int]:
        """How many findings the rules give of each severity: {SPECKIT_INFO: n, ...}."""
        f = new_handle(lambda out: fn.devsys_speckit_findings_new(out))
        try:
            check(fn.devsys_speckit_check(f, self._h))
            return {sev: int(fn.devsys_speckit_findings_count_severity(f, sev))
                    for sev in (SPECKIT_INFO, SPECKIT_WARNING, SPECKIT_ERROR)}
        finally:
            fn.devsys_speckit_findings_free(f)

    def check(self) -> List[Finding]:
        """Run the rules: every finding, info ones included (sorted by file, line, rule)."""
        f = new_handle(lambda out: fn.devsys_speckit_findings_new(out))
        try:
            check(fn.devsys_speckit_check(f, self._h))
            return _findings(f)
        finally:
            fn.devsys_speckit_findings_free(f)

    def plan(self) -> List[List[str]]:
        """The task graph as waves of task ids (ValidationError for a cycle, a missing dependency...)."""
        p = new_handle(lambda out: fn.devsys_speckit_plan_new(out, self._h))
        try:
            return [[dec(fn.devsys_speckit_plan_task(p, w, i)) for i in range(int(fn.devsys_speckit_plan_wave_size(p, w)))]
                    for w in range(int(fn.devsys_speckit_plan_wave_count(p)))]
        finally:
            fn.devsys_speckit_plan_free(p)

    def check_report(self, format: str = "text") -> str:
        """The rules' findings as the CLI prints them: "text" (file:line:
        severity: SKnnn: message lines), "json" (docs/speckit.md) or "sarif"
        (one SARIF 2.1.0 log, every rule described)."""
        writers = {"text": "devsys_speckit_findings_to_text", "json": "devsys_speckit_findings_to_json",
                   "sarif": "devsys_speckit_findings_to_sarif"}
        if format not in writers:
            raise ValueError(f"format: {format!r} is not 'text', 'json' or 'sarif'")
        to: Any = getattr(fn, writers[format])
        f = new_handle(lambda out: fn.devsys_speckit_findings_new(out))
        try:
            check(fn.devsys_speckit_check(f, self._h))
            return dec(with_buf(lambda b: to(b, f)))
        finally:
            fn.devsys_speckit_findings_free(f)

    def plan_yaml(self, repo_url: str, feature_dir: str, *, per_wave: bool = False) -> str:
        """The plan as devsys task specs (YAML documents): one per task, or
        one per wave; @p feature_dir is the folder relative to the repository root."""
        url, fd = req(repo_url, "repo_url"), req(feature_dir, "feature_dir")
        p = new_handle(lambda out: fn.devsys_speckit_plan_new(out, self._h))
        try:
            return dec(with_buf(lambda b: fn.devsys_speckit_plan_to_yaml(b, p, url, fd, int(per_wave))))
        finally:
            fn.devsys_speckit_plan_free(p)

    def status_json(self, links: Optional["SpecKitLinks"] = None) -> str:
        """The machine-readable status of the tasks (docs/speckit.md), with
        the devsys tasks @p links found (None: no task linked)."""
        lk = links._h if links is not None else None
        return dec(with_buf(lambda b: fn.devsys_speckit_status_to_json(b, self._h, lk)))

    def run(self, pipeline: Pipeline, repo_url: str, feature_dir: str, *, spec_extra: Optional[str] = None,
            tasks_md: Optional[StrPath] = None, run_wave: Optional[WaveRunner] = None) -> int:
        """Run the feature's plan wave by wave through @p pipeline (each task in
        its own worktree), ticking each green task in @p tasks_md when given:
        returns the waves that completed. Without @p run_wave the tasks run one
        at a time; with it, run_wave(task_ids) runs a wave's registered tasks
        (each through a pipeline of its own: Pipeline.load(), then run(), as
        many at once as it likes) and returns once every one ended; the library
        then decides green by the task records. A failure raises, its message
        naming the wave and the task, with .waves_done set (an exception
        run_wave raised is raised again); calling again resumes."""
        ws = pipeline._workspace
        done = c_size_t()
        trap = Trap()
        strs = (req(repo_url, "repo_url"), req(feature_dir, "feature_dir"),
                enc(spec_extra, "spec_extra", optional=True), enc(tasks_md, "tasks_md", optional=True))
        hs = (pipeline._h, ws._h)  # bad arguments raise before the plan exists
        p = new_handle(lambda out: fn.devsys_speckit_plan_new(out, self._h))
        args = (byref(done), hs[0], hs[1], p) + strs
        try:
            if run_wave is None:
                rc = int(fn.devsys_speckit_run(*args))
            else:
                wave_fn = run_wave

                def on_wave(ids: Any, n: int, _pl: Any) -> int:
                    return trap.run(wave_fn, [dec(ids[i]) for i in range(n)])
                cb = S.SPECKIT_WAVE_FN(on_wave)
                rc = int(fn.devsys_speckit_run_waves(*args, cb, None))
        finally:
            fn.devsys_speckit_plan_free(p)
        if trap.exc is not None:
            trap.check(rc)
        if rc < 0:
            e = _base.last_error(rc)
            e.waves_done = done.value  # type: ignore[attr-defined]
            raise e
        return done.value

    def check_phantoms(self, repo: Repo, ids: Optional[Sequence[str]] = None) -> List[Finding]:
        """The phantom-completion check (SK015) of the tasks marked done (only
        @p ids when given) against @p repo's commits from base to head."""
        f = new_handle(lambda out: fn.devsys_speckit_findings_new(out))
        try:
            if ids is None:
                check(fn.devsys_speckit_check_phantoms(f, self._h, repo._h))
            else:
                names, arr = _ids(ids)
                check(fn.devsys_speckit_check_phantoms_ids(f, self._h, repo._h, arr, len(names)))
            return _findings(f)
        finally:
            fn.devsys_speckit_findings_free(f)


@dataclass(frozen=True)
class SpecKitLink:
    speckit_id: str
    task_id: str
    state: str
    green: bool


class SpecKitLinks(Handle):
    """The devsys tasks of @p store whose kept spec links them to @p feature_dir
    (speckit.feature_dir), each with its state and whether it is green."""

    _free_fn = "devsys_speckit_links_free"

    def __init__(self, store: "Store", workspace: Workspace, feature_dir: str) -> None:
        _require("speckit")
        super().__init__(new_handle(lambda out: fn.devsys_speckit_links_new(out, store._h, workspace._h,
                                                                          req(feature_dir, "feature_dir"))),
                         store, workspace)

    def __len__(self) -> int:
        return int(fn.devsys_speckit_links_count(self._h))

    def __getitem__(self, i: int) -> SpecKitLink:
        if not 0 <= i < len(self):
            raise IndexError(i)
        tid, state, green = c_char_p(), c_int(), c_int()
        sid = fn.devsys_speckit_link_at(self._h, i, byref(tid), byref(state), byref(green))
        return SpecKitLink(dec(sid), dec(tid.value), dec(fn.devsys_task_state_name(state.value)), bool(green.value))

    def __iter__(self) -> Iterator[SpecKitLink]:
        return (self[i] for i in range(len(self)))

    def green_ids(self) -> List[str]:
        """The spec-kit ids with at least one green linked task, each once."""
        n = c_size_t()
        arr = fn.devsys_speckit_links_green_ids(self._h, byref(n))
        return [dec(arr[i]) for i in range(n.value)] if arr else []


def _ids(ids: Sequence[str]) -> Tuple[List[bytes], Any]:
    if isinstance(ids, (str, bytes)):
        raise TypeError("ids: expected a sequence of task ids, got one string")
    names = [req(i, "id") for i in ids]
    return names, strarray(names)


def speckit_task_green(store: "Store", task: Task) -> bool:
    """Is @p task green (a resting or tested state and no failed test in its latest run)?"""
    g = c_int()
    check(fn.devsys_speckit_task_green(byref(g), store._h, task._h))
    return bool(g.value)


def speckit_mark_done(text: Union[str, bytes], ids: Sequence[str]) -> Tuple[bytes, int]:
    """tasks.md text with the lines of @p ids ticked ("[ ]" -> "[X]"), every
    other byte as it was, and how many lines changed."""
    b = data(text, "text")
    names, arr = _ids(ids)
    marked = c_size_t()
    out = with_buf(lambda buf: fn.devsys_speckit_mark_done(buf, byref(marked), b, len(b), arr, len(names)))
    return out, marked.value


def speckit_mark_done_file(path: StrPath, ids: Sequence[str]) -> int:
    """speckit_mark_done() on the file @p path in place (atomically): lines changed."""
    names, arr = _ids(ids)
    marked = c_size_t()
    check(fn.devsys_speckit_mark_done_file(byref(marked), req(path, "path"), arr, len(names)))
    return marked.value


def speckit_sync(repo: Repo, feature_dir: str, ids: Sequence[str]) -> int:
    """Tick @p ids in @p repo's feature_dir/tasks.md, then commit and push it
    (the feature branch only: ProtectedBranchError on the base or a protected
    one): lines changed (0: nothing committed)."""
    names, arr = _ids(ids)
    marked = c_size_t()
    check(fn.devsys_speckit_sync(byref(marked), repo._h, req(feature_dir, "feature_dir"), arr, len(names)))
    return marked.value


__all__ = ['PR_OPEN', 'PR_CLOSED', 'PR_MERGED', 'REVIEW_APPROVED', 'REVIEW_CHANGES_REQUESTED', 'REVIEW_COMMENTED',
           'REVIEW_DISMISSED', 'REVIEW_PENDING', 'CHECK_PENDING', 'CHECK_SUCCESS', 'CHECK_FAILURE', 'CHECK_NEUTRAL',
           'GATE_MERGE', 'GATE_AWAITING_REVIEW', 'GATE_BLOCKED', 'CHECK_KIND_STATUS', 'CHECK_KIND_RUN', 'Check',
           'SpecKitStory', 'SpecKitTask', 'MERGE_COMMIT', 'MERGE_SQUASH', 'MERGE_REBASE', 'MERGE_FAST_FORWARD',
           'merge_method_name', 'merge_method_from_name', 'forge_remote_host', 'pr_state_name', 'gate_outcome_name',
           'gate_reason_name', 'pr_body', 'Forge', 'Review', 'Reason', 'Decision', 'PullRequest', 'FAILURE_NONE',
           'FAILURE_BUILD', 'FAILURE_SYSTEM', 'FAILURE_STALLED', 'FAILURE_TIMEOUT', 'FAILURE_CANCELED',
           'FAILURE_BUDGET', 'EVENT_STAGE_BEGIN', 'EVENT_STAGE_END', 'EVENT_OUTPUT', 'EVENT_PROGRESS', 'failure_class_name',
           'stage_names', 'StageResult', 'PipelineEvent', 'PipelineProgress', 'StageFailed', 'StageRun',
           'StageFn', 'Pipeline', 'Finding',
           'SpecKitFeature', 'SPECKIT_INFO', 'SPECKIT_WARNING', 'SPECKIT_ERROR', 'SpecKitLink', 'SpecKitLinks',
           'WaveRunner', 'speckit_task_green', 'speckit_mark_done', 'speckit_mark_done_file', 'speckit_sync']
