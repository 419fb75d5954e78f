/*
 * Internals of the Docker Engine API client (never installed): the pure
 * parts that need no connection. The attach/logs stream demultiplexer, a
 * streaming tar reader and writer for the archive endpoints, the endpoint
 * parser with the DOCKER_HOST rule, and checks for inputs that end up in the
 * API's JSON. None of them does I/O on a socket; each is fed bytes or asked
 * for bytes, so they can be tested and fuzzed alone.
 */
#ifndef DEVSYS_DOCKER_INT_H
#define DEVSYS_DOCKER_INT_H

#include "../../core/core.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ================= attach / logs stream demultiplexer ================= */

/*
 * Without a TTY, Docker frames every write of the container with an 8-byte
 * header: stream type (0 stdin, 1 stdout, 2 stderr, 3 an engine error), three
 * zero bytes and the payload length as a big-endian uint32. With a TTY the
 * stream is raw bytes, all of it stdout.
 */
enum {
	DEVSYS__DOCKER_STDOUT = 1,
	DEVSYS__DOCKER_STDERR = 2,
	DEVSYS__DOCKER_SYSERR = 3 /* the engine's own error text (stdcopy's Systemerr) */
};

/* Default cap on one frame's payload; frames are streamed, never buffered whole. */
#define DEVSYS__DOCKER_MAX_FRAME (8u * 1024u * 1024u)

/* Non-zero return aborts the feed with DEVSYS_EUSER. */
typedef int (*devsys__docker_output_cb)(int stream, const char *data, size_t len, void *payload);

typedef struct devsys__docker_demux {
	bool raw;             /* TTY mode: no frames, everything is stdout */
	uint32_t max_frame;   /* larger frames are refused (DEVSYS_ELIMIT) */
	unsigned char hdr[8]; /* the header being collected */
	size_t hdr_len;       /* bytes of it seen so far */
	int stream;           /* the current frame's stream */
	uint32_t remaining;   /* payload bytes of the current frame still to come */
	uint64_t offset;      /* bytes consumed so far, for error messages */
	int error;            /* sticky: once failed, every later feed fails the same way */
	devsys__docker_output_cb cb;
	void *payload;
} devsys__docker_demux;

/* @p max_frame 0 means DEVSYS__DOCKER_MAX_FRAME. Stream 0 (stdin echo) is reported as stdout. */
void devsys__docker_demux_init(devsys__docker_demux *d, bool raw, uint32_t max_frame, devsys__docker_output_cb cb,
                               void *payload);
/*
 * Feed the next @p len bytes, split anywhere. 0, or DEVSYS_EPARSE for a bad
 * header (naming its byte offset and bytes), DEVSYS_ELIMIT for a frame over
 * the cap, DEVSYS_EUSER when the callback aborted.
 */
int devsys__docker_demux_feed(devsys__docker_demux *d, const void *data, size_t len);
/* End of stream: DEVSYS_EPARSE when it stopped inside a header or a frame. */
int devsys__docker_demux_finish(devsys__docker_demux *d);

/* ============================ tar reader ============================= */

enum {
	DEVSYS__TAR_FILE = 1,
	DEVSYS__TAR_DIR,
	DEVSYS__TAR_SYMLINK,
	DEVSYS__TAR_HARDLINK
};

typedef struct devsys__tar_entry {
	int type;          /* DEVSYS__TAR_* */
	const char *path;  /* relative, no "." or ".." components, no leading "./" or trailing "/" */
	const char *link;  /* symlink target (devsys__link_target_within holds) or hardlink's entry path; else NULL */
	unsigned int mode; /* permission bits, & 07777 */
	uint64_t size;     /* data bytes (regular files only; 0 otherwise) */
	int64_t mtime;
} devsys__tar_entry;

typedef struct devsys__tar_callbacks {
	/* A new entry; its data (files) follow through @c data, then @c end.
	 * A non-zero return stops the stream: a negative DEVSYS_E* code is
	 * returned as it is (with the message the callback set), anything else
	 * as DEVSYS_EUSER. */
	int (*entry)(const devsys__tar_entry *e, void *payload);
	int (*data)(const devsys__tar_entry *e, const char *data, size_t len, void *payload);
	int (*end)(const devsys__tar_entry *e, void *payload);
	void *payload;
} devsys__tar_callbacks;

typedef struct devsys__tar_limits {
	uint64_t max_entry_size; /* one file's size; 0: 1 GiB */
	uint64_t max_total_size; /* sum of all files' sizes; 0: 4 GiB */
	uint64_t max_entries;    /* 0: 1,000,000 */
} devsys__tar_limits;

typedef struct devsys__tar_reader devsys__tar_reader;

/* @p limits may be NULL (defaults). The callbacks are copied; any slot may be NULL. */
int devsys__tar_reader_new(devsys__tar_reader **out, const devsys__tar_limits *limits,
                           const devsys__tar_callbacks *cbs);
/*
 * Feed the next @p len bytes, split anywhere. Refused, with an error naming
 * the entry and why: a bad checksum or octal field, a non-ustar header, an
 * absolute path or a ".." component, a symlink whose target leaves the tree,
 * a hardlink to a path outside it, device, fifo and other special entries,
 * sizes over the limits. Sticky: after an error every call fails.
 */
int devsys__tar_reader_feed(devsys__tar_reader *r, const void *data, size_t len);
/* End of input: DEVSYS_EPARSE unless the end-of-archive blocks were seen. */
int devsys__tar_reader_finish(devsys__tar_reader *r);
/* Entries and file bytes handed out so far. */
uint64_t devsys__tar_reader_entries(const devsys__tar_reader *r);
uint64_t devsys__tar_reader_total(const devsys__tar_reader *r);
void devsys__tar_reader_free(devsys__tar_reader *r);

/* ========================= tar extraction ============================ */

/*
 * A tar stream written to disk below @p dir (created if missing) through
 * core's devsys__beneath_* walk: every component is opened O_NOFOLLOW from
 * the root, so an entry can never write through a symlink an earlier entry
 * (or anyone) planted, and links are created only when they stay inside.
 * @p strip_components leading path components are dropped from entry paths
 * and hardlink targets (a Docker archive of /work names its entries
 * "work/..."); entries with no components left are skipped. Any refusal,
 * from the reader or the walk, ends the extraction with that error; what was
 * written before it stays, all of it inside @p dir.
 */
typedef struct devsys__tar_extract devsys__tar_extract;

int devsys__tar_extract_new(devsys__tar_extract **out, const char *dir, unsigned int strip_components,
                            const devsys__tar_limits *limits);
int devsys__tar_extract_feed(devsys__tar_extract *x, const void *data, size_t len);
/* End of the stream: the reader's verdict (a truncated archive fails). */
int devsys__tar_extract_finish(devsys__tar_extract *x);
/* Entries written so far. */
uint64_t devsys__tar_extract_entries(const devsys__tar_extract *x);
void devsys__tar_extract_free(devsys__tar_extract *x);

/* ============================ tar writer ============================= */

typedef struct devsys__tar_writer_opts {
	unsigned int uid, gid;   /* owner stamped on every entry (the container user) */
	const char *prefix;      /* entry path prefix ("" or NULL: the tree's own names) */
	uint64_t max_total_size; /* 0: no limit; else DEVSYS_ELIMIT beyond it */
} devsys__tar_writer_opts;

typedef struct devsys__tar_writer devsys__tar_writer;

/*
 * A pull-style ustar (+ pax for long names and big sizes) writer over the
 * tree at @p dir: regular files, directories and symlinks with their modes.
 * Symlinks are stored as links and never followed; every open is
 * O_NOFOLLOW relative to its parent's descriptor, so nothing outside the tree
 * is read even when the tree changes under the walk. Fifos, sockets and
 * devices are refused with an error naming them.
 */
int devsys__tar_writer_new(devsys__tar_writer **out, const char *dir, const devsys__tar_writer_opts *opts);
/*
 * Fill up to @p cap bytes into @p buf (libcurl's read-callback shape).
 * Returns the count (0 at the end of the archive) or a negative DEVSYS_E*.
 */
long devsys__tar_writer_read(devsys__tar_writer *w, char *buf, size_t cap);
void devsys__tar_writer_free(devsys__tar_writer *w);

/* Push-style convenience: the whole archive through @p cb (non-zero aborts: DEVSYS_EUSER). */
int devsys__tar_write_tree(const char *dir, const devsys__tar_writer_opts *opts,
                           int (*cb)(const char *data, size_t len, void *payload), void *payload);

/* ============================ endpoints ============================== */

enum { DEVSYS__DOCKER_UNIX = 1, DEVSYS__DOCKER_TCP };

#define DEVSYS__DOCKER_DEFAULT_HOST "unix:///var/run/docker.sock"
/* sun_path holds 108 bytes, the terminating NUL included. */
#define DEVSYS__SUN_PATH_MAX 108

typedef struct devsys__docker_endpoint {
	int kind;           /* DEVSYS__DOCKER_UNIX or DEVSYS__DOCKER_TCP */
	char *spec;         /* the endpoint as given, e.g. "tcp://127.0.0.1:2376" */
	const char *source; /* "profile", "DOCKER_HOST" or "default": where it came from */
	char *path;         /* unix: the socket path */
	char *host;         /* tcp: host name or address (IPv6 without brackets) */
	int port;           /* tcp: port (default 2376 with TLS, 2375 without) */
	bool tls;           /* tcp: https with client certificates */
	char *base_url;     /* "http://docker" (unix), "http(s)://host:port" (tcp); IPv6 bracketed */
} devsys__docker_endpoint;

/* Parse "unix:///abs/path" or "tcp://host[:port]". Errors name @p spec and say what is wrong. */
int devsys__docker_endpoint_parse(devsys__docker_endpoint *out, const char *spec, bool tls, const char *source);
/*
 * The Docker convention: the profile's host when it gives one, else
 * @p docker_host_env (the caller passes getenv("DOCKER_HOST")) when set and
 * non-empty, else DEVSYS__DOCKER_DEFAULT_HOST.
 */
int devsys__docker_endpoint_resolve(devsys__docker_endpoint *out, const char *profile_host,
                                    const char *docker_host_env, bool tls);
/* DEVSYS_ELIMIT naming @p path and the limit when it does not fit sun_path; 0 otherwise. */
int devsys__unix_path_check(const char *path, const char *what);
void devsys__docker_endpoint_dispose(devsys__docker_endpoint *ep);

/* ========================= API version ============================== */

/* The oldest Engine API the client speaks (HostConfig.Init arrived in 1.25)
 * and the newest it was written against (Docker 20.10). */
#define DEVSYS__DOCKER_API_MIN "1.25"
#define DEVSYS__DOCKER_API_MAX "1.41"

/*
 * The version to put in request paths ("/v<out>/..."), from the engine's
 * newest (/_ping's API-Version header or /version's ApiVersion) and, when
 * known, oldest (/version's MinAPIVersion) API version: the lower of the
 * engine's newest and DEVSYS__DOCKER_API_MAX. DEVSYS_EPARSE for a version
 * that is not MAJOR.MINOR, DEVSYS_ENOTSUPPORTED when the ranges do not meet;
 * both name the versions. @p out holds at least 16 bytes.
 */
int devsys__docker_api_version(char *out, size_t out_size, const char *engine_max, const char *engine_min);

/* ======================= inputs bound for API JSON ======================= */

/*
 * An image reference per Docker's grammar:
 *   [domain[:port]/]path-component[/path-component...][:tag][@algorithm:hex]
 * lower-case path components (alpha-numerics joined by '.', '_', '__' or
 * dashes), a tag of [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}, at most 255 bytes of
 * name. DEVSYS_EINVALID naming the image and the offending offset.
 */
int devsys__docker_image_check(const char *image);
/* An env entry: name non-empty without '=' or a newline; value without a newline.
 * Errors name the variable, never its value (it may be a secret). */
int devsys__docker_env_check(const char *name, const char *value);

#endif /* DEVSYS_DOCKER_INT_H */
