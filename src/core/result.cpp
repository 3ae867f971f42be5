#include "core/result.hpp"

#include <cstdio>
#include <cstdlib>

namespace bc {

std::string_view errc_name(Errc code) noexcept {
  switch (code) {
    case Errc::kMalformed:
      return "malformed";
    case Errc::kUnsupportedVersion:
      return "unsupported_version";
    case Errc::kAuthFailed:
      return "auth_failed";
    case Errc::kUntrustedIdentity:
      return "untrusted_identity";
    case Errc::kDuplicate:
      return "duplicate";
    case Errc::kLimitExceeded:
      return "limit_exceeded";
    case Errc::kNotFound:
      return "not_found";
    case Errc::kConflict:
      return "conflict";
    case Errc::kUnavailable:
      return "unavailable";
    case Errc::kInternal:
      return "internal";
  }
  return "internal";
}

std::string Error::message() const {
  std::string out(errc_name(code));
  if (!detail.empty()) {
    out += ": ";
    out += detail;
  }
  return out;
}

namespace detail {
void check_failed(const char* expr, const char* file, int line) noexcept {
  std::fprintf(stderr, "backchannel: internal invariant broken: %s (%s:%d)\n", expr, file, line);
  std::abort();
}
}  // namespace detail

}  // namespace bc
