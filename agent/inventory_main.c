/* steward-inventory: the inventory component, a program of its own.
 *
 *   steward-inventory collect [--base-version X.Y.Z]
 *   steward-inventory --version
 *
 * An agent installed with the launcher runs it from its slot
 * (SLOT/bin/steward-inventory) for every report, so the inventory
 * component is versioned, released and upgraded apart from the base
 * (docs/internals/launcher.md). It prints the sealed inventory document
 * (JSON, one line) on stdout and exits 0, or says why on stderr and
 * exits 1. It reads /proc, /sys and files only, and writes nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "steward/proto.h"
#include "steward/util.h"

#include "inventory.h"

int main(int argc, char **argv)
{
	struct steward_err err = {.code = ""};
	struct proto_range self = proto_self_range();
	const char *base = NULL;
	char range[24], *text;
	json_t *doc = NULL;
	int x, y, z;

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		proto_range_format(&self, range);
		printf("steward-inventory %s (protocol %s)\n", proto_self_version(), range);
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "collect") == 0 && strcmp(argv[2], "--base-version") == 0 &&
	    proto_semver_parse(argv[3], &x, &y, &z) == 0)
		base = argv[3];
	else if (!(argc == 2 && strcmp(argv[1], "collect") == 0)) {
		fprintf(stderr, "usage: steward-inventory collect [--base-version X.Y.Z] | --version\n");
		return 2;
	}
	if (proto_init() != 0 || agent_inventory_collect(base, &doc, &err) != 0) {
		fprintf(stderr, "steward-inventory: %s: %s\n", err.code[0] ? err.code : "internal",
			err.message[0] ? err.message : "cannot initialise");
		return 1;
	}
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (!text || puts(text) < 0 || fflush(stdout) != 0) {
		fprintf(stderr, "steward-inventory: cannot write the document\n");
		free(text);
		return 1;
	}
	free(text);
	return 0;
}
