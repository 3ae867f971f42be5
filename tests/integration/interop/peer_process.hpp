// PeerProcess: a child program spoken to in JSON lines over its stdin and stdout (test helper).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace bc::test {

// PeerProcess spawns `program`, sends one JSON request per line and reads one JSON response line
// per request. Test-only: failures (spawn, a dead child, a response that is not JSON, a child
// silent for `kResponseTimeoutMs`) throw std::runtime_error, so a hung peer fails the test
// instead of hanging it. The child is closed and reaped on destruction.
class PeerProcess {
 public:
  static constexpr int kResponseTimeoutMs = 60'000;

  explicit PeerProcess(const std::filesystem::path& program);
  ~PeerProcess();
  PeerProcess(const PeerProcess&) = delete;
  PeerProcess& operator=(const PeerProcess&) = delete;

  // request sends `request` and returns the parsed response line.
  [[nodiscard]] nlohmann::json request(const nlohmann::json& request);
  // request_batch sends all `requests` at once (pipelined) and returns the responses in order.
  // Keep batches small (tens of requests): the child's answers must fit its output pipe.
  [[nodiscard]] std::vector<nlohmann::json> request_batch(
      const std::vector<nlohmann::json>& requests);
  // request_line sends a raw line (which may be malformed) and returns the raw response line.
  [[nodiscard]] std::string request_line(const std::string& line);

 private:
  std::string read_line();
  void write_all(const std::string& data);

  pid_t pid_ = -1;
  int to_child_ = -1;
  int from_child_ = -1;
  std::string buffer_;
};

}  // namespace bc::test
