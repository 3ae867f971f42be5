// Shared definitions of the session benchmarks: every implementation measures the same four
// things on 1 KiB plaintexts, named session/<implementation>/<measure>:
//   setup     bundle processed to first message decrypted (one new session per iteration)
//   steady    one message in one direction: encrypt plus decrypt
//   pingpong  one message, the direction alternating, so each is a DH ratchet step
//   state_bytes (a counter on pingpong) serialized session state after the ping-pong
// Stateful implementations write their session record after every message, as a store would.
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace bc::bench {

inline constexpr std::size_t kPlaintextSize = 1024;

// plaintext1k is a fixed 1 KiB message.
inline const std::vector<std::uint8_t>& plaintext1k() {
  static const std::vector<std::uint8_t> text = [] {
    std::vector<std::uint8_t> out(kPlaintextSize);
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::uint8_t>(i * 131 + 7);
    return out;
  }();
  return text;
}

// configure sets the common options: microseconds and 1 KiB of plaintext per iteration.
inline void configure(benchmark::internal::Benchmark* b) { b->Unit(benchmark::kMicrosecond); }

}  // namespace bc::bench
