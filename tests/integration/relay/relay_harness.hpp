// Test harness: runs the real backchannel-relay binary and speaks the relay protocol to it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/bytes.hpp"
#include "core/result.hpp"
#include "crypto/ed25519.hpp"
#include "net/client.hpp"
#include "relay/relay_client.hpp"
#include "support/temp_dir.hpp"
#include "wire/relay_frames.hpp"

namespace bc::test {

// relay_binary is BUILD/bin/backchannel-relay.
[[nodiscard]] std::filesystem::path relay_binary();
// faulty_relay_binary is BUILD/bin/backchannel-faulty-relay (tests/integration/faults): the same
// relay with fault switches.
[[nodiscard]] std::filesystem::path faulty_relay_binary();

// RelayProcess is one running backchannel-relay on 127.0.0.1 and a free port, its stdout and
// stderr captured in a log file.
class RelayProcess {
 public:
  // start runs the relay with --data `data_dir` (and --config when `config_text` is non-empty)
  // on `listen` (a free port by default)
  // and waits for its URL and fingerprint lines. Fails with kUnavailable if it exits first.
  [[nodiscard]] static Result<std::unique_ptr<RelayProcess>> start(
      const std::filesystem::path& data_dir, const std::string& config_text = {},
      const std::string& listen = "127.0.0.1:0");
  // start_faulty runs backchannel-faulty-relay the same way, with one `--fault SPEC` per entry of
  // `faults` (e.g. "drop=3", "withhold=1"; see tests/integration/faults/fault_injector.hpp).
  [[nodiscard]] static Result<std::unique_ptr<RelayProcess>> start_faulty(
      const std::filesystem::path& data_dir, const std::vector<std::string>& faults,
      const std::string& listen = "127.0.0.1:0");
  ~RelayProcess();

  // kill9 sends SIGKILL and reaps the process.
  void kill9();
  // terminate sends SIGTERM and returns the exit status (or -signal when killed by one).
  int terminate();
  [[nodiscard]] bool alive();
  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] const Bytes& fingerprint() const { return fingerprint_; }
  // signing_key is the relay's public signing key as printed at start ("signing-key: ").
  [[nodiscard]] const Bytes& signing_key() const { return signing_key_; }
  [[nodiscard]] net::ClientOptions options() const;
  // log is everything the relay printed so far.
  [[nodiscard]] std::string log() const;

 private:
  static Result<std::unique_ptr<RelayProcess>> launch(const std::filesystem::path& binary,
                                                      const std::filesystem::path& data_dir,
                                                      const std::string& config_text,
                                                      const std::string& listen,
                                                      const std::vector<std::string>& extra);
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  Bytes fingerprint_;
  Bytes signing_key_;
  std::filesystem::path log_path_;
};

// RelayConn is one protocol connection: requests are answered in order of request id; pushes
// that arrive meanwhile are kept for next_delivery().
class RelayConn {
 public:
  [[nodiscard]] static Result<std::unique_ptr<RelayConn>> open(const net::ClientOptions& options);

  // request sends `frame` (built with codec()) and waits for the reply with its request id.
  [[nodiscard]] Result<wire::RelayFrame> request(Result<Bytes> frame);
  [[nodiscard]] Result<wire::Challenge> hello();
  // relay_key is the signing key the relay sent with its challenge (zero before hello()).
  [[nodiscard]] const wire::RelayKey& relay_key() const { return relay_key_; }
  [[nodiscard]] Result<wire::QueueCreated> create_queue(const crypto::Ed25519PublicKey& key);
  [[nodiscard]] Result<void> subscribe(const wire::QueueId& recipient_id,
                                       const crypto::Ed25519PrivateKey& key);
  // deposit returns the relay's reply (Ok or ErrorReply).
  [[nodiscard]] Result<wire::RelayMessage> deposit(const wire::QueueId& sender_id,
                                                   ByteView envelope);
  [[nodiscard]] Result<void> ack(const wire::QueueId& recipient_id, wire::MessageId message_id);
  // next_delivery returns the next pushed envelope, waiting up to timeout_ms.
  [[nodiscard]] Result<wire::Delivery> next_delivery(std::uint32_t timeout_ms = 10'000);

  relay::RelayClientCodec& codec() { return codec_; }
  net::Client& client() { return *client_; }

 private:
  std::unique_ptr<net::Client> client_;
  relay::RelayClientCodec codec_;
  wire::Challenge challenge_{};
  wire::RelayKey relay_key_{};
  std::deque<wire::Delivery> pushes_;
};

// envelope_with makes a `size`-byte envelope whose first 8 bytes are `sequence` (big-endian).
[[nodiscard]] Bytes envelope_with(std::uint64_t sequence, std::size_t size = 256);
// sequence_of reads that number back.
[[nodiscard]] std::uint64_t sequence_of(ByteView envelope);

}  // namespace bc::test
