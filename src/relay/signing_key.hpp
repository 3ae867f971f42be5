// The relay's own Ed25519 signing key: a 32-byte seed in <data>/relay-signing.key (mode 0600),
// made on first start. Receipts and release certificates are signed with it; clients pin its
// public half like the TLS certificate.
#pragma once

#include <filesystem>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "crypto/keys.hpp"

namespace bc::relay {

// kSigningKeyFileName is the key file's name under the relay's --data directory.
inline constexpr const char* kSigningKeyFileName = "relay-signing.key";

// load_or_create_signing_key reads the 32-byte seed at `path`, or, when no file is there, draws
// one from `rng` and writes it (mode 0600, fsync'd, renamed into place, so a crash never leaves
// a partial key). The seed only ever lives in SecretBytes. Fails with kMalformed when the file is
// not exactly 32 bytes, kAuthFailed when group or others may read it, kUnavailable when it
// cannot be read or written; an existing file is never changed.
[[nodiscard]] Result<crypto::Ed25519KeyPair> load_or_create_signing_key(
    const std::filesystem::path& path, Rng& rng);

}  // namespace bc::relay
