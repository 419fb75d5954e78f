/*
 * Fuzz target: an opencode adapter session as the pipeline drives it
 * (lib/agent/agent.c and lib/agent/opencode/opencode.c): stdout and
 * stderr split into lines across arbitrary chunk boundaries, each stdout
 * line through the event parser, the budgets, the tool and step records
 * and the status label, each stderr line through the permission-prompt
 * check, then the usage report and the version check on the same bytes.
 *
 * Input: [chunk size byte] stdout bytes [0x01 stderr bytes]. Invariants:
 * the usage is a JSON object whose steps, events and counts are
 * non-negative and consistent; a stop has a reason; a stall names a
 * permission; the version check answers 0 only for the expected version.
 */
#include "core/core.h"
#include "agent/agent_int.h"

#include <devsys.h>

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char cfg_yaml[] = "agents:\n  opencode:\n    kind: opencode\n    provider: fake\n"
                               "    base_url: http://127.0.0.1:9/v1\n    models: fake-model\n"
                               "    max_steps: 50\n    max_tokens: 100000\n    max_cost: 3\n";
static const char spec_yaml[] = "id: fz\ntitle: fz\nprompt: p\nrepo:\n  url: file:///nonexistent\n"
                                "agent:\n  kind: opencode\ntests:\n  command: [true]\n";
static devsys_agent_request req = { DEVSYS_AGENT_REQUEST_VERSION, NULL, NULL, NULL, "/", NULL, NULL, NULL, 0 };

static char home[64];

/* The HOME goes at exit: each replay or fuzzing process makes one. */
static void remove_home(void)
{
	char p[96];
	snprintf(p, sizeof(p), "%s/opencode.json", home);
	unlink(p);
	rmdir(home);
}

/* Once: devsys, the operator's profile, a spec, and a HOME for opencode.json (tmpfs when there is one). */
static int setup(void)
{
	static int done;
	devsys_config *cfg = NULL;
	devsys_spec *spec = NULL;
	if (done)
		return done > 0 ? 0 : -1;
	done = -1;
	snprintf(home, sizeof(home), "%s/devsys-fuzz-agent-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (devsys_init() < 0 || !mkdtemp(home) || atexit(remove_home) != 0 || devsys_config_parse(&cfg, cfg_yaml, strlen(cfg_yaml), "fz.yaml") < 0 ||
	    devsys_spec_load_buffer(&spec, spec_yaml, strlen(spec_yaml), "fz.yaml", NULL) < 0)
		return -1;
	req.spec = spec; /* kept for the process's life */
	req.config = cfg;
	req.home = home;
	done = 1;
	return 0;
}

static void feed(devsys__agent *a, int stream, const uint8_t *p, size_t n, size_t chunk)
{
	while (n) {
		size_t k = n < chunk ? n : chunk;
		if (devsys__agent_output(stream, (const char *)p, k, a) != 0)
			return; /* stopped: the runner would stop the agent here */
		p += k;
		n -= k;
	}
}

static void check_usage(devsys__agent *a)
{
	char *u = NULL;
	json_t *j;
	if (devsys__agent_usage(&u, a) < 0 || !u)
		__builtin_trap();
	if (!(j = json_loads(u, 0, NULL)) || !json_is_object(j))
		__builtin_trap();
	if (json_integer_value(json_object_get(j, "steps")) < 0 || json_integer_value(json_object_get(j, "events")) < 0 ||
	    json_integer_value(json_object_get(j, "tool_calls")) > json_integer_value(json_object_get(j, "events")) ||
	    json_array_size(json_object_get(j, "per_step")) > (size_t)json_integer_value(json_object_get(j, "steps")))
		__builtin_trap();
	json_decref(j);
	devsys__free(u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	devsys__agent *a = NULL;
	const uint8_t *sep;
	size_t chunk, nout;
	uint64_t step, max;
	const char *label;
	if (size < 1 || setup() < 0 || devsys__agent_open(&a, "opencode", &req) < 0)
		return 0;
	chunk = (size_t)data[0] % 97 + 1;
	data++;
	size--;
	sep = memchr(data, 0x01, size);
	nout = sep ? (size_t)(sep - data) : size;
	feed(a, DEVSYS_RUNNER_STDOUT, data, nout, chunk);
	if (sep)
		feed(a, DEVSYS_RUNNER_STDERR, sep + 1, size - nout - 1, chunk);
	devsys__agent_finish(a);
	if ((label = devsys__agent_status(a, &step, &max)) && strlen(label) >= 160)
		__builtin_trap();
	if (devsys__agent_stop_reason(a) && !devsys__agent_stop_reason(a)[0])
		__builtin_trap(); /* a stop always says why */
	if (devsys__agent_stalled(a) && !strstr(devsys__agent_stop_reason(a), "asked for a permission"))
		__builtin_trap();
	check_usage(a);
	/* the version check over the same bytes: 0 only for exactly the tested version */
	{
		int rc = devsys__agent_preflight_check(a, 0, (const char *)data, nout);
		if (rc != 0 && rc != DEVSYS_EINVALID)
			__builtin_trap();
		if (rc == 0 && (nout < 7 || !memmem(data, nout, "1.18.33", 7)))
			__builtin_trap();
	}
	devsys__agent_close(a);
	return 0;
}
