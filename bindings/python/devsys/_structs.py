"""ctypes mirrors of the public structs that cross the boundary.

Every struct of tests/abi/layout_frozen.h has a mirror here, registered in
STRUCTS under its C name; tests/test_layout.py compares sizes and offsets.
Fields are in C order and only ever appended, as in the headers.
"""
from __future__ import annotations

import ctypes
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_double, c_int, c_size_t, c_uint,
                    c_int64, c_long, c_longlong, c_uint64, c_ulong, c_ulonglong, c_void_p)
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
    # version 2 appended url, secrets, password_secret (a PostgreSQL store)
    _fields_ = [("version", c_uint), ("flags", c_uint), ("busy_timeout_ms", c_uint), ("url", c_char_p),
                ("secrets", c_void_p), ("password_secret", c_char_p)]


class StoreWorkerInfo(Structure):
    # store.h: what a worker reports of itself at each beat
    _fields_ = [("version", c_uint), ("id", c_char_p), ("host", c_char_p), ("pid", c_longlong), ("jobs", c_uint),
                ("lease_ms", c_uint), ("running", c_ulonglong), ("claimed", c_ulonglong), ("completed", c_ulonglong),
                ("expiries", c_ulonglong), ("stopped", c_int)]


class SecretEvent(Structure):
    _fields_ = [("version", c_uint), ("name", c_char_p), ("provider", c_char_p), ("task_id", c_char_p),
                ("stage", c_char_p), ("cached", c_int), ("error", c_int)]


SECRET_AUDIT_CB: Any = CFUNCTYPE(None, POINTER(SecretEvent), c_void_p)
# (event, task, payload): the pipeline records these; a non-zero return fails the resolution
SECRET_EVENT_CB: Any = CFUNCTYPE(c_int, POINTER(SecretEvent), c_void_p, c_void_p)


class SecretsOptions(Structure):
    _fields_ = [("version", c_uint), ("docker_secrets_dir", c_char_p), ("command_timeout_ms", c_uint),
                ("audit_cb", SECRET_AUDIT_CB), ("audit_payload", c_void_p), ("ws", c_void_p),
                # version 2
                ("event_cb", SECRET_EVENT_CB), ("event_payload", c_void_p)]


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
#: record.h devsys_record_event_cb: (seq, type, line, len, payload)
RECORD_EVENT_CB: Any = CFUNCTYPE(c_int, c_uint64, c_char_p, c_void_p, c_size_t, c_void_p)


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
                ("image", c_char_p),
                # version 3: budgets
                ("idle_timeout_ms", c_uint), ("max_output_bytes", c_uint64)]


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


# ---- policy.h ----

class PolicyChange(Structure):
    _fields_ = [("version", c_uint), ("path", c_char_p), ("old_path", c_char_p), ("flags", c_uint)]


class PolicyReview(Structure):
    _fields_ = [("version", c_uint), ("reviewer", c_char_p), ("commit_sha", c_char_p), ("state", c_int)]


class PolicyCheck(Structure):
    _fields_ = [("version", c_uint), ("context", c_char_p), ("sha", c_char_p), ("state", c_int), ("kind", c_int)]


class PolicyInput(Structure):
    _fields_ = [("version", c_uint), ("path_risk", c_int), ("profile_risk", c_int), ("spec_risk", c_int),
                ("require_approval", c_int), ("head_sha", c_char_p), ("bot", c_char_p), ("authors", c_char_pp),
                ("nauthors", c_size_t), ("reviews", POINTER(POINTER(PolicyReview))), ("nreviews", c_size_t),
                ("checks", POINTER(POINTER(PolicyCheck))), ("nchecks", c_size_t), ("draft", c_int)]


# ---- forge.h ----

class ForgeOptions(Structure):
    _fields_ = [("version", c_uint), ("remote_url", c_char_p), ("config", c_void_p), ("provider", c_char_p),
                ("base_url", c_char_p), ("owner", c_char_p), ("repo", c_char_p), ("secrets", c_void_p),
                ("task", c_void_p), ("merge_method", c_char_p), ("bot", c_char_p), ("ca_file", c_char_p),
                ("connect_timeout_ms", c_long), ("timeout_ms", c_long), ("max_retries", c_uint),
                ("verbose", c_int), ("ext_type", c_char_p), ("ext", c_void_p)]


class PrOptions(Structure):
    _fields_ = [("version", c_uint), ("title", c_char_p), ("body", c_char_p), ("head", c_char_p),
                ("base", c_char_p), ("head_sha", c_char_p), ("base_sha", c_char_p), ("draft", c_int),
                ("labels", c_char_pp), ("nlabels", c_size_t), ("reviewers", c_char_pp), ("nreviewers", c_size_t),
                ("team_reviewers", c_char_pp), ("nteam_reviewers", c_size_t), ("number", c_int64),
                ("masker", c_void_p)]


class PrBody(Structure):
    _fields_ = [("version", c_uint), ("task_id", c_char_p), ("summary", c_char_p), ("spec_path", c_char_p),
                ("spec_id", c_char_p), ("validation", c_char_p), ("acceptance", c_char_pp),
                ("nacceptance", c_size_t), ("report", c_char_p), ("runner", c_char_p),
                # version 2
                ("gate", c_char_p),
                # version 3
                ("verification", c_char_p),
                # version 4
                ("agent", c_char_p)]


class GateOptions(Structure):
    _fields_ = [("version", c_uint), ("policy", c_void_p), ("repo", c_void_p), ("profile_risk", c_int),
                ("spec_risk", c_int), ("require_approval", c_int), ("bot", c_char_p), ("authors", c_char_pp),
                ("nauthors", c_size_t), ("poll_timeout_ms", c_uint), ("poll_interval_ms", c_uint)]


# ---- sys/forge.h (forge plug-ins); mirrored for the layout check only ----

class ForgeOpenOptions(Structure):
    _fields_ = [("version", c_uint), ("base_url", c_char_p), ("owner", c_char_p), ("repo", c_char_p),
                ("remote_url", c_char_p), ("local_path", c_char_p), ("token", c_char_p), ("ca_file", c_char_p),
                ("user_agent", c_char_p), ("connect_timeout_ms", c_long), ("timeout_ms", c_long),
                ("max_retries", c_uint), ("verbose", c_int), ("bot", c_char_p), ("ext_type", c_char_p),
                ("ext", c_void_p)]


class ForgePrRequest(Structure):
    _fields_ = [("version", c_uint), ("title", c_char_p), ("body", c_char_p), ("head", c_char_p),
                ("base", c_char_p), ("draft", c_int), ("labels", c_char_pp), ("nlabels", c_size_t),
                ("reviewers", c_char_pp), ("nreviewers", c_size_t), ("team_reviewers", c_char_pp),
                ("nteam_reviewers", c_size_t), ("number", c_int64), ("head_sha", c_char_p), ("base_sha", c_char_p)]


class ForgePrInfo(Structure):
    _fields_ = [("version", c_uint), ("number", c_int64), ("url", c_char_p), ("head", c_char_p),
                ("base", c_char_p), ("head_sha", c_char_p), ("title", c_char_p), ("author", c_char_p),
                ("state", c_int), ("draft", c_int), ("reused", c_int), ("merge_sha", c_char_p)]


class ForgeStatus(Structure):
    _fields_ = [("version", c_uint), ("context", c_char_p), ("state", c_int), ("description", c_char_p),
                ("target_url", c_char_p)]


class ForgeMergeRequest(Structure):
    _fields_ = [("version", c_uint), ("sha", c_char_p), ("method", c_int), ("title", c_char_p),
                ("message", c_char_p)]


class ForgeMergeResult(Structure):
    _fields_ = [("version", c_uint), ("sha", c_char_p)]


class ForgeProtection(Structure):
    _fields_ = [("version", c_uint), ("branch", c_char_p), ("contexts", c_char_pp), ("ncontexts", c_size_t),
                ("approvals", c_uint), ("dismiss_stale", c_int), ("enforce_admins", c_int)]


class ForgeVtable(Structure):
    _fields_ = [("version", c_uint), ("name", c_char_p), ("open", c_void_p), ("close", c_void_p),
                ("pr_upsert", c_void_p), ("pr_get", c_void_p), ("pr_reviews", c_void_p), ("review_add", c_void_p),
                ("status_set", c_void_p), ("statuses", c_void_p), ("check_runs", c_void_p),
                ("pr_files", c_void_p), ("pr_authors", c_void_p), ("merge", c_void_p), ("protect", c_void_p),
                ("describe", c_void_p)]


# ---- sys/runner_docker.h, sys/runner_dind.h, sys/runner_inproc.h (a backend's own options) ----

class RunnerDockerOptions(Structure):
    _fields_ = [("version", c_uint), ("image", c_char_p), ("allowed_images", c_char_pp), ("network", c_char_p),
                ("allow_socket_mount", c_int), ("pull", c_int), ("read_only", c_int), ("memory_bytes", c_uint64),
                ("nano_cpus", c_uint64), ("pids", c_uint64), ("user", c_char_p), ("bind_checkout", c_int),
                ("host", c_char_p), ("tls_ca", c_char_p), ("tls_cert", c_char_p), ("tls_key", c_char_p),
                ("workdir", c_char_p)]


class RunnerDindOptions(Structure):
    _fields_ = [("version", c_uint), ("docker", POINTER(RunnerDockerOptions)), ("engine_image", c_char_p),
                ("ready_timeout_ms", c_uint)]


class RunnerInprocOptions(Structure):
    _fields_ = [("version", c_uint), ("user", c_char_p)]


# ---- pipeline.h, sys/stage.h ----

class StageResult(Structure):
    _fields_ = [("version", c_uint), ("stage", c_char_p), ("result", c_char_p), ("failure_class", c_int),
                ("error", c_int), ("outcome", c_char_p)]


class PipelineEvent(Structure):
    # data is a pointer + length for OUTPUT (not NUL-terminated): c_void_p, read with string_at
    _fields_ = [("version", c_uint), ("kind", c_int), ("task_id", c_char_p), ("stage", c_char_p),
                ("result", POINTER(StageResult)), ("data", c_void_p), ("len", c_size_t), ("current", c_uint64),
                ("total", c_uint64)]


PIPELINE_PROGRESS_CB: Any = CFUNCTYPE(c_int, POINTER(PipelineEvent), c_void_p)
#: speckit.h devsys_speckit_wave_fn: (task_ids, n, payload)
SPECKIT_WAVE_FN: Any = CFUNCTYPE(c_int, POINTER(c_char_p), c_size_t, c_void_p)


class PipelineOptions(Structure):
    _fields_ = [("version", c_uint), ("flags", c_uint), ("store", POINTER(StoreOptions)),
                ("repo", POINTER(RepoOptions)), ("runner", POINTER(RunnerOptions)), ("forge", POINTER(ForgeOptions)),
                ("agent_env_scrub", c_char_pp),
                # version 2
                ("config_path", c_char_p), ("progress", PIPELINE_PROGRESS_CB), ("progress_payload", c_void_p),
                ("agent_idle_timeout_ms", c_uint), ("max_output_bytes", c_uint64)]


STAGE_RUN_FN: Any = CFUNCTYPE(c_int, c_void_p, c_void_p)
STAGE_RELEASE_FN: Any = CFUNCTYPE(None, c_void_p)


class StageVtable(Structure):
    # devsys/sys/stage.h: a stage of one's own (Pipeline.add_stage())
    _fields_ = [("version", c_uint), ("name", c_char_p), ("run", STAGE_RUN_FN), ("release", STAGE_RELEASE_FN)]


class AgentRequest(Structure):
    # devsys/sys/agent.h: what an agent kind's open gets (register_agent())
    _fields_ = [("version", c_uint), ("spec", c_void_p), ("config", c_void_p), ("task", c_void_p),
                ("checkout", c_char_p), ("home", c_char_p), ("input", c_char_p),
                # version 2
                ("api_key", c_void_p), ("api_key_len", c_size_t)]


class AgentVtable(Structure):
    # devsys/sys/agent.h: register_agent() fills the version 1 slots
    _fields_ = [("version", c_uint), ("name", c_char_p), ("open", c_void_p), ("command", c_void_p),
                ("line", c_void_p), ("usage", c_void_p), ("stop_reason", c_void_p), ("close", c_void_p),
                # version 2
                ("preflight", c_void_p), ("preflight_check", c_void_p), ("err_line", c_void_p), ("status", c_void_p)]


class WorkerEvent(Structure):
    # worker.h: what a worker's event callback is told
    _fields_ = [("version", c_uint), ("kind", c_int), ("slot", c_uint), ("task_id", c_char_p), ("state", c_int),
                ("message", c_char_p), ("pipeline", POINTER(PipelineEvent))]


WORKER_EVENT_CB: Any = CFUNCTYPE(None, POINTER(WorkerEvent), c_void_p)


class WorkerOptions(Structure):
    _fields_ = [("version", c_uint), ("flags", c_uint), ("id", c_char_p), ("host", c_char_p), ("jobs", c_uint),
                ("profiles", c_char_pp), ("nprofiles", c_size_t), ("lease_ms", c_uint), ("config_path", c_char_p),
                ("event", WORKER_EVENT_CB), ("event_payload", c_void_p), ("poll_ms", c_uint)]


class WorkerStats(Structure):
    _fields_ = [("version", c_uint), ("jobs", c_uint), ("running", c_uint64), ("claimed", c_uint64),
                ("completed", c_uint64), ("not_resting", c_uint64), ("handed_back", c_uint64),
                ("lease_expiries", c_uint64), ("cancels", c_uint64), ("stopping", c_int),
                ("agent_steps", c_uint64), ("agent_tokens", c_uint64), ("agent_cost", c_double)]


#: options structs checked against what their *_options_init() writes at their latest version
#: (tests/test_forge_pipeline_speckit.py), besides layout_frozen.h: C name -> (mirror, init, version)
OPTIONS_INIT: Dict[str, Any] = {
    "devsys_forge_options": (ForgeOptions, "devsys_forge_options_init", 1),
    "devsys_pr_options": (PrOptions, "devsys_pr_options_init", 1),
    "devsys_gate_options": (GateOptions, "devsys_gate_options_init", 1),
    "devsys_pipeline_options": (PipelineOptions, "devsys_pipeline_options_init", 2),
    "devsys_store_options": (StoreOptions, "devsys_store_options_init", 2),
}


#: C name -> mirror: every public struct (`typedef struct devsys_x {` in include/devsys/**.h);
#: tests/test_layout.py compares each with tests/abi/layout_frozen.h
STRUCTS: Dict[str, Type[Structure]] = {
    "devsys_agent_request": AgentRequest,
    "devsys_agent_vtable": AgentVtable,
    "devsys_allocator": Allocator,
    "devsys_buf": Buf,
    "devsys_forge_merge_request": ForgeMergeRequest,
    "devsys_forge_merge_result": ForgeMergeResult,
    "devsys_forge_open_options": ForgeOpenOptions,
    "devsys_forge_options": ForgeOptions,
    "devsys_forge_pr_info": ForgePrInfo,
    "devsys_forge_pr_request": ForgePrRequest,
    "devsys_forge_protection": ForgeProtection,
    "devsys_forge_status": ForgeStatus,
    "devsys_forge_vtable": ForgeVtable,
    "devsys_gate_options": GateOptions,
    "devsys_pipeline_event": PipelineEvent,
    "devsys_pipeline_options": PipelineOptions,
    "devsys_policy_change": PolicyChange,
    "devsys_policy_check": PolicyCheck,
    "devsys_policy_input": PolicyInput,
    "devsys_policy_options": PolicyOptions,
    "devsys_policy_review": PolicyReview,
    "devsys_pr_body": PrBody,
    "devsys_pr_options": PrOptions,
    "devsys_redactor_vtable": RedactorVtable,
    "devsys_repo_commit_options": RepoCommitOptions,
    "devsys_repo_credential": RepoCredential,
    "devsys_repo_credential_provider": RepoCredentialProvider,
    "devsys_repo_options": RepoOptions,
    "devsys_repo_progress": RepoProgress,
    "devsys_report_case": ReportCase,
    "devsys_report_options": ReportOptions,
    "devsys_runner_cmd": RunnerCmd,
    "devsys_runner_description": RunnerDescription,
    "devsys_runner_dind_options": RunnerDindOptions,
    "devsys_runner_docker_options": RunnerDockerOptions,
    "devsys_runner_inproc_options": RunnerInprocOptions,
    "devsys_runner_options": RunnerOptions,
    "devsys_runner_result": RunnerResult,
    "devsys_runner_status": RunnerStatus,
    "devsys_runner_vtable": RunnerVtable,
    "devsys_schema_options": SchemaOptions,
    "devsys_secret_def": SecretDef,
    "devsys_secret_event": SecretEvent,
    "devsys_secret_provider": SecretProvider,
    "devsys_secrets_options": SecretsOptions,
    "devsys_spec_options": SpecOptions,
    "devsys_stage_result": StageResult,
    "devsys_stage_vtable": StageVtable,
    "devsys_store_options": StoreOptions,
    "devsys_store_worker_info": StoreWorkerInfo,
    "devsys_workspace_options": WorkspaceOptions,
    "devsys_worker_event": WorkerEvent,
    "devsys_worker_options": WorkerOptions,
    "devsys_worker_stats": WorkerStats,
}

__all__ = ["STRUCTS", "ctypes"]
