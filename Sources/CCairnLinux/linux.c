#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/fsverity.h>
#include <linux/loop.h>
#include <linux/mount.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
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

int cairn_lsetxattr(const char *path, const char *name, const void *value, size_t size) {
    return lsetxattr(path, name, value, size, 0);
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

static int open_fs(const char *type) { return (int)syscall(__NR_fsopen, type, FSOPEN_CLOEXEC); }
static int configure(int fs, unsigned int command, const char *key, const char *value) {
    return (int)syscall(__NR_fsconfig, fs, command, key, value, 0);
}
static int make_mount(int fs) { return (int)syscall(__NR_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY); }

int cairn_mount_composefs(int image_fd, const char *objects, const char *target, int require_verity, const char **step) {
    int result = -1;
    int control = -1, loop = -1, erofs = -1, erofs_mount = -1, overlay = -1, overlay_mount = -1;
    char loop_path[64], lower[64];
    *step = "find a free loop device";
    if ((control = open("/dev/loop-control", O_RDWR | O_CLOEXEC)) < 0) goto out;
    int number = ioctl(control, LOOP_CTL_GET_FREE);
    if (number < 0) goto out;
    snprintf(loop_path, sizeof(loop_path), "/dev/loop%d", number);
    *step = "set up the loop device";
    if ((loop = open(loop_path, O_RDONLY | O_CLOEXEC)) < 0) goto out;
    struct loop_config config;
    memset(&config, 0, sizeof(config));
    config.fd = (unsigned int)image_fd;
    config.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
    if (ioctl(loop, LOOP_CONFIGURE, &config) < 0) goto out;
    *step = "mount the EROFS image";
    if ((erofs = open_fs("erofs")) < 0) goto out;
    if (configure(erofs, FSCONFIG_SET_STRING, "source", loop_path) < 0) goto out;
    // A read-only superblock: the loop device is read-only.
    if (configure(erofs, FSCONFIG_SET_FLAG, "ro", NULL) < 0) goto out;
    if (configure(erofs, FSCONFIG_CMD_CREATE, NULL, NULL) < 0) goto out;
    if ((erofs_mount = make_mount(erofs)) < 0) goto out;
    *step = "mount the overlay";
    if ((overlay = open_fs("overlay")) < 0) goto out;
    snprintf(lower, sizeof(lower), "/proc/self/fd/%d", erofs_mount);
    // Layers one by one (Linux 6.8+); before that, the "::" string form.
    if (configure(overlay, FSCONFIG_SET_STRING, "lowerdir+", lower) == 0) {
        if (configure(overlay, FSCONFIG_SET_STRING, "datadir+", objects) < 0) goto out;
    } else {
        char layers[4200];
        if (snprintf(layers, sizeof(layers), "%s::%s", lower, objects) >= (int)sizeof(layers)) { errno = ENAMETOOLONG; goto out; }
        if (configure(overlay, FSCONFIG_SET_STRING, "lowerdir", layers) < 0) goto out;
    }
    if (configure(overlay, FSCONFIG_SET_STRING, "metacopy", "on") < 0) goto out;
    if (configure(overlay, FSCONFIG_SET_STRING, "redirect_dir", "on") < 0) goto out;
    // Every file's data must carry the fs-verity digest its metacopy xattr names.
    if (require_verity && configure(overlay, FSCONFIG_SET_STRING, "verity", "require") < 0) goto out;
    if (configure(overlay, FSCONFIG_CMD_CREATE, NULL, NULL) < 0) goto out;
    if ((overlay_mount = make_mount(overlay)) < 0) goto out;
    *step = "attach the mount";
    if (syscall(__NR_move_mount, overlay_mount, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0) goto out;
    result = 0;
out:;
    int saved = errno;
    int descriptors[] = {control, loop, erofs, erofs_mount, overlay, overlay_mount};
    for (size_t i = 0; i < sizeof(descriptors) / sizeof(descriptors[0]); i++) {
        if (descriptors[i] >= 0) close(descriptors[i]);
    }
    errno = saved;
    return result;
}
