// The low-level SHA functions are deprecated in OpenSSL 3 but remain direct implementations:
// for 4 KiB fs-verity blocks the EVP layer's per-call setup costs more than the hashing itself.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

/// The SHA-256 (algorithm 1) or SHA-512 (algorithm 2) of `count` bytes of `data` followed by
/// zeros up to `padded` bytes: one fs-verity Merkle tree block.
static inline void cairn_hash_padded_block(int algorithm, const void *data, size_t count, size_t padded, unsigned char *out) {
    static const unsigned char zeros[4096] = {0};
    if (algorithm == 1) {
        SHA256_CTX context;
        SHA256_Init(&context);
        SHA256_Update(&context, data, count);
        if (count < padded) SHA256_Update(&context, zeros, padded - count);
        SHA256_Final(out, &context);
    } else {
        SHA512_CTX context;
        SHA512_Init(&context);
        SHA512_Update(&context, data, count);
        if (count < padded) SHA512_Update(&context, zeros, padded - count);
        SHA512_Final(out, &context);
    }
}
