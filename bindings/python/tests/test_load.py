"""Loading: the library search, the ABI generation check, version and features."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import devsys
from devsys import _lib

from conftest import child_env

PKG = Path(__file__).resolve().parent.parent


def run_import(env_lib: str, code: str = "import devsys", real: bool = False) -> subprocess.CompletedProcess[str]:
    """A child interpreter importing the package; only one that loads the real
    library (@p real) gets the ASan runtime of a sanitizer run (the fakes have none)."""
    extra = dict(DEVSYS_LIBRARY=env_lib, PYTHONPATH=str(PKG), LD_LIBRARY_PATH="")
    env = child_env(**extra) if real else dict(os.environ, **extra)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_version_and_features() -> None:
    v = devsys.version()
    assert v.count(".") == 2
    assert devsys.version_info()[0] == _lib.ABI_GENERATION
    assert ".".join(map(str, devsys.version_info())) == v
    feats = devsys.features()
    assert {"core", "workspace", "task"} <= feats
    assert devsys.has_feature("core") and not devsys.has_feature("no-such-module")
    assert os.path.exists(devsys.library_path)
    wrapped_modules = {d[3] for d in _lib.DECLS}
    assert wrapped_modules - {"core"} <= feats, "a full build has every module the binding wraps"
    for f in feats:
        assert f.isidentifier() and devsys.has_feature(f)


def test_init_and_shutdown_are_reference_counted() -> None:
    n = _lib.fn.devsys_init()
    assert n >= 2, "the package holds one reference already"
    assert _lib.fn.devsys_shutdown() == n - 1


def test_wrong_library_path_names_every_path_tried(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "libdevsys.so.1"
    r = run_import(str(missing))
    assert r.returncode != 0
    assert "ImportError" in r.stderr
    assert str(missing) in r.stderr and "no such file" in r.stderr
    assert str(PKG / "devsys" / "libdevsys.so.1") in r.stderr, "the path next to the package is named too"
    assert "find_library" in r.stderr or "libdevsys" in r.stderr


def test_not_a_library(tmp_path: Path) -> None:
    bogus = tmp_path / "libdevsys.so.1"
    bogus.write_text("not an ELF file")
    r = run_import(str(bogus))
    assert r.returncode != 0 and str(bogus) in r.stderr


def _fake_lib(tmp_path: Path, body: str) -> Path:
    src, so = tmp_path / "fake.c", tmp_path / "fake" / "libdevsys.so.1"
    so.parent.mkdir()
    src.write_text(body)
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(so), str(src)], check=True)
    return so


CORE = """
int devsys_init(void){return 1;} int devsys_shutdown(void){return 0;}
const char *devsys_version(void){return "%d.0.0";}
void devsys_version_numbers(int *a,int *b,int *c){*a=%d;*b=0;*c=0;}
void devsys_free(void *p){(void)p;}
const void *devsys_error_last(void){return 0;} int devsys_error_code(const void *e){(void)e;return 0;}
const char *devsys_error_message(const void *e){(void)e;return "";} void devsys_error_clear(void){}
const char *devsys_strerror(int c){(void)c;return "";} const char *devsys_error_name(int c){(void)c;return "";}
int devsys_error_set_str(int c,const char *m){(void)m;return c;} int devsys_error_http_status(const void *e){(void)e;return 0;}
const char *devsys_error_detail(const void *e){(void)e;return 0;}
int devsys_error_set_detail(int s,const char *m){(void)s;(void)m;return 0;}
int devsys_buf_put(void *b,const void *d,unsigned long n){(void)b;(void)d;(void)n;return 0;}
void devsys_buf_dispose(void *b){(void)b;} const char *devsys_log_level_name(int l){(void)l;return "";}
"""


def test_wrong_abi_generation_is_a_clear_error(tmp_path: Path) -> None:
    so = _fake_lib(tmp_path, CORE % (2, 2))
    r = run_import(str(so))
    assert r.returncode != 0
    assert "ABI generation 2" in r.stderr and "written for generation 1" in r.stderr, r.stderr


def test_positive_control_for_the_fake_library(tmp_path: Path) -> None:
    """The same fake with generation 1 imports: the check above failed for the generation only."""
    so = _fake_lib(tmp_path, CORE % (1, 1))
    r = run_import(str(so), "import devsys; print(sorted(devsys.features()))")
    assert r.returncode == 0, r.stderr
    assert "'core'" in r.stdout and "'spec'" not in r.stdout, "a module the library lacks is not a feature"


def test_a_library_missing_core_functions(tmp_path: Path) -> None:
    so = _fake_lib(tmp_path, "int devsys_init(void){return 1;}\n")
    r = run_import(str(so))
    assert r.returncode != 0 and "lacks" in r.stderr and "devsys_version" in r.stderr, r.stderr


def test_a_library_without_a_module_refuses_its_classes(tmp_path: Path) -> None:
    so = _fake_lib(tmp_path, CORE % (1, 1))
    r = run_import(str(so), "import devsys\ntry:\n  devsys.Report()\nexcept AttributeError as e:\n  print('refused:', e)")
    assert r.returncode == 0, r.stderr
    assert "refused: libdevsys has no function devsys_report_new" in r.stdout
    assert "without the 'report' module" in r.stdout


def test_directory_in_devsys_library() -> None:
    r = run_import(os.path.dirname(devsys.library_path), "import devsys; print(devsys.library_path)", real=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("libdevsys.so.1")


def test_errors_and_strerror() -> None:
    assert devsys.error_name(-14) == "DEVSYS_EINVALID"
    assert devsys.strerror(-2)
    devsys.clear_error()
    assert devsys.last_error() == (0, "no error")
    assert devsys.log_level_name(devsys.LOG_WARN) == "warn"
