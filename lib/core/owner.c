/*
 * Process identity that survives pid reuse: a pid, its start time (field 22
 * of /proc/<pid>/stat) and the boot id. The store stamps task rows with it,
 * the Docker runner labels containers with it; both ask whether the owner
 * still runs the same way.
 */
#include "core.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

long long devsys__proc_start(pid_t pid)
{
	char path[64], buf[1024];
	FILE *f;
	char *p;
	long long v = 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "r")))
		return -1;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	/* field 22 (starttime), counted after the ")" that ends the command name */
	if (!(p = strrchr(buf, ')')))
		return -1;
	p++;
	for (int field = 3; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (p)
		v = strtoll(p + 1, NULL, 10);
	return v;
}

void devsys__boot_id(char *out, size_t size)
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
	out[0] = '\0';
	if (f) {
		if (fgets(out, (int)size, f))
			out[strcspn(out, "\n")] = '\0';
		fclose(f);
	}
}

bool devsys__owner_alive(long long pid, long long start, const char *boot)
{
	char now[40];
	devsys__boot_id(now, sizeof(now));
	if (pid <= 0 || !boot || strcmp(now, boot) != 0)
		return false;
	if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
		return false;
	return devsys__proc_start((pid_t)pid) == start;
}
