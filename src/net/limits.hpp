// Transport limits and the socket-free pieces of src/net: config parsing, rate limiting, write
// queue bounds, listen addresses and certificate pins.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <string>
#include <string_view>

#include "core/bytes.hpp"
#include "core/result.hpp"

namespace bc::net {

// ServerLimits bounds what one client, and all clients together, can make the relay hold.
struct ServerLimits {
  std::size_t max_connections = 20'000;
  // Largest binary WebSocket message accepted: a 64 KiB envelope plus the frame header.
  std::size_t max_frame_bytes = 64 * 1024 + 1024;
  // Token bucket per connection: sustained frames per second and burst size.
  std::uint32_t rate_frames_per_second = 10'000;
  std::uint32_t rate_burst = 20'000;
  // A connection that completes no frame (data or ping) for this long is closed.
  std::uint32_t idle_timeout_ms = 300'000;
  // TLS handshake, HTTP request and WebSocket upgrade must complete within this time.
  std::uint32_t handshake_timeout_ms = 10'000;
  // Bounded per-connection write queue: exceeding either bound closes that connection. It must
  // hold the relay's push window (64 envelopes of up to 64 KiB) plus replies.
  std::size_t write_queue_max_frames = 1'024;
  std::size_t write_queue_max_bytes = 8 * 1024 * 1024;
  // Worker threads running the network loop.
  std::uint32_t threads = 2;
  // How long a SIGTERM drain waits for connections to close before stopping.
  std::uint32_t drain_timeout_ms = 5'000;
};

// ConfigMap holds the key=value pairs of a config file, in key order.
using ConfigMap = std::map<std::string, std::string, std::less<>>;

// parse_config_text parses "key = value" lines; blank lines and lines starting with '#' are
// ignored. Fails with kMalformed (naming the line number) on a line without '=', an empty or
// invalid key, or a key given twice.
[[nodiscard]] Result<ConfigMap> parse_config_text(std::string_view text);

// apply_server_limits moves the transport's keys out of `config` into `limits`. Fails with
// kMalformed on a non-numeric or out-of-range value; on failure `limits` may be partly updated
// and `config` keeps the failing key. Keys it does not know stay in `config`.
[[nodiscard]] Result<void> apply_server_limits(ConfigMap& config, ServerLimits& limits);

// validate_limits fails with kMalformed when limits are inconsistent (zero sizes, a frame larger
// than the write queue, a burst smaller than one).
[[nodiscard]] Result<void> validate_limits(const ServerLimits& limits);

// ListenAddress is a numeric IP address and a port (0 asks the OS for a free port).
struct ListenAddress {
  std::string host;
  std::uint16_t port = 0;
};

// parse_listen_address parses "A.B.C.D:PORT" or "[v6]:PORT". Fails with kMalformed on anything
// else (host names are refused: the relay binds only what it is told, numerically).
[[nodiscard]] Result<ListenAddress> parse_listen_address(std::string_view text);

// parse_fingerprint parses a SHA-256 certificate fingerprint: 64 hex digits, optionally in
// colon-separated pairs, either case. Fails with kMalformed otherwise.
[[nodiscard]] Result<Bytes> parse_fingerprint(std::string_view text);

// TokenBucket is a per-connection rate limiter over a millisecond clock. Not thread-safe.
class TokenBucket {
 public:
  // TokenBucket starts full (`burst` tokens) at `now_ms`.
  TokenBucket(std::uint32_t rate_per_second, std::uint32_t burst, std::int64_t now_ms);
  // take removes one token and returns 0, or, when empty, returns how many milliseconds to wait
  // before a token is available (and takes nothing).
  [[nodiscard]] std::int64_t take(std::int64_t now_ms);

 private:
  void refill(std::int64_t now_ms);
  double rate_per_ms_;
  double burst_;
  double tokens_;
  std::int64_t last_ms_;
};

// WriteQueue is a FIFO of outgoing frames bounded by a frame count and a byte total. Not
// thread-safe (each connection's queue lives on its strand).
class WriteQueue {
 public:
  WriteQueue(std::size_t max_frames, std::size_t max_bytes)
      : max_frames_(max_frames), max_bytes_(max_bytes) {}
  // push appends a frame; fails with kLimitExceeded (queue unchanged) when either bound would be
  // exceeded.
  [[nodiscard]] Result<void> push(Bytes frame);
  // front is the oldest frame; calling it on an empty queue aborts.
  [[nodiscard]] const Bytes& front() const;
  // pop drops the oldest frame; calling it on an empty queue aborts.
  void pop();
  void clear();
  [[nodiscard]] bool empty() const noexcept { return frames_.empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return frames_.size(); }
  [[nodiscard]] std::size_t bytes() const noexcept { return bytes_; }

 private:
  std::size_t max_frames_;
  std::size_t max_bytes_;
  std::size_t bytes_ = 0;
  // A list, not a deque: libstdc++'s deque allocates ~600 bytes even when empty, and every idle
  // connection has an empty queue.
  std::list<Bytes> frames_;
};

}  // namespace bc::net
