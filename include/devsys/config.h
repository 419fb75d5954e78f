/*
 * libdevsys - the operator's configuration file (devsys.yaml).
 */
#ifndef DEVSYS_CONFIG_H
#define DEVSYS_CONFIG_H

#include "common.h"
#include "policy.h"
#include "runner.h"
#include "secrets.h"

DEVSYS_BEGIN_DECL

/**
 * @file devsys/config.h
 * @brief The operator's devsys.yaml: runner profiles (`runners:`) and the
 *        merge gate's policy (`policy:`), the forges serving each remote host
 *        (`forges:`), with environment-variable overrides.
 *
 * Everything that grants privilege (shells, host access, auto-merge) lives
 * here and never in a task spec. Every top-level key is a section the
 * config module knows; an unknown or repeated section is an error with
 * file:line:col, as are unknown keys and bad values inside a section.
 *
 * Environment overrides, applied after the file is read:
 * DEVSYS_RUNNER_<PROFILE>_<KEY>=value, with PROFILE and KEY upper-cased and
 * '-' or '.' turned into '_' (e.g. DEVSYS_RUNNER_DEPLOY_HOST=10.0.0.5 or
 * DEVSYS_RUNNER_DEPLOY_KNOWN_HOSTS=/etc/devsys/known_hosts). An override
 * of a profile the file does not have creates it. DEVSYS_POLICY_<KEY>=value
 * for `policy:` keys (PATHS_CRITICAL for paths.critical; lists are
 * comma-separated and replace the file's list); an unknown DEVSYS_POLICY_*
 * key is an error (docs/gate.md). DEVSYS_FORGE_<HOST>_<KEY>=value for a
 * `forges:` entry of the file (HOST upper-cased, '.', '-' and ':' as '_';
 * docs/forge.md).
 */

/*
 * `store:` names a PostgreSQL task store shared by several hosts, either as
 * a URL alone or as {url, password_secret, password_provider, password_ref}
 * (docs/scale-out.md). The URL may not carry a password.
 */

/** A loaded configuration. Read-only after loading; may be shared between threads. */
typedef struct devsys_config devsys_config;

/**
 * Load a devsys.yaml file.
 * @param path NULL: $DEVSYS_CONFIG, else "./devsys.yaml" (a missing default file is an empty config)
 * @return 0; DEVSYS_ENOTFOUND (an explicit path that does not exist); DEVSYS_EPARSE and
 *         DEVSYS_EINVALID with "file:line:col: runners.<profile>.<key>: ..." messages;
 *         DEVSYS_ELIMIT (file over 1 MiB).
 * @param out new: the configuration; free with devsys_config_free().
 */
DEVSYS_API int devsys_config_load(devsys_config **out, const char *path);

/**
 * Like devsys_config_load() on a text in memory; @p name is used in messages.
 * @param out new: the configuration; free with devsys_config_free().
 */
DEVSYS_API int devsys_config_parse(devsys_config **out, const char *text, size_t len, const char *name);

/** Free a configuration (and every string borrowed from it). NULL is fine. */
DEVSYS_API void devsys_config_free(devsys_config *cfg);

/** Number of runner profiles. */
DEVSYS_API size_t devsys_config_runner_count(const devsys_config *cfg);

/**
 * Name of profile @p i (0-based, file order), borrowed; NULL when out of range.
 * @return borrowed: from @p cfg, valid until devsys_config_free(); NULL when out of range.
 */
DEVSYS_API const char *devsys_config_runner_name(const devsys_config *cfg, size_t i);

/**
 * Fill @p opts (initialised by the caller with DEVSYS_RUNNER_OPTIONS_INIT)
 * from profile @p profile and return its runner type in @p type. Strings in
 * @p opts and @p type are borrowed from @p cfg. Fields the profile does not
 * set keep the caller's values (ws and masker are never touched). A
 * `type: inproc` profile with `user` also sets @c backend_tag and
 * @c backend_options to its devsys_runner_inproc_options
 * (devsys/sys/runner_inproc.h), borrowed from @p cfg.
 * @return 0; DEVSYS_ENOTFOUND for an unknown profile (the message lists the known ones);
 *         DEVSYS_EVERSION for a version-1 @p opts and a profile with an inproc `user`
 *         (version 1 has no backend options, and the user must not be dropped silently)
 * @param type borrowed: from @p cfg, valid until devsys_config_free().
 */
DEVSYS_API int devsys_config_runner(const devsys_config *cfg, const char *profile, const char **type,
                                    devsys_runner_options *opts);

/**
 * The risk class of profile @p profile (`runners.<profile>.risk`), or
 * DEVSYS_RISK_UNSET when the profile sets none.
 * @return 0; DEVSYS_ENOTFOUND for an unknown profile (the message lists the known ones)
 */
DEVSYS_API int devsys_config_runner_risk(int *risk, const devsys_config *cfg, const char *profile);

/**
 * How many tasks of profile @p profile one worker runs at once
 * (`runners.<profile>.max_concurrent`); 0 when the profile sets no limit.
 * @return 0; DEVSYS_ENOTFOUND for an unknown profile (the message lists the known ones)
 */
DEVSYS_API int devsys_config_runner_max_concurrent(unsigned int *max, const devsys_config *cfg, const char *profile);

/**
 * The merge gate's policy from the `policy:` section (the defaults of
 * docs/gate.md when the file has none), borrowed from @p cfg and valid
 * until devsys_config_free(). Never NULL after a successful load.
 * @return 0; DEVSYS_EINVAL for NULL arguments.
 * @param out borrowed: from @p cfg, valid until devsys_config_free().
 */
DEVSYS_API int devsys_config_policy(const devsys_policy **out, const devsys_config *cfg);

/* ---- forges: ---- */

/** Number of `forges:` entries (one per remote host). */
DEVSYS_API size_t devsys_config_forge_count(const devsys_config *cfg);

/**
 * Host of entry @p i (0-based, file order; lower case), borrowed; NULL when out of range.
 * @return borrowed: from @p cfg, valid until devsys_config_free(); NULL when out of range.
 */
DEVSYS_API const char *devsys_config_forge_host(const devsys_config *cfg, size_t i);

/**
 * The `forges:` entry serving remote host @p host ("github.com",
 * "git.example.com:3000"; "" or "local" for a local path remote): the entry
 * named "host:port" if there is one, else the entry named by the host
 * alone (hosts compare case-insensitively). @p entry receives its name,
 * borrowed from @p cfg.
 * @return 0; DEVSYS_ENOTFOUND naming the host and the entries there are.
 * @param entry borrowed: from @p cfg, valid until devsys_config_free().
 */
DEVSYS_API int devsys_config_forge_match(const char **entry, const devsys_config *cfg, const char *host);

/**
 * The value of @p key ("provider", "base_url", "token_secret",
 * "token_provider", "token_ref", "merge_method", "bot", "ca_file", "owner")
 * of entry @p entry, or NULL when unset; @p where (may be NULL) receives
 * where it was set ("devsys.yaml:4:19" or "environment DEVSYS_FORGE_...").
 * Both borrowed from @p cfg. The value of token_secret is a secret's
 * name, never a token.
 * @return 0; DEVSYS_ENOTFOUND (no such entry); DEVSYS_EINVAL (unknown key).
 * @param value borrowed: from @p cfg, valid until devsys_config_free(); NULL when unset.
 * @param where borrowed: from @p cfg, valid until devsys_config_free().
 */
DEVSYS_API int devsys_config_forge_value(const char **value, const char **where, const devsys_config *cfg,
                                         const char *entry, const char *key);

/**
 * The value of @p key ("kind", "provider", "npm", "base_url", "models",
 * "api_key_secret", "tools", "max_steps", "max_tokens", "max_cost",
 * "command", "cost_input", "cost_output", "api_key_provider", "api_key_ref",
 * "version", "ask") of the `agents:` profile @p profile, or NULL when unset. A list
 * (models, tools, ask) comes comma-joined in the order given. @p where (may be
 * NULL) receives where it was set ("devsys.yaml:4:19"). The value of
 * api_key_secret is a secret's name, never a key.
 * @return 0; DEVSYS_ENOTFOUND (no such profile); DEVSYS_EINVAL (unknown key).
 * @param value borrowed: from @p cfg, valid until devsys_config_free(); NULL when unset.
 * @param where borrowed: from @p cfg, valid until devsys_config_free().
 * Threads: reads only; safe on a config no thread changes.
 */
DEVSYS_API int devsys_config_agent_value(const char **value, const char **where, const devsys_config *cfg,
                                         const char *profile, const char *key);

/**
 * The `store:` section: the task store's postgresql:// URL and, when the
 * section names one, the declaration of the secret holding its password
 * (name from password_secret, provider from password_provider, "env" by
 * default, and ref from password_ref, the secret's name by default).
 * Pass both to devsys_store_options version 2 (url, secrets with the
 * definition declared, password_secret).
 * @param url borrowed: from @p cfg, valid until devsys_config_free().
 * @param password optional: filled with borrowed strings; name NULL when
 *        the section names no secret (libpq's password file is used then).
 * @return 0; DEVSYS_ENOTFOUND (no store: section: SQLite in the workspace,
 *         or DEVSYS_STORE_URL); DEVSYS_EINVAL.
 */
DEVSYS_API int devsys_config_store(const char **url, devsys_secret_def *password, const devsys_config *cfg);

DEVSYS_END_DECL

#endif /* DEVSYS_CONFIG_H */
