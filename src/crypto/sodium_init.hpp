// ensure_sodium: initialise libsodium once (internal to the crypto layer).
#pragma once

#include <sodium.h>

#include "core/check.hpp"

namespace bc::crypto::detail {
inline void ensure_sodium() noexcept {
  static const bool ready = sodium_init() >= 0;
  BC_CHECK(ready);
}
}  // namespace bc::crypto::detail
