/* content/import: walk a source directory into manifest entries.
 *
 * stewardctl runs this on a directory an administrator names, then uploads
 * what it lists. The walk never follows a symlink (fstatat with
 * AT_SYMLINK_NOFOLLOW, openat with O_NOFOLLOW) and refuses, naming the path,
 * whatever an agent could not recreate inside its package directory: links
 * that leave it, hard links shared with files outside, device files, FIFOs,
 * sockets and names a manifest cannot hold.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "steward/content.h"

#define IMPORT_DEPTH_MAX 64 /* nested directories below the root */
#define QUOTE_MAX	 64

static const char REMEDY_REFUSED[] =
    "remove or replace what the message names (copy files in instead of linking them), then "
    "import again";
static const char REMEDY_TOO_LARGE[] =
    "leave large files out of the directory, or raise package_max_bytes in stewardd.conf";

/* A regular file with more than one link: counted after the walk. */
struct hardlink {
	dev_t dev;
	ino_t ino;
	nlink_t nlink;
	size_t entry; /* index into walk.ents before sorting */
};

struct walk {
	uint64_t max_bytes, total;
	struct content_entry *ents;
	size_t n, cap;
	struct hardlink *links;
	size_t n_links, links_cap;
	struct steward_err *err;
};

/* A path inside a message: paths that are refused may hold any byte, and a
 * message must stay printable (it is printed and may travel as JSON). */
static const char *quote(char out[QUOTE_MAX + 4], const char *s)
{
	size_t o = 0;

	for (; *s && o < QUOTE_MAX; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c < 0x7f)
			out[o++] = (char)c;
		else if (o + 4 <= QUOTE_MAX)
			o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
		else
			break;
	}
	if (*s) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

static int refuse(struct walk *w, const char *path, const char *why)
{
	char q[QUOTE_MAX + 4];

	return steward_err_set(w->err, STEWARD_EINVAL, "import_refused", REMEDY_REFUSED, "'%s': %s",
			       quote(q, path), why);
}

static int refuse_errno(struct walk *w, const char *path, const char *what, int e)
{
	char q[QUOTE_MAX + 4];

	return steward_err_set(w->err, STEWARD_EIO, "import_refused",
			       "check that the directory exists and that you may read all of it",
			       "'%s': cannot %s: %s", quote(q, path), what, strerror(e));
}

static int add_entry(struct walk *w, const char *path, struct content_entry **out)
{
	if (w->n >= CONTENT_FILES_MAX)
		return steward_err_set(w->err, STEWARD_ETOOBIG, "import_refused",
				       "split the directory into several packages",
				       "more than %d files, directories and links (at '%s')",
				       CONTENT_FILES_MAX, path);
	if (w->n == w->cap) {
		size_t ncap = w->cap ? 2 * w->cap : 64;
		void *p;

		if (ncap > CONTENT_FILES_MAX)
			ncap = CONTENT_FILES_MAX;
		p = realloc(w->ents, ncap * sizeof(*w->ents));
		if (!p)
			return steward_err_set(w->err, STEWARD_ENOMEM, "internal", NULL,
					       "out of memory listing a directory");
		w->ents = p, w->cap = ncap;
	}
	*out = &w->ents[w->n++];
	memset(*out, 0, sizeof(**out));
	/* the caller checked the length */
	memcpy((*out)->path, path, strlen(path) + 1);
	return 0;
}

static int add_hardlink(struct walk *w, const struct stat *st)
{
	if (w->n_links == w->links_cap) {
		size_t ncap = w->links_cap ? 2 * w->links_cap : 16;
		void *p = realloc(w->links, ncap * sizeof(*w->links));

		if (!p)
			return steward_err_set(w->err, STEWARD_ENOMEM, "internal", NULL,
					       "out of memory listing a directory");
		w->links = p, w->links_cap = ncap;
	}
	w->links[w->n_links++] = (struct hardlink){st->st_dev, st->st_ino, st->st_nlink, w->n - 1};
	return 0;
}

static int add_file(struct walk *w, int dfd, const char *name, const char *path,
		    const struct stat *st)
{
	struct content_entry *e;
	struct stat st2;
	uint64_t size;
	int fd, rc;
	char q[QUOTE_MAX + 4];

	/* O_NONBLOCK: should a FIFO replace the file after fstatat, open
	 * must not wait for a writer; the fstat below then refuses it */
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return refuse_errno(w, path, "open", errno);
	if (fstat(fd, &st2) != 0) {
		rc = refuse_errno(w, path, "stat", errno);
		goto out;
	}
	if (!S_ISREG(st2.st_mode) || st2.st_dev != st->st_dev || st2.st_ino != st->st_ino) {
		rc = refuse(w, path, "was replaced while the directory was read");
		goto out;
	}
	/* refuse before reading: the size is known already */
	if ((uint64_t)st2.st_size > w->max_bytes - w->total) {
		rc = steward_err_set(w->err, STEWARD_ETOOBIG, "package_too_large", REMEDY_TOO_LARGE,
				     "the files add up to more than %" PRIu64
				     " bytes (the limit) at '%s'",
				     w->max_bytes, quote(q, path));
		goto out;
	}
	if ((rc = add_entry(w, path, &e)))
		goto out;
	e->type = CONTENT_FILE;
	e->mode = st->st_mode & 0777;
	rc = content_hash_fd(fd, e->hash, &size);
	if (rc) {
		rc = steward_err_set(w->err, STEWARD_EIO, "import_refused", REMEDY_REFUSED,
				     "'%s': cannot read it: %s", quote(q, path),
				     steward_strerror(rc));
		goto out;
	}
	if (size != (uint64_t)st2.st_size) {
		rc = refuse(w, path, "changed while it was read");
		goto out;
	}
	e->size = size;
	w->total += size;
	if (st->st_nlink > 1)
		rc = add_hardlink(w, st);
out:
	close(fd);
	return rc;
}

static int add_link(struct walk *w, int dfd, const char *name, const char *path)
{
	char target[CONTENT_PATH_MAX + 2], why[120];
	struct content_entry *e;
	const char *problem;
	ssize_t n;
	int rc;

	n = readlinkat(dfd, name, target, sizeof(target));
	if (n < 0)
		return refuse_errno(w, path, "read the link", errno);
	if ((size_t)n >= sizeof(target) - 1)
		return refuse(w, path, "symlink target is longer than 1024 bytes");
	target[n] = '\0';
	problem = content_link_target_problem(path, target);
	if (problem) {
		if (target[0] == '/')
			snprintf(why, sizeof(why),
				 "symlink target is absolute; make it relative to the link");
		else
			snprintf(why, sizeof(why), "symlink target %s", problem);
		return refuse(w, path, why);
	}
	if ((rc = add_entry(w, path, &e)))
		return rc;
	e->type = CONTENT_LINK;
	e->mode = 0; /* a manifest keeps no mode for links */
	memcpy(e->target, target, (size_t)n + 1);
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk_dir(struct walk *w, int fd, const char *rel, int level);

static int walk_one(struct walk *w, int dfd, const char *name, const char *rel, int level)
{
	char path[CONTENT_PATH_MAX + 1], why[160];
	struct content_entry *e;
	const char *problem;
	struct stat st;
	size_t rlen = strlen(rel), nlen = strlen(name);
	int fd, rc;

	if (rlen + (rlen > 0) + nlen > CONTENT_PATH_MAX) {
		/* name the start of it: enough to find it in the source tree */
		snprintf(path, sizeof(path), "%.200s/%.200s...", rel, name);
		return refuse(w, path, "the path is longer than 1024 bytes");
	}
	memcpy(path, rel, rlen);
	if (rlen)
		path[rlen++] = '/';
	memcpy(path + rlen, name, nlen + 1);
	problem = content_path_problem(path);
	if (problem) {
		snprintf(why, sizeof(why), "a manifest cannot hold this name: the path %s",
			 problem);
		return refuse(w, path, why);
	}
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return refuse_errno(w, path, "stat", errno);
	switch (st.st_mode & S_IFMT) {
	case S_IFDIR:
		if (level + 1 > IMPORT_DEPTH_MAX)
			return refuse(w, path, "directories nest deeper than 64 levels");
		if ((rc = add_entry(w, path, &e)))
			return rc;
		e->type = CONTENT_DIR;
		e->mode = st.st_mode & 0777;
		fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return refuse_errno(w, path, "open the directory", errno);
		return walk_dir(w, fd, path, level + 1);
	case S_IFREG:
		return add_file(w, dfd, name, path, &st);
	case S_IFLNK:
		return add_link(w, dfd, name, path);
	case S_IFCHR:
		return refuse(w, path,
			      "is a character device; a package holds only files, "
			      "directories and symlinks");
	case S_IFBLK:
		return refuse(w, path,
			      "is a block device; a package holds only files, "
			      "directories and symlinks");
	case S_IFIFO:
		return refuse(w, path,
			      "is a FIFO; a package holds only files, directories and "
			      "symlinks");
	case S_IFSOCK:
		return refuse(w, path,
			      "is a socket; a package holds only files, directories and "
			      "symlinks");
	default:
		return refuse(w, path, "is of an unknown file type");
	}
}

/* Walk the directory open as fd (taken over and closed), whose path inside
 * the package is rel ("" for the root), level directories below the root.
 * Names are sorted first so that the same tree always meets its first
 * problem at the same path. */
static int walk_dir(struct walk *w, int fd, const char *rel, int level)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	d = fdopendir(fd);
	if (!d) {
		rc = refuse_errno(w, rel[0] ? rel : ".", "read the directory", errno);
		close(fd);
		return rc;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de)
			break;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		/* a directory of millions of names must not grow memory unbounded */
		if (w->n + n >= CONTENT_FILES_MAX) {
			rc = steward_err_set(w->err, STEWARD_ETOOBIG, "import_refused",
					     "split the directory into several packages",
					     "more than %d files, directories and links (in '%s')",
					     CONTENT_FILES_MAX, rel[0] ? rel : ".");
			goto out;
		}
		if (n == cap) {
			size_t ncap = cap ? 2 * cap : 32;
			void *p = realloc(names, ncap * sizeof(*names));

			if (!p)
				goto nomem;
			names = p, cap = ncap;
		}
		if (!(names[n] = strdup(de->d_name)))
			goto nomem;
		n++;
	}
	if (errno) {
		rc = refuse_errno(w, rel[0] ? rel : ".", "read the directory", errno);
		goto out;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = walk_one(w, dirfd(d), names[i], rel, level);
	goto out;
nomem:
	rc = steward_err_set(w->err, STEWARD_ENOMEM, "internal", NULL,
			     "out of memory listing a directory");
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

static int hardlink_cmp(const void *a, const void *b)
{
	const struct hardlink *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->entry < y->entry ? -1 : x->entry > y->entry;
}

/* A file linked from outside the tree would install as a copy: refuse it,
 * since what the administrator sees in the directory is not all there is. */
static int check_hardlinks(struct walk *w)
{
	char q[QUOTE_MAX + 4];

	if (w->n_links > 1)
		qsort(w->links, w->n_links, sizeof(*w->links), hardlink_cmp);
	for (size_t i = 0, j; i < w->n_links; i = j) {
		const struct hardlink *h = &w->links[i];

		for (j = i + 1;
		     j < w->n_links && w->links[j].dev == h->dev && w->links[j].ino == h->ino; j++)
			;
		if ((nlink_t)(j - i) < h->nlink)
			return steward_err_set(
			    w->err, STEWARD_EINVAL, "import_refused", REMEDY_REFUSED,
			    "'%s': is a hard link to a file outside the directory (%ju links, "
			    "%zu inside)",
			    quote(q, w->ents[h->entry].path), (uintmax_t)h->nlink, j - i);
	}
	return 0;
}

int content_import_dir(const char *dir, uint64_t max_bytes, struct content_manifest *m,
		       struct steward_err *err)
{
	struct walk w = {.max_bytes = max_bytes, .err = err};
	char q[QUOTE_MAX + 4];
	int fd, rc;

	m->entries = NULL;
	m->n_entries = 0;
	m->total_bytes = 0;
	if (!dir || !dir[0])
		return steward_err_set(err, STEWARD_EINVAL, "import_refused",
				       "name the directory to import", "no directory given");
	/* the root may itself be a symlink: the administrator named it */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		return steward_err_set(err, STEWARD_EIO, "import_refused",
				       "check the directory's name and that you may read it",
				       "cannot open directory '%s': %s", quote(q, dir),
				       strerror(e));
	}
	rc = walk_dir(&w, fd, "", 0);
	if (rc == 0)
		rc = check_hardlinks(&w);
	if (rc) {
		free(w.ents);
		goto out;
	}
	m->entries = w.ents;
	m->n_entries = w.n;
	m->total_bytes = w.total;
	content_manifest_sort(m);
out:
	free(w.links);
	return rc;
}
