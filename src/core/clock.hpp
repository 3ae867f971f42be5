// Clock and Rng: the injected sources of time and randomness.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>

namespace bc {

// Clock gives wall-clock time in milliseconds since the Unix epoch.
class Clock {
 public:
  virtual ~Clock() = default;
  [[nodiscard]] virtual std::int64_t now_ms() const = 0;
};

// SystemClock reads the system's real-time clock.
class SystemClock final : public Clock {
 public:
  [[nodiscard]] std::int64_t now_ms() const override;
};

// ManualClock is a test clock that moves only when told.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t start_ms = 1'700'000'000'000) : now_(start_ms) {}
  [[nodiscard]] std::int64_t now_ms() const override { return now_.load(); }
  void set(std::int64_t ms) { now_.store(ms); }
  void advance(std::int64_t ms) { now_.fetch_add(ms); }

 private:
  std::atomic<std::int64_t> now_;
};

// Rng fills buffers with random bytes. Implementations: crypto::SystemRng (the OS CSPRNG via
// libsodium) and crypto::DeterministicRng (seeded ChaCha20, for tests and committed vectors).
class Rng {
 public:
  virtual ~Rng() = default;
  virtual void fill(std::span<std::uint8_t> out) = 0;
};

}  // namespace bc
