#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/fsverity.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "CCairnLinux.h"

int cairn_punch_hole(int fd, off_t offset, off_t length) {
    return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
}

int cairn_clone_file(int dst, int src) {
    return ioctl(dst, FICLONE, src);
}

ssize_t cairn_copy_file_range(int in, off_t *in_offset, int out, off_t *out_offset, size_t length) {
    return copy_file_range(in, in_offset, out, out_offset, length, 0);
}

ssize_t cairn_llistxattr(const char *path, char *list, size_t size) {
    return llistxattr(path, list, size);
}

ssize_t cairn_lgetxattr(const char *path, const char *name, void *value, size_t size) {
    return lgetxattr(path, name, value, size);
}

int cairn_enable_verity(int fd, uint32_t algorithm) {
    struct fsverity_enable_arg arg;
    memset(&arg, 0, sizeof(arg));
    arg.version = 1;
    arg.hash_algorithm = algorithm;
    arg.block_size = 4096;
    return ioctl(fd, FS_IOC_ENABLE_VERITY, &arg);
}

int cairn_measure_verity(int fd, uint8_t *digest, uint16_t size) {
    struct fsverity_digest *d = malloc(sizeof(struct fsverity_digest) + size);
    if (d == NULL) {
        errno = ENOMEM;
        return -1;
    }
    d->digest_size = size;
    int result = ioctl(fd, FS_IOC_MEASURE_VERITY, d);
    if (result == 0) {
        memcpy(digest, d->digest, d->digest_size);
        result = d->digest_size;
    }
    free(d);
    return result;
}

int cairn_syncfs(int fd) {
    return syncfs(fd);
}

int cairn_open_unnamed(const char *directory, unsigned int mode) {
    return open(directory, O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
}

int cairn_link_unnamed(int fd, const char *path) {
    char self[64];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
    return linkat(AT_FDCWD, self, AT_FDCWD, path, AT_SYMLINK_FOLLOW);
}

int cairn_reopen_read_only(int fd) {
    char self[64];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
    return open(self, O_RDONLY | O_CLOEXEC);
}
