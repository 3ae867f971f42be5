// Result<T>: the error-or-value return type of every fallible call in Backchannel.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "core/check.hpp"

namespace bc {

// Errc is the short, stable set of error kinds. Every crypto failure is kAuthFailed.
enum class Errc : std::uint8_t {
  kMalformed = 1,
  kUnsupportedVersion,
  kAuthFailed,
  kUntrustedIdentity,
  kDuplicate,
  kLimitExceeded,
  kNotFound,
  kConflict,
  kUnavailable,
  kInternal,
};

// errc_name returns the stable snake_case name of `code` ("auth_failed", ...).
std::string_view errc_name(Errc code) noexcept;

// Error is an error kind plus a detail for logs. The detail never holds secret material.
struct Error {
  Errc code = Errc::kInternal;
  std::string detail;

  // message renders "auth_failed: detail" (or just the kind when the detail is empty).
  [[nodiscard]] std::string message() const;
  friend bool operator==(const Error& a, const Error& b) { return a.code == b.code; }
};

// Unexpected wraps an Error so that it converts into any Result<T>.
struct Unexpected {
  Error error;
};

// fail builds an Unexpected from a kind and a detail: `return fail(Errc::kMalformed, "...");`.
[[nodiscard]] inline Unexpected fail(Errc code, std::string detail = {}) {
  return Unexpected{Error{code, std::move(detail)}};
}
[[nodiscard]] inline Unexpected fail(Error error) { return Unexpected{std::move(error)}; }

// Result holds either a T or an Error, with std::expected's member names.
template <typename T>
class [[nodiscard]] Result {
 public:
  using value_type = T;
  using error_type = Error;

  Result(const T& value)
      : data_(std::in_place_index<0>, value) {}  // NOLINT(google-explicit-constructor)
  Result(T&& value) : data_(std::in_place_index<0>, std::move(value)) {}  // NOLINT
  template <typename U>
  requires(std::is_constructible_v<T, U&&> && !std::is_same_v<std::remove_cvref_t<U>, T> &&
           !std::is_same_v<std::remove_cvref_t<U>, Unexpected> &&
           !std::is_same_v<std::remove_cvref_t<U>, Result>) Result(U&& value)
      : data_(std::in_place_index<0>, std::forward<U>(value)) {}               // NOLINT
  Result(Unexpected u) : data_(std::in_place_index<1>, std::move(u.error)) {}  // NOLINT

  [[nodiscard]] bool has_value() const noexcept { return data_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  // value returns the value; calling it on an error is a broken invariant (aborts).
  [[nodiscard]] T& value() & {
    BC_CHECK(has_value());
    return std::get<0>(data_);
  }
  [[nodiscard]] const T& value() const& {
    BC_CHECK(has_value());
    return std::get<0>(data_);
  }
  [[nodiscard]] T&& value() && {
    BC_CHECK(has_value());
    return std::get<0>(std::move(data_));
  }
  [[nodiscard]] const Error& error() const& {
    BC_CHECK(!has_value());
    return std::get<1>(data_);
  }
  [[nodiscard]] Error&& error() && {
    BC_CHECK(!has_value());
    return std::get<1>(std::move(data_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  template <typename U>
  [[nodiscard]] T value_or(U&& fallback) const& {
    return has_value() ? std::get<0>(data_) : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  std::variant<T, Error> data_;
};

// Result<void> carries only success or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  using value_type = void;
  using error_type = Error;

  Result() = default;
  Result(Unexpected u) : error_(std::move(u.error)), ok_(false) {}  // NOLINT

  [[nodiscard]] bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  void value() const { BC_CHECK(ok_); }
  [[nodiscard]] const Error& error() const& {
    BC_CHECK(!ok_);
    return error_;
  }
  [[nodiscard]] Error&& error() && {
    BC_CHECK(!ok_);
    return std::move(error_);
  }

 private:
  Error error_;
  bool ok_ = true;
};

// ok() is the success value of a Result<void>.
[[nodiscard]] inline Result<void> ok() { return {}; }

}  // namespace bc

// BC_TRY(expr): evaluate a Result<void>; on error return the error from the enclosing function.
#define BC_TRY(expr) BC_TRY_IMPL_(BC_CONCAT_(bc_try_result_, __LINE__), expr)
#define BC_TRY_IMPL_(tmp, expr)                          \
  do {                                                   \
    auto tmp = (expr);                                   \
    if (!tmp) return ::bc::fail(std::move(tmp).error()); \
  } while (0)

#define BC_CONCAT_INNER_(a, b) a##b
#define BC_CONCAT_(a, b) BC_CONCAT_INNER_(a, b)
// BC_ASSIGN_OR_RETURN(decl, expr): `decl = *expr` or return the error from the enclosing function.
#define BC_ASSIGN_OR_RETURN(decl, expr) \
  BC_ASSIGN_OR_RETURN_IMPL_(BC_CONCAT_(bc_result_, __LINE__), decl, expr)
#define BC_ASSIGN_OR_RETURN_IMPL_(tmp, decl, expr)     \
  auto tmp = (expr);                                   \
  if (!tmp) return ::bc::fail(std::move(tmp).error()); \
  decl = std::move(tmp).value()
