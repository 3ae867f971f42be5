// Client: a WebSocket-over-TLS 1.3 client that pins the relay's certificate by SHA-256.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/bytes.hpp"
#include "core/result.hpp"

namespace bc::net {

// ClientOptions: where the relay is, the pinned certificate fingerprint (SHA-256 of the DER
// certificate, as printed by the relay), and a per-operation timeout.
struct ClientOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  Bytes fingerprint;  // 32 bytes; see parse_fingerprint
  std::uint32_t timeout_ms = 10'000;
  std::size_t max_frame_bytes = 64 * 1024 + 1024;
};

// Client is one blocking WebSocket connection: each call does its own reads and writes on the
// socket, waiting at most the timeout (from the start of the call) for it. Not thread-safe: one
// thread uses it at a time. After any failed operation the connection is unusable (every later call
// fails).
class Client {
 public:
  // connect opens TCP, completes a TLS 1.3 handshake in which the server's leaf certificate must
  // match the pinned fingerprint, and upgrades to WebSocket. Fails with kAuthFailed when the
  // certificate does not match the pin (or the pin is not 32 bytes), kUnavailable when the relay
  // cannot be reached, refuses, or the timeout (one for all three steps) passes; its detail starts
  // with "cannot connect to the relay" only when the TCP connection itself failed.
  [[nodiscard]] static Result<std::unique_ptr<Client>> connect(const ClientOptions& options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // send writes one binary message (and anything queued before it). Fails with kUnavailable on a
  // closed connection or timeout.
  [[nodiscard]] Result<void> send(ByteView frame);
  // queue encrypts one binary message and keeps it to be sent with the next send, flush or
  // receive (a receive sends what is queued before it waits), so that a burst of messages leaves
  // in one write. More than 256 KiB queued is sent at once. Fails as send does.
  [[nodiscard]] Result<void> queue(ByteView frame);
  // flush sends what queue kept. Fails as send does.
  [[nodiscard]] Result<void> flush();
  // receive waits up to timeout_ms for one binary message, having first sent anything queued.
  // Fails with kUnavailable when the connection closes or the timeout passes, kMalformed on a
  // text message.
  [[nodiscard]] Result<Bytes> receive();
  // receive_for is receive with its own timeout.
  [[nodiscard]] Result<Bytes> receive_for(std::uint32_t timeout_ms);
  // ping sends a WebSocket ping (keeps an otherwise idle connection alive).
  [[nodiscard]] Result<void> ping();
  // send_raw writes bytes straight onto the TLS stream, bypassing WebSocket framing (tests of
  // malformed input). Fails with kUnavailable like send.
  [[nodiscard]] Result<void> send_raw(ByteView bytes);
  // close sends a WebSocket close and waits briefly for the reply; never fails.
  void close();

  struct Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// HttpReply is the status and body of one HTTP response.
struct HttpReply {
  int status = 0;
  std::string body;
};

// https_get fetches `target` (e.g. "/healthz") over TLS 1.3 with the same pinning as
// Client::connect. Fails as connect does, kMalformed on an unreadable response.
[[nodiscard]] Result<HttpReply> https_get(const ClientOptions& options, const std::string& target);

}  // namespace bc::net
