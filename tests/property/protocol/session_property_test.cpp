#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <numeric>

#include "crypto/random.hpp"
#include "property/protocol/session_model.hpp"
#include "protocol/session_cipher.hpp"
#include "unit/protocol/test_party.hpp"
#include "wire/whisper.hpp"

namespace bc::protocol {
namespace {

wire::SerializedKey gen_key() {
  wire::SerializedKey k{};
  const auto bytes =
      *rc::gen::container<std::vector<std::uint8_t>>(32, rc::gen::arbitrary<std::uint8_t>());
  k[0] = 0x05;
  std::copy(bytes.begin(), bytes.end(), k.begin() + 1);
  return k;
}

RC_GTEST_PROP(WireProperty, SignalMessageRoundTrips, ()) {
  const auto ciphertext = *rc::gen::nonEmpty<std::vector<std::uint8_t>>();
  wire::SignalMessageFields f;
  f.version = *rc::gen::element(wire::kVersionByte, wire::kVersionByteV4Peer);
  f.ratchet_key = gen_key();
  f.counter = *rc::gen::arbitrary<std::uint32_t>();
  f.previous_counter = *rc::gen::arbitrary<std::uint32_t>();
  f.ciphertext = ciphertext;
  Bytes m;
  wire::encode_signal_message_body(f, m);
  const auto mac =
      *rc::gen::container<std::vector<std::uint8_t>>(8, rc::gen::arbitrary<std::uint8_t>());
  append(m, mac);
  auto d = wire::decode_signal_message(m);
  RC_ASSERT(d.has_value());
  RC_ASSERT(d->fields.version == f.version);
  RC_ASSERT(d->fields.ratchet_key == f.ratchet_key);
  RC_ASSERT(d->fields.counter == f.counter);
  RC_ASSERT(d->fields.previous_counter == f.previous_counter);
  RC_ASSERT(to_bytes(d->fields.ciphertext) == ciphertext);
  RC_ASSERT(std::equal(d->mac.begin(), d->mac.end(), mac.begin()));
}

RC_GTEST_PROP(WireProperty, PreKeySignalMessageRoundTrips, ()) {
  const auto inner = *rc::gen::nonEmpty<std::vector<std::uint8_t>>();
  wire::PreKeySignalMessageFields f;
  if (*rc::gen::arbitrary<bool>()) f.prekey_id = *rc::gen::arbitrary<std::uint32_t>();
  f.base_key = gen_key();
  f.identity_key = gen_key();
  f.message = inner;
  f.registration_id = *rc::gen::arbitrary<std::uint32_t>();
  f.signed_prekey_id = *rc::gen::arbitrary<std::uint32_t>();
  Bytes m;
  wire::encode_prekey_signal_message(f, m);
  auto d = wire::decode_prekey_signal_message(m);
  RC_ASSERT(d.has_value());
  RC_ASSERT(d->prekey_id == f.prekey_id);
  RC_ASSERT(d->base_key == f.base_key);
  RC_ASSERT(d->identity_key == f.identity_key);
  RC_ASSERT(to_bytes(d->message) == inner);
  RC_ASSERT(d->registration_id == f.registration_id);
  RC_ASSERT(d->signed_prekey_id == f.signed_prekey_id);
}

// Any accepted byte string re-encodes to itself (the decoders accept only canonical forms).
RC_GTEST_PROP(WireProperty, AcceptedBytesAreCanonical, ()) {
  const auto bytes = *rc::gen::arbitrary<std::vector<std::uint8_t>>();
  if (auto d = wire::decode_signal_message(bytes)) {
    Bytes again;
    wire::encode_signal_message_body(d->fields, again);
    append(again, d->mac);
    RC_ASSERT(again == bytes);
  }
  if (auto d = wire::decode_prekey_signal_message(bytes)) {
    Bytes again;
    wire::encode_prekey_signal_message(*d, again);
    RC_ASSERT(again == bytes);
  }
}

// A flipped bit anywhere in a message fails, and the receiver's record is byte-identical.
RC_GTEST_PROP(SessionProperty, BitFlipsFailAndLeaveStateUnchanged, ()) {
  const auto seed = *rc::gen::arbitrary<std::uint32_t>();
  const bool prekey_message = *rc::gen::arbitrary<bool>();
  crypto::DeterministicRng ra(seed), rb(seed + 1ULL);
  test::Party alice(ra), bob(rb);
  RC_ASSERT(alice.start(bob.bundle()).has_value());
  auto first = alice.send(as_bytes(std::string("first")));
  RC_ASSERT(first.has_value());
  CiphertextMessage target = *first;
  test::Party* receiver = &bob;
  if (!prekey_message) {
    RC_ASSERT(bob.receive(*first).has_value());
    auto reply = bob.send(as_bytes(std::string("reply")));
    RC_ASSERT(reply.has_value());
    target = *reply;
    receiver = &alice;
  }
  const auto bit = *rc::gen::inRange<std::size_t>(0, target.serialized.size() * 8);
  CiphertextMessage bad = target;
  bad.serialized[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
  const Bytes before = receiver->record_bytes();
  auto r = receiver->receive(bad);
  if (test::unauthenticated_byte(target, bit / 8)) {
    // Key ids and the registration id are not authenticated (libsignal's format): a flip there
    // may decrypt, but only to the genuine plaintext.
    const bool genuine = !r.has_value() || *r == to_bytes(as_bytes(std::string("first")));
    RC_ASSERT(genuine);
    return;
  }
  RC_ASSERT(!r.has_value());
  RC_ASSERT(receiver->record_bytes() == before);
  // The genuine message still decrypts.
  RC_ASSERT(receiver->receive(target).has_value());
}

// Any reordering of up to 60 messages on up to three chains decrypts each exactly once, and
// a replay of any of them is kDuplicate.
RC_GTEST_PROP(SessionProperty, ReorderingWithinBoundDecryptsEachOnce, ()) {
  const auto seed = *rc::gen::arbitrary<std::uint32_t>();
  crypto::DeterministicRng ra(seed), rb(seed + 1ULL);
  test::Party alice(ra), bob(rb);
  RC_ASSERT(alice.start(bob.bundle()).has_value());
  auto hello = alice.send(as_bytes(std::string("hello")));
  RC_ASSERT(hello.has_value());
  RC_ASSERT(bob.receive(*hello).has_value());
  std::vector<std::pair<CiphertextMessage, Bytes>> sent;
  const auto chains = *rc::gen::inRange(1, 4);
  for (int c = 0; c < chains; ++c) {
    const auto n = *rc::gen::inRange(1, 21);
    for (int i = 0; i < n; ++i) {
      const std::string text = std::to_string(c) + ":" + std::to_string(i);
      auto m = bob.send(as_bytes(text));
      RC_ASSERT(m.has_value());
      sent.emplace_back(*m, to_bytes(as_bytes(text)));
    }
    if (c + 1 < chains) {
      // Alice reads the chain's first message and answers, so Bob's next chain is new.
      auto p = alice.receive(sent[sent.size() - static_cast<std::size_t>(n)].first);
      RC_ASSERT(p.has_value());
      sent.erase(sent.end() - n);
      auto answer = alice.send(as_bytes(std::string("answer")));
      RC_ASSERT(answer.has_value());
      RC_ASSERT(bob.receive(*answer).has_value());
    }
  }
  std::vector<std::size_t> order(sent.size());
  std::iota(order.begin(), order.end(), 0);
  const auto keys = *rc::gen::container<std::vector<std::uint32_t>>(
      order.size(), rc::gen::arbitrary<std::uint32_t>());
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return keys[a] < keys[b]; });
  for (std::size_t i : order) {
    auto p = alice.receive(sent[i].first);
    RC_ASSERT(p.has_value());
    RC_ASSERT(*p == sent[i].second);
  }
  const auto replay = *rc::gen::inRange<std::size_t>(0, sent.size());
  auto again = alice.receive(sent[replay].first);
  RC_ASSERT(!again.has_value());
  RC_ASSERT(again.error().code == Errc::kDuplicate);
}

// The event model: random sends, deliveries in any order, duplicates, tampering and restarts.
RC_GTEST_PROP(SessionProperty, EventModelKeepsEveryPromise, ()) {
  test::SessionModel model(*rc::gen::arbitrary<std::uint32_t>());
  const auto steps = *rc::gen::inRange(1, 80);
  for (int i = 0; i < steps; ++i) {
    const auto op = *rc::gen::inRange(0, 10);
    std::optional<std::string> violation;
    if (op < 4) {
      violation = model.send(op % 2);
    } else if (op < 8) {
      violation = model.deliver(*rc::gen::arbitrary<std::size_t>());
    } else if (op == 8) {
      violation =
          model.tamper(*rc::gen::arbitrary<std::size_t>(), *rc::gen::arbitrary<std::size_t>());
    } else {
      violation = model.restart(*rc::gen::inRange(0, 2));
    }
    if (violation) RC_FAIL(*violation);
  }
}

}  // namespace
}  // namespace bc::protocol
