// RelayService: the relay's logic behind the transport — frames in, frames out, no sockets.
// (Contract between src/net and src/relay; the implementation lives in src/relay.)
#pragma once

#include <cstdint>
#include <string>

#include "core/bytes.hpp"

namespace bc::relay {

using ConnectionId = std::uint64_t;

// Outbox is how the service talks back to the transport. Implementations must be thread-safe:
// the service may call them from its own threads (e.g. after a group commit), and must never
// block on them. send() queues one binary frame for a connection (dropped silently if that
// connection has gone); close() asks the transport to close a connection. A frame sent from a
// thread other than the transport's own may be held until that thread calls flush(), so that the
// frames of one group commit leave each connection together: a thread that sends calls flush()
// once it has sent what it has for now.
class Outbox {
 public:
  virtual ~Outbox() = default;
  virtual void send(ConnectionId connection, Bytes frame) = 0;
  virtual void close(ConnectionId connection) = 0;
  virtual void flush() = 0;
};

// RelayService is driven by the transport. All methods are thread-safe and return quickly:
// responses and pushed envelopes are delivered later through the Outbox.
class RelayService {
 public:
  virtual ~RelayService() = default;
  // on_open registers a new connection.
  virtual void on_open(ConnectionId connection) = 0;
  // on_frame handles one complete binary WebSocket message from a connection. A malformed frame
  // makes the service close that connection only (through Outbox::close).
  virtual void on_frame(ConnectionId connection, ByteView frame) = 0;
  // on_close forgets a connection and its subscriptions.
  virtual void on_close(ConnectionId connection) = 0;
  // metrics_text renders the service's metrics in Prometheus text format.
  [[nodiscard]] virtual std::string metrics_text() const = 0;
};

}  // namespace bc::relay
