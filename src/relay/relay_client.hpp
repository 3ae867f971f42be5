// RelayClientCodec: builds request frames with fresh request ids and parses the relay's replies,
// shared by tests, the load generator and the client.
#pragma once

#include <cstdint>

#include "core/bytes.hpp"
#include "core/result.hpp"
#include "crypto/keys.hpp"
#include "wire/relay_frames.hpp"

namespace bc::relay {

// RelayClientCodec numbers requests 1, 2, 3, ... (0 is reserved for pushes). Not thread-safe.
class RelayClientCodec {
 public:
  // last_request_id is the id given to the most recent request built.
  [[nodiscard]] wire::RequestId last_request_id() const noexcept { return next_id_ - 1; }

  // Each builder returns one encoded frame. They fail only when an argument breaks a wire cap
  // (kLimitExceeded or kMalformed, e.g. an envelope that is not a padding bucket); the request id
  // counter advances only on success.
  [[nodiscard]] Result<Bytes> hello();
  [[nodiscard]] Result<Bytes> create_queue(const crypto::Ed25519PublicKey& owner_key);
  [[nodiscard]] Result<Bytes> subscribe(const wire::QueueId& recipient_id,
                                        const crypto::Ed25519PrivateKey& owner_key,
                                        const wire::Challenge& challenge);
  [[nodiscard]] Result<Bytes> deposit(const wire::QueueId& sender_id, ByteView envelope);
  [[nodiscard]] Result<Bytes> ack(const wire::QueueId& recipient_id, wire::MessageId message_id);
  // ack_many acknowledges 1 to wire::kMaxAckMany envelopes of one queue, ids strictly increasing.
  [[nodiscard]] Result<Bytes> ack_many(const wire::QueueId& recipient_id,
                                       std::vector<wire::MessageId> message_ids);
  [[nodiscard]] Result<Bytes> delete_queue(const wire::QueueId& recipient_id);
  [[nodiscard]] Result<Bytes> publish_bundle(const wire::QueueId& recipient_id,
                                             const wire::PrekeyBundle& bundle);
  [[nodiscard]] Result<Bytes> fetch_bundle(const wire::QueueId& sender_id);
  [[nodiscard]] Result<Bytes> escrow_open(std::int64_t deadline_ms, const wire::QueueId& queue_a,
                                          const wire::QueueId& queue_b);
  [[nodiscard]] Result<Bytes> escrow_deposit(const wire::ExchangeId& exchange_id,
                                             const wire::EscrowToken& token, ByteView envelope);
  [[nodiscard]] Result<Bytes> escrow_cancel(const wire::ExchangeId& exchange_id,
                                            const wire::EscrowToken& token);
  [[nodiscard]] Result<Bytes> escrow_status(const wire::ExchangeId& exchange_id,
                                            const wire::EscrowToken& token);

  // parse decodes a frame from the relay; fails as decode_relay_frame does, and with kMalformed
  // for a request-type frame (the relay never sends one).
  [[nodiscard]] static Result<wire::RelayFrame> parse(ByteView frame);

 private:
  Result<Bytes> build(wire::RelayMessage message);
  wire::RequestId next_id_ = 1;
};

}  // namespace bc::relay
