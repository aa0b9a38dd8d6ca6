/* replay: run a fuzz target over saved inputs without libFuzzer.
 *
 *   fuzz_NAME_replay DIR_OR_FILE...
 *
 * Every regular file in each directory (names sorted, dot files skipped) and
 * every file named directly is read into a buffer of exactly its size, so
 * AddressSanitizer sees any read past the end, and handed to
 * LLVMFuzzerTestOneInput. Arguments starting with '-' are libFuzzer flags
 * and are ignored, so the same command line works for both binaries.
 *
 * Exits 0 when every input ran; 1 when a path is missing, unreadable or an
 * empty directory (an empty corpus would make the test pass vacuously).
 * A target reports a failed check by aborting.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#define REPLAY_FILE_MAX (16 * 1024 * 1024)

static int run_file(const char *path)
{
	struct stat st;
	uint8_t *data;
	size_t got;
	FILE *f;

	f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > REPLAY_FILE_MAX) {
		fprintf(stderr, "replay: %s: not a regular file of at most %d bytes\n", path,
			REPLAY_FILE_MAX);
		fclose(f);
		return -1;
	}
	/* exactly the file's size: one byte past it is a heap overflow */
	data = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!data) {
		fclose(f);
		return -1;
	}
	got = fread(data, 1, (size_t)st.st_size, f);
	fclose(f);
	if (got != (size_t)st.st_size) {
		fprintf(stderr, "replay: %s: short read\n", path);
		free(data);
		return -1;
	}
	LLVMFuzzerTestOneInput(data, got);
	free(data);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Run every regular file in dir in name order; returns the count or -1. */
static long run_dir(const char *dir)
{
	char **names = NULL, path[4096];
	size_t n = 0, cap = 0;
	struct dirent *e;
	long ran = 0;
	DIR *d;

	d = opendir(dir);
	if (!d) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **more = realloc(names, (cap ? cap * 2 : 64) * sizeof(*names));
			if (!more)
				goto fail;
			names = more;
			cap = cap ? cap * 2 : 64;
		}
		names[n] = strdup(e->d_name);
		if (!names[n])
			goto fail;
		n++;
	}
	closedir(d);
	d = NULL;
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (run_file(path))
			goto fail;
		ran++;
	}
	if (ran == 0) {
		fprintf(stderr, "replay: %s: no inputs (an empty corpus tests nothing)\n", dir);
		ran = -1;
	}
	goto out;
fail:
	ran = -1;
out:
	if (d)
		closedir(d);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ran;
}

int main(int argc, char **argv)
{
	long total = 0;
	int paths = 0;

	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		struct stat st;
		long ran;

		if (argv[i][0] == '-')
			continue;
		paths++;
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode))
			ran = run_dir(argv[i]);
		else
			ran = run_file(argv[i]) ? -1 : 1;
		if (ran < 0)
			return 1;
		total += ran;
	}
	if (paths == 0) {
		fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
		return 1;
	}
	printf("replay: %ld input%s ran from %d path%s\n", total, total == 1 ? "" : "s", paths,
	       paths == 1 ? "" : "s");
	return 0;
}
