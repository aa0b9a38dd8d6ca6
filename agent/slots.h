/* slots: the installed layout the launcher and the agent share.
 *
 *   PREFIX/current -> slots/A      the slot in use (a symlink, renamed over)
 *   PREFIX/slots/A, PREFIX/slots/B the agent's files of one release each
 *   PREFIX/state/                  the agent's state directory
 *   PREFIX/state/health            "VERSION EPOCH RUN": the agent's last
 *                                  check-in the site acknowledged, by the
 *                                  agent of launcher run id RUN
 *   PREFIX/upgrade.request         the agent asks for a switch (then exits
 *                                  with SLOTS_EXIT_SWITCH)
 *   PREFIX/launcher.state          a switch on trial: survives a kill -9
 *   PREFIX/upgrade.result          how the last switch ended, until reported
 *   PREFIX/upgrade.failed          the version that failed: not offered again
 *
 * Every file is "key value" lines, written atomically (file_write_atomic).
 * docs/internals/launcher.md has the protocol between the two.
 */
#ifndef STEWARD_AGENT_SLOTS_H
#define STEWARD_AGENT_SLOTS_H

#include <stddef.h>

#define SLOTS_ENV_PREFIX  "STEWARD_LAUNCHER_DIR"   /* set for a supervised agent */
#define SLOTS_ENV_TRIAL	  "STEWARD_LAUNCHER_TRIAL" /* the version on trial */
#define SLOTS_ENV_RUN	  "STEWARD_LAUNCHER_RUN"   /* this start's run id (hex) */
#define SLOTS_RUN_MAX	  32
#define SLOTS_EXIT_SWITCH 10			   /* agent: "switch to the request" */
#define SLOTS_CURRENT	  "current"
#define SLOTS_HEALTH	  "state/health"
#define SLOTS_REQUEST	  "upgrade.request"
#define SLOTS_TRIAL	  "launcher.state"
#define SLOTS_RESULT	  "upgrade.result"
#define SLOTS_FAILED	  "upgrade.failed"
#define SLOTS_AGENT_BIN	  "bin/steward-agent"
#define SLOTS_INVENTORY_BIN "bin/steward-inventory" /* the optional inventory component */
#define SLOTS_FILE_MAX	  4096 /* any of the files above */
#define SLOTS_VALUE_MAX	  255

/* The value of "key" in a "key value" text, or -1 (no such line, too long). */
int slots_value(const char *text, const char *key, char *out, size_t outsz);
/* 'A' or 'B': the slot PREFIX/current points at; 0 when unset or odd. */
char slots_current(const char *prefix);
/* Point PREFIX/current at slots/SLOT atomically (a new link renamed over). */
int slots_switch(const char *prefix, char slot);

#endif
