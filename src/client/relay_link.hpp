// RelayLink: one blocking connection from a client to a relay (TLS pinned, WebSocket, frames).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/bytes.hpp"
#include "core/result.hpp"
#include "crypto/keys.hpp"
#include "wire/relay_frames.hpp"

namespace bc::net {
class Client;
}
namespace bc::relay {
class RelayClientCodec;
}

namespace bc::client {

// RelayUrl is a parsed wss://HOST:PORT address.
struct RelayUrl {
  std::string host;
  std::uint16_t port = 0;
};

// parse_relay_url accepts wss://HOST:PORT (HOST a name, an IPv4 address or [IPv6]); kMalformed
// with a one-line reason otherwise.
[[nodiscard]] Result<RelayUrl> parse_relay_url(std::string_view url);

// RelayLink speaks the relay protocol over one connection. Requests are answered in order;
// deliveries pushed meanwhile are kept and handed out by next_delivery. After any transport
// failure the link is unusable (every later call fails with kUnavailable).
class RelayLink {
 public:
  // connect opens the connection and completes the hello/challenge handshake. kAuthFailed when
  // the relay's certificate does not match `fingerprint` (32 bytes), kUnavailable when it cannot
  // be reached, kMalformed for a bad URL. A relay that accepts the TCP connection but fails the
  // TLS handshake, WebSocket upgrade or hello is tried twice more (after 200 and 400 ms) before
  // kUnavailable; one that refuses the connection fails at once.
  [[nodiscard]] static Result<std::unique_ptr<RelayLink>> connect(const std::string& url,
                                                                  ByteView fingerprint,
                                                                  std::uint32_t timeout_ms);
  ~RelayLink();
  RelayLink(const RelayLink&) = delete;
  RelayLink& operator=(const RelayLink&) = delete;

  // create_queue creates a queue owned by `owner`; returns its sender and recipient ids.
  [[nodiscard]] Result<wire::QueueCreated> create_queue(const crypto::Ed25519PublicKey& owner);
  // subscribe proves ownership of a queue; its envelopes are then pushed to this link.
  [[nodiscard]] Result<void> subscribe(const wire::QueueId& recipient_id,
                                       const crypto::Ed25519PrivateKey& owner);
  // deposit stores an envelope in a queue; resolves only once the relay has it on disk, with the
  // relay's receipt (sequence number, time, envelope hash, signature; not yet verified).
  // kLimitExceeded when the queue is full, kNotFound when the queue does not exist.
  [[nodiscard]] Result<wire::DepositReceipt> deposit(const wire::QueueId& sender_id,
                                                     ByteView envelope);
  // ack deletes a delivered envelope.
  [[nodiscard]] Result<void> ack(const wire::QueueId& recipient_id, wire::MessageId message_id);
  // Acknowledgement names one delivered envelope: its queue (recipient id) and message id.
  using Acknowledgement = std::pair<wire::QueueId, wire::MessageId>;
  // ack_all deletes several delivered envelopes with ack_many requests (one per queue and 256
  // envelopes), all sent before the first answer is awaited: one round trip. An envelope the
  // relay no longer holds is skipped, not an error. Fails like ack, on the first failing answer;
  // the requests before it have taken effect.
  [[nodiscard]] Result<void> ack_all(const std::vector<Acknowledgement>& delivered);
  // Escrow (docs/relay-protocol.md, "Escrow"). Errors: kNotFound for an unknown exchange or a
  // wrong token (the relay does not tell them apart) or an unknown queue; kConflict when the
  // exchange is already released or expired; kDuplicate when this side already deposited;
  // kMalformed for a deadline the relay refuses (past, or beyond its cap) or queue_a == queue_b;
  // kLimitExceeded when a destination queue is full at release; kUnavailable as for deposit.
  //
  // escrow_open opens an exchange between the opener's queue `queue_a` and the counterparty's
  // queue `queue_b` (both sender ids) that expires at `deadline_ms` (relay time); returns the
  // exchange id, the opener's token_a and the counterparty's token_b.
  [[nodiscard]] Result<wire::EscrowOpened> escrow_open(std::int64_t deadline_ms,
                                                       const wire::QueueId& queue_a,
                                                       const wire::QueueId& queue_b);
  // escrow_deposit hands the relay this side's envelope (a padding bucket); resolves once it is
  // on disk (and, when it was the second deposit, released) with the envelope's SHA-256.
  [[nodiscard]] Result<wire::EscrowHash> escrow_deposit(const wire::ExchangeId& exchange_id,
                                                        const wire::EscrowToken& token,
                                                        ByteView envelope);
  // escrow_cancel withdraws this side's deposit before release (succeeds when there is none).
  [[nodiscard]] Result<void> escrow_cancel(const wire::ExchangeId& exchange_id,
                                           const wire::EscrowToken& token);
  // escrow_status reports open / released (with the relay's certificate, see
  // protocol/escrow_certificate.hpp) / expired, and whether this side's deposit is held.
  [[nodiscard]] Result<wire::EscrowState> escrow_status(const wire::ExchangeId& exchange_id,
                                                        const wire::EscrowToken& token);
  // next_delivery waits up to timeout_ms for a pushed envelope; std::nullopt when none came (the
  // link is unusable afterwards: reconnect to wait again).
  [[nodiscard]] Result<std::optional<wire::Delivery>> next_delivery(std::uint32_t timeout_ms);
  // next_deliveries waits like next_delivery for one envelope, then adds those already received
  // (up to `max` in all, in the order the relay pushed them); empty when none came.
  [[nodiscard]] Result<std::vector<wire::Delivery>> next_deliveries(std::uint32_t timeout_ms,
                                                                    std::size_t max);
  // relay_key is the relay's public signing key, as sent in the handshake.
  [[nodiscard]] const wire::RelayKey& relay_key() const { return relay_key_; }
  // close ends the connection politely. Never fails.
  void close();

 private:
  RelayLink();
  // connect_once is one attempt of connect.
  static Result<std::unique_ptr<RelayLink>> connect_once(const RelayUrl& url, ByteView fingerprint,
                                                         std::uint32_t timeout_ms);
  Result<wire::RelayMessage> request(Result<Bytes> frame);
  // send_request sends a request frame and returns its id; await_reply reads until the answer
  // with that id (keeping deliveries pushed meanwhile) and maps an error answer to an Errc.
  Result<wire::RequestId> send_request(Result<Bytes> frame);
  Result<wire::RelayMessage> await_reply(wire::RequestId id);

  std::unique_ptr<net::Client> connection_;
  std::unique_ptr<relay::RelayClientCodec> codec_;
  wire::Challenge challenge_{};
  wire::RelayKey relay_key_{};
  std::deque<wire::Delivery> pending_;
  std::uint32_t timeout_ms_ = 10'000;
};

}  // namespace bc::client
