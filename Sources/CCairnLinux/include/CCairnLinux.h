// Linux calls that Glibc's Swift module does not export (they need _GNU_SOURCE, or are ioctls
// and variadic).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE); returns 0 or -1 with errno set.
int cairn_punch_hole(int fd, off_t offset, off_t length);

/// ioctl(dst, FICLONE, src): share src's blocks (reflink); 0 or -1 with errno set.
int cairn_clone_file(int dst, int src);

/// copy_file_range between explicit offsets (which it advances); bytes copied or -1 with errno set.
ssize_t cairn_copy_file_range(int in, off_t *in_offset, int out, off_t *out_offset, size_t length);

/// llistxattr / lgetxattr: the xattrs of a path without following a final symlink.
ssize_t cairn_llistxattr(const char *path, char *list, size_t size);
ssize_t cairn_lgetxattr(const char *path, const char *name, void *value, size_t size);
/// lsetxattr: sets an xattr of a path without following a final symlink; 0 or -1 with errno.
int cairn_lsetxattr(const char *path, const char *name, const void *value, size_t size);

/// FS_IOC_ENABLE_VERITY with 4 KiB blocks and no salt; algorithm 1 = SHA-256, 2 = SHA-512.
int cairn_enable_verity(int fd, uint32_t algorithm);

/// FS_IOC_MEASURE_VERITY: writes the digest to `digest` (room for `size` bytes); its length,
/// or -1 with errno set (ENODATA: verity is not enabled).
int cairn_measure_verity(int fd, uint8_t *digest, uint16_t size);

/// open(directory, O_TMPFILE | O_RDWR | O_CLOEXEC, mode): a file with no name yet; the
/// descriptor or -1 with errno set (EOPNOTSUPP or EISDIR where the file system has no O_TMPFILE).
int cairn_open_unnamed(const char *directory, unsigned int mode);

/// linkat(AT_FDCWD, "/proc/self/fd/<fd>", AT_FDCWD, path, AT_SYMLINK_FOLLOW): gives an
/// O_TMPFILE file its name; 0 or -1 with errno set (EEXIST: the name is taken).
int cairn_link_unnamed(int fd, const char *path);

/// open("/proc/self/fd/<fd>", O_RDONLY | O_CLOEXEC): a new read-only descriptor of the same file.
int cairn_reopen_read_only(int fd);

/// Mounts a composefs image read-only at `target`: the EROFS image open at `image_fd` (the
/// caller's, checked before and kept open) on a loop device (released with the mount), kept detached, under overlayfs with `objects` as a data-only lower layer
/// (metacopy and redirects on; with `require_verity`, overlayfs's verity=require). 0, or -1 with
/// errno set and `*step` naming what failed.
int cairn_mount_composefs(int image_fd, const char *objects, const char *target, int require_verity, const char **step);

/// syncfs: flushes the file system that holds fd; 0 or -1 with errno set.
int cairn_syncfs(int fd);
