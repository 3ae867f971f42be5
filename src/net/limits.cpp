#include "net/limits.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <utility>

namespace bc::net {
namespace {

std::string_view trim(std::string_view s) {
  const auto not_space = [](char c) { return c != ' ' && c != '\t' && c != '\r'; };
  while (!s.empty() && !not_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && !not_space(s.back())) s.remove_suffix(1);
  return s;
}

bool valid_key(std::string_view key) {
  if (key.empty() || key.size() > 64) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
  });
}

Result<std::uint64_t> parse_unsigned(std::string_view key, std::string_view text, std::uint64_t min,
                                     std::uint64_t max) {
  std::uint64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) {
    return fail(Errc::kMalformed, "config: " + std::string(key) + " must be a whole number");
  }
  if (value < min || value > max) {
    return fail(Errc::kMalformed, "config: " + std::string(key) + " must be between " +
                                      std::to_string(min) + " and " + std::to_string(max));
  }
  return value;
}

template <typename T>
Result<void> take_number(ConfigMap& config, std::string_view key, T& out, std::uint64_t min,
                         std::uint64_t max) {
  const auto it = config.find(key);
  if (it == config.end()) return ok();
  BC_ASSIGN_OR_RETURN(const std::uint64_t value, parse_unsigned(key, it->second, min, max));
  out = static_cast<T>(value);
  config.erase(it);
  return ok();
}

}  // namespace

Result<ConfigMap> parse_config_text(std::string_view text) {
  ConfigMap out;
  std::size_t line_number = 0;
  while (!text.empty()) {
    const std::size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    ++line_number;
    line = trim(line);
    if (line.empty() || line.front() == '#') continue;
    const std::string where = "config line " + std::to_string(line_number);
    const std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) return fail(Errc::kMalformed, where + ": expected key=value");
    const std::string_view key = trim(line.substr(0, eq));
    const std::string_view value = trim(line.substr(eq + 1));
    if (!valid_key(key)) return fail(Errc::kMalformed, where + ": invalid key");
    if (!out.emplace(std::string(key), std::string(value)).second) {
      return fail(Errc::kMalformed, where + ": key " + std::string(key) + " given twice");
    }
  }
  return out;
}

Result<void> apply_server_limits(ConfigMap& config, ServerLimits& limits) {
  constexpr std::uint64_t kU32 = 0xffffffffULL;
  BC_TRY(take_number(config, "max_connections", limits.max_connections, 1, 1'000'000));
  BC_TRY(take_number(config, "max_frame_bytes", limits.max_frame_bytes, 64, 16 * 1024 * 1024));
  BC_TRY(take_number(config, "rate_frames_per_second", limits.rate_frames_per_second, 1, kU32));
  BC_TRY(take_number(config, "rate_burst", limits.rate_burst, 1, kU32));
  BC_TRY(take_number(config, "idle_timeout_ms", limits.idle_timeout_ms, 100, kU32));
  BC_TRY(take_number(config, "handshake_timeout_ms", limits.handshake_timeout_ms, 100, kU32));
  BC_TRY(
      take_number(config, "write_queue_max_frames", limits.write_queue_max_frames, 1, 1'000'000));
  BC_TRY(
      take_number(config, "write_queue_max_bytes", limits.write_queue_max_bytes, 64, 1ULL << 32));
  BC_TRY(take_number(config, "threads", limits.threads, 1, 64));
  BC_TRY(take_number(config, "drain_timeout_ms", limits.drain_timeout_ms, 0, kU32));
  return validate_limits(limits);
}

Result<void> validate_limits(const ServerLimits& limits) {
  if (limits.max_connections == 0 || limits.max_frame_bytes == 0 || limits.threads == 0) {
    return fail(Errc::kMalformed, "limits: max_connections, max_frame_bytes, threads must be > 0");
  }
  if (limits.rate_frames_per_second == 0 || limits.rate_burst == 0) {
    return fail(Errc::kMalformed, "limits: rate_frames_per_second and rate_burst must be > 0");
  }
  if (limits.write_queue_max_frames == 0 || limits.write_queue_max_bytes < limits.max_frame_bytes) {
    return fail(Errc::kMalformed,
                "limits: write_queue_max_bytes must hold at least one frame of max_frame_bytes");
  }
  return ok();
}

Result<ListenAddress> parse_listen_address(std::string_view text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return fail(Errc::kMalformed, "listen address must be HOST:PORT");
  }
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  ListenAddress out;
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') {
      return fail(Errc::kMalformed, "listen address: bad IPv6 literal");
    }
    host = host.substr(1, host.size() - 2);
    const bool ok_chars = std::all_of(host.begin(), host.end(), [](char c) {
      return c == ':' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
             (c >= 'A' && c <= 'F');
    });
    if (!ok_chars) return fail(Errc::kMalformed, "listen address: bad IPv6 literal");
  } else {
    // Dotted quad: four decimal parts, each 0..255.
    int parts = 0;
    std::string_view rest = host;
    while (true) {
      const std::size_t dot = rest.find('.');
      const std::string_view part = rest.substr(0, dot);
      unsigned value = 0;
      const auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
      if (part.empty() || part.size() > 3 || ec != std::errc() ||
          ptr != part.data() + part.size() || value > 255) {
        return fail(Errc::kMalformed, "listen address: host must be a numeric IP address");
      }
      ++parts;
      if (dot == std::string_view::npos) break;
      rest = rest.substr(dot + 1);
    }
    if (parts != 4) {
      return fail(Errc::kMalformed, "listen address: host must be a numeric IP address");
    }
  }
  unsigned port = 0;
  const auto [ptr, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || ptr != port_text.data() + port_text.size() ||
      port > 65535) {
    return fail(Errc::kMalformed, "listen address: port must be 0..65535");
  }
  out.host = std::string(host);
  out.port = static_cast<std::uint16_t>(port);
  return out;
}

Result<Bytes> parse_fingerprint(std::string_view text) {
  std::string hex;
  hex.reserve(64);
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == ':') {
      // Colons only between pairs.
      if (hex.empty() || hex.size() % 2 != 0 || i + 1 == text.size()) {
        return fail(Errc::kMalformed, "fingerprint: misplaced ':'");
      }
      continue;
    }
    hex.push_back(c);
  }
  if (hex.size() != 64) return fail(Errc::kMalformed, "fingerprint: expected 64 hex digits");
  return from_hex(hex);
}

TokenBucket::TokenBucket(std::uint32_t rate_per_second, std::uint32_t burst, std::int64_t now_ms)
    : rate_per_ms_(static_cast<double>(rate_per_second) / 1000.0),
      burst_(static_cast<double>(std::max<std::uint32_t>(burst, 1))),
      tokens_(burst_),
      last_ms_(now_ms) {}

void TokenBucket::refill(std::int64_t now_ms) {
  if (now_ms > last_ms_) {
    tokens_ = std::min(burst_, tokens_ + static_cast<double>(now_ms - last_ms_) * rate_per_ms_);
    last_ms_ = now_ms;
  }
}

std::int64_t TokenBucket::take(std::int64_t now_ms) {
  refill(now_ms);
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return 0;
  }
  const double wait = (1.0 - tokens_) / rate_per_ms_;
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(wait)));
}

Result<void> WriteQueue::push(Bytes frame) {
  if (frames_.size() + 1 > max_frames_ || bytes_ + frame.size() > max_bytes_) {
    return fail(Errc::kLimitExceeded, "write queue full");
  }
  bytes_ += frame.size();
  frames_.push_back(std::move(frame));
  return ok();
}

const Bytes& WriteQueue::front() const {
  BC_CHECK(!frames_.empty());
  return frames_.front();
}

void WriteQueue::pop() {
  BC_CHECK(!frames_.empty());
  bytes_ -= frames_.front().size();
  frames_.pop_front();
}

void WriteQueue::clear() {
  frames_.clear();
  bytes_ = 0;
}

}  // namespace bc::net
