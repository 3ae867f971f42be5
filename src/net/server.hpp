// Server: the relay's TLS 1.3 WebSocket transport, plus GET /healthz and /metrics on the same port.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "core/result.hpp"
#include "net/limits.hpp"
#include "relay/relay_service.hpp"

namespace bc::net {

// ServerOptions says where to listen, which certificate to present and the limits to enforce.
struct ServerOptions {
  ListenAddress listen{"127.0.0.1", 0};
  std::filesystem::path cert_pem;  // certificate chain, PEM
  std::filesystem::path key_pem;   // private key, PEM
  ServerLimits limits;
};

// TransportStats is a snapshot of the transport's own counters.
struct TransportStats {
  std::uint64_t connections_open = 0;
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_refused = 0;  // over max_connections
  std::uint64_t frames_in = 0;
  std::uint64_t frames_out = 0;
  std::uint64_t frames_rejected = 0;  // oversized, malformed, text, protocol violations
  std::uint64_t write_queue_overflows = 0;
  std::uint64_t idle_timeouts = 0;
  std::uint64_t handshake_failures = 0;
};

// Server accepts TLS 1.3 connections (no older version is offered), upgrades them to WebSocket
// and hands each binary message to a RelayService; it answers GET /healthz and GET /metrics.
// Each connection's writes go through a bounded queue on that connection's strand. Input never
// crashes the server: a malformed or oversized frame, a text frame, an overflowing write queue,
// a handshake that does not finish in time or an idle connection closes that connection only.
//
// Lifecycle: create() binds; outbox() can be handed to the service; start(service) runs the
// network threads; stop() drains (closes every connection with "going away", waits up to
// drain_timeout_ms) and joins them. The destructor stops. The Server must outlive every use of
// its outbox (calls after stop() are dropped).
class Server {
 public:
  // create loads the certificate and key and binds the listening socket. Fails with kMalformed on
  // invalid limits or an unusable certificate/key, kUnavailable when the address cannot be bound.
  [[nodiscard]] static Result<std::unique_ptr<Server>> create(const ServerOptions& options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // outbox is the thread-safe Outbox the RelayService answers through.
  [[nodiscard]] relay::Outbox& outbox();
  // start begins accepting and routing frames to `service`, which must outlive stop(). Calling
  // it twice is a broken invariant (aborts).
  void start(relay::RelayService& service);
  // stop drains and joins the network threads; idempotent.
  void stop();
  // port is the bound TCP port (useful when listening on port 0).
  [[nodiscard]] std::uint16_t port() const;
  // stats snapshots the transport counters.
  [[nodiscard]] TransportStats stats() const;
  // metrics_text renders the transport counters and the service's metrics (Prometheus text).
  [[nodiscard]] std::string metrics_text() const;

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// render_transport_metrics renders `stats` in Prometheus text format.
[[nodiscard]] std::string render_transport_metrics(const TransportStats& stats);

}  // namespace bc::net
