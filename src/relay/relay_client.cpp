// RelayClientCodec: see relay_client.hpp.
#include "relay/relay_client.hpp"

#include "crypto/ed25519.hpp"

namespace bc::relay {

Result<Bytes> RelayClientCodec::build(wire::RelayMessage message) {
  BC_ASSIGN_OR_RETURN(Bytes frame,
                      wire::encode_relay_frame(wire::RelayFrame{next_id_, std::move(message)}));
  ++next_id_;
  if (next_id_ == 0) next_id_ = 1;  // 0 is reserved for pushes
  return frame;
}

Result<Bytes> RelayClientCodec::hello() { return build(wire::Hello{}); }

Result<Bytes> RelayClientCodec::create_queue(const crypto::Ed25519PublicKey& owner_key) {
  return build(wire::CreateQueue{owner_key.bytes});
}

Result<Bytes> RelayClientCodec::subscribe(const wire::QueueId& recipient_id,
                                          const crypto::Ed25519PrivateKey& owner_key,
                                          const wire::Challenge& challenge) {
  const Bytes proof = wire::subscribe_proof_message(challenge, recipient_id);
  return build(wire::Subscribe{recipient_id, crypto::ed25519_sign(owner_key, proof)});
}

Result<Bytes> RelayClientCodec::deposit(const wire::QueueId& sender_id, ByteView envelope) {
  return build(wire::Deposit{sender_id, to_bytes(envelope)});
}

Result<Bytes> RelayClientCodec::ack(const wire::QueueId& recipient_id, wire::MessageId message_id) {
  return build(wire::Ack{recipient_id, message_id});
}

Result<Bytes> RelayClientCodec::ack_many(const wire::QueueId& recipient_id,
                                         std::vector<wire::MessageId> message_ids) {
  return build(wire::AckMany{recipient_id, std::move(message_ids)});
}

Result<Bytes> RelayClientCodec::delete_queue(const wire::QueueId& recipient_id) {
  return build(wire::DeleteQueue{recipient_id});
}

Result<Bytes> RelayClientCodec::publish_bundle(const wire::QueueId& recipient_id,
                                               const wire::PrekeyBundle& bundle) {
  return build(wire::PublishBundle{recipient_id, bundle});
}

Result<Bytes> RelayClientCodec::fetch_bundle(const wire::QueueId& sender_id) {
  return build(wire::FetchBundle{sender_id});
}

Result<Bytes> RelayClientCodec::escrow_open(std::int64_t deadline_ms, const wire::QueueId& queue_a,
                                            const wire::QueueId& queue_b) {
  return build(wire::EscrowOpen{deadline_ms, queue_a, queue_b});
}

Result<Bytes> RelayClientCodec::escrow_deposit(const wire::ExchangeId& exchange_id,
                                               const wire::EscrowToken& token, ByteView envelope) {
  return build(wire::EscrowDeposit{exchange_id, token, to_bytes(envelope)});
}

Result<Bytes> RelayClientCodec::escrow_cancel(const wire::ExchangeId& exchange_id,
                                              const wire::EscrowToken& token) {
  return build(wire::EscrowCancel{exchange_id, token});
}

Result<Bytes> RelayClientCodec::escrow_status(const wire::ExchangeId& exchange_id,
                                              const wire::EscrowToken& token) {
  return build(wire::EscrowStatus{exchange_id, token});
}

Result<wire::RelayFrame> RelayClientCodec::parse(ByteView frame) {
  BC_ASSIGN_OR_RETURN(wire::RelayFrame decoded, wire::decode_relay_frame(frame));
  if (wire::is_request(decoded.message)) {
    return fail(Errc::kMalformed, "relay frame: a request where a reply was expected");
  }
  return decoded;
}

}  // namespace bc::relay
