/* content/store: the blob store, DIR/blobs/ab/HASH.
 *
 * A blob becomes visible only whole and verified. Its bytes go to a file
 * in DIR/tmp (an unnamed O_TMPFILE where the filesystem has one, so a
 * crash leaves nothing behind; else a named file that content_store_walk
 * sweeps later), are hashed as they pass, fsync'd and compared with the
 * expected hash; only then is the file linked (O_TMPFILE) or renamed under
 * blobs/ and that directory fsync'd. Two puts of the same blob race
 * harmlessly: the second finds the name taken (EEXIST) and the bytes under
 * it are the same, so that is success.
 *
 * Every operation works relative to directory descriptors opened once, so
 * one store is safe to use from many threads at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <unistd.h>
#include <sys/stat.h>

#include "steward/content.h"

#define TMP_MAX_AGE_S 3600
#define COPY_CHUNK    (64 * 1024)
#define REL_MAX	      (3 + CONTENT_HASH_HEX + 1) /* "ab/" + hash */
#define REMEDY_DISK                                                                                \
	"check the disk under the content directory (space, permissions) and the site's log"

struct content_store {
	char *dir;
	int blobs_fd;
	int tmp_fd;
	bool tmpfile; /* O_TMPFILE and linkat through /proc/self/fd work here */
};

struct content_put {
	struct content_store *cs;
	int fd;
	char tmpname[32];		     /* the named temp file; "" for an O_TMPFILE */
	char expected[CONTENT_HASH_HEX + 1]; /* "" when the caller gave none */
	uint64_t max_bytes;
	struct content_hasher h;
	int failed; /* the first write error; the put can only be aborted */
};

/* ---- helpers ---------------------------------------------------------------- */

static void rel_of(const char *hash, char out[REL_MAX])
{
	snprintf(out, REL_MAX, "%.2s/%s", hash, hash);
}

static int io_error(struct steward_err *err, int errnum, const char *what, const char *dir)
{
	return steward_err_set(err, STEWARD_EIO, "content_store_failed", REMEDY_DISK,
			       "%s in the content store %.120s: %s", what, dir, strerror(errnum));
}

static int bad_hash(struct steward_err *err, const char *hash)
{
	return steward_err_set(err, STEWARD_EINVAL, "bad_request",
			       "content hashes are SHA-256 as 64 lowercase hex digits",
			       "'%.70s' is not a content hash", hash ? hash : "");
}

static int mismatch(struct steward_err *err, const char *got, const char *expected)
{
	return steward_err_set(
	    err, STEWARD_EINVAL, "hash_mismatch",
	    "send the bytes of the file whose hash you named; it may have changed "
	    "since it was hashed, or been damaged on the way",
	    "the bytes hash to %s, not %s", got, expected);
}

static int write_full(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int link_tmpfile(int fd, int dirfd, const char *name)
{
	char proc[40];

	/* linkat(fd, "", ..., AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH; the
	 * /proc path is what open(2) documents for unprivileged callers. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW);
}

static void tmp_name(char out[32], const char *prefix)
{
	uint8_t r[8];
	char hex[17];

	rand_bytes(r, sizeof(r));
	hex_encode(r, sizeof(r), hex);
	snprintf(out, 32, "%s.%s", prefix, hex);
}

/* Decided once per store: an unnamed temp file that can be given a name.
 * Without /proc, or on a filesystem without O_TMPFILE, named files do. */
static bool probe_tmpfile(struct content_store *cs)
{
	char name[32];
	bool ok = false;
	int fd = openat(cs->tmp_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);

	if (fd < 0)
		return false;
	tmp_name(name, "probe");
	if (link_tmpfile(fd, cs->tmp_fd, name) == 0) {
		unlinkat(cs->tmp_fd, name, 0);
		ok = true;
	}
	close(fd);
	return ok;
}

/* ---- the store ------------------------------------------------------------ */

int content_store_open(const char *dir, struct content_store **out, struct steward_err *err)
{
	struct content_store *cs = NULL;
	char path[PATH_MAX];
	int rc = 0;

	*out = NULL;
	if (!dir || !*dir || strlen(dir) > PATH_MAX - 16)
		return steward_err_set(err, STEWARD_EINVAL, "content_store_failed",
				       "set content_dir to a shorter absolute path",
				       "the content directory path is empty or too long");
	cs = calloc(1, sizeof(*cs));
	if (!cs || !(cs->dir = strdup(dir))) {
		rc = steward_err_set(err, STEWARD_ENOMEM, "internal", "", "out of memory");
		goto out;
	}
	cs->blobs_fd = cs->tmp_fd = -1;
	snprintf(path, sizeof(path), "%s/blobs", dir);
	if (file_mkdirs(path, 0755) ||
	    (cs->blobs_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = io_error(err, errno, "cannot create or open blobs/", dir);
		goto out;
	}
	/* tmp/ holds bytes not yet verified: nobody else's business */
	snprintf(path, sizeof(path), "%s/tmp", dir);
	if (file_mkdirs(path, 0700) ||
	    (cs->tmp_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = io_error(err, errno, "cannot create or open tmp/", dir);
		goto out;
	}
	cs->tmpfile = probe_tmpfile(cs);
	*out = cs;
	cs = NULL;
out:
	content_store_close(cs);
	return rc;
}

void content_store_close(struct content_store *cs)
{
	if (!cs)
		return;
	if (cs->blobs_fd >= 0)
		close(cs->blobs_fd);
	if (cs->tmp_fd >= 0)
		close(cs->tmp_fd);
	free(cs->dir);
	free(cs);
}

int content_store_path(struct content_store *cs, const char *hash, char *out, size_t outsz)
{
	if (!content_hash_valid(hash))
		return -STEWARD_EINVAL;
	if ((size_t)snprintf(out, outsz, "%s/blobs/%.2s/%s", cs->dir, hash, hash) >= outsz)
		return -STEWARD_ETOOBIG;
	return 0;
}

bool content_store_has(struct content_store *cs, const char *hash, uint64_t *size)
{
	char rel[REL_MAX];
	struct stat st;

	if (!content_hash_valid(hash))
		return false;
	rel_of(hash, rel);
	if (fstatat(cs->blobs_fd, rel, &st, 0) != 0 || !S_ISREG(st.st_mode))
		return false;
	if (size)
		*size = (uint64_t)st.st_size;
	return true;
}

int content_store_open_blob(struct content_store *cs, const char *hash, int *fd, uint64_t *size)
{
	char rel[REL_MAX];
	struct stat st;
	int f;

	*fd = -1;
	if (!content_hash_valid(hash))
		return -STEWARD_EINVAL;
	rel_of(hash, rel);
	f = openat(cs->blobs_fd, rel, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return errno == ENOENT || errno == ENOTDIR ? -STEWARD_ENOTFOUND : -STEWARD_EIO;
	if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(f);
		return -STEWARD_EIO;
	}
	*fd = f;
	if (size)
		*size = (uint64_t)st.st_size;
	return 0;
}

int content_store_remove(struct content_store *cs, const char *hash)
{
	char rel[REL_MAX];

	if (!content_hash_valid(hash))
		return -STEWARD_EINVAL;
	rel_of(hash, rel);
	if (unlinkat(cs->blobs_fd, rel, 0) != 0)
		return errno == ENOENT || errno == ENOTDIR ? -STEWARD_ENOTFOUND : -STEWARD_EIO;
	return 0;
}

/* ---- writing in pieces ------------------------------------------------------ */

int content_put_begin(struct content_store *cs, const char *expected, uint64_t max_bytes,
		      struct content_put **out, struct steward_err *err)
{
	struct content_put *p;
	int rc = 0;

	*out = NULL;
	if (expected && !content_hash_valid(expected))
		return bad_hash(err, expected);
	p = calloc(1, sizeof(*p));
	if (!p)
		return steward_err_set(err, STEWARD_ENOMEM, "internal", "", "out of memory");
	p->cs = cs;
	p->fd = -1;
	p->max_bytes = max_bytes;
	if (expected)
		memcpy(p->expected, expected, CONTENT_HASH_HEX + 1);
	if (cs->tmpfile)
		p->fd = openat(cs->tmp_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
	/* a name is random and O_EXCL: a clash is a retry, never a shared file */
	for (int i = 0; p->fd < 0 && i < 4; i++) {
		tmp_name(p->tmpname, "put");
		p->fd =
		    openat(cs->tmp_fd, p->tmpname, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
		if (p->fd < 0 && errno != EEXIST)
			break;
	}
	if (p->fd < 0) {
		p->tmpname[0] = '\0';
		rc = io_error(err, errno, "cannot create a file in tmp/", cs->dir);
		goto out;
	}
	/* open() applied the umask; blobs are world-readable by design */
	if (fchmod(p->fd, 0644) != 0) {
		rc = io_error(err, errno, "cannot set the mode of a new blob", cs->dir);
		goto out;
	}
	content_hasher_init(&p->h);
	*out = p;
	p = NULL;
out:
	content_put_abort(p);
	return rc;
}

int content_put_write(struct content_put *p, const void *data, size_t len, struct steward_err *err)
{
	if (p->failed)
		return steward_err_set(err, -p->failed, "content_store_failed", REMEDY_DISK,
				       "an earlier write to this blob failed");
	if (len > p->max_bytes - p->h.size) {
		p->failed = -STEWARD_ETOOBIG;
		return steward_err_set(
		    err, STEWARD_ETOOBIG, "content_too_large",
		    "send a smaller file, or raise package_max_bytes on the site",
		    "the blob is over the limit of %llu bytes", (unsigned long long)p->max_bytes);
	}
	if (write_full(p->fd, data, len) != 0) {
		int e = errno;
		p->failed = -STEWARD_EIO;
		return io_error(err, e, "cannot write a blob", p->cs->dir);
	}
	content_hasher_update(&p->h, data, len);
	return 0;
}

/* Link or rename the verified file to blobs/ab/HASH and make that durable. */
static int make_visible(struct content_put *p, const char *hash, struct steward_err *err)
{
	struct content_store *cs = p->cs;
	char sub[3] = {hash[0], hash[1], '\0'};
	bool new_sub = mkdirat(cs->blobs_fd, sub, 0755) == 0;
	int subfd, rc = 0, r;

	if (!new_sub && errno != EEXIST)
		return io_error(err, errno, "cannot create a directory under blobs/", cs->dir);
	subfd = openat(cs->blobs_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (subfd < 0)
		return io_error(err, errno, "cannot open a directory under blobs/", cs->dir);
	if (!p->tmpname[0]) {
		r = link_tmpfile(p->fd, subfd, hash);
	} else {
		/* NOREPLACE so a concurrent put of the same blob shows as EEXIST;
		 * a filesystem without it gets a plain rename, which replaces the
		 * name with identical bytes: harmless to readers holding the old. */
		r = renameat2(cs->tmp_fd, p->tmpname, subfd, hash, RENAME_NOREPLACE);
		if (r != 0 && (errno == EINVAL || errno == ENOSYS))
			r = renameat(cs->tmp_fd, p->tmpname, subfd, hash);
		if (r == 0)
			p->tmpname[0] = '\0';
	}
	if (r != 0 && errno != EEXIST) {
		rc = io_error(err, errno, "cannot move a verified blob into blobs/", cs->dir);
		goto out;
	}
	if (fsync(subfd) != 0 || (new_sub && fsync(cs->blobs_fd) != 0))
		rc = io_error(err, errno, "cannot sync blobs/", cs->dir);
out:
	close(subfd);
	return rc;
}

int content_put_commit(struct content_put *p, char out[CONTENT_HASH_HEX + 1],
		       struct steward_err *err)
{
	char hash[CONTENT_HASH_HEX + 1];
	int rc;

	if (p->failed) {
		rc = steward_err_set(err, -p->failed, "content_store_failed", REMEDY_DISK,
				     "an earlier write to this blob failed");
		goto out;
	}
	content_hasher_final(&p->h, hash);
	/* checked before anything becomes visible: a wrong blob is never stored */
	if (p->expected[0] && strcmp(hash, p->expected) != 0) {
		rc = mismatch(err, hash, p->expected);
		goto out;
	}
	if (fsync(p->fd) != 0) {
		rc = io_error(err, errno, "cannot sync a blob", p->cs->dir);
		goto out;
	}
	rc = make_visible(p, hash, err);
	if (rc == 0 && out)
		memcpy(out, hash, sizeof(hash));
out:
	content_put_abort(p);
	return rc;
}

void content_put_abort(struct content_put *p)
{
	if (!p)
		return;
	if (p->fd >= 0)
		close(p->fd);
	if (p->tmpname[0])
		unlinkat(p->cs->tmp_fd, p->tmpname, 0);
	free(p);
}

/* ---- whole blobs ------------------------------------------------------------- */

int content_store_put_buf(struct content_store *cs, const void *data, size_t len,
			  const char *expected, char out[CONTENT_HASH_HEX + 1],
			  struct steward_err *err)
{
	char hash[CONTENT_HASH_HEX + 1];
	struct content_put *p;
	int rc;

	if (expected && !content_hash_valid(expected))
		return bad_hash(err, expected);
	/* the bytes are all here: refuse or skip before touching the disk */
	content_hash_buf(data, len, hash);
	if (expected && strcmp(hash, expected) != 0)
		return mismatch(err, hash, expected);
	if (!content_store_has(cs, hash, NULL)) {
		rc = content_put_begin(cs, hash, UINT64_MAX, &p, err);
		if (rc)
			return rc;
		rc = content_put_write(p, data, len, err);
		if (rc) {
			content_put_abort(p);
			return rc;
		}
		rc = content_put_commit(p, NULL, err);
		if (rc)
			return rc;
	}
	if (out)
		memcpy(out, hash, sizeof(hash));
	return 0;
}

int content_store_put_fd(struct content_store *cs, int fd, const char *expected,
			 char out[CONTENT_HASH_HEX + 1], struct steward_err *err)
{
	struct content_put *p = NULL;
	char *chunk = malloc(COPY_CHUNK);
	int rc;

	if (!chunk)
		return steward_err_set(err, STEWARD_ENOMEM, "internal", "", "out of memory");
	rc = content_put_begin(cs, expected, UINT64_MAX, &p, err);
	while (rc == 0) {
		ssize_t n = read(fd, chunk, COPY_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = steward_err_set(err, STEWARD_EIO, "content_store_failed",
					     "check the file being stored",
					     "cannot read the file: %s", strerror(errno));
			break;
		}
		if (n == 0) {
			rc = content_put_commit(p, out, err);
			p = NULL;
			break;
		}
		rc = content_put_write(p, chunk, (size_t)n, err);
	}
	content_put_abort(p);
	free(chunk);
	return rc;
}

/* ---- walking ------------------------------------------------------------------ */

/* Named temp files of puts that died with their process; an hour is far
 * longer than any upload takes to go from its last byte to its rename. */
static void sweep_tmp(struct content_store *cs)
{
	int64_t cutoff = time_now_s() - TMP_MAX_AGE_S;
	int fd = openat(cs->tmp_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	struct stat st;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
		    st.st_mtime >= cutoff)
			continue;
		if (unlinkat(fd, e->d_name, 0) == 0)
			log_info("content", "tmp_removed", "dir=%s name=%s age_s=%lld", cs->dir,
				 e->d_name, (long long)(time_now_s() - st.st_mtime));
	}
	closedir(d);
}

static bool lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool is_fanout(const char *name)
{
	return lower_hex(name[0]) && lower_hex(name[1]) && name[2] == '\0';
}

static int walk_sub(struct content_store *cs, const char *sub, content_blob_cb cb, void *ctx)
{
	int fd = openat(cs->blobs_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	struct stat st;
	int rc = 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return 0; /* vanished or not a directory: nothing stored there */
	}
	while (!rc && (e = readdir(d))) {
		if (!content_hash_valid(e->d_name) || strncmp(e->d_name, sub, 2) != 0)
			continue;
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
			continue;
		rc = cb(e->d_name, (uint64_t)st.st_size, (int64_t)st.st_mtime, ctx);
	}
	closedir(d);
	return rc;
}

int content_store_walk(struct content_store *cs, content_blob_cb cb, void *ctx)
{
	int fd, rc = 0;
	DIR *d;
	struct dirent *e;

	sweep_tmp(cs);
	fd = openat(cs->blobs_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return -STEWARD_EIO;
	}
	while (!rc && (e = readdir(d)))
		if (is_fanout(e->d_name))
			rc = walk_sub(cs, e->d_name, cb, ctx);
	closedir(d);
	return rc;
}

/* ---- resumable puts (remote distribution points) ------------------------------- */

/* The partial's lasting name is tmp/part.HASH. The put writes through a
 * second, random hard link, its tmpname: content_put_abort removes only
 * that link, so the bytes stay under part.HASH for the next attempt, and
 * content_put_commit renames it into blobs/ like any put. part.HASH then
 * still names the stored blob; the caller's next resume of that hash finds
 * the blob stored and drops it (else the tmp/ sweep does, within the hour).
 * One resumer per hash at a time (the distribution point's sync thread). */
#define PART_PREFIX "part."

static int hash_prefix(int fd, uint64_t len, struct content_hasher *h)
{
	char *chunk = malloc(COPY_CHUNK);
	uint64_t off = 0;
	int rc = 0;

	if (!chunk)
		return -STEWARD_ENOMEM;
	content_hasher_init(h);
	while (off < len) {
		size_t want = len - off < COPY_CHUNK ? (size_t)(len - off) : COPY_CHUNK;
		ssize_t n = pread(fd, chunk, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = -STEWARD_EIO;
			break;
		}
		content_hasher_update(h, chunk, (size_t)n);
		off += (uint64_t)n;
	}
	free(chunk);
	return rc;
}

int content_put_resume(struct content_store *cs, const char *expected, uint64_t max_bytes,
		       uint64_t *have, struct content_put **out, struct steward_err *err)
{
	char part[sizeof(PART_PREFIX) + CONTENT_HASH_HEX], got[CONTENT_HASH_HEX + 1];
	char rel[REL_MAX];
	struct content_put *p = NULL;
	struct content_hasher h, probe;
	struct stat st;
	uint64_t keep;
	int fd = -1, rc = 0;

	*out = NULL;
	if (!expected || !content_hash_valid(expected))
		return bad_hash(err, expected);
	snprintf(part, sizeof(part), PART_PREFIX "%s", expected);
	rel_of(expected, rel);
	if (fstatat(cs->blobs_fd, rel, &st, 0) == 0) {
		/* nothing to resume; the partial may be the stored blob's second name */
		unlinkat(cs->tmp_fd, part, 0);
		return -STEWARD_EEXIST;
	}
	fd = openat(cs->tmp_fd, part, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = io_error(err, errno, "cannot open a partial blob in tmp/", cs->dir);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = io_error(err, EINVAL, "a partial blob in tmp/ is not a file", cs->dir);
		goto out;
	}
	keep = (uint64_t)st.st_size < *have ? (uint64_t)st.st_size : *have;
	if (keep > max_bytes)
		keep = 0;
	if (hash_prefix(fd, keep, &h) != 0) {
		rc = io_error(err, errno, "cannot read a partial blob in tmp/", cs->dir);
		goto out;
	}
	/* complete but wrong (damaged, or a bad transfer): start over */
	if (keep && keep == max_bytes) {
		probe = h;
		content_hasher_final(&probe, got);
		if (strcmp(got, expected) != 0) {
			keep = 0;
			content_hasher_init(&h);
		}
	}
	if ((keep != (uint64_t)st.st_size && ftruncate(fd, (off_t)keep) != 0) ||
	    lseek(fd, (off_t)keep, SEEK_SET) < 0) {
		rc = io_error(err, errno, "cannot truncate a partial blob in tmp/", cs->dir);
		goto out;
	}
	futimens(fd, NULL); /* in use again: the tmp/ sweep goes by age */
	p = calloc(1, sizeof(*p));
	if (!p) {
		rc = steward_err_set(err, STEWARD_ENOMEM, "internal", "", "out of memory");
		goto out;
	}
	p->cs = cs;
	p->fd = fd;
	fd = -1;
	p->max_bytes = max_bytes;
	memcpy(p->expected, expected, CONTENT_HASH_HEX + 1);
	p->h = h;
	for (int i = 0; i < 4; i++) {
		tmp_name(p->tmpname, "put");
		if (linkat(cs->tmp_fd, part, cs->tmp_fd, p->tmpname, 0) == 0)
			break;
		p->tmpname[0] = '\0';
		if (errno != EEXIST)
			break;
	}
	if (!p->tmpname[0]) {
		rc = io_error(err, errno, "cannot link a partial blob in tmp/", cs->dir);
		goto out;
	}
	*have = keep;
	*out = p;
	p = NULL;
out:
	if (fd >= 0)
		close(fd);
	content_put_abort(p);
	return rc;
}
