#include "relay_harness.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>

#include "support/test_paths.hpp"

namespace bc::test {
namespace fs = std::filesystem;

fs::path relay_binary() { return binary_dir() / "bin" / "backchannel-relay"; }
fs::path faulty_relay_binary() { return binary_dir() / "bin" / "backchannel-faulty-relay"; }

Result<std::unique_ptr<RelayProcess>> RelayProcess::start(const fs::path& data_dir,
                                                          const std::string& config_text,
                                                          const std::string& listen) {
  return launch(relay_binary(), data_dir, config_text, listen, {});
}

Result<std::unique_ptr<RelayProcess>> RelayProcess::start_faulty(
    const fs::path& data_dir, const std::vector<std::string>& faults, const std::string& listen) {
  std::vector<std::string> extra;
  for (const auto& fault : faults) {
    extra.push_back("--fault");
    extra.push_back(fault);
  }
  return launch(faulty_relay_binary(), data_dir, {}, listen, extra);
}

Result<std::unique_ptr<RelayProcess>> RelayProcess::launch(const fs::path& binary,
                                                           const fs::path& data_dir,
                                                           const std::string& config_text,
                                                           const std::string& listen,
                                                           const std::vector<std::string>& extra) {
  auto process = std::unique_ptr<RelayProcess>(new RelayProcess());
  static std::atomic<int> counter{0};
  process->log_path_ =
      data_dir.parent_path() / ("relay-" + std::to_string(counter.fetch_add(1)) + ".log");
  std::vector<std::string> args = {binary.string(), "--listen", listen, "--data",
                                   data_dir.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  if (!config_text.empty()) {
    const fs::path config = data_dir.parent_path() / "relay.conf";
    {
      std::FILE* f = std::fopen(config.c_str(), "wb");
      if (f == nullptr) return fail(Errc::kUnavailable, "cannot write config");
      std::fwrite(config_text.data(), 1, config_text.size(), f);
      std::fclose(f);
    }
    args.push_back("--config");
    args.push_back(config.string());
  }
  const pid_t pid = ::fork();
  if (pid < 0) return fail(Errc::kUnavailable, "fork failed");
  if (pid == 0) {
    // The relay dies with the test, even when the test itself crashes.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    const int fd = ::open(process->log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  process->pid_ = pid;
  // Wait for the URL, fingerprint and signing-key lines (printed once the relay listens).
  for (int i = 0; i < 3000; ++i) {
    const std::string log = process->log();
    const auto url = log.find("url: wss://127.0.0.1:");
    const auto fp = log.find("fingerprint: ");
    const auto sk = log.find("signing-key: ");
    if (url != std::string::npos && fp != std::string::npos && sk != std::string::npos &&
        log.find('\n', sk) != std::string::npos) {
      const std::size_t port_at = url + std::string("url: wss://127.0.0.1:").size();
      process->port_ = static_cast<std::uint16_t>(std::stoul(log.substr(port_at)));
      auto fingerprint = from_hex(log.substr(fp + 13, 64));
      if (!fingerprint) return fail(Errc::kMalformed, "relay printed a bad fingerprint");
      process->fingerprint_ = *fingerprint;
      auto signing_key = from_hex(log.substr(sk + 13, 64));
      if (!signing_key) return fail(Errc::kMalformed, "relay printed a bad signing key");
      process->signing_key_ = *signing_key;
      return process;
    }
    if (!process->alive()) {
      return fail(Errc::kUnavailable, "relay exited during start: " + log);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return fail(Errc::kUnavailable, "relay did not start: " + process->log());
}

RelayProcess::~RelayProcess() {
  if (pid_ > 0) kill9();
}

bool RelayProcess::alive() {
  if (pid_ <= 0) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

void RelayProcess::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

int RelayProcess::terminate() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return WIFSIGNALED(status) ? -WTERMSIG(status) : -1;
}

net::ClientOptions RelayProcess::options() const {
  net::ClientOptions o;
  o.host = "127.0.0.1";
  o.port = port_;
  o.fingerprint = fingerprint_;
  return o;
}

std::string RelayProcess::log() const { return read_file(log_path_); }

Result<std::unique_ptr<RelayConn>> RelayConn::open(const net::ClientOptions& options) {
  BC_ASSIGN_OR_RETURN(auto client, net::Client::connect(options));
  auto conn = std::unique_ptr<RelayConn>(new RelayConn());
  conn->client_ = std::move(client);
  return conn;
}

Result<wire::RelayFrame> RelayConn::request(Result<Bytes> frame) {
  if (!frame) return fail(std::move(frame).error());
  const wire::RequestId id = codec_.last_request_id();
  BC_TRY(client_->send(*frame));
  while (true) {
    BC_ASSIGN_OR_RETURN(const Bytes reply, client_->receive());
    BC_ASSIGN_OR_RETURN(wire::RelayFrame parsed, relay::RelayClientCodec::parse(reply));
    if (auto* d = std::get_if<wire::Delivery>(&parsed.message); d != nullptr) {
      pushes_.push_back(std::move(*d));
      continue;
    }
    if (parsed.request_id == id) return parsed;
    return fail(Errc::kMalformed, "reply to an unexpected request id");
  }
}

Result<wire::Challenge> RelayConn::hello() {
  BC_ASSIGN_OR_RETURN(const wire::RelayFrame reply, request(codec_.hello()));
  const auto* challenge = std::get_if<wire::ChallengeReply>(&reply.message);
  if (challenge == nullptr) return fail(Errc::kMalformed, "hello: no challenge");
  challenge_ = challenge->challenge;
  relay_key_ = challenge->relay_key;
  return challenge_;
}

Result<wire::QueueCreated> RelayConn::create_queue(const crypto::Ed25519PublicKey& key) {
  BC_ASSIGN_OR_RETURN(const wire::RelayFrame reply, request(codec_.create_queue(key)));
  const auto* created = std::get_if<wire::QueueCreated>(&reply.message);
  if (created == nullptr) return fail(Errc::kMalformed, "create_queue: unexpected reply");
  return *created;
}

Result<void> RelayConn::subscribe(const wire::QueueId& recipient_id,
                                  const crypto::Ed25519PrivateKey& key) {
  BC_ASSIGN_OR_RETURN(const wire::RelayFrame reply,
                      request(codec_.subscribe(recipient_id, key, challenge_)));
  if (!std::holds_alternative<wire::Ok>(reply.message)) {
    return fail(Errc::kAuthFailed, "subscribe refused");
  }
  return ok();
}

Result<wire::RelayMessage> RelayConn::deposit(const wire::QueueId& sender_id, ByteView envelope) {
  BC_ASSIGN_OR_RETURN(wire::RelayFrame reply, request(codec_.deposit(sender_id, envelope)));
  return std::move(reply.message);
}

Result<void> RelayConn::ack(const wire::QueueId& recipient_id, wire::MessageId message_id) {
  BC_ASSIGN_OR_RETURN(const wire::RelayFrame reply, request(codec_.ack(recipient_id, message_id)));
  if (const auto* e = std::get_if<wire::ErrorReply>(&reply.message); e != nullptr) {
    return fail(Errc::kNotFound, "ack refused: " + std::string(wire::relay_error_name(e->code)));
  }
  if (!std::holds_alternative<wire::Ok>(reply.message))
    return fail(Errc::kMalformed, "ack: bad reply");
  return ok();
}

Result<wire::Delivery> RelayConn::next_delivery(std::uint32_t timeout_ms) {
  while (pushes_.empty()) {
    BC_ASSIGN_OR_RETURN(const Bytes frame, client_->receive_for(timeout_ms));
    BC_ASSIGN_OR_RETURN(wire::RelayFrame parsed, relay::RelayClientCodec::parse(frame));
    auto* d = std::get_if<wire::Delivery>(&parsed.message);
    if (d == nullptr) return fail(Errc::kMalformed, "expected a delivery");
    pushes_.push_back(std::move(*d));
  }
  wire::Delivery out = std::move(pushes_.front());
  pushes_.pop_front();
  return out;
}

Bytes envelope_with(std::uint64_t sequence, std::size_t size) {
  Bytes out(size, 0x5a);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(sequence >> (56 - 8 * i));
  return out;
}

std::uint64_t sequence_of(ByteView envelope) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8 && i < envelope.size(); ++i) v = (v << 8) | envelope[i];
  return v;
}

}  // namespace bc::test
