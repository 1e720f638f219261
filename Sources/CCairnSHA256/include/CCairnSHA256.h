#ifndef CCAIRN_SHA256_H
#define CCAIRN_SHA256_H

#include <stddef.h>
#include <stdint.h>

/// Whether this CPU has the SHA extensions `cairn_sha256_pages` needs (x86-64 SHA-NI).
int cairn_sha256_pages_available(void);

/// The SHA-256 of each of `count` consecutive 4096-byte pages at `data`, 32 bytes each to
/// `out`: fs-verity's Merkle tree blocks. Two pages are hashed at a time with their rounds
/// interleaved, which keeps the SHA unit busy where one stream waits on its own results.
/// Call only when `cairn_sha256_pages_available()`.
void cairn_sha256_pages(const uint8_t *data, size_t count, uint8_t *out);

#endif
