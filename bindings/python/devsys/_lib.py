"""Finding and loading libdevsys.so.1, and the prototype of every C function
the binding calls (argtypes and restype are declared for each one)."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import POINTER, c_char_p, c_double, c_int, c_int64, c_size_t, c_uint, c_uint64, c_void_p
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

from . import _structs as S

#: The ABI generation (SONAME major) this binding was written for.
ABI_GENERATION = 1
SONAME = "libdevsys.so.1"

_P = c_void_p
_PP = POINTER(c_void_p)
_s = c_char_p
_sp = POINTER(c_char_p)
_i = c_int
_ip = POINTER(c_int)
_u = c_uint
_up = POINTER(c_uint)
_z = c_size_t
_zp = POINTER(c_size_t)
_buf = POINTER(S.Buf)

# (name, restype, argtypes, module). module is the build module the function
# belongs to ("core" is always there); functions of a module the library was
# built without are simply absent and their classes refuse to work.
DECLS: List[Tuple[str, Any, Sequence[Any], str]] = [
    # global.h, errors.h, sys/errors.h, buf.h, log.h
    ("devsys_init", _i, [], "core"),
    ("devsys_shutdown", _i, [], "core"),
    ("devsys_version", _s, [], "core"),
    ("devsys_version_numbers", None, [_ip, _ip, _ip], "core"),
    ("devsys_error_last", _P, [], "core"),
    ("devsys_error_code", _i, [_P], "core"),
    ("devsys_error_message", _s, [_P], "core"),
    ("devsys_error_clear", None, [], "core"),
    ("devsys_strerror", _s, [_i], "core"),
    ("devsys_error_name", _s, [_i], "core"),
    ("devsys_error_set_str", _i, [_i, _s], "core"),
    ("devsys_error_set_detail", _i, [_i, _s], "core"),
    ("devsys_error_http_status", _i, [_P], "core"),
    ("devsys_error_detail", _s, [_P], "core"),
    ("devsys_buf_dispose", None, [_buf], "core"),
    ("devsys_log_level_name", _s, [_i], "core"),
    # workspace.h
    ("devsys_workspace_options_init", _i, [POINTER(S.WorkspaceOptions), _u], "workspace"),
    ("devsys_workspace_open", _i, [_PP, _s, POINTER(S.WorkspaceOptions)], "workspace"),
    ("devsys_workspace_free", None, [_P], "workspace"),
    ("devsys_workspace_path", _s, [_P], "workspace"),
    ("devsys_workspace_default_path", _i, [_buf], "workspace"),
    ("devsys_workspace_set_logger", _i, [_P, _i, S.LOG_CB, _P], "workspace"),
    ("devsys_workspace_add_redactor", _i, [_P, _P, _P], "workspace"),
    ("devsys_workspace_log", None, [_P, _i, _s, _s], "workspace"),  # variadic: called with "%s", text
    # task.h
    ("devsys_task_id_check", _i, [_s], "task"),
    ("devsys_task_open", _i, [_PP, _P, _s, _u], "task"),
    ("devsys_task_free", None, [_P], "task"),
    ("devsys_task_id", _s, [_P], "task"),
    ("devsys_task_path", _s, [_P], "task"),
    ("devsys_task_workspace", _P, [_P], "task"),
    ("devsys_task_path_join", _i, [_buf, _P, _s], "task"),
    # schema.h
    ("devsys_node_get_type", _i, [_P], "schema"),
    ("devsys_node_line", _u, [_P], "schema"),
    ("devsys_node_column", _u, [_P], "schema"),
    ("devsys_node_source", _s, [_P], "schema"),
    ("devsys_node_string", _P, [_P, _zp], "schema"),
    ("devsys_node_number", c_double, [_P], "schema"),
    ("devsys_node_is_integer", _i, [_P], "schema"),
    ("devsys_node_bool", _i, [_P], "schema"),
    ("devsys_node_size", _z, [_P], "schema"),
    ("devsys_node_at", _P, [_P, _z], "schema"),
    ("devsys_node_key_at", _s, [_P, _z], "schema"),
    ("devsys_node_member", _P, [_P, _s], "schema"),
    ("devsys_node_get", _P, [_P, _s], "schema"),
    ("devsys_node_to_json", _i, [_buf, _P], "schema"),
    ("devsys_schema_options_init", _i, [POINTER(S.SchemaOptions), _u], "schema"),
    ("devsys_schema_compile", _i, [_PP, _P, POINTER(S.SchemaOptions)], "schema"),
    ("devsys_schema_free", None, [_P], "schema"),
    ("devsys_schema_get_draft", _i, [_P], "schema"),
    ("devsys_schema_validate", _i, [_PP, _P, _P], "schema"),
    ("devsys_validation_free", None, [_P], "schema"),
    ("devsys_validation_valid", _i, [_P], "schema"),
    ("devsys_validation_count", _z, [_P], "schema"),
    ("devsys_validation_at", _P, [_P, _z], "schema"),
    ("devsys_validation_error_message", _s, [_P], "schema"),
    ("devsys_validation_error_instance_location", _s, [_P], "schema"),
    ("devsys_validation_error_keyword_location", _s, [_P], "schema"),
    ("devsys_validation_error_absolute_keyword_location", _s, [_P], "schema"),
    ("devsys_validation_error_keyword", _s, [_P], "schema"),
    ("devsys_validation_error_file", _s, [_P], "schema"),
    ("devsys_validation_error_line", _u, [_P], "schema"),
    ("devsys_validation_error_column", _u, [_P], "schema"),
    ("devsys_validation_to_json", _i, [_buf, _P], "schema"),
    # spec.h
    ("devsys_spec_options_init", _i, [POINTER(S.SpecOptions), _u], "spec"),
    ("devsys_spec_load_buffer", _i, [_PP, _P, _z, _s, POINTER(S.SpecOptions)], "spec"),
    ("devsys_spec_load_file", _i, [_PP, _s, POINTER(S.SpecOptions)], "spec"),
    ("devsys_spec_free", None, [_P], "spec"),
    ("devsys_spec_name", _s, [_P], "spec"),
    ("devsys_spec_get_format", _i, [_P], "spec"),
    ("devsys_spec_count", _z, [_P], "spec"),
    ("devsys_spec_at", _P, [_P, _z], "spec"),
    ("devsys_spec_get_string", _s, [_P, _s], "spec"),
    ("devsys_spec_timeout_ms", _i, [_P, _z, _s, _up], "spec"),
    ("devsys_spec_duration_ms", _i, [_up, _P, _s], "spec"),
    ("devsys_spec_validate", _i, [_PP, _P, _z], "spec"),
    ("devsys_spec_validate_buffer", _i, [_PP, _PP, _s, _z, _s, POINTER(S.SpecOptions)], "spec"),
    ("devsys_spec_task_schema", _i, [_PP], "spec"),
    ("devsys_spec_task_schema_text", _s, [], "spec"),
    # repo.h (module "git")
    ("devsys_repo_options_init", _i, [POINTER(S.RepoOptions), _u], "git"),
    ("devsys_repo_open_task", _i, [_PP, _P, POINTER(S.RepoOptions)], "git"),
    ("devsys_repo_free", None, [_P], "git"),
    ("devsys_repo_branch", _s, [_P], "git"),
    ("devsys_repo_base_branch", _s, [_P], "git"),
    ("devsys_repo_base_sha", _s, [_P], "git"),
    ("devsys_repo_head_sha", _s, [_P], "git"),
    ("devsys_repo_checkout_path", _s, [_P], "git"),
    ("devsys_repo_mirror_path", _s, [_P], "git"),
    ("devsys_repo_remote_default_branch", _s, [_P], "git"),
    ("devsys_repo_commit_options_init", _i, [POINTER(S.RepoCommitOptions), _u], "git"),
    ("devsys_repo_content_id", _i, [_buf, _P, _z], "git"),
    ("devsys_repo_commit", _i, [_ip, _P, _s, POINTER(S.RepoCommitOptions)], "git"),
    ("devsys_repo_push", _i, [_P], "git"),
    ("devsys_repo_branch_is_protected", _i, [_s, _s, POINTER(S.RepoOptions)], "git"),
    ("devsys_repo_branch_name", _i, [_buf, _s, _s, _s], "git"),
    ("devsys_repo_changed_paths", _i, [_PP, _P], "git"),
    ("devsys_repo_changes_free", None, [_P], "git"),
    ("devsys_repo_changes_count", _z, [_P], "git"),
    ("devsys_repo_changes_at", _P, [_P, _z], "git"),
    ("devsys_repo_change_status_of", _i, [_P], "git"),
    ("devsys_repo_change_path", _s, [_P], "git"),
    ("devsys_repo_change_old_path", _s, [_P], "git"),
    ("devsys_repo_change_old_mode", _u, [_P], "git"),
    ("devsys_repo_change_new_mode", _u, [_P], "git"),
    ("devsys_repo_change_status_name", _s, [_i], "git"),
    ("devsys_repo_changed_paths_by_commit", _i, [_PP, _P], "git"),
    ("devsys_repo_commits_free", None, [_P], "git"),
    ("devsys_repo_commits_count", _z, [_P], "git"),
    ("devsys_repo_commits_sha", _s, [_P, _z], "git"),
    ("devsys_repo_commits_changes", _P, [_P, _z], "git"),
    ("devsys_repo_commits_touching", _z, [_P, _s, _zp, _zp], "git"),
    ("devsys_repo_head_has_path", _i, [_ip, _P, _s], "git"),
    # runner.h
    ("devsys_runner_failure_name", _s, [_i], "runner"),
    ("devsys_runner_options_init", _i, [POINTER(S.RunnerOptions), _u], "runner"),
    ("devsys_runner_open", _i, [_PP, _s, POINTER(S.RunnerOptions)], "runner"),
    ("devsys_runner_free", None, [_P], "runner"),
    ("devsys_runner_type", _s, [_P], "runner"),
    ("devsys_runner_exec", _i, [_P, POINTER(S.RunnerCmd), POINTER(S.RunnerResult)], "runner"),
    ("devsys_runner_result_dispose", None, [POINTER(S.RunnerResult)], "runner"),
    ("devsys_runner_cancel", _i, [_P], "runner"),
    ("devsys_runner_prepare", _i, [_P, _P], "runner"),
    ("devsys_runner_cleanup", _i, [_P, _P], "runner"),
    ("devsys_runner_workdir", _s, [_P, _P], "runner"),
    ("devsys_runner_upload", _i, [_P, _s, _s], "runner"),
    ("devsys_runner_download", _i, [_P, _s, _s], "runner"),
    ("devsys_runner_describe", _i, [_P, POINTER(S.RunnerDescription)], "runner"),
    # config.h
    ("devsys_config_load", _i, [_PP, _s], "config"),
    ("devsys_config_parse", _i, [_PP, _P, _z, _s], "config"),
    ("devsys_config_free", None, [_P], "config"),
    ("devsys_config_runner_count", _z, [_P], "config"),
    ("devsys_config_runner_name", _s, [_P, _z], "config"),
    ("devsys_config_runner", _i, [_P, _s, _sp, POINTER(S.RunnerOptions)], "config"),
    ("devsys_config_runner_risk", _i, [_ip, _P, _s], "config"),
    ("devsys_config_runner_max_concurrent", _i, [_up, _P, _s], "config"),
    ("devsys_config_store", _i, [_sp, POINTER(S.SecretDef), _P], "config"),
    ("devsys_config_policy", _i, [_PP, _P], "config"),
    ("devsys_config_forge_count", _z, [_P], "config"),
    ("devsys_config_forge_host", _s, [_P, _z], "config"),
    ("devsys_config_forge_match", _i, [_sp, _P, _s], "config"),
    ("devsys_config_forge_value", _i, [_sp, _sp, _P, _s, _s], "config"),
    # sys/runner_docker.h, sys/runner_dind.h: a profile's backend options
    ("devsys_config_runner_docker", _i, [_P, _s, POINTER(S.RunnerDockerOptions)], "config"),
    ("devsys_config_runner_dind", _i, [_P, _s, POINTER(S.RunnerDindOptions), POINTER(S.RunnerDockerOptions)],
     "config"),
    ("devsys_runner_docker_sweep", _i, [_up, POINTER(S.RunnerDockerOptions)], "docker"),
    # secrets.h
    ("devsys_secrets_options_init", _i, [POINTER(S.SecretsOptions), _u], "secrets"),
    ("devsys_secrets_new", _i, [_PP, POINTER(S.SecretsOptions)], "secrets"),
    ("devsys_secrets_free", None, [_P], "secrets"),
    ("devsys_secrets_define", _i, [_P, POINTER(S.SecretDef)], "secrets"),
    ("devsys_secrets_resolve", _i, [_P, _s, _P, _s, _PP, _zp], "secrets"),
    ("devsys_secrets_resolve_all", _i, [_P, _P, _s], "secrets"),
    ("devsys_secrets_masker", _i, [_PP, _P], "secrets"),
    ("devsys_masker_new", _i, [_PP], "secrets"),
    ("devsys_masker_free", None, [_P], "secrets"),
    ("devsys_masker_add", _i, [_P, _s, _P, _z], "secrets"),
    ("devsys_masker_count", _z, [_P], "secrets"),
    ("devsys_masker_mask", _i, [_P, _P, _z, _buf], "secrets"),
    ("devsys_masker_redactor", _i, [_PP, _PP, _P], "secrets"),
    ("devsys_mask_stream_new", _i, [_PP, _P, S.MASK_WRITE_CB, _P], "secrets"),
    ("devsys_mask_stream_write", _i, [_P, _P, _z], "secrets"),
    ("devsys_mask_stream_finish", _i, [_P], "secrets"),
    ("devsys_mask_stream_free", None, [_P], "secrets"),
    # report.h
    ("devsys_report_options_init", _i, [POINTER(S.ReportOptions), _u], "report"),
    ("devsys_report_new", _i, [_PP], "report"),
    ("devsys_report_free", None, [_P], "report"),
    ("devsys_report_parse_junit", _i, [_PP, _s, POINTER(S.ReportOptions)], "report"),
    ("devsys_report_add_junit", _i, [_P, _s, POINTER(S.ReportOptions)], "report"),
    ("devsys_report_add_junit_buffer", _i, [_P, _P, _z, _s, POINTER(S.ReportOptions)], "report"),
    ("devsys_report_merge", _i, [_P, _P], "report"),
    ("devsys_report_tests", _z, [_P], "report"),
    ("devsys_report_count", _z, [_P, _i], "report"),
    ("devsys_report_time", c_double, [_P], "report"),
    ("devsys_report_case_count", _z, [_P], "report"),
    ("devsys_report_case_at", POINTER(S.ReportCase), [_P, _z], "report"),
    ("devsys_report_foreach", _i, [_P, S.REPORT_CASE_CB, _P], "report"),
    ("devsys_report_source_count", _z, [_P], "report"),
    ("devsys_report_source_at", _s, [_P, _z], "report"),
    ("devsys_report_junit_buf", _i, [_P, _buf], "report"),
    ("devsys_report_write_junit", _i, [_P, _s], "report"),
    ("devsys_report_summary_json", _i, [_P, _buf], "report"),
    ("devsys_report_write_summary", _i, [_P, _s], "report"),
    ("devsys_report_status_name", _s, [_i], "report"),
    # record.h
    ("devsys_stage_check", _i, [_s], "record"),
    ("devsys_record_open", _i, [_PP, _P], "record"),
    ("devsys_record_free", None, [_P], "record"),
    ("devsys_record_set_string", _i, [_P, _s, _s], "record"),
    ("devsys_record_set_spec", _i, [_P, _s, _P, _z], "record"),
    ("devsys_record_set_int", _i, [_P, _s, c_int64], "record"),
    ("devsys_record_set_json", _i, [_P, _s, _s], "record"),
    ("devsys_record_set_repo_url", _i, [_P, _s], "record"),
    ("devsys_record_stage_begin", _i, [_P, _s], "record"),
    ("devsys_record_stage_end", _i, [_P, _s, _s, _s], "record"),
    ("devsys_record_save", _i, [_P], "record"),
    ("devsys_record_json", _i, [_P, _buf], "record"),
    ("devsys_record_event", _i, [_P, _s, _s, POINTER(c_uint64)], "record"),
    ("devsys_record_run_begin", _i, [_P, _up], "record"),
    ("devsys_record_run_add_junit", _i, [_P, _u, _s], "record"),
    ("devsys_record_run_complete", _i, [_P, _u], "record"),
    ("devsys_record_latest_run", _i, [_P, _up], "record"),
    ("devsys_record_write_acceptance", _i, [_P, _s], "record"),
    ("devsys_record_log_path", _i, [_buf, _P, _s], "record"),
    # store.h
    ("devsys_task_state_name", _s, [_i], "store"),
    ("devsys_task_state_parse", _i, [_s], "store"),
    ("devsys_task_state_allowed", _i, [_i, _i], "store"),
    ("devsys_store_options_init", _i, [POINTER(S.StoreOptions), _u], "store"),
    ("devsys_store_open", _i, [_PP, _P, POINTER(S.StoreOptions)], "store"),
    ("devsys_store_open_config", _i, [_PP, _P, POINTER(S.StoreOptions), _P], "store"),
    ("devsys_store_free", None, [_P], "store"),
    ("devsys_store_task_create", _i, [_P, _s, _s], "store"),
    ("devsys_store_transition", _i, [_P, _s, _i, _s], "store"),
    ("devsys_store_stage_begin", _i, [_P, _s, _s], "store"),
    ("devsys_store_stage_end", _i, [_P, _s, _s, _s, _i], "store"),
    ("devsys_store_resume", _i, [_P, _s, _buf], "store"),
    ("devsys_store_recover", _i, [_P, _zp], "store"),
    ("devsys_store_task_state", _i, [_P, _s], "store"),
    ("devsys_store_task_json", _i, [_P, _s, _buf], "store"),
    ("devsys_store_list_json", _i, [_P, _s, _z, _z, _buf], "store"),
    ("devsys_store_run_record", _i, [_P, _s, _u], "store"),
    ("devsys_store_check", _i, [_P, _i, _buf, _zp], "store"),
    ("devsys_store_metrics", _i, [_P, _buf], "store"),
    # store.h: the queue
    ("devsys_store_submit", _i, [_P, _s, _s, _s], "store"),
    ("devsys_store_claim", _i, [_buf, _P, _s, _s, _sp, _z, _u], "store"),
    ("devsys_store_heartbeat", _i, [_P, _s, _s, _u], "store"),
    ("devsys_store_release", _i, [_P, _s, _s, _s], "store"),
    ("devsys_store_complete", _i, [_P, _s, _s], "store"),
    ("devsys_store_claims_json", _i, [_P, _s, _buf], "store"),
    ("devsys_store_wait_work", _i, [_P, _u], "store"),
    ("devsys_store_document", _i, [_buf, _P, _s, _s], "store"),
    ("devsys_store_document_changed", _i, [_buf, _P, _s, _s, POINTER(ctypes.c_char), _z], "store"),
    ("devsys_store_folder_current", _i, [_P, _s], "store"),
    ("devsys_store_backend_name", _s, [_P], "store"),
    ("devsys_store_worker_beat", _i, [_P, POINTER(S.StoreWorkerInfo)], "store"),
    ("devsys_store_workers_json", _i, [_P, _buf], "store"),
    ("devsys_store_cancel_request", _i, [_P, _s, _s], "store"),
    ("devsys_store_cancel_requested", _i, [_P, _s, _buf], "store"),
    # policy.h
    ("devsys_risk_name", _s, [_i], "policy"),
    ("devsys_risk_from_name", _i, [_ip, _s], "policy"),
    ("devsys_policy_options_init", _i, [POINTER(S.PolicyOptions), _u], "policy"),
    ("devsys_policy_new", _i, [_PP, POINTER(S.PolicyOptions)], "policy"),
    ("devsys_policy_free", None, [_P], "policy"),
    ("devsys_policy_add_glob", _i, [_P, _i, _s, _s], "policy"),
    ("devsys_policy_glob_count", _z, [_P], "policy"),
    ("devsys_policy_glob", _i, [_sp, _ip, _sp, _P, _z], "policy"),
    ("devsys_policy_get_options", _i, [POINTER(S.PolicyOptions), _P], "policy"),
    ("devsys_policy_glob_check", _i, [_s], "policy"),
    ("devsys_policy_glob_match", _i, [_s, _s], "policy"),
    ("devsys_policy_explain", _i, [_ip, _sp, _sp, _P, _s], "policy"),
    ("devsys_policy_classify", _i, [_ip, _P, _s], "policy"),
    # forge.h (and the policy decision it returns)
    ("devsys_forge_options_init", _i, [POINTER(S.ForgeOptions), _u], "forge"),
    ("devsys_forge_new", _i, [_PP, POINTER(S.ForgeOptions)], "forge"),
    ("devsys_forge_free", None, [_P], "forge"),
    ("devsys_forge_provider", _s, [_P], "forge"),
    ("devsys_forge_owner", _s, [_P], "forge"),
    ("devsys_forge_repo", _s, [_P], "forge"),
    ("devsys_forge_describe", _i, [_buf, _P], "forge"),
    ("devsys_forge_set_status", _i, [_P, _s, _s, _i, _s, _s], "forge"),
    ("devsys_pr_options_init", _i, [POINTER(S.PrOptions), _u], "forge"),
    ("devsys_pr_open", _i, [_PP, _P, POINTER(S.PrOptions)], "forge"),
    ("devsys_pr_get", _i, [_PP, _P, c_int64], "forge"),
    ("devsys_pr_refresh", _i, [_P], "forge"),
    ("devsys_pr_free", None, [_P], "forge"),
    ("devsys_pr_number", c_int64, [_P], "forge"),
    ("devsys_pr_url", _s, [_P], "forge"),
    ("devsys_pr_head_sha", _s, [_P], "forge"),
    ("devsys_pr_head", _s, [_P], "forge"),
    ("devsys_pr_base", _s, [_P], "forge"),
    ("devsys_pr_title", _s, [_P], "forge"),
    ("devsys_pr_author", _s, [_P], "forge"),
    ("devsys_pr_merge_sha", _s, [_P], "forge"),
    ("devsys_pr_body_build", _i, [_buf, POINTER(S.PrBody), _P], "forge"),
    ("devsys_pr_state_of", _i, [_P], "forge"),
    ("devsys_pr_state_name", _s, [_i], "forge"),
    ("devsys_pr_draft", _i, [_P], "forge"),
    ("devsys_pr_reused", _i, [_P], "forge"),
    ("devsys_pr_load_reviews", _i, [_P], "forge"),
    ("devsys_pr_review_count", _z, [_P], "forge"),
    ("devsys_pr_review", POINTER(S.PolicyReview), [_P, _z], "forge"),
    ("devsys_pr_add_review", _i, [_P, _s, _s, _i], "forge"),
    ("devsys_gate_options_init", _i, [POINTER(S.GateOptions), _u], "forge"),
    ("devsys_gate_check", _i, [_PP, _P, POINTER(S.GateOptions)], "forge"),
    ("devsys_gate_merge", _i, [_PP, _P, POINTER(S.GateOptions)], "forge"),
    ("devsys_gate_explain", _i, [_buf, _P, _i], "forge"),
    ("devsys_policy_decision_outcome", _i, [_P], "policy"),
    ("devsys_policy_decision_risk", _i, [_P], "policy"),
    ("devsys_policy_decision_approvals", _i, [_up, _up, _P], "policy"),
    ("devsys_policy_decision_reason_count", _z, [_P], "policy"),
    ("devsys_policy_decision_reason", _s, [_P, _z, _ip], "policy"),
    ("devsys_policy_decision_free", None, [_P], "policy"),
    ("devsys_policy_outcome_name", _s, [_i], "policy"),
    ("devsys_policy_reason_name", _s, [_i], "policy"),
    # pipeline.h
    ("devsys_pipeline_options_init", _i, [POINTER(S.PipelineOptions), _u], "pipeline"),
    ("devsys_pipeline_new", _i, [_PP, _P, POINTER(S.PipelineOptions)], "pipeline"),
    ("devsys_pipeline_free", None, [_P], "pipeline"),
    ("devsys_pipeline_validate", _i, [POINTER(S.StageResult), _P, _P, _z, _s], "pipeline"),
    ("devsys_pipeline_code", _i, [POINTER(S.StageResult), _P], "pipeline"),
    ("devsys_pipeline_load", _i, [_P, _s], "pipeline"),
    ("devsys_pipeline_validation", _P, [_P], "pipeline"),
    ("devsys_pipeline_run", _i, [POINTER(S.StageResult), _P], "pipeline"),
    ("devsys_pipeline_run_stage", _i, [POINTER(S.StageResult), _P, _s], "pipeline"),
    ("devsys_pipeline_cancel", _i, [_P], "pipeline"),
    ("devsys_pipeline_cancel_task", _i, [_ip, _P, _s], "pipeline"),
    ("devsys_failure_class_name", _s, [_i], "pipeline"),
    ("devsys_pipeline_stage_count", _z, [], "pipeline"),
    ("devsys_pipeline_stage_name", _s, [_z], "pipeline"),
    # sys/stage.h: stages of one's own
    ("devsys_pipeline_add_stage", _i, [_P, _s, POINTER(S.StageVtable), _P], "pipeline"),
    ("devsys_pipeline_replace_stage", _i, [_P, _s, POINTER(S.StageVtable), _P], "pipeline"),
    ("devsys_stage_run_name", _s, [_P], "pipeline"),
    ("devsys_stage_run_task_id", _s, [_P], "pipeline"),
    ("devsys_stage_run_repo", _i, [_PP, _P], "pipeline"),
    ("devsys_stage_run_log", _i, [_P, _P, _z], "pipeline"),
    ("devsys_stage_run_set_outcome", _i, [_P, _s], "pipeline"),
    ("devsys_stage_run_fail", _i, [_P, _i, _s, _s], "pipeline"),  # variadic: called with "%s", message
    ("devsys_pipeline_task_id", _s, [_P], "pipeline"),
    ("devsys_pipeline_store", _P, [_P], "pipeline"),
    # speckit.h
    ("devsys_speckit_feature_load", _i, [_PP, _s, _s], "speckit"),
    ("devsys_speckit_feature_free", None, [_P], "speckit"),
    ("devsys_speckit_feature_dir", _s, [_P], "speckit"),
    ("devsys_speckit_feature_title", _s, [_P], "speckit"),
    ("devsys_speckit_task_count", _z, [_P], "speckit"),
    ("devsys_speckit_findings_new", _i, [_PP], "speckit"),
    ("devsys_speckit_findings_free", None, [_P], "speckit"),
    ("devsys_speckit_check", _i, [_P, _P], "speckit"),
    ("devsys_speckit_findings_count", _z, [_P], "speckit"),
    ("devsys_speckit_finding_at", _s, [_P, _z, _ip, _sp, _up, _sp], "speckit"),
    ("devsys_speckit_plan_new", _i, [_PP, _P], "speckit"),
    ("devsys_speckit_plan_free", None, [_P], "speckit"),
    ("devsys_speckit_plan_wave_count", _z, [_P], "speckit"),
    ("devsys_speckit_plan_wave_size", _z, [_P, _z], "speckit"),
    ("devsys_speckit_plan_task", _s, [_P, _z, _z], "speckit"),
    ("devsys_speckit_plan_to_yaml", _i, [_buf, _P, _s, _s, _u], "speckit"),
    ("devsys_speckit_findings_to_text", _i, [_buf, _P], "speckit"),
    ("devsys_speckit_findings_to_json", _i, [_buf, _P], "speckit"),
    # speckit.h: status from the task records, sync and run
    ("devsys_speckit_task_green", _i, [_ip, _P, _P], "speckit"),
    ("devsys_speckit_mark_done", _i, [_buf, _zp, _P, _z, _sp, _z], "speckit"),
    ("devsys_speckit_mark_done_file", _i, [_zp, _s, _sp, _z], "speckit"),
    ("devsys_speckit_sync", _i, [_zp, _P, _s, _sp, _z], "speckit"),
    ("devsys_speckit_links_new", _i, [_PP, _P, _P, _s], "speckit"),
    ("devsys_speckit_links_free", None, [_P], "speckit"),
    ("devsys_speckit_links_count", _z, [_P], "speckit"),
    ("devsys_speckit_link_at", _s, [_P, _z, _sp, _ip, _ip], "speckit"),
    ("devsys_speckit_links_green_ids", _sp, [_P, _zp], "speckit"),
    ("devsys_speckit_status_to_json", _i, [_buf, _P, _P], "speckit"),
    ("devsys_speckit_run", _i, [_zp, _P, _P, _P, _s, _s, _s, _s], "speckit"),
    ("devsys_speckit_run_waves", _i, [_zp, _P, _P, _P, _s, _s, _s, _s, S.SPECKIT_WAVE_FN, _P], "speckit"),
    ("devsys_speckit_check_phantoms", _i, [_P, _P, _P], "speckit"),
    ("devsys_speckit_check_phantoms_ids", _i, [_P, _P, _P, _sp, _z], "speckit"),
    # worker.h
    ("devsys_worker_options_init", _i, [POINTER(S.WorkerOptions), _u], "worker"),
    ("devsys_worker_open", _i, [_PP, _P, POINTER(S.WorkerOptions)], "worker"),
    ("devsys_worker_run", _i, [_P], "worker"),
    ("devsys_worker_stop", _i, [_P, _u], "worker"),
    ("devsys_worker_stats_get", _i, [POINTER(S.WorkerStats), _P], "worker"),
    ("devsys_worker_id", _s, [_P], "worker"),
    ("devsys_worker_store", _P, [_P], "worker"),
    ("devsys_worker_cancel_task", _i, [_P, _s], "worker"),
    ("devsys_worker_free", None, [_P], "worker"),
    # sys/agent.h: agent kinds of one's own (the usage text is allocated with devsys_malloc)
    ("devsys_agent_register", _i, [POINTER(S.AgentVtable), _P], "agent"),
    ("devsys_malloc", _P, [_z], "agent"),
    # plug-ins written in Python (_plugins.py): sys/runner.h, sys/forge.h, sys/secrets.h; the allocator
    ("devsys_runner_register", _i, [POINTER(S.RunnerVtable), _P], "runner"),
    ("devsys_runner_io_write", _i, [_P, _i, _P, _z], "runner"),
    ("devsys_runner_io_stopped", _i, [_P], "runner"),
    ("devsys_runner_io_wait_ms", _i, [_P, _i], "runner"),
    ("devsys_forge_register", _i, [POINTER(S.ForgeVtable), _P], "forge"),
    ("devsys_forge_unregister", _i, [_s], "forge"),
    ("devsys_forge_find", _i, [POINTER(POINTER(S.ForgeVtable)), _s], "forge"),
    ("devsys_forge_sink_review", _i, [_P, POINTER(S.PolicyReview)], "forge"),
    ("devsys_forge_sink_check", _i, [_P, POINTER(S.PolicyCheck)], "forge"),
    ("devsys_forge_sink_file", _i, [_P, _s, _s], "forge"),
    ("devsys_forge_sink_truncated", _i, [_P], "forge"),
    ("devsys_forge_sink_author", _i, [_P, _s], "forge"),
    ("devsys_secret_provider_register", _i, [POINTER(S.SecretProvider), _P], "secrets"),
    # the gate's pure decision, a PR's checks, a stage's own runners
    ("devsys_policy_decide", _i, [_PP, _P, POINTER(S.PolicyInput)], "policy"),
    ("devsys_pr_load_checks", _i, [_P], "forge"),
    ("devsys_pr_check_count", _z, [_P], "forge"),
    ("devsys_pr_check", POINTER(S.PolicyCheck), [_P, _z], "forge"),
    ("devsys_stage_run_open_runner", _i, [_PP, _P, _s], "pipeline"),
    ("devsys_stage_run_exec", _i, [_P, _P, POINTER(S.RunnerCmd), POINTER(S.RunnerResult)], "pipeline"),
    # speckit.h: stories, tasks, findings by severity, SARIF
    ("devsys_speckit_story_count", _z, [_P], "speckit"),
    ("devsys_speckit_story_at", _s, [_P, _z, _up, _up, _up], "speckit"),
    ("devsys_speckit_task_at", _P, [_P, _z], "speckit"),
    ("devsys_speckit_task_find", _P, [_P, _s], "speckit"),
    ("devsys_speckit_task_id", _s, [_P], "speckit"),
    ("devsys_speckit_task_description", _s, [_P], "speckit"),
    ("devsys_speckit_task_state", ctypes.c_char, [_P], "speckit"),
    ("devsys_speckit_task_line", _u, [_P], "speckit"),
    ("devsys_speckit_task_phase", _z, [_P], "speckit"),
    ("devsys_speckit_task_parallel", _i, [_P], "speckit"),
    ("devsys_speckit_task_story", _u, [_P], "speckit"),
    ("devsys_speckit_task_dep_count", _z, [_P], "speckit"),
    ("devsys_speckit_task_dep_at", _s, [_P, _z], "speckit"),
    ("devsys_speckit_task_path_count", _z, [_P], "speckit"),
    ("devsys_speckit_task_path_at", _s, [_P, _z], "speckit"),
    ("devsys_forge_protect", _i, [_P, _s, _sp, _z, _u, _P], "forge"),
    ("devsys_forge_merge_method_of", _i, [_P], "forge"),
    ("devsys_forge_merge_method_name", _s, [_i], "forge"),
    ("devsys_forge_merge_method_from_name", _i, [_ip, _s], "forge"),
    ("devsys_forge_remote_host", _i, [_buf, _s], "forge"),
    ("devsys_policy_change_flags", _u, [_u, _u], "policy"),
    ("devsys_policy_classify_changes", _i, [_ip, _zp, _P, POINTER(POINTER(S.PolicyChange)), _z], "policy"),
    ("devsys_repo_url", _s, [_P], "git"),
    # readers of a task's record, a report's cases, an agent profile's settings
    ("devsys_record_events_since", _i, [_buf, POINTER(c_uint64), _P, c_uint64, _z], "record"),
    ("devsys_record_events_foreach", _i, [_P, c_uint64, _z, S.RECORD_EVENT_CB, _P], "record"),
    ("devsys_record_path", _i, [_buf, _P, _i, _u, _s], "record"),
    ("devsys_record_git_step", _i, [_P, _s, _s, _s, _s, _s, _s], "record"),
    ("devsys_report_cases_json", _i, [_buf, _P], "report"),
    ("devsys_config_agent_value", _i, [_sp, _sp, _P, _s, _s], "config"),
    ("devsys_secret_event_json", _i, [_buf, POINTER(S.SecretEvent)], "secrets"),
    ("devsys_pipeline_spec", _P, [_P], "pipeline"),
    ("devsys_stage_run_spec", _P, [_P], "pipeline"),
    ("devsys_stage_run_task", _P, [_P], "pipeline"),
    ("devsys_speckit_requirement_count", _z, [_P], "speckit"),
    ("devsys_speckit_requirement_at", _s, [_P, _z], "speckit"),
    ("devsys_speckit_phase_count", _z, [_P], "speckit"),
    ("devsys_speckit_phase_at", _s, [_P, _z, _up], "speckit"),
    ("devsys_speckit_plan_field", _s, [_P, _s], "speckit"),
    ("devsys_speckit_clarification_markers", _z, [_P], "speckit"),
    ("devsys_speckit_clarification_sessions", _z, [_P], "speckit"),
    ("devsys_speckit_checklist_items", _z, [_P, _zp], "speckit"),
    ("devsys_speckit_findings_count_severity", _z, [_P, _i], "speckit"),
    ("devsys_speckit_findings_to_sarif", _i, [_buf, _P], "speckit"),
]

#: C functions the binding passes by address only (credential providers in a
#: chain), never calls: name -> module. credential_fn() returns the address.
ADDRESSES: Dict[str, str] = {
    "devsys_record_secret_event": "record",
    "devsys_repo_default_credentials": "git",
    "devsys_repo_key_credentials": "git",
    "devsys_forge_credentials": "forge",
}


def credential_fn(name: str) -> int:
    """The address of exported function @p name (one of ADDRESSES: credential
    providers, the record's secret-event callback)."""
    if lib is None or name not in ADDRESSES:
        raise AttributeError(f"libdevsys: {name} is not a function the binding passes by address")
    try:
        f = getattr(lib, name)
    except AttributeError:
        raise AttributeError(f"libdevsys has no function {name}: {path} was built without the "
                             f"'{ADDRESSES[name]}' module") from None
    addr = ctypes.cast(f, c_void_p).value
    assert addr is not None
    return addr

# Functions that other headers' modules may not have yet: looked up lazily.
OPTIONAL_DECLS: List[Tuple[str, Any, Sequence[Any], str]] = [
    ("devsys_features", _s, [], "core"),
    ("devsys_feature_enabled", _i, [_s], "core"),
    # plug-ins' output buffers and the allocator hook (_plugins.py)
    ("devsys_buf_put", _i, [_buf, _P, _z], "core"),
    ("devsys_set_allocator", _i, [POINTER(S.Allocator)], "core"),
]


class _Fns:
    """The declared functions as attributes (typed loosely: ctypes is untyped)."""

    def __getattr__(self, name: str) -> Any:  # only reached for a function the library lacks
        module = missing.get(name)
        if module is not None:
            raise AttributeError(f"libdevsys has no function {name}: {path} was built without the '{module}' "
                                 "module, or is older than this binding")
        raise AttributeError(f"libdevsys has no function {name}")


fn: Any = _Fns()
lib: Optional[ctypes.CDLL] = None
path: str = ""
modules_present: Set[str] = set()
#: declared functions the loaded library lacks -> their module
missing: Dict[str, str] = {}

#: names of wrapped functions called so far, when DEVSYS_PY_TRACE_CALLS is set (the tests' coverage check)
called: Set[str] = set()


def _candidates() -> List[str]:
    out: List[str] = []
    env = os.environ.get("DEVSYS_LIBRARY")
    if env:
        out.append(os.path.join(env, SONAME) if os.path.isdir(env) else env)
    out.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), SONAME))
    found = ctypes.util.find_library("devsys")
    if found:
        out.append(found)
    return out


def _tracing(name: str, f: Any) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        called.add(name)
        return f(*args)
    return call


def load() -> None:
    global lib, path
    tried: List[str] = []
    for cand in _candidates():
        if os.sep in cand and not os.path.exists(cand):
            tried.append(f"{cand} (no such file)")
            continue
        try:
            lib = ctypes.CDLL(cand)
        except OSError as e:
            tried.append(f"{cand} ({e})")
            continue
        path = cand
        break
    if lib is None:
        if not ctypes.util.find_library("devsys"):
            tried.append("ctypes.util.find_library('devsys') (not found)")
        raise ImportError("devsys: cannot load " + SONAME + "; tried: " + "; ".join(tried) +
                          ". Set DEVSYS_LIBRARY to the library's path.")
    _declare(lib)


def _declare(dll: ctypes.CDLL) -> None:
    trace = bool(os.environ.get("DEVSYS_PY_TRACE_CALLS"))
    missing_core: List[str] = []
    for name, restype, argtypes, module in DECLS + OPTIONAL_DECLS:
        try:
            f = getattr(dll, name)
        except AttributeError:
            missing[name] = module
            if module == "core" and (name, restype, argtypes, module) not in OPTIONAL_DECLS:
                missing_core.append(name)
            continue
        f.restype = restype
        f.argtypes = list(argtypes)
        modules_present.add(module)
        setattr(fn, name, _tracing(name, f) if trace else f)
    if missing_core:
        raise ImportError(f"devsys: {path} lacks {', '.join(missing_core)}: not a libdevsys of ABI generation "
                          f"{ABI_GENERATION}")
    major, minor, patch = c_int(), c_int(), c_int()
    fn.devsys_version_numbers(ctypes.byref(major), ctypes.byref(minor), ctypes.byref(patch))
    if major.value != ABI_GENERATION:
        raise ImportError(f"devsys: {path} is libdevsys {major.value}.{minor.value}.{patch.value}, ABI generation "
                          f"{major.value}; this binding was written for generation {ABI_GENERATION}")


def declared_names() -> List[str]:
    """Every wrapped function the loaded library has (the tests must call each)."""
    return [d[0] for d in DECLS + OPTIONAL_DECLS if d[0] not in missing]


def features() -> "frozenset[str]":
    """Modules of the loaded build: devsys_features() when the library has it,
    else the modules whose every declared function is exported."""
    if "devsys_features" not in missing:
        return frozenset(bytes(fn.devsys_features()).decode().split())
    have: Dict[str, bool] = {}
    for name, _r, _a, module in DECLS:
        have[module] = have.get(module, True) and name in vars(fn)
    return frozenset(m for m, ok in have.items() if ok)
