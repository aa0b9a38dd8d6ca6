/* bench-delta-apply BASE PATCH SIZE HASH [ROUNDS]: what an agent does with a
 * patch (agent/upgrade.c): read the base and the patch, apply the patch
 * with the file's size as the cap and check the result's SHA-256. Prints
 * the best and the median of ROUNDS (default 7) in milliseconds, as
 * "apply_ms best=B median=M". Exit status 1 when the patch does not apply. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steward/content.h"

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	struct steward_err err = {.code = ""};
	char *base = NULL, *patch = NULL, *end;
	size_t base_len, patch_len;
	double ms[64];
	uint64_t size;
	int rounds = argc > 5 ? atoi(argv[5]) : 7;

	if (argc < 5 || rounds < 1 || rounds > 64) {
		fprintf(stderr, "usage: bench-delta-apply BASE PATCH SIZE HASH [ROUNDS]\n");
		return 2;
	}
	size = strtoull(argv[3], &end, 10);
	if (*end || file_read_all(argv[1], CONTENT_DELTA_FILE_MAX, &base, &base_len) != 0 ||
	    file_read_all(argv[2], CONTENT_DELTA_FILE_MAX, &patch, &patch_len) != 0) {
		fprintf(stderr, "bench-delta-apply: cannot read %s or %s\n", argv[1], argv[2]);
		return 2;
	}
	for (int i = 0; i < rounds; i++) {
		int64_t t0 = time_mono_us();
		void *out = NULL;

		if (content_delta_apply(base, base_len, patch, patch_len, size, argv[4], &out,
					&err) != 0) {
			fprintf(stderr, "bench-delta-apply: %s: %s\n", err.code, err.message);
			return 1;
		}
		ms[i] = (double)(time_mono_us() - t0) / 1000.0;
		free(out);
	}
	qsort(ms, (size_t)rounds, sizeof(ms[0]), cmp);
	printf("apply_ms best=%.2f median=%.2f\n", ms[0], ms[rounds / 2]);
	free(base);
	free(patch);
	return 0;
}
