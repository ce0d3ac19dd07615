/* Internal to src/state/: atomic publication of a file.  The bytes go to
 * "<path>.tmp.<pid>" (runfolder_tmp_name), created O_EXCL, written and
 * fsync'ed, then renamed onto path and the folder fsync'ed: a reader sees
 * the old file or the whole new one, and after a crash the file on disk is
 * one of them (a temporary file may be left: runfolder_claim removes it).
 * Messages go to err without the file's name ("cannot write x.tmp.12: No
 * space left on device"): the caller says which file. */
#ifndef INNA_STATE_PUBLISH_H
#define INNA_STATE_PUBLISH_H
#include <stddef.h>

/* Publishes len bytes as path.  On failure the temporary file is removed and
 * path untouched, unless only the folder's sync failed ("saved, but ..."). */
int publish_file(const char *path, const void *bytes, size_t len, char *err, size_t errlen);
/* fsync of folder dir, so that the renames in it are durable; a file system
 * that cannot sync a folder is not an error. */
int publish_dir_sync(const char *dir, char *err, size_t errlen);
#endif
