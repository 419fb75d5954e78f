"""devsys.yaml (runner profiles, policy, forges) and the policy handle."""
from __future__ import annotations

from pathlib import Path

import pytest

import devsys

YAML = """\
runners:
  local:
    type: inproc
    risk: high
    grace: 5
  other:
    type: inproc
policy:
  protected_branches: [main, 'release/*']
  paths:
    critical: ['deploy/**']
forges:
  localhost:
    provider: github
    token_secret: gh_token
"""


def test_parse_and_read(tmp_path: Path) -> None:
    with devsys.Config.parse(YAML, "devsys.yaml") as c:
        assert c.runners() == ["local", "other"]
        t, opts = c.runner("local")
        assert t == "inproc" and opts.grace_ms == 5000
        assert c.runner_risk("local") == devsys.RISK_HIGH and c.runner_risk("other") == devsys.RISK_UNSET
        with pytest.raises(devsys.NotFoundError) as ei:
            c.runner("nope")
        assert "local" in ei.value.message, "the message lists the known profiles"
        assert ("deploy/**", devsys.RISK_CRITICAL) in [(g, r) for g, r, _ in c.policy_globs()]
        assert c.forges() == ["localhost"]
        assert c.forge_match("localhost") == "localhost"
        with pytest.raises(devsys.NotFoundError):
            c.forge_match("github.com")
        v, where = c.forge_value("localhost", "token_secret")
        assert v == "gh_token" and where and where.startswith("devsys.yaml:")
        assert c.forge_value("localhost", "owner") == (None, None)
        with pytest.raises(devsys.InvalidArgumentError):
            c.forge_value("localhost", "bogus")
        with c.open_runner("local") as r:
            assert r.exec(["true"]).ok
    f = tmp_path / "devsys.yaml"
    f.write_text(YAML)
    with devsys.Config.load(f) as c2:
        assert c2.runners() == ["local", "other"]


def test_bad_configs_name_the_position() -> None:
    with pytest.raises(devsys.ValidationError) as ei:
        devsys.Config.parse("runners:\n  a:\n    type: inproc\n    colour: red\n", "devsys.yaml")
    assert "devsys.yaml:4:" in ei.value.message
    with pytest.raises(devsys.Error) as e2:
        devsys.Config.parse("nosection: 1\n", "devsys.yaml")
    assert "nosection" in e2.value.message
    with pytest.raises(devsys.NotFoundError):
        devsys.Config.load("/nonexistent/devsys.yaml")


def test_policy() -> None:
    assert devsys.risk_name(devsys.RISK_CRITICAL) == "critical"
    assert devsys.risk_from_name("low") == devsys.RISK_LOW
    with pytest.raises(devsys.ValidationError):
        devsys.risk_from_name("extreme")
    devsys.glob_check("src/**/*.c")
    with pytest.raises(devsys.ValidationError) as ei:
        devsys.glob_check("x[")
    assert "x[" in ei.value.message
    assert devsys.glob_match("src/**", "src/a/b.c") and not devsys.glob_match("src/*", "lib/a.c")
    with pytest.raises(devsys.InvalidArgumentError):
        devsys.glob_match("a", "/abs")
    with devsys.Policy(flags=devsys.POLICY_NO_DEFAULT_GLOBS, critical_approvals=2, required_contexts=["ci/x"],
                       protected_branches=["prod"]) as p:
        p.add_glob("critical", "deploy/**", "test:1")
        p.add_glob(devsys.RISK_LOW, "docs/**")
        assert p.globs() == [("deploy/**", devsys.RISK_CRITICAL, "test:1"), ("docs/**", devsys.RISK_LOW, "api")]
        assert p.classify("deploy/a.yaml") == devsys.RISK_CRITICAL
        assert p.explain("docs/x.md") == (devsys.RISK_LOW, "docs/**", "api")
        assert p.explain("src/x.c") == (devsys.RISK_MEDIUM, None, None)
        o = p.options()
        assert o["critical_approvals"] == 2 and o["required_contexts"] == ["ci/x"] and o["protected_branches"] == ["prod"]
        with pytest.raises(devsys.ValidationError):
            p.add_glob(devsys.RISK_LOW, "x[")
    with pytest.raises(devsys.ValidationError):
        devsys.Policy(critical_approvals=3)


DOCKER_YAML = """runners:
  box:
    type: host-docker
    image: debian:12
    allowed_images: ["debian:*", "alpine:3"]
    network: bridge
    limits:
      memory: 512M
      pids: 128
  nested:
    type: dind
    image: alpine:3
    engine_image: docker:dind
    ready_timeout: 90s
  here:
    type: inproc
"""


def test_config_docker_and_dind_profiles() -> None:
    with devsys.Config.parse(DOCKER_YAML, "devsys.yaml") as cfg:
        d = cfg.runner_docker("box")
        assert (d.image, d.network, d.memory_bytes, d.pids) == (b"debian:12", b"bridge", 512 << 20, 128)
        assert [d.allowed_images[0], d.allowed_images[1], d.allowed_images[2]] == [b"debian:*", b"alpine:3", None]
        x = cfg.runner_dind("nested")
        assert (x.engine_image, x.ready_timeout_ms) == (b"docker:dind", 90000)
        assert x.docker and x.docker.contents.image == b"alpine:3"
        with pytest.raises(devsys.NotFoundError):
            cfg.runner_docker("no-such-profile")
        with pytest.raises(devsys.InvalidArgumentError):
            cfg.runner_dind("box")  # a host-docker profile is not a dind one
    # the config is freed: the structs hold copies of their own
    assert cfg.closed and x.docker.contents.image == b"alpine:3" and x.engine_image == b"docker:dind"
    assert d.image == b"debian:12" and d.allowed_images[1] == b"alpine:3"


def test_runner_pool_profiles_read_through_the_public_readers() -> None:
    """A pool (hosts / endpoints, per_host_max, cooldown) has no public struct: the readers
    give one runner its first member, and the pool keys are checked at their position."""
    text = ("runners:\n"
            "  farm:\n    type: remote-ssh\n    port: 2201\n    known_hosts: /k\n"
            "    hosts: [\"[::1]:2200\", b.example]\n    per_host_max: 2\n    cooldown: 2m\n"
            "  engines:\n    type: host-docker\n    image: x\n"
            "    endpoints: [\"unix:///run/a.sock\", \"tcp://127.0.0.1:2375\"]\n")
    with devsys.Config.parse(text, "pools.yaml") as cfg:
        kind, o = cfg.runner("farm")
        assert (kind, o.host, o.port) == ("remote-ssh", b"::1", 2200), (kind, o.host, o.port)
        assert cfg.runner_docker("engines").host == b"unix:///run/a.sock", "never the default engine"
    with pytest.raises(devsys.ValidationError) as ei:
        devsys.Config.parse("runners:\n  one:\n    type: remote-ssh\n    host: a.example\n    known_hosts: /k\n"
                            "    per_host_max: 2\n", "bad.yaml")
    assert "bad.yaml:" in ei.value.message and "per_host_max" in ei.value.message, ei.value.message
    with pytest.raises(devsys.ValidationError) as ei:
        devsys.Config.parse("runners:\n  farm:\n    type: remote-ssh\n    known_hosts: /k\n"
                            "    hosts: [a.example, \"b.example:99999\"]\n", "port.yaml")
    assert "port.yaml:5" in ei.value.message, ei.value.message
