"""ctypes mirrors of the public structs that cross the boundary.

Every struct of tests/abi/layout_frozen.h has a mirror here, registered in
STRUCTS under its C name; tests/test_layout.py compares sizes and offsets.
Fields are in C order and only ever appended, as in the headers.
"""
from __future__ import annotations

import ctypes
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_double, c_int, c_size_t, c_uint,
                    c_uint64, c_ulong, c_void_p)
from typing import Any, Dict, Type

c_char_pp = POINTER(c_char_p)

# ---- callback types (payload last, as DESIGN §3 says) ----
LOG_CB: Any = CFUNCTYPE(None, c_int, c_char_p, c_char_p, c_void_p)
# data is a pointer + length, not NUL-terminated: c_void_p, read with string_at
RUNNER_OUTPUT_CB: Any = CFUNCTYPE(c_int, c_int, c_void_p, c_size_t, c_void_p)
MASK_WRITE_CB: Any = CFUNCTYPE(c_int, c_void_p, c_size_t, c_void_p)
ALLOC_MALLOC: Any = CFUNCTYPE(c_void_p, c_size_t, c_void_p)
ALLOC_REALLOC: Any = CFUNCTYPE(c_void_p, c_void_p, c_size_t, c_void_p)
ALLOC_FREE: Any = CFUNCTYPE(None, c_void_p, c_void_p)


class Allocator(Structure):
    _fields_ = [("version", c_uint), ("malloc_fn", ALLOC_MALLOC), ("realloc_fn", ALLOC_REALLOC),
                ("free_fn", ALLOC_FREE), ("payload", c_void_p)]


class Buf(Structure):
    _fields_ = [("ptr", c_void_p), ("size", c_size_t), ("asize", c_size_t)]


REDACT_FN: Any = CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t, POINTER(Buf))
RELEASE_FN: Any = CFUNCTYPE(None, c_void_p)


class RedactorVtable(Structure):
    _fields_ = [("version", c_uint), ("redact", REDACT_FN), ("release", RELEASE_FN)]


class WorkspaceOptions(Structure):
    _fields_ = [("version", c_uint), ("flags", c_uint), ("dir_mode", c_uint), ("log_level", c_int),
                ("log_cb", LOG_CB), ("log_payload", c_void_p)]


class SpecOptions(Structure):
    _fields_ = [("version", c_uint), ("format", c_int), ("max_size", c_size_t), ("max_depth", c_size_t),
                ("max_nodes", c_size_t)]


class SchemaOptions(Structure):
    _fields_ = [("version", c_uint), ("flags", c_uint), ("default_draft", c_int), ("base_uri", c_char_p),
                ("resources", POINTER(c_void_p)), ("resource_uris", c_char_pp), ("resource_count", c_size_t),
                ("max_errors", c_size_t), ("regex_match_limit", c_ulong)]


class StoreOptions(Structure):
    _fields_ = [("version", c_uint), ("flags", c_uint), ("busy_timeout_ms", c_uint)]


class SecretEvent(Structure):
    _fields_ = [("version", c_uint), ("name", c_char_p), ("provider", c_char_p), ("task_id", c_char_p),
                ("stage", c_char_p), ("cached", c_int), ("error", c_int)]


SECRET_AUDIT_CB: Any = CFUNCTYPE(None, POINTER(SecretEvent), c_void_p)


class SecretsOptions(Structure):
    _fields_ = [("version", c_uint), ("docker_secrets_dir", c_char_p), ("command_timeout_ms", c_uint),
                ("audit_cb", SECRET_AUDIT_CB), ("audit_payload", c_void_p), ("ws", c_void_p)]


class SecretDef(Structure):
    _fields_ = [("version", c_uint), ("name", c_char_p), ("provider", c_char_p), ("ref", c_char_p),
                ("argv", c_char_pp), ("ttl_s", c_uint)]


SECRET_RESOLVE_FN: Any = CFUNCTYPE(c_int, c_void_p, POINTER(c_char_p), POINTER(c_size_t), c_void_p, c_void_p, c_void_p)
SECRET_RELEASE_FN: Any = CFUNCTYPE(None, c_void_p)


class SecretProvider(Structure):
    # devsys/sys/secrets.h; mirrored for the layout check only
    _fields_ = [("version", c_uint), ("name", c_char_p), ("resolve", c_void_p), ("release", c_void_p)]


class ReportCase(Structure):
    _fields_ = [("status", c_int), ("time", c_double), ("suite", c_char_p), ("classname", c_char_p),
                ("name", c_char_p), ("file", c_char_p), ("message", c_char_p), ("type", c_char_p),
                ("text", c_char_p), ("system_out", c_char_p), ("system_err", c_char_p), ("source", c_char_p)]


REPORT_CASE_CB: Any = CFUNCTYPE(c_int, POINTER(ReportCase), c_void_p)


class ReportOptions(Structure):
    _fields_ = [("version", c_uint), ("flags", c_uint), ("max_text", c_size_t), ("max_depth", c_uint),
                ("case_cb", REPORT_CASE_CB), ("case_payload", c_void_p)]


class RepoCredential(Structure):
    _fields_ = [("type", c_uint), ("username", c_char_p), ("secret", c_char_p), ("ssh_public_key", c_char_p),
                ("ssh_private_key", c_char_p), ("ssh_passphrase", c_char_p)]


REPO_CREDENTIAL_CB: Any = CFUNCTYPE(c_int, POINTER(RepoCredential), c_char_p, c_char_p, c_uint, c_uint, c_void_p)


class RepoCredentialProvider(Structure):
    _fields_ = [("cb", REPO_CREDENTIAL_CB), ("payload", c_void_p)]


class RepoProgress(Structure):
    _fields_ = [("stage", c_int), ("total_objects", c_uint64), ("done_objects", c_uint64), ("bytes", c_uint64)]


REPO_PROGRESS_CB: Any = CFUNCTYPE(c_int, POINTER(RepoProgress), c_void_p)


class RepoOptions(Structure):
    _fields_ = [("version", c_uint), ("url", c_char_p), ("base_branch", c_char_p), ("branch_template", c_char_p),
                ("slug", c_char_p), ("author_name", c_char_p), ("author_email", c_char_p),
                ("ssl_ca_file", c_char_p), ("ssl_ca_dir", c_char_p), ("ssh_known_hosts", c_char_p),
                ("ssh_user", c_char_p), ("ssh_public_key", c_char_p), ("ssh_private_key", c_char_p),
                ("ssh_passphrase", c_char_p), ("credentials", POINTER(RepoCredentialProvider)),
                ("ncredentials", c_size_t), ("protected_branches", c_char_pp), ("nprotected_branches", c_size_t),
                ("allow_force_push", c_int), ("max_file_size", c_uint64), ("progress", REPO_PROGRESS_CB),
                ("progress_payload", c_void_p), ("follow_submodules", c_int)]


class RepoCommitOptions(Structure):
    _fields_ = [("version", c_uint), ("spec_path", c_char_p), ("spec_file", c_char_p)]


class RunnerOptions(Structure):
    _fields_ = [("version", c_uint), ("flags", c_uint), ("ws", c_void_p), ("masker", c_void_p),
                ("grace_ms", c_uint), ("tail_max", c_size_t), ("rlimit_cpu_s", c_uint64),
                ("rlimit_as_bytes", c_uint64), ("rlimit_nofile", c_uint64), ("host", c_char_p), ("port", c_uint),
                ("user", c_char_p), ("key_file", c_char_p), ("key_passphrase", c_char_p),
                ("known_hosts", c_char_p), ("connect_timeout_ms", c_uint), ("keepalive_s", c_uint),
                ("retries", c_uint), ("remote_dir", c_char_p),
                # version 2
                ("backend_tag", c_char_p), ("backend_options", c_void_p)]


class RunnerCmd(Structure):
    _fields_ = [("version", c_uint), ("flags", c_uint), ("argv", c_char_pp), ("argv_len", POINTER(c_size_t)),
                ("env", c_char_pp), ("cwd", c_char_p), ("timeout_ms", c_uint), ("stdin_data", c_void_p),
                ("stdin_len", c_size_t), ("stdin_file", c_char_p), ("output_cb", RUNNER_OUTPUT_CB),
                ("output_payload", c_void_p), ("task", c_void_p), ("stage", c_char_p),
                # version 2
                ("image", c_char_p)]


class RunnerResult(Structure):
    _fields_ = [("version", c_uint), ("failure", c_int), ("exit_code", c_int), ("signal", c_int),
                ("duration_ms", c_uint64), ("attempts", c_int), ("tail", c_void_p), ("tail_len", c_size_t),
                ("output_bytes", c_uint64), ("truncated", c_int), ("log_path", c_char_p)]


class RunnerStatus(Structure):
    _fields_ = [("failure", c_int), ("exit_code", c_int), ("signal", c_int)]


class RunnerVtable(Structure):
    # devsys/sys/runner.h (plug-ins); mirrored for the layout check only
    _fields_ = [("version", c_uint), ("name", c_char_p), ("open", c_void_p), ("exec", c_void_p),
                ("cancel", c_void_p), ("close", c_void_p), ("prepare", c_void_p), ("cleanup", c_void_p),
                ("upload", c_void_p), ("download", c_void_p), ("workdir", c_void_p), ("describe", c_void_p)]


class RunnerDescription(Structure):
    _fields_ = [("version", c_uint), ("type", c_char * 64), ("engine", c_char * 64), ("where", c_char * 256),
                ("image_id", c_char * 128), ("image_digest", c_char * 256)]


class PolicyOptions(Structure):
    _fields_ = [("version", c_uint), ("flags", c_uint), ("critical_approvals", c_uint),
                ("required_contexts", c_char_pp), ("nrequired_contexts", c_size_t),
                ("protected_branches", c_char_pp), ("nprotected_branches", c_size_t)]


# ---- forge.h, pipeline.h (not in layout_frozen.h yet: tests/test_forge_pipeline_speckit.py checks their
# sizes against what the C *_options_init() writes) ----

class ForgeOptions(Structure):
    _fields_ = [("version", c_uint), ("remote_url", c_char_p), ("config", c_void_p), ("provider", c_char_p),
                ("base_url", c_char_p), ("owner", c_char_p), ("repo", c_char_p), ("secrets", c_void_p),
                ("task", c_void_p), ("merge_method", c_char_p), ("bot", c_char_p), ("ca_file", c_char_p),
                ("connect_timeout_ms", ctypes.c_long), ("timeout_ms", ctypes.c_long), ("max_retries", c_uint),
                ("verbose", c_int), ("ext_type", c_char_p), ("ext", c_void_p)]


class PrOptions(Structure):
    _fields_ = [("version", c_uint), ("title", c_char_p), ("body", c_char_p), ("head", c_char_p),
                ("base", c_char_p), ("head_sha", c_char_p), ("base_sha", c_char_p), ("draft", c_int),
                ("labels", c_char_pp), ("nlabels", c_size_t), ("reviewers", c_char_pp), ("nreviewers", c_size_t),
                ("team_reviewers", c_char_pp), ("nteam_reviewers", c_size_t), ("number", ctypes.c_int64),
                ("masker", c_void_p)]


class GateOptions(Structure):
    _fields_ = [("version", c_uint), ("policy", c_void_p), ("repo", c_void_p), ("profile_risk", c_int),
                ("spec_risk", c_int), ("require_approval", c_int), ("bot", c_char_p), ("authors", c_char_pp),
                ("nauthors", c_size_t), ("poll_timeout_ms", c_uint), ("poll_interval_ms", c_uint)]


class PolicyReview(Structure):
    _fields_ = [("version", c_uint), ("reviewer", c_char_p), ("commit_sha", c_char_p), ("state", c_int)]


class PipelineOptions(Structure):
    _fields_ = [("version", c_uint), ("flags", c_uint), ("store", c_void_p), ("repo", c_void_p),
                ("runner", c_void_p), ("forge", c_void_p), ("agent_env_scrub", c_char_pp)]


class StageResult(Structure):
    _fields_ = [("version", c_uint), ("stage", c_char_p), ("result", c_char_p), ("failure_class", c_int),
                ("error", c_int), ("outcome", c_char_p)]


#: mirrors not frozen in layout_frozen.h: C name -> (mirror, its *_options_init function)
UNFROZEN: Dict[str, Any] = {
    "devsys_forge_options": (ForgeOptions, "devsys_forge_options_init"),
    "devsys_pr_options": (PrOptions, "devsys_pr_options_init"),
    "devsys_gate_options": (GateOptions, "devsys_gate_options_init"),
    "devsys_pipeline_options": (PipelineOptions, "devsys_pipeline_options_init"),
}


#: C name -> mirror, for the layout test (tests/abi/layout_frozen.h)
STRUCTS: Dict[str, Type[Structure]] = {
    "devsys_allocator": Allocator,
    "devsys_buf": Buf,
    "devsys_redactor_vtable": RedactorVtable,
    "devsys_repo_commit_options": RepoCommitOptions,
    "devsys_repo_credential": RepoCredential,
    "devsys_repo_credential_provider": RepoCredentialProvider,
    "devsys_repo_options": RepoOptions,
    "devsys_repo_progress": RepoProgress,
    "devsys_report_case": ReportCase,
    "devsys_report_options": ReportOptions,
    "devsys_runner_cmd": RunnerCmd,
    "devsys_runner_options": RunnerOptions,
    "devsys_runner_result": RunnerResult,
    "devsys_runner_status": RunnerStatus,
    "devsys_runner_vtable": RunnerVtable,
    "devsys_runner_description": RunnerDescription,
    "devsys_schema_options": SchemaOptions,
    "devsys_secret_def": SecretDef,
    "devsys_secret_event": SecretEvent,
    "devsys_secret_provider": SecretProvider,
    "devsys_secrets_options": SecretsOptions,
    "devsys_spec_options": SpecOptions,
    "devsys_store_options": StoreOptions,
    "devsys_workspace_options": WorkspaceOptions,
    "devsys_policy_options": PolicyOptions,
}

__all__ = ["STRUCTS", "ctypes"]
