/*
 * The dind test image and a nested engine for tests, on top of the dockerd
 * fixture (dockerd_fixture.h).
 *
 * The image, DT_DIND_IMAGE, is made by tests/support/dind_rootfs.sh from this
 * machine's own Debian docker.io binaries (dockerd, containerd,
 * containerd-shim-runc-v2, runc, docker-init) and the libraries ldd lists
 * for them, plus static busybox, and imported with `docker import` into the
 * fixture engine. No registry is used.
 *
 * A nested engine (dt_dind_engine_start) runs that image on the fixture
 * engine with the flags measured on this machine (DESIGN.md §5): --cap-add
 * ALL --cap-drop SYS_RESOURCE (the sandbox has no CAP_SYS_RESOURCE, so
 * --privileged fails), seccomp and apparmor unconfined, --cgroupns host with
 * /sys/fs/cgroup bind-mounted, --network none; the inner dockerd with
 * --storage-driver vfs --bridge=none --iptables=false --ip-masq=false and
 * its socket in a short bind-mounted host directory. The CLI is used by the
 * fixture only, always with -H naming the fixture socket.
 *
 * One image per suite:
 *   ReportHook(PRE_ALL)  { dt_dockerd_suite_start(); dt_dind_suite_start(); }
 *   ReportHook(POST_ALL) { dt_dockerd_suite_stop(); }
 *   d = dt_dind_suite(why, sizeof why);  // the dockerd suite view, image checked
 */
#ifndef DEVSYS_DIND_FIXTURE_H
#define DEVSYS_DIND_FIXTURE_H

#include "dockerd_fixture.h"

#define DT_DIND_IMAGE "devsys-test/dind:latest"

/* Build the rootfs tar in @p d's directory and import it as DT_DIND_IMAGE.
 * 0, or -1 with a reason in @p why. @p ms gets the build + import time. */
int dt_dind_image_import(const dt_dockerd *d, double *ms, char *why, size_t why_len);

/* In the PRE_ALL hook, after dt_dockerd_suite_start(): import the image once. */
void dt_dind_suite_start(void);
/* The dockerd suite view with DT_DIND_IMAGE on it, or NULL and a reason. */
dt_dockerd *dt_dind_suite(char *why, size_t why_len);

typedef struct dt_dind {
	char *dir;        /* /tmp/dt-dnd-XXXXXX on the host, bind-mounted at /run/dind */
	char *sock;       /* <dir>/docker.sock: the inner engine */
	char *container;  /* the outer container's id */
	char *cli;        /* docker CLI prefix against the OUTER (fixture) engine */
	double ready_ms;  /* outer container create -> inner /_ping 200 */
	struct dt_watchdog *watchdog; /* removes the container and dir if the test dies */
} dt_dind;

/* Start a nested engine in a container on @p d; NULL and a reason on failure (nothing left).
 * If the test process dies without dt_dind_engine_free(), the fixture's watchdog (watchdog.h)
 * does what it does: the inner containers, the outer container, the cgroups, the directory. */
dt_dind *dt_dind_engine_start(const dt_dockerd *d, char *why, size_t why_len);
/* Kill the inner containers, force-remove the outer container with its
 * volumes, remove the directory. NULL is fine. */
void dt_dind_engine_free(dt_dind *e);

#endif /* DEVSYS_DIND_FIXTURE_H */
