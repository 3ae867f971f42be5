// libFuzzer target: RelayService::on_frame over an in-memory store. The input is a script of
// frames ([u16 length][bytes]...) sent by two connections; the harness answers the handshake,
// and rewrites queue ids, escrow exchange ids and tokens and subscription signatures so the fuzzer
// reaches the deep paths. Every frame the relay sends must decode, every delivery (escrow releases
// included) must carry the relay's valid receipt, and nothing may crash or hang.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

#include "crypto/ed25519.hpp"
#include "crypto/hash.hpp"
#include "crypto/random.hpp"
#include "protocol/receipt.hpp"
#include "protocol/receipt_proof.hpp"
#include "relay/relay.hpp"
#include "wire/relay_frames.hpp"

namespace {

using namespace bc;

class CheckingOutbox final : public relay::Outbox {
 public:
  void send(relay::ConnectionId connection, Bytes frame) override {
    Result<wire::RelayFrame> decoded = wire::decode_relay_frame(frame);
    if (!decoded || wire::is_request(decoded->message)) std::abort();  // the relay sent junk
    std::lock_guard lock(mu_);
    if (auto* c = std::get_if<wire::ChallengeReply>(&decoded->message)) {
      challenges[connection] = c->challenge;
    }
    if (auto* q = std::get_if<wire::QueueCreated>(&decoded->message)) queues.push_back(*q);
    if (auto* d = std::get_if<wire::Delivery>(&decoded->message)) {
      for (const wire::QueueCreated& q : queues) {
        if (q.recipient_id != d->recipient_id) continue;
        const protocol::Receipt receipt = protocol::receipt_with_proof(
            q.sender_id, crypto::sha256(d->envelope), d->message_id, d->relay_time_ms, d->proof);
        if (!protocol::verify_receipt(relay_key, receipt)) std::abort();  // a bad receipt
      }
    }
    if (auto* e = std::get_if<wire::EscrowOpened>(&decoded->message)) escrows.push_back(*e);
  }
  void close(relay::ConnectionId) override {}
  void flush() override {}

  std::mutex mu_;
  crypto::Ed25519PublicKey relay_key;
  std::map<relay::ConnectionId, wire::Challenge> challenges;
  std::vector<wire::QueueCreated> queues;
  std::vector<wire::EscrowOpened> escrows;
};

// rewrite points a frame's queue id at a known queue and re-signs subscriptions, when the
// fuzzer's id starts with a byte below 0x80; other frames pass through unchanged.
Bytes rewrite(ByteView raw, CheckingOutbox& outbox, relay::ConnectionId connection,
              const crypto::Ed25519KeyPair& owner) {
  Result<wire::RelayFrame> f = wire::decode_relay_frame(raw);
  if (!f) return Bytes(raw.begin(), raw.end());
  std::lock_guard lock(outbox.mu_);
  auto pick = [&](wire::QueueId& id, bool sender) {
    if (outbox.queues.empty() || id[0] >= 0x80) return;
    const auto& q = outbox.queues[id[1] % outbox.queues.size()];
    id = sender ? q.sender_id : q.recipient_id;
  };
  std::visit(
      [&](auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, wire::CreateQueue>) {
          if (m.owner_key[0] < 0x80) m.owner_key = owner.public_key.bytes;
        } else if constexpr (std::is_same_v<T, wire::Subscribe>) {
          const bool resign = m.recipient_id[0] < 0x80;
          pick(m.recipient_id, false);
          auto it = outbox.challenges.find(connection);
          if (resign && it != outbox.challenges.end()) {
            m.signature = crypto::ed25519_sign(
                owner.private_key, wire::subscribe_proof_message(it->second, m.recipient_id));
          }
        } else if constexpr (std::is_same_v<T, wire::Deposit> ||
                             std::is_same_v<T, wire::FetchBundle>) {
          pick(m.sender_id, true);
        } else if constexpr (std::is_same_v<T, wire::Ack> || std::is_same_v<T, wire::AckMany> ||
                             std::is_same_v<T, wire::DeleteQueue> ||
                             std::is_same_v<T, wire::PublishBundle>) {
          pick(m.recipient_id, false);
        } else if constexpr (std::is_same_v<T, wire::EscrowOpen>) {
          pick(m.queue_a, true);
          pick(m.queue_b, true);
        } else if constexpr (std::is_same_v<T, wire::EscrowDeposit> ||
                             std::is_same_v<T, wire::EscrowCancel> ||
                             std::is_same_v<T, wire::EscrowStatus>) {
          // An exchange id below 0x80 names a known exchange; the token byte picks a side.
          if (!outbox.escrows.empty() && m.exchange_id[0] < 0x80) {
            const auto& e = outbox.escrows[m.exchange_id[1] % outbox.escrows.size()];
            m.exchange_id = e.exchange_id;
            if (m.token[0] < 0x80) m.token = (m.token[1] & 1) != 0 ? e.token_b : e.token_a;
          }
        }
      },
      f->message);
  Result<Bytes> out = wire::encode_relay_frame(*f);
  return out ? std::move(out).value() : Bytes(raw.begin(), raw.end());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static crypto::DeterministicRng key_rng(1);
  static const crypto::Ed25519KeyPair owner = crypto::ed25519_generate(key_rng);
  CheckingOutbox outbox;
  ManualClock clock;
  crypto::DeterministicRng rng(2);
  relay::RelayConfig config;
  config.queue_max_messages = 4;
  config.push_window = 2;
  config.max_subscriptions_per_connection = 2;
  config.request_burst = 64;
  crypto::Ed25519KeyPair relay_key = crypto::ed25519_generate(rng);
  outbox.relay_key = relay_key.public_key;
  auto service = relay::make_relay_service(config, std::move(relay_key),
                                           store::make_memory_relay_store(), outbox, clock, rng);
  if (!service) std::abort();
  relay::RelayCore& relay = **service;
  const Bytes hello = wire::encode_relay_frame({1, wire::Hello{}}).value();
  for (relay::ConnectionId c : {1, 2}) {
    relay.on_open(c);
    relay.on_frame(c, hello);
  }
  std::size_t pos = 0;
  while (pos + 3 <= size) {
    const std::uint8_t control = data[pos];
    const std::size_t len = (std::size_t{data[pos + 1]} << 8) | data[pos + 2];
    pos += 3;
    if (len > size - pos) break;
    const relay::ConnectionId connection = (control & 1) + 1;
    if (control & 0x40) clock.advance(std::int64_t{control & 0x3F} * 3'600'000 * 24);
    relay.on_frame(connection, rewrite(ByteView(data + pos, len), outbox, connection, owner));
    if (control & 0x80) relay.flush();
    if (control == 0xFF) {
      relay.on_close(connection);
      relay.on_open(connection);
      relay.on_frame(connection, hello);
    }
    pos += len;
  }
  relay.flush();
  (void)relay.metrics_text();
  relay.shutdown();
  return 0;
}
