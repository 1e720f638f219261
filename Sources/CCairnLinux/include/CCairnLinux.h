// Linux calls that Glibc's Swift module does not export (they need _GNU_SOURCE).
#pragma once
#include <sys/types.h>

/// fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE); returns 0 or -1 with errno set.
int cairn_punch_hole(int fd, off_t offset, off_t length);
