/*
 * The deploy stage (the deployment agent): deploy the tested checkout by a
 * command or a compose project on the deploy runner, on a port chosen now,
 * then run the spec's acceptance checks (acceptance.c).
 *
 * A deploy command that starts a long-running service writes its pid into
 * $DEVSYS_DEPLOY_PIDFILE and exits. The service must leave the command's
 * process group (setsid) and its output pipes: the runner ends what is left
 * of that group when the command exits. The pid, its process group and its
 * start time go into task.json ("deploy"."service"), so that
 * devsys__pipeline_stop_service() (after verify, on resume, on cancel)
 * stops exactly that process and never one that reused its pid.
 *
 * On a remote runner the checkout is uploaded into a directory of its own
 * (<remote_dir>/devsys-deploy-<task>), which outlives the runner's session
 * and is removed when the service is stopped.
 */
#include "core/core.h"
#include "deploy_int.h"
#include "devsys/record.h"

#ifdef DEVSYS_HAVE_MODULE_DOCKER
#include "devsys/sys/runner_docker.h"
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_DEPLOY_MS (10u * 60u * 1000u)
#define TOOL_MS 30000u
#define STOP_TERM_MS 5000u
#define STOP_KILL_MS 2000u

extern char **environ;

/* What one run of the stage works with. */
typedef struct deploy_run {
	devsys__stage_ctx *c;
	const char *profile;  /* the deploy step's profile, or NULL (inproc) */
	const char *type;     /* its runner type */
	devsys_runner *runner; /* where the deploy and the command checks run */
	int remote;           /* the runner is not this machine */
	unsigned int port;
	char *dir;            /* remote: the deploy directory */
	char *cwd;            /* the checkout the deploy runs in (local or remote) */
	char *pidfile;
	char *docker_host;    /* compose: the engine, or NULL */
	devsys__strvec env;           /* deploy.env + DEVSYS_DEPLOY_* */
	json_t *rec;          /* task.json "deploy", as written */
} deploy_run;

/* ---- small facts ---- */

/* A TCP port on 127.0.0.1 that is free now: bind port 0 and read it back. */
static int free_port(unsigned int *out)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rc = 0;
	if (fd < 0)
		return devsys__error_errno(DEVSYS_ESYSTEM, errno, "deploy: cannot make a socket to choose a port");
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
		rc = devsys__error_errno(DEVSYS_ESYSTEM, errno, "deploy: cannot choose a free port on 127.0.0.1");
	close(fd);
	*out = ntohs(sa.sin_port);
	return rc;
}

/* The deploy step's profile: deploy.runner, else the spec's runner (as exec.c). */
static const char *deploy_profile(const devsys_pipeline *p)
{
	const char *name = devsys_spec_get_string(p->spec, "/deploy/runner");
	name = name ? name : devsys_spec_get_string(p->spec, "/runner");
	return name && !p->config && strcmp(name, "inproc") == 0 ? NULL : name;
}

static const char *profile_type(const devsys_pipeline *p, const char *profile)
{
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	const char *type = "inproc";
	if (profile && !p->config) {
		devsys__error_set(DEVSYS_ENOTFOUND,
		                  "%s: the deploy step names runner profile '%s', but no operator configuration "
		                  "(devsys.yaml) is loaded; only 'inproc' works without one",
		                  devsys_spec_name(p->spec), profile);
		return NULL;
	}
	if (profile && devsys_config_runner(p->config, profile, &type, &o) < 0)
		return NULL;
	return type;
}

/* The compose project name: devsys-<id> in compose's alphabet ([a-z0-9_-]);
 * an id that had to change keeps a hash of itself, so two ids never share one. */
static char *compose_project(const char *id)
{
	char *s = devsys__asprintf("devsys-%s", id);
	int changed = 0;
	uint32_t h = 2166136261u;
	for (char *q = s ? s + 7 : NULL; q && *q; q++) {
		h = (h ^ (unsigned char)*q) * 16777619u;
		if (*q >= 'A' && *q <= 'Z')
			*q = (char)(*q - 'A' + 'a'), changed = 1;
		else if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '_' || *q == '-'))
			*q = '-', changed = 1;
	}
	if (s && changed) {
		char *t = devsys__asprintf("%s-%08x", s, h);
		devsys__free(s);
		s = t;
	}
	return s;
}

/* State, process group and start time of @p pid from a /proc/<pid>/stat line. */
static int parse_stat(const char *line, char *state, long long *pgrp, long long *start)
{
	const char *p = line ? strrchr(line, ')') : NULL;
	long long v;
	int field = 3;
	char *end;
	if (!p)
		return -1;
	for (p++; *p == ' '; p++)
		;
	*state = *p;
	while (*p && field < 22) {
		p += strcspn(p, " ");
		while (*p == ' ')
			p++;
		field++;
		v = strtoll(p, &end, 10);
		if (field == 5)
			*pgrp = v;
		if (field == 22)
			*start = v;
	}
	return field == 22 ? 0 : -1;
}

/* Is this machine's @p pid running (not a zombie) with start time @p start? */
static int local_alive(long long pid, long long start, long long *pgrp)
{
	char path[64], line[1024], state = 0;
	long long pg = 0, st = -1;
	FILE *f;
	snprintf(path, sizeof(path), "/proc/%lld/stat", pid);
	if (!(f = fopen(path, "re")))
		return 0;
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	if (parse_stat(line, &state, &pg, &st) < 0 || state == 'Z' || (start >= 0 && st != start))
		return 0;
	if (pgrp)
		*pgrp = pg;
	return 1;
}

/* ---- the record's "deploy" object ---- */

static int record_deploy(devsys__stage_ctx *c, json_t *deploy)
{
	devsys_record *rec = NULL;
	char *s = json_dumps(deploy, JSON_COMPACT | JSON_PRESERVE_ORDER);
	int rc = s ? 0 : devsys__error_oom();
	if (rc == 0 && (rc = devsys_record_open(&rec, c->task)) == 0 && (rc = devsys_record_set_json(rec, "deploy", s)) == 0)
		rc = devsys_record_save(rec);
	devsys_record_free(rec);
	free(s);
	return rc;
}

/* task.json's "deploy" (a new reference), or NULL. */
static json_t *recorded_deploy(devsys__stage_ctx *c)
{
	devsys_record *rec = NULL;
	devsys_buf j = DEVSYS_BUF_INIT;
	json_t *doc = NULL, *d = NULL;
	if (devsys_record_open(&rec, c->task) == 0 && devsys_record_json(rec, &j) == 0 &&
	    (doc = json_loads(j.ptr ? j.ptr : "{}", 0, NULL)) && json_is_object(json_object_get(doc, "deploy")))
		d = json_incref(json_object_get(doc, "deploy"));
	json_decref(doc);
	devsys_buf_dispose(&j);
	devsys_record_free(rec);
	return d;
}

/* ---- running commands ---- */

static int collect(int stream, const char *data, size_t len, void *payload)
{
	if (stream == DEVSYS_RUNNER_STDOUT && ((devsys_buf *)payload)->size < 65536)
		devsys_buf_put(payload, data, len);
	return 0;
}

/*
 * Run @p argv on @p r. @p logged: output to logs/deploy.log (the user's
 * commands), else only @p out gets stdout (the stage's own probes).
 */
static int run(devsys_runner_result *rr, devsys__stage_ctx *c, devsys_runner *r, const char *const *argv,
               const char *const *env, const char *cwd, unsigned int ms, int logged, devsys_buf *out)
{
	devsys_runner_cmd cmd = DEVSYS_RUNNER_CMD_INIT;
	cmd.argv = argv;
	cmd.env = env;
	cmd.cwd = cwd;
	cmd.timeout_ms = ms;
	cmd.stage = "deploy";
	cmd.task = logged ? c->task : NULL;
	if (out) {
		cmd.output_cb = collect;
		cmd.output_payload = out;
	}
	return devsys__pipeline_exec(c, r, &cmd, rr);
}

/* Run a probe; 0 when it exited 0, else < 0 with an error naming @p what. */
static int run_ok(devsys__stage_ctx *c, devsys_runner *r, const char *const *argv, const char *const *env,
                  const char *cwd, unsigned int ms, int logged, devsys_buf *out, const char *what)
{
	devsys_runner_result rr = DEVSYS_RUNNER_RESULT_INIT;
	int rc = run(&rr, c, r, argv, env, cwd, ms, logged, out);
	if (rc == 0 && rr.failure != DEVSYS_RUNNER_OK)
		rc = devsys__error_set(DEVSYS_ERROR, "deploy: %s failed on the %s runner (exit %d, signal %d)", what,
		                       devsys_runner_type(r), rr.exit_code, rr.signal);
	devsys_runner_result_dispose(&rr);
	return rc;
}

/* An inproc runner with the pipeline's runner options (the compose CLI
 * talking to an engine named by a host-docker profile). */
static int open_inproc(devsys_runner **out, devsys_pipeline *p)
{
	devsys_runner_options o = DEVSYS_RUNNER_OPTIONS_INIT;
	if (p->runner_opts) {
		o.masker = p->runner_opts->masker;
		o.grace_ms = p->runner_opts->grace_ms;
		o.tail_max = p->runner_opts->tail_max;
	}
	o.ws = p->ws;
	return devsys_runner_open(out, "inproc", &o);
}

/* The runner the deploy of @p d (or a recorded one) runs on. */
static int open_place(devsys_runner **out, devsys__stage_ctx *c, const char *type, int remote)
{
	if (!remote && type && strcmp(type, "inproc") != 0)
		return open_inproc(out, c->p);
	return devsys__pipeline_open_runner(out, c->p, "deploy");
}

/* ---- stopping what a deploy started ---- */

/* TERM the service's group (or the pid alone when it leads none of its own),
 * wait with a deadline, then KILL. Only while pid and start time match. */
static int stop_local(long long pid, long long pgid, long long start)
{
	pid_t target = (pgid == pid && pgid != (long long)getpgrp()) ? (pid_t)-pid : (pid_t)pid;
	uint64_t until;
	if (pid <= 1 || !local_alive(pid, start, NULL))
		return 0;
	kill(target, SIGTERM);
	for (until = devsys__now_ns() + STOP_TERM_MS * 1000000ull; local_alive(pid, start, NULL) && devsys__now_ns() < until;)
		poll(NULL, 0, 20);
	if (local_alive(pid, start, NULL)) {
		kill(target, SIGKILL);
		for (until = devsys__now_ns() + STOP_KILL_MS * 1000000ull;
		     local_alive(pid, start, NULL) && devsys__now_ns() < until;)
			poll(NULL, 0, 20);
	}
	/* members of its group that outlived their leader */
	if (target < 0 && !local_alive(pid, -1, NULL) && kill(target, 0) == 0)
		kill(target, SIGKILL);
	if (local_alive(pid, start, NULL))
		return devsys__error_set(DEVSYS_ESYSTEM, "deploy: the service (pid %lld) did not stop after SIGKILL", pid);
	return 0;
}

/* The same on the remote host, by a script given pid, start time and group
 * (no "--" after kill's signal: dash takes it for a pid). */
static const char stop_script[] =
	"pid=$1 start=$2 pgid=$3\n"
	"alive() { s=$(cat /proc/$pid/stat 2>/dev/null) || return 1; s=${s##*\") \"}; set -- $s;"
	" [ \"$1\" != Z ] && [ \"${20}\" = \"$start\" ]; }\n"
	"alive || exit 0\n"
	"t=$pid; [ \"$pgid\" = \"$pid\" ] && t=-$pid\n"
	"kill -TERM \"$t\" 2>/dev/null; i=0\n"
	"while alive && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done\n"
	"alive || exit 0\n"
	"kill -KILL \"$t\" 2>/dev/null; i=0\n"
	"while alive && [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done\n"
	"alive && exit 1; exit 0\n";

static int stop_remote(devsys__stage_ctx *c, devsys_runner *r, long long pid, long long pgid, long long start)
{
	char a[3][32];
	const char *argv[] = { "/bin/sh", "-c", stop_script, "sh", a[0], a[1], a[2], NULL };
	snprintf(a[0], sizeof(a[0]), "%lld", pid);
	snprintf(a[1], sizeof(a[1]), "%lld", start);
	snprintf(a[2], sizeof(a[2]), "%lld", pgid);
	return run_ok(c, r, argv, NULL, NULL, 30000, 0, NULL, "stopping the service");
}

/* `compose down` of the recorded project. */
static int compose_down(devsys__stage_ctx *c, devsys_runner *r, json_t *d)
{
	json_t *cp = json_object_get(d, "compose"), *tool = json_object_get(cp, "tool");
	const char *argv[16], *cwd = json_string_value(json_object_get(d, "checkout"));
	char *dh = NULL;
	const char *env[2] = { NULL, NULL };
	size_t n = 0;
	int rc;
	for (size_t i = 0; i < json_array_size(tool) && n < 8; i++)
		argv[n++] = json_string_value(json_array_get(tool, i));
	argv[n++] = "-f";
	argv[n++] = json_string_value(json_object_get(cp, "file"));
	argv[n++] = "-p";
	argv[n++] = json_string_value(json_object_get(cp, "project"));
	argv[n++] = "down";
	argv[n] = NULL;
	for (size_t i = 0; i < n; i++)
		if (!argv[i])
			return devsys__error_set(DEVSYS_EPARSE, "task '%s': task.json's deploy.compose is incomplete",
			                         c->p->task_id);
	if (json_string_value(json_object_get(cp, "docker_host")) &&
	    !(env[0] = dh = devsys__asprintf("DOCKER_HOST=%s", json_string_value(json_object_get(cp, "docker_host")))))
		return devsys__error_oom();
	rc = run_ok(c, r, argv, env, cwd, 120000, 1, NULL, "compose down");
	devsys__free(dh);
	return rc;
}

static int remove_remote_dir(devsys__stage_ctx *c, devsys_runner *r, const char *dir)
{
	const char *argv[] = { "/bin/sh", "-c", "rm -rf -- \"$1\"", "sh", dir, NULL };
	return run_ok(c, r, argv, NULL, NULL, 60000, 0, NULL, "removing the deploy directory");
}

/* Stop what deploy @p d started; sets d.stopped when all of it is gone. */
static int stop_recorded(devsys__stage_ctx *c, json_t *d)
{
	json_t *svc = json_object_get(d, "service");
	const char *type = json_string_value(json_object_get(d, "runner"));
	const char *dir = json_string_value(json_object_get(d, "dir"));
	int remote = json_is_true(json_object_get(d, "remote"));
	devsys_runner *r = NULL;
	long long pid = json_integer_value(json_object_get(svc, "pid"));
	long long pgid = json_integer_value(json_object_get(svc, "pgid"));
	long long start = json_integer_value(json_object_get(svc, "start_time"));
	int rc = 0;

	if (pid > 1 && !remote)
		rc = stop_local(pid, pgid, start);
	if (rc == 0 && ((pid > 1 && remote) || json_object_get(d, "compose") || dir)) {
		c->p->pool.pin = json_string_value(json_object_get(d, "pool_member"));
		if ((rc = open_place(&r, c, type, remote)) < 0)
			rc = devsys__error_set(rc, "deploy: cannot reach the deploy target to stop the service: %s",
			                       devsys_error_message(devsys_error_last()));
		c->p->pool.pin = NULL;
	}
	if (rc == 0 && pid > 1 && remote)
		rc = stop_remote(c, r, pid, pgid, start);
	if (rc == 0 && json_object_get(d, "compose"))
		rc = compose_down(c, r, d);
	if (rc == 0 && dir && remote)
		rc = remove_remote_dir(c, r, dir);
	devsys_runner_free(r);
	if (rc == 0)
		json_object_set_new(d, "stopped", json_true());
	return rc;
}

int devsys__pipeline_stop_service(devsys__stage_ctx *c)
{
	json_t *d;
	int rc;
	if (!c || !c->task)
		return devsys__error_set(DEVSYS_EINVAL, "devsys__pipeline_stop_service: no task");
	d = recorded_deploy(c);
	if (!d || json_is_true(json_object_get(d, "stopped"))) {
		json_decref(d);
		return 0; /* nothing deployed, or stopped already */
	}
	if ((rc = stop_recorded(c, d)) == 0)
		rc = record_deploy(c, d);
	json_decref(d);
	return rc;
}

/* ---- deploying ---- */

static int build_env(deploy_run *d)
{
	const devsys_node *env = devsys_node_get(devsys_spec_at(d->c->p->spec, 0), "/deploy/env");
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < devsys_node_size(env); i++) {
		const char *k = devsys_node_key_at(env, i), *v = devsys_node_string(devsys_node_at(env, i), NULL);
		if (k && v && strncmp(k, "DEVSYS_DEPLOY_", 14) != 0)
			rc = devsys__strvec_push(&d->env, devsys__asprintf("%s=%s", k, v));
	}
	if (rc == 0)
		rc = devsys__strvec_push(&d->env, devsys__asprintf("DEVSYS_DEPLOY_PORT=%u", d->port));
	if (rc == 0 && d->pidfile)
		rc = devsys__strvec_push(&d->env, devsys__asprintf("DEVSYS_DEPLOY_PIDFILE=%s", d->pidfile));
	if (rc == 0)
		rc = devsys__strvec_push(&d->env, devsys__asprintf("DEVSYS_TASK_ID=%s", d->c->p->task_id));
	if (rc == 0 && d->docker_host)
		rc = devsys__strvec_push(&d->env, devsys__asprintf("DOCKER_HOST=%s", d->docker_host));
	return rc;
}

/* The engine a compose deploy talks to: the host-docker profile's endpoint,
 * else (on this machine) this process's DOCKER_HOST; NULL: the default. */
static int compose_engine(deploy_run *d)
{
	const char *host = NULL;
#ifdef DEVSYS_HAVE_MODULE_DOCKER
	devsys_runner_docker_options dk = DEVSYS_RUNNER_DOCKER_OPTIONS_INIT;
	int rc;
	if (d->profile && strcmp(d->type, "host-docker") == 0) {
		if ((rc = devsys_config_runner_docker(d->c->p->config, d->profile, &dk)) < 0)
			return rc;
		host = dk.host;
	}
#endif
	if (!host && !d->remote)
		host = getenv("DOCKER_HOST");
	if (host && !(d->docker_host = devsys__strdup(host)))
		return devsys__error_oom();
	return 0;
}

/* Where it runs: 0, or the stage's end (failure) already recorded in *end. */
static int open_target(deploy_run *d, int compose, int *end)
{
	devsys__stage_ctx *c = d->c;
	devsys_runner *probe = NULL;
	int rc, docker;
	*end = 0;
	if (!(d->type = profile_type(c->p, d->profile))) {
		*end = 1;
		return devsys__pipeline_end(c, "deploy", devsys_error_code(devsys_error_last()), DEVSYS_FAILURE_BUILD,
		                            "deploy-refused", -1);
	}
	docker = strcmp(d->type, "host-docker") == 0 || strcmp(d->type, "dind") == 0;
	if (docker && (!compose || strcmp(d->type, "dind") == 0)) {
		*end = 1;
		return devsys__pipeline_end(c, "deploy",
		                            devsys__error_set(DEVSYS_ENOTSUPPORTED,
		                                              "deploy: runner profile '%s' is %s: a deploy %s needs an inproc "
		                                              "or remote-ssh profile (or host-docker for compose), since a "
		                                              "command's container ends with it",
		                                              d->profile, d->type, compose ? "by compose" : "by command"),
		                            DEVSYS_FAILURE_BUILD, "deploy-refused", -1);
	}
	d->remote = strcmp(d->type, "inproc") != 0 && !docker;
	/* opening connects: a target that cannot be reached fails here */
	if ((rc = devsys__pipeline_open_runner(&probe, c->p, "deploy")) < 0) {
		*end = 1;
		return devsys__pipeline_end(c, "deploy",
		                            devsys__error_set(rc, "deploy: the deploy target (runner profile '%s', %s) cannot "
		                                                  "be reached: %s",
		                                              d->profile ? d->profile : "inproc", d->type,
		                                              devsys_error_message(devsys_error_last())),
		                            DEVSYS_FAILURE_SYSTEM, "deploy-unreachable", -1);
	}
	if (docker) {
		devsys_runner_free(probe);
		rc = open_inproc(&d->runner, c->p);
	} else {
		d->runner = probe;
	}
	if (rc == 0 && compose)
		rc = compose_engine(d);
	if (rc < 0) {
		*end = 1;
		return devsys__pipeline_end(c, "deploy", rc, DEVSYS_FAILURE_SYSTEM, "deploy-failed", -1);
	}
	return 0;
}

/* The checkout on the target: this machine's, or uploaded to the remote deploy dir. */
static int place_checkout(deploy_run *d)
{
	devsys__stage_ctx *c = d->c;
	const char *wd = devsys_runner_workdir(d->runner, NULL);
	char *base, *copy;
	const char *argv[] = { "/bin/sh", "-c", "rm -rf -- \"$1\" && umask 077 && mkdir -p -- \"$1\"", "sh", NULL, NULL };
	devsys_buf pf = DEVSYS_BUF_INIT;
	int rc;
	if ((rc = devsys__pipeline_repo(c)) < 0)
		return rc;
	if (!d->remote) {
		if (!(d->cwd = devsys__strdup(devsys_repo_checkout_path(c->repo))))
			return devsys__error_oom();
		if ((rc = devsys_task_path_join(&pf, c->task, "deploy.pid")) == 0) {
			unlink(pf.ptr); /* a pid file of an earlier run names nothing now */
			d->pidfile = pf.ptr;
			return 0;
		}
		devsys_buf_dispose(&pf);
		return rc;
	}
	copy = devsys__strdup(wd ? wd : "/tmp/x");
	if (!copy)
		return devsys__error_oom();
	base = dirname(copy);
	d->dir = devsys__asprintf("%s/devsys-deploy-%s", base, c->p->task_id);
	devsys__free(copy);
	if (!d->dir || !(d->cwd = devsys__asprintf("%s/checkout", d->dir)) ||
	    !(d->pidfile = devsys__asprintf("%s/service.pid", d->dir)))
		return devsys__error_oom();
	argv[4] = d->dir;
	if ((rc = run_ok(c, d->runner, argv, NULL, NULL, 60000, 0, NULL, "making the deploy directory")) < 0)
		return rc;
	/* an upload the host broke is the host's failure: a pooled one cools down and the stage moves, as tests do */
	if ((rc = devsys_runner_upload(d->runner, devsys_repo_checkout_path(c->repo), d->cwd)) < 0)
		devsys__pool_failed(c->p, d->runner, rc);
	return rc;
}

/* The marker written before anything starts: what stop_service needs. */
static int record_start(deploy_run *d, const char *kind)
{
	/* pool_member: a pooled target's member, where the service is stopped later (not wherever the pool places) */
	d->rec = json_pack("{s:s,s:i,s:s,s:s?,s:s?,s:b,s:s?,s:s,s:n,s:b}", "kind", kind, "port", (int)d->port, "runner",
	                   d->type, "profile", d->profile, "pool_member", devsys__pool_member(d->runner), "remote",
	                   d->remote, "dir", d->dir, "checkout", d->cwd, "service", "stopped", 0);
	return d->rec ? record_deploy(d->c, d->rec) : devsys__error_oom();
}

/* The class of a deploy command's failure: its own (exit, signal, a program
 * that is not there) is build; the runner's, system; timeout and cancel their own. */
static int runner_class(int rc, int failure)
{
	if (failure == DEVSYS_RUNNER_NOT_RUN)
		return DEVSYS_FAILURE_BUILD;
	if (rc < 0 && failure == DEVSYS_RUNNER_OK)
		return DEVSYS_FAILURE_SYSTEM;
	return devsys__pipeline_failure_of_runner(failure);
}

/* The pid file the command wrote (none: a deploy without a service). */
static int read_service(deploy_run *d, long long *pid, long long *pgid, long long *start)
{
	devsys_buf out = DEVSYS_BUF_INIT;
	char *end, state = 0;
	int rc;
	*pid = 0;
	if (!d->remote) {
		rc = devsys__read_file(&out, d->pidfile, 256);
	} else {
		const char *argv[] = { "/bin/sh", "-c",
			               "[ -f \"$1\" ] || exit 0; p=$(cat -- \"$1\"); printf '%s\\n' \"$p\"; "
			               "case $p in *[!0-9]*|'') exit 0;; esac; cat /proc/$p/stat 2>/dev/null; exit 0",
			               "sh", d->pidfile, NULL };
		rc = run_ok(d->c, d->runner, argv, NULL, NULL, 30000, 0, &out, "reading the service's pid file");
	}
	if (rc == DEVSYS_ENOTFOUND || (rc == 0 && out.size == 0)) {
		devsys_buf_dispose(&out);
		return 0;
	}
	if (rc == 0) {
		*pid = strtoll(out.ptr, &end, 10);
		if (end == out.ptr || *pid <= 1 || (*end && *end != '\n' && *end != ' '))
			rc = devsys__error_set(DEVSYS_EINVALID, "deploy: DEVSYS_DEPLOY_PIDFILE (%s) holds '%.40s', not a pid",
			                       d->pidfile, out.ptr);
		else if (d->remote ? parse_stat(strchr(out.ptr, '\n') + 1, &state, pgid, start) < 0 || state == 'Z'
		                   : !local_alive(*pid, -1, pgid) || (*start = devsys__proc_start((pid_t)*pid)) < 0)
			rc = devsys__error_set(DEVSYS_EINVALID,
			                       "deploy: the deploy command wrote pid %lld into DEVSYS_DEPLOY_PIDFILE, but no "
			                       "such process runs (it exited, or it stayed in the command's process group, "
			                       "which ends with the command: start the service with setsid)",
			                       *pid);
	}
	devsys_buf_dispose(&out);
	return rc;
}

static int deploy_command(deploy_run *d, int *fclass, const char **outcome)
{
	const devsys_node *cmd = devsys_node_get(devsys_spec_at(d->c->p->spec, 0), "/deploy/command");
	devsys_runner_result rr = DEVSYS_RUNNER_RESULT_INIT;
	const char **argv = devsys__calloc(devsys_node_size(cmd) + 1, sizeof(char *));
	long long pid = 0, pgid = 0, start = 0;
	unsigned int ms = 0;
	int rc = argv ? 0 : devsys__error_oom();
	*fclass = DEVSYS_FAILURE_SYSTEM;
	*outcome = "deploy-failed";
	for (size_t i = 0; rc == 0 && i < devsys_node_size(cmd); i++)
		argv[i] = devsys_node_string(devsys_node_at(cmd, i), NULL);
	if (rc == 0 && (rc = devsys_spec_timeout_ms(d->c->p->spec, 0, "deploy", &ms)) == DEVSYS_ENOTFOUND)
		rc = 0, ms = DEFAULT_DEPLOY_MS;
	if (rc == 0 && (rc = record_start(d, "command")) == 0) {
		rc = run(&rr, d->c, d->runner, argv, (const char *const *)d->env.v, d->cwd, ms, 1, NULL);
		if (rc < 0 || rr.failure != DEVSYS_RUNNER_OK) {
			*fclass = runner_class(rc, rr.failure);
			if (rc == 0)
				rc = devsys__error_set(DEVSYS_ERROR, "the deploy command %s (exit %d, signal %d); see "
				                                     "logs/deploy.log",
				                       devsys_runner_failure_name(rr.failure), rr.exit_code, rr.signal);
		}
	}
	devsys_runner_result_dispose(&rr);
	devsys__free(argv);
	if (rc < 0)
		return rc;
	if ((rc = read_service(d, &pid, &pgid, &start)) < 0) {
		*fclass = rc == DEVSYS_EINVALID ? DEVSYS_FAILURE_BUILD : DEVSYS_FAILURE_SYSTEM;
		return rc;
	}
	if (pid > 1) {
		json_object_set_new(d->rec, "service", json_pack("{s:I,s:I,s:I}", "pid", (json_int_t)pid, "pgid",
		                                                  (json_int_t)pgid, "start_time", (json_int_t)start));
		if ((rc = record_deploy(d->c, d->rec)) < 0)
			return rc;
	}
	return 0;
}

/* `docker compose` when the plugin is there, else Debian's docker-compose. */
static int compose_tool(deploy_run *d, json_t **tool)
{
	static const char *const plugin[] = { "docker", "compose", "version", NULL };
	static const char *const v1[] = { "docker-compose", "version", NULL };
	devsys_runner_result rr = DEVSYS_RUNNER_RESULT_INIT;
	int rc = run(&rr, d->c, d->runner, plugin, NULL, NULL, TOOL_MS, 0, NULL), ok = rr.failure == DEVSYS_RUNNER_OK;
	devsys_runner_result_dispose(&rr);
	if (rc == 0 && ok) {
		*tool = json_pack("[s,s]", "docker", "compose");
		return *tool ? 0 : devsys__error_oom();
	}
	rc = run(&rr, d->c, d->runner, v1, NULL, NULL, TOOL_MS, 0, NULL);
	ok = rr.failure == DEVSYS_RUNNER_OK;
	devsys_runner_result_dispose(&rr);
	if (d->c->p->canceled)
		return devsys__error_set(DEVSYS_ECANCELED, "task '%s' was canceled", d->c->p->task_id);
	if (!ok)
		return devsys__error_set(DEVSYS_ENOTFOUND, "deploy: neither 'docker compose' nor 'docker-compose' runs on the "
		                                           "%s runner; install the compose plugin or Debian's docker-compose",
		                         d->type);
	*tool = json_pack("[s]", "docker-compose");
	return *tool ? 0 : devsys__error_oom();
}

static int deploy_compose(deploy_run *d, int *fclass, const char **outcome)
{
	const char *file = devsys_spec_get_string(d->c->p->spec, "/deploy/compose");
	devsys_runner_result rr = DEVSYS_RUNNER_RESULT_INIT;
	const char *argv[16];
	json_t *tool = NULL;
	char *project = compose_project(d->c->p->task_id);
	devsys_buf local = DEVSYS_BUF_INIT;
	unsigned int ms = 0;
	size_t n = 0;
	int rc = project ? 0 : devsys__error_oom();
	*fclass = DEVSYS_FAILURE_SYSTEM;
	*outcome = "deploy-failed";
	if (rc == 0 && (!file || devsys__path_join_within(&local, devsys_repo_checkout_path(d->c->repo), file) < 0 ||
	                !devsys__relpath_is_safe(file) || access(local.ptr, R_OK) != 0)) {
		*fclass = DEVSYS_FAILURE_BUILD;
		rc = devsys__error_set(DEVSYS_ENOTFOUND, "deploy: deploy.compose names '%s', which is not a readable file "
		                                         "in the checkout",
		                       file ? file : "(none)");
	}
	if (rc == 0 && (rc = devsys_spec_timeout_ms(d->c->p->spec, 0, "deploy", &ms)) == DEVSYS_ENOTFOUND)
		rc = 0, ms = DEFAULT_DEPLOY_MS;
	if (rc == 0)
		rc = compose_tool(d, &tool);
	if (rc == 0 && (rc = record_start(d, "compose")) == 0) {
		/* recorded before `up`, so that a crash after it can still bring it down */
		json_object_set_new(d->rec, "compose", json_pack("{s:s,s:s,s:O,s:s?}", "file", file, "project", project,
		                                                 "tool", tool, "docker_host", d->docker_host));
		rc = record_deploy(d->c, d->rec);
	}
	for (size_t i = 0; rc == 0 && i < json_array_size(tool); i++)
		argv[n++] = json_string_value(json_array_get(tool, i));
	if (rc == 0) {
		const char *rest[] = { "-f", file, "-p", project, "up", "-d", NULL };
		memcpy(argv + n, rest, sizeof(rest));
		rc = run(&rr, d->c, d->runner, argv, (const char *const *)d->env.v, d->cwd, ms, 1, NULL);
		if (rc < 0 || rr.failure != DEVSYS_RUNNER_OK) {
			*fclass = runner_class(rc, rr.failure);
			if (rc == 0)
				rc = devsys__error_set(DEVSYS_ERROR, "deploy: '%s up -d' %s (exit %d); see logs/deploy.log",
				                       json_string_value(json_array_get(tool, json_array_size(tool) - 1)),
				                       devsys_runner_failure_name(rr.failure), rr.exit_code);
		}
	}
	devsys_runner_result_dispose(&rr);
	json_decref(tool);
	devsys_buf_dispose(&local);
	devsys__free(project);
	return rc;
}

/* ---- acceptance and the stage's end ---- */

static void set_deploy_status(deploy_run *d, int green, const char *description)
{
	int rc = devsys__pipeline_set_status(d->c, "devsys/deploy", green ? DEVSYS_CHECK_SUCCESS : DEVSYS_CHECK_FAILURE,
	                                     description);
	char note[320];
	if (rc == 0)
		snprintf(note, sizeof(note), "set: %s", green ? "success" : "failure");
	else
		snprintf(note, sizeof(note), "%s: %.200s", rc == DEVSYS_ENOTSUPPORTED ? "no forge status" : "not set",
		         devsys_error_message(devsys_error_last()));
	if (d->rec)
		json_object_set_new(d->rec, "status", json_string(note));
}

static int write_acceptance(devsys__stage_ctx *c, const char *json)
{
	devsys_record *rec = NULL;
	int rc = devsys_record_open(&rec, c->task);
	if (rc == 0)
		rc = devsys_record_write_acceptance(rec, json);
	devsys_record_free(rec);
	return rc;
}

/* Run the checks, write reports/acceptance.json; *failed: how many failed. */
static int run_acceptance(deploy_run *d, devsys__acceptance *a, size_t *failed, devsys_buf *first)
{
	devsys__acceptance_place where = { d->runner, d->cwd, (const char *const *)d->env.v };
	devsys_buf report = DEVSYS_BUF_INIT;
	int rc = devsys__acceptance_run(&report, failed, first, a, d->c, &where);
	if (rc == 0)
		rc = write_acceptance(d->c, report.ptr);
	devsys_buf_dispose(&report);
	if (rc == 0 && d->rec) {
		json_object_set_new(d->rec, "acceptance", json_pack("{s:s,s:I}", "report", "reports/acceptance.json",
		                                                   "failed", (json_int_t)*failed));
	}
	return rc;
}

/* A failure after something may have started: stop it, then end the stage. */
static int fail(deploy_run *d, int rc, int fclass, const char *outcome)
{
	char msg[1024];
	snprintf(msg, sizeof(msg), "%s", devsys_error_message(devsys_error_last()));
	if (fclass == DEVSYS_FAILURE_CANCELED)
		outcome = "canceled";
	if (d->rec)
		record_deploy(d->c, d->rec);
	if (devsys__pipeline_stop_service(d->c) < 0)
		snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), "; stopping what it started failed too: %s",
		         devsys_error_message(devsys_error_last()));
	return devsys__pipeline_end(d->c, "deploy", devsys__error_set(rc, "%s", msg), fclass, outcome, -1);
}

static void run_dispose(deploy_run *d)
{
	devsys_runner_free(d->runner);
	devsys__free(d->dir);
	devsys__free(d->cwd);
	devsys__free(d->pidfile);
	devsys__free(d->docker_host);
	devsys__strvec_free(&d->env);
	json_decref(d->rec);
}

static int deploy_and_accept(deploy_run *d, devsys__acceptance *a)
{
	devsys__stage_ctx *c = d->c;
	int compose = devsys_spec_get_string(c->p->spec, "/deploy/compose") != NULL, rc, end, fclass;
	const char *outcome;
	devsys_buf first = DEVSYS_BUF_INIT;
	size_t failed = 0, total;
	char desc[160];

	if ((rc = open_target(d, compose, &end)) < 0 || end)
		return rc;
	if ((rc = place_checkout(d)) < 0 || (rc = build_env(d)) < 0)
		return fail(d, rc, DEVSYS_FAILURE_SYSTEM, "deploy-failed");
	if ((rc = compose ? deploy_compose(d, &fclass, &outcome) : deploy_command(d, &fclass, &outcome)) < 0)
		return fail(d, rc, fclass, outcome);
	if ((rc = run_acceptance(d, a, &failed, &first)) < 0) {
		devsys_buf_dispose(&first);
		return fail(d, rc, rc == DEVSYS_ECANCELED ? DEVSYS_FAILURE_CANCELED : DEVSYS_FAILURE_SYSTEM,
		            rc == DEVSYS_ECANCELED ? "canceled" : "record-failed");
	}
	total = devsys_node_size(devsys_node_get(devsys_spec_at(c->p->spec, 0), "/deploy/acceptance"));
	snprintf(desc, sizeof(desc), "%zu of %zu acceptance checks %s", failed ? failed : total, total,
	         failed ? "failed" : "passed");
	set_deploy_status(d, failed == 0, desc);
	if (failed) {
		rc = devsys__error_set(DEVSYS_ERROR, "deploy: %zu acceptance check%s failed, first %s; see "
		                                     "reports/acceptance.json",
		                       failed, failed == 1 ? "" : "s", first.ptr ? first.ptr : "");
		devsys_buf_dispose(&first);
		return fail(d, rc, DEVSYS_FAILURE_BUILD, "acceptance-failed");
	}
	devsys_buf_dispose(&first);
	if ((rc = record_deploy(c, d->rec)) < 0)
		return fail(d, rc, DEVSYS_FAILURE_SYSTEM, "record-failed");
	return devsys__pipeline_end(c, "deploy", 0, DEVSYS_FAILURE_NONE, "deployed", DEVSYS_STATE_DEPLOYED);
}

int devsys__stage_deploy(devsys__stage_ctx *c)
{
	deploy_run d;
	devsys__acceptance *a = NULL;
	int rc;

	if ((rc = devsys__pipeline_begin(c, "deploy")) < 0)
		return rc;
	if (!devsys_node_get(devsys_spec_at(c->p->spec, 0), "/deploy"))
		return devsys__pipeline_end(c, "deploy", 0, DEVSYS_FAILURE_NONE, "deploy-skipped", DEVSYS_STATE_DEPLOY_SKIPPED);
	memset(&d, 0, sizeof(d));
	d.c = c;
	d.profile = deploy_profile(c->p);
	/* a deployment of an earlier, interrupted run goes first */
	if ((rc = devsys__pipeline_stop_service(c)) < 0)
		return devsys__pipeline_end(c, "deploy", rc, DEVSYS_FAILURE_SYSTEM, "deploy-failed", -1);
	if ((rc = free_port(&d.port)) < 0)
		return devsys__pipeline_end(c, "deploy", rc, DEVSYS_FAILURE_SYSTEM, "deploy-failed", -1);
	/* every check is checked before anything is deployed */
	if ((rc = devsys__acceptance_load(&a, c->p->spec, d.port)) < 0)
		return devsys__pipeline_end(c, "deploy", rc, rc == DEVSYS_ENOMEM ? DEVSYS_FAILURE_SYSTEM : DEVSYS_FAILURE_BUILD,
		                            "deploy-refused", -1);
	rc = deploy_and_accept(&d, a);
	devsys__acceptance_free(a);
	run_dispose(&d);
	return rc;
}
