#include "integration/interop/peer_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <stdexcept>

extern char** environ;

namespace bc::test {
namespace {

[[noreturn]] void raise(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

}  // namespace

PeerProcess::PeerProcess(const std::filesystem::path& program) {
  // A peer that exits while we write must not kill the test with SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
  int in_pipe[2];
  int out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) raise("pipe");
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) raise("pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  const std::string path = program.string();
  char* argv[] = {const_cast<char*>(path.c_str()), nullptr};
  const int rc = ::posix_spawn(&pid_, path.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  to_child_ = in_pipe[1];
  from_child_ = out_pipe[0];
  if (rc != 0) {
    errno = rc;
    raise("spawn " + path);
  }
}

PeerProcess::~PeerProcess() {
  if (to_child_ >= 0) ::close(to_child_);  // EOF on stdin: the peer exits
  if (from_child_ >= 0) ::close(from_child_);
  if (pid_ > 0) {
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

void PeerProcess::write_all(const std::string& data) {
  std::size_t written = 0;
  while (written < data.size()) {
    const ssize_t n = ::write(to_child_, data.data() + written, data.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) raise("write to peer");
    written += static_cast<std::size_t>(n);
  }
}

std::string PeerProcess::request_line(const std::string& line) {
  write_all(line + '\n');
  return read_line();
}

std::vector<nlohmann::json> PeerProcess::request_batch(
    const std::vector<nlohmann::json>& requests) {
  std::string out;
  for (const auto& request : requests) {
    out += request.dump();
    out.push_back('\n');
  }
  write_all(out);
  std::vector<nlohmann::json> responses;
  responses.reserve(requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const std::string line = read_line();
    try {
      responses.push_back(nlohmann::json::parse(line));
    } catch (const nlohmann::json::exception&) {
      throw std::runtime_error("peer answered with a line that is not JSON: " + line);
    }
  }
  return responses;
}

nlohmann::json PeerProcess::request(const nlohmann::json& request) {
  const std::string line = request_line(request.dump());
  try {
    return nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception&) {
    throw std::runtime_error("peer answered with a line that is not JSON: " + line);
  }
}

std::string PeerProcess::read_line() {
  for (;;) {
    if (const auto eol = buffer_.find('\n'); eol != std::string::npos) {
      std::string line = buffer_.substr(0, eol);
      buffer_.erase(0, eol + 1);
      return line;
    }
    pollfd pfd{from_child_, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, kResponseTimeoutMs);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) raise("poll");
    if (ready == 0) throw std::runtime_error("peer did not answer");
    char chunk[65536];
    const ssize_t n = ::read(from_child_, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) raise("read from peer");
    if (n == 0) throw std::runtime_error("peer closed its output (exited?)");
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }
}

}  // namespace bc::test
