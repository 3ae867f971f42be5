// SecretBytes: key material in locked, non-dumpable memory that wipes itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/bytes.hpp"

namespace bc {

// SecretBytes owns a fixed-size buffer of secret bytes. The buffer lives in memory that is
// mlock'ed (never swapped) and excluded from core dumps, and is wiped on destruction, on move
// and on assignment. It has no operator<<, no operator==: compare with ct_equal, read through
// expose(). Copying is explicit (copy()).
class SecretBytes {
 public:
  SecretBytes() noexcept = default;
  // SecretBytes(n) allocates n zero bytes.
  explicit SecretBytes(std::size_t size);
  // SecretBytes(view) copies `view` into secret memory. The caller wipes its own copy.
  explicit SecretBytes(ByteView view);
  ~SecretBytes();

  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  // copy makes an explicit deep copy.
  [[nodiscard]] SecretBytes copy() const { return SecretBytes(expose()); }

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

  // expose gives the secret bytes; the name marks every place secrets are read.
  [[nodiscard]] ByteView expose() const noexcept { return {data_, size_}; }
  [[nodiscard]] MutableByteView expose_mut() noexcept { return {data_, size_}; }

  // ct_equal compares in constant time (for equal sizes).
  [[nodiscard]] friend bool ct_equal(const SecretBytes& a, const SecretBytes& b) noexcept {
    return bc::ct_equal(a.expose(), b.expose());
  }

 private:
  void release() noexcept;

  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

namespace secure_memory {
// locked_bytes reports how many bytes of locked secret memory are currently in use.
[[nodiscard]] std::size_t bytes_in_use() noexcept;
// harden_process disables core dumps and ptrace attachment for this process (apps call it first).
void harden_process() noexcept;
}  // namespace secure_memory

}  // namespace bc
