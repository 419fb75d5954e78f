/*
 * `devsys run`'s progress view, fed by the pipeline's progress callback.
 * On a terminal: the running stage on one line that redraws itself (a
 * spinner and the elapsed time, a bar for counted PROGRESS events such as
 * tests, else the command's last output line), replaced by the stage's
 * result line when it ends. Elsewhere: the result lines only. Quiet: nothing.
 */
#ifndef DEVSYS_CLI_PROGRESS_H
#define DEVSYS_CLI_PROGRESS_H

#include "cli.h"

typedef struct devsys_cli_progress devsys_cli_progress;

enum { DEVSYS_CLI_PROGRESS_QUIET = 0, DEVSYS_CLI_PROGRESS_LINES = 1, DEVSYS_CLI_PROGRESS_LIVE = 2 };

/* A view writing to @p out in @p mode; NULL when out of memory. */
devsys_cli_progress *devsys_cli_progress_new(const devsys_cli *cli, FILE *out, int mode);

/*
 * A view of the run of @p n tasks (@p ids, borrowed for the call), @p jobs
 * at a time, writing to @p out in @p mode; NULL when out of memory.
 */
devsys_cli_progress *devsys_cli_progress_new_many(const devsys_cli *cli, FILE *out, int mode, char *const *ids,
                                                  size_t n, size_t jobs);

/* Stop the view (the live line is cleared) and free it; NULL is fine. */
void devsys_cli_progress_free(devsys_cli_progress *pv);

/* A devsys_pipeline_progress_cb; @p payload is the view. Always returns 0. */
int devsys_cli_progress_event(const devsys_pipeline_event *ev, void *payload);

/* Print a stage's result line for a stage that ran outside the callback (validate). */
void devsys_cli_progress_stage(devsys_cli_progress *pv, const devsys_stage_result *res, double seconds);

/*
 * Task @p id starts (@p state NULL: a row of its own in a many view) or
 * ended in @p state (its row is freed): a line "task ID: running|STATE".
 */
void devsys_cli_progress_task(devsys_cli_progress *pv, const char *id, const char *state);

#endif
