"""Forge/PullRequest/Decision with the offline local provider, Pipeline's
stages, SpecKitFeature on the fixtures, and the sizes of option mirrors
against what their C *_options_init() writes."""
from __future__ import annotations

import ctypes
import json
from pathlib import Path
from typing import Any, Iterator, Tuple

import pytest

import devsys
from devsys import _lib
from devsys import _structs as S

from conftest import GOOD_SPEC, SOURCE_ROOT, git

SPECKIT = SOURCE_ROOT / "tests" / "fixtures" / "speckit"
POLICY = "policy:\n  auto_merge: true\n  required_contexts: [devsys/tests]\n  critical_approvals: 2\n"


@pytest.mark.parametrize("name", sorted(S.OPTIONS_INIT))
def test_options_mirror_size_matches_what_init_writes(name: str) -> None:
    """*_options_init() writes exactly sizeof(the C struct) of defaults: on a
    buffer filled with 0xAA, nothing past the mirror may change, and the
    mirror's last bytes must (every INIT ends in a NULL/0 field)."""
    cls, init, version = S.OPTIONS_INIT[name]
    size = ctypes.sizeof(cls)
    buf = (ctypes.c_ubyte * (size + 64))(*([0xAA] * (size + 64)))
    assert getattr(_lib.fn, init)(ctypes.cast(buf, ctypes.POINTER(cls)), version) == 0
    assert bytes(buf[size:]) == b"\xaa" * 64, f"{name}: the C struct is larger than the mirror"
    assert bytes(buf[size - 8:size]) == b"\0" * 8, f"{name}: the C struct is smaller than the mirror"
    o = cls.from_buffer(buf)
    assert o.version == version
    if cls is S.GateOptions:  # an offset check: DEVSYS_RISK_UNSET lands in the mirrored fields
        assert (o.profile_risk, o.spec_risk, o.require_approval) == (devsys.RISK_UNSET, devsys.RISK_UNSET, 0)


def test_a_short_mirror_would_fail() -> None:
    """Positive control: a gate-options mirror missing its last two fields (8 bytes) lets init write past it."""
    class Short(ctypes.Structure):
        _fields_ = S.GateOptions._fields_[:-2]  # type: ignore[attr-defined]
    size = ctypes.sizeof(Short)
    buf = (ctypes.c_ubyte * (size + 64))(*([0xAA] * (size + 64)))
    assert _lib.fn.devsys_gate_options_init(ctypes.cast(buf, ctypes.POINTER(S.GateOptions)), 1) == 0
    assert bytes(buf[size:]) != b"\xaa" * 64


def test_unknown_options_version_is_refused() -> None:
    o = S.ForgeOptions()
    assert _lib.fn.devsys_forge_options_init(ctypes.byref(o), 99) == devsys.VersionError.code


# ---------------------------------------------------------------- forge

@pytest.fixture
def checkout(tmp_path: Path, bare_repo: Path) -> Iterator[Tuple[devsys.Repo, devsys.Config, Path]]:
    with devsys.Workspace(tmp_path / "ws") as w, w.task("t1", create=True) as t, \
            devsys.Repo(t, str(bare_repo), author_name="t", author_email="t@localhost") as r, \
            devsys.Config.parse(POLICY, "devsys.yaml") as cfg:
        Path(r.checkout_path, "docs").mkdir()
        Path(r.checkout_path, "docs", "guide.md").write_text("# Guide\n")
        assert r.commit("Add the guide")
        r.push()
        yield r, cfg, bare_repo


def test_forge_local_pr_reuse_review_and_gate(checkout: Tuple[devsys.Repo, devsys.Config, Path]) -> None:
    repo, cfg, bare = checkout
    with devsys.Forge(str(bare), config=cfg) as forge:
        assert forge.provider == "local", "a local path remote defaults to the local provider"
        desc = json.loads(forge.describe())
        assert desc["provider"] == "local" and desc["path"] == str(bare), desc
        assert (forge.owner, forge.repo) == ("local", "remote"), "the local provider names the bare repo's folder"
        pr = forge.open_pr("Add the guide", repo.branch, repo.base_branch, body="body",
                           head_sha=repo.head_sha, base_sha=repo.base_sha)
        assert (pr.number, pr.reused, pr.state, pr.draft) == (1, False, devsys.PR_OPEN, False)
        assert pr.head == "task/t1" and pr.base == "main" and pr.head_sha == repo.head_sha
        assert Path(pr.url).exists() and pr.url.startswith(str(bare)), pr.url
        assert devsys.pr_state_name(pr.state) == "open"

        again = forge.open_pr("Add the guide (second run)", repo.branch, repo.base_branch, number=pr.number)
        assert (again.number, again.reused, again.title) == (1, True, "Add the guide (second run)")
        assert len(list((bare / "devsys" / "prs").glob("*.json"))) == 1, "a re-run makes no duplicate"

        # no status yet: the required context is pending, so the gate blocks, and gate_merge merges nothing
        with pytest.raises(devsys.StateError) as ei:
            pr.gate_merge(cfg, repo=repo)
        blocked = ei.value.decision  # type: ignore[attr-defined]
        assert blocked is not None and blocked.outcome == devsys.GATE_BLOCKED, ei.value.message
        blocked.close()
        assert pr.merge_sha is None and pr.state == devsys.PR_OPEN
        d = pr.gate_check(cfg, repo=repo)
        assert d.outcome == devsys.GATE_BLOCKED and d.outcome_name == "blocked", d.explain()
        assert d.risk == devsys.RISK_LOW
        codes = [r.code for r in d.reasons()]
        assert codes and devsys.gate_reason_name(codes[0]) and 4 in codes, d.explain()  # R_CHECK_PENDING
        assert '"decision"' in d.explain(json=True)
        d.close()

        forge.set_status(repo.head_sha, "devsys/tests", devsys.CHECK_SUCCESS, "green")
        pr.add_review("alice", devsys.REVIEW_APPROVED)
        assert pr.reviews() == [devsys.Review("alice", repo.head_sha, devsys.REVIEW_APPROVED)]
        pr.refresh()
        with pr.gate_check(cfg, repo=repo, authors=["bob"]) as d:
            assert d.outcome == devsys.GATE_MERGE, d.explain()
            assert d.approvals()[0] >= 1 and devsys.gate_outcome_name(d.outcome) == "merge"
        with pr.gate_merge(cfg, repo=repo, authors=["bob"]) as d:
            assert d.outcome == devsys.GATE_MERGE, d.explain()
        assert pr.merge_sha and len(pr.merge_sha) == 40, pr.merge_sha
        assert git("--git-dir", str(bare), "rev-parse", "main").strip() == pr.merge_sha
        with forge.pr(1) as same:
            assert same.number == 1 and same.title == "Add the guide (second run)"
            assert same.state == devsys.PR_MERGED and same.merge_sha == pr.merge_sha
            assert same.author is None or isinstance(same.author, str)
        with pytest.raises(devsys.NotFoundError):
            forge.pr(42)
        again.close()
        pr.close()


def test_pr_body_carries_the_task_and_is_masked() -> None:
    with devsys.Masker() as m:
        m.add("token", "s3cr3t-value")
        body = devsys.pr_body("task-42", summary="Fix it (s3cr3t-value)", spec_path="specs/42.yaml",
                              spec_id="sha1:" + "a" * 40, validation="valid",
                              acceptance=["the page loads", "the form posts"], report="reports/1/junit.xml",
                              runner="inproc", gate="decision: awaiting-review", masker=m)
    assert "task-42" in body and "specs/42.yaml" in body and "sha1:" + "a" * 40 in body, body
    assert "- [ ] the page loads" in body and "- [ ] the form posts" in body, body
    assert "s3cr3t-value" not in body, "the masker ran over the body"
    assert "awaiting-review" in body and "inproc" in body
    plain = devsys.pr_body("task-43")
    assert "task-43" in plain and "the page loads" not in plain
    with pytest.raises(TypeError):
        devsys.pr_body(None)  # type: ignore[arg-type]
    huge = devsys.pr_body("task-44", summary="x" * 200000)
    assert len(huge) < 70000, "the body is cut at the forge's limit"
    rich = devsys.pr_body("task-45", verification="verified: 3 of 3 checks",
                          agent="agent-done: 4 steps, 1200 tokens; wrote src/login.py", masker=None)
    assert "verified: 3 of 3 checks" in rich and "wrote src/login.py" in rich, rich
    assert "wrote src/login.py" not in plain, "control: no digest without the field"
    long_digest = devsys.pr_body("task-46", agent="one step of the agent\n" * 2000)
    assert 4000 < len(long_digest) < 8000 + 1000 and "cut at" in long_digest, "the digest is cut at 8000 characters"


def test_forge_bad_input_names_it() -> None:
    with pytest.raises(devsys.Error) as ei:
        devsys.Forge("https://user:pw@example.com/o/r.git")
    assert "pw" not in str(ei.value)
    with pytest.raises(devsys.NotFoundError):
        devsys.Forge("/nonexistent/x.git", provider="no-such-provider")


# ---------------------------------------------------------------- pipeline

def test_pipeline_validate_registers_and_refuses(ws: devsys.Workspace) -> None:
    with devsys.Pipeline(ws) as p:
        r = p.validate(GOOD_SPEC, "spec.yaml")
        assert (r.stage, r.result, r.outcome, r.failure_class) == ("validate", "ok", "validated", devsys.FAILURE_NONE)
        assert p.validation_errors() == [], "a valid spec has no errors"
        assert p.task_id == "fix-login" and p.state("fix-login") == "validated"
        with pytest.raises(devsys.ExistsError):
            p.validate(GOOD_SPEC, "spec.yaml")
        assert p.last_result is not None and p.last_result.outcome == "already-registered"

        bad = GOOD_SPEC.replace("id: fix-login", "id: other").replace("url: https://example.com/x.git", "url: 7")
        with pytest.raises(devsys.ValidationError):
            p.validate(bad, "bad.yaml")
        assert p.last_result.outcome == "spec-refused" and p.last_result.failure_class == devsys.FAILURE_BUILD
        errs = p.validation_errors()
        assert errs and any("/repo/url" in e.instance_location for e in errs), errs
        assert all(e.file == "bad.yaml" and e.line > 0 for e in errs), errs
        with pytest.raises(devsys.NotFoundError):
            p.state("other")
    with devsys.Store(ws) as st:
        assert '"other"' not in st.list_json() and '"fix-login"' in st.list_json(), "the refused spec registered nothing"


def test_pipeline_code_runs_a_script_agent_and_pushes(tmp_path: Path, bare_repo: Path) -> None:
    script = tmp_path / "agent.sh"
    script.write_text('echo "from the agent" >> README.md\n')
    spec = (f"id: change-1\ntitle: Agent task\nprompt: Append a line to README.\n"
            f"repo:\n  url: file://{bare_repo}\n  base_branch: main\n"
            f"agent:\n  command: [/bin/sh, {script}]\ntests:\n  command: [make, check]\nrunner: inproc\n")
    with devsys.Workspace(tmp_path / "ws") as w, devsys.Pipeline(w) as p:
        with pytest.raises(devsys.StateError):
            p.code()  # nothing validated yet
        p.validate(spec, "change-1.yaml")
        r = p.code()
        assert (r.stage, r.result, r.outcome) == ("push", "ok", "pushed"), r
        assert p.state("change-1") == "pushed"
    readme = git("--git-dir", str(bare_repo), "show", "task/change-1:README.md")
    assert readme == "hello\nfrom the agent\n"


# ---------------------------------------------------------------- speckit

def test_speckit_valid_feature_checks_clean_and_plans() -> None:
    d = SPECKIT / "valid" / "001-photo-albums"
    with devsys.SpecKitFeature(d, SPECKIT) as f:
        assert f.dir == str(d) and f.title and f.task_count > 0
        found = f.check()
        assert [x for x in found if x.severity != devsys.SPECKIT_INFO] == [], "clean: no warning, no error"
        assert all(x.rule.startswith("SK") for x in found)
        waves = f.plan()
        assert waves and sum(len(w) for w in waves) == f.task_count
        assert all(t.startswith("T") for w in waves for t in w)


def test_speckit_broken_fixture_yields_findings_with_rule_ids() -> None:
    """Each broken/skNNN fixture breaks rule SKNNN (sk000: none of the 14, a control of a sort)."""
    for case in sorted((SPECKIT / "broken").iterdir()):
        (feature,) = [d for d in case.iterdir() if d.is_dir()]
        with devsys.SpecKitFeature(feature) as f:
            found = f.check()
        assert all(x.rule.startswith("SK") and x.message and x.file for x in found), found
        if case.name != "sk000":
            assert case.name.upper() in {x.rule for x in found}, (case.name, found)
    with pytest.raises(devsys.NotFoundError):
        devsys.SpecKitFeature(SPECKIT / "no-such-feature")


def test_missing_module_is_refused(monkeypatch: Any) -> None:
    monkeypatch.setattr(_lib.fn, "devsys_feature_enabled", lambda name: 0)
    with pytest.raises(devsys.NotSupportedError) as ei:
        devsys.SpecKitFeature(SPECKIT)
    assert "speckit" in ei.value.message
