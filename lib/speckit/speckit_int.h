/*
 * spec-kit module internals: the parsed feature, shared by parse.c,
 * check.c and plan.c.
 */
#ifndef DEVSYS_SPECKIT_INT_H
#define DEVSYS_SPECKIT_INT_H

#include "core/core.h"
#include "devsys/speckit.h"

#include <stdbool.h>

/* One Markdown line: comments blanked out, CR and BOM stripped. */
typedef struct sk_line {
	char *text;
	size_t len;
	bool code; /* inside a fenced block, or a fence line */
} sk_line;

typedef struct sk_file {
	char *path;   /* dir + "/" + name, for findings */
	char *name;   /* name within the folder ("spec.md", "checklists/a.md") */
	sk_line *lines;
	size_t n;
	bool present;
	unsigned unterminated_fence; /* line of a fence never closed, 0 when none */
	unsigned unterminated_comment;
} sk_file;

typedef struct sk_strv {
	char **v;
	unsigned *line;
	size_t n, cap;
} sk_strv;

typedef struct sk_story {
	unsigned number, priority, scenarios, line;
	char *title;
} sk_story;

typedef struct sk_badline {
	unsigned line;
	char *what;
} sk_badline;

enum sk_phase_kind { SK_PH_SETUP, SK_PH_FOUND, SK_PH_STORY, SK_PH_OTHER, SK_PH_POLISH };

typedef struct sk_phase {
	char *title;
	unsigned line, checkpoints, story; /* story: n of "User Story n", else 0 */
	enum sk_phase_kind kind;
	bool implicit; /* tasks outside any "## Phase" heading */
} sk_phase;

struct devsys_speckit_task {
	char id[16];
	char state;
	bool parallel;
	unsigned story, line;
	size_t phase;
	char *desc;
	sk_strv deps, paths, tags, cites; /* cites: FR-/SC- ids named */
};

typedef struct sk_checklist {
	sk_file file;
	devsys_buf keep;
	unsigned total, unchecked;
	sk_strv bad; /* checkbox lines without a CHK id */
} sk_checklist;

struct devsys_speckit_feature {
	char *dir;
	char *base; /* the folder's last component */
	char *title;
	sk_file spec, plan, tmd; /* tmd: tasks.md */
	bool research; /* research.md exists */
	/* spec.md */
	bool has_section[3];
	sk_story *stories;
	size_t nstories;
	sk_badline *bad_stories;
	size_t nbad_stories;
	sk_strv reqs;  /* FR-/SC- definitions */
	sk_strv clar;  /* NEEDS CLARIFICATION markers (text = the line) */
	size_t sessions;
	/* plan.md */
	bool has_tech_context, has_constitution;
	unsigned tech_line, complexity_rows;
	char *fields[9];
	unsigned field_line[9];
	/* tasks.md */
	sk_phase *phases;
	size_t nphases;
	bool outside_phase; /* parsing: after a "##" section that is no phase */
	devsys_speckit_task *tasks;
	size_t ntasks, tasks_cap;
	sk_badline *bad_tasks;
	size_t nbad_tasks;
	/* checklists */
	sk_checklist *lists;
	size_t nlists;
};

extern const char *const devsys__speckit_fields[9];

int devsys__sk_strv_push(sk_strv *s, const char *p, size_t n, unsigned line);
bool devsys__sk_strv_has(const sk_strv *s, const char *p);
void devsys__sk_strv_dispose(sk_strv *s);
/* Length of a task id (T + 3..6 digits + optional [a-z]) at p, or 0. */
size_t devsys__sk_task_id_len(const char *p, const char *end);

/* Split @p data (modified: NUL-terminated lines, comments blanked) into f->lines. */
int devsys__sk_split_lines(sk_file *f, char *data, size_t size);
/* A feature of one file parsed from memory (@p which: "spec.md",
 * "plan.md", "tasks.md" or "checklist"): for fuzzing and benchmarks. */
int devsys__sk_feature_parse_mem(devsys_speckit_feature **out, const char *which, const void *data, size_t len);
/* Append a finding of rule SK<rule> (check.c). */
int devsys__speckit_add(devsys_speckit_findings *r, int rule, devsys_speckit_severity sev, const char *file,
                        unsigned line, const char *fmt, ...) DEVSYS_PRINTF(6, 7);

/* Task ids hashed for look-up (plan.c): the first task of an id wins. */
typedef struct sk_index {
	const char **ids; /* n slots, NULL: empty */
	size_t *idx;      /* the task index of each slot */
	size_t n;         /* a power of two */
} sk_index;
int devsys__sk_index_build(sk_index *ix, const devsys_speckit_feature *f);
/* Index of the first task with @p id, or -1. */
long devsys__sk_index_find(const sk_index *ix, const char *id);
void devsys__sk_index_dispose(sk_index *ix);
/* The tasks in execution order: order[k] is a task index, pos[i] its place. */
int devsys__sk_order(const devsys_speckit_feature *f, size_t **order, size_t **pos);

/* The task spec (YAML, one document) of task @p i of wave @p wave, as
 * devsys_speckit_plan_to_yaml() writes it, appended to @p out; its spec id
 * into @p spec_id (plan.c). */
int devsys__sk_plan_task_doc(devsys_buf *out, char *spec_id, size_t idlen, const devsys_speckit_plan *p, size_t wave,
                             size_t i, const char *repo_url, const char *feature_dir);

#endif
