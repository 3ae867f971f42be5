// BC_CHECK: abort on a broken internal invariant (never on bad input).
#pragma once

namespace bc::detail {
[[noreturn]] void check_failed(const char* expr, const char* file, int line) noexcept;
}  // namespace bc::detail

#define BC_CHECK(cond)                                       \
  do {                                                       \
    if (!(cond)) [[unlikely]]                                \
      ::bc::detail::check_failed(#cond, __FILE__, __LINE__); \
  } while (0)
