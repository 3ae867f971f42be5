// Fuzzes decryption on a live session. Bob (seeded as in tests/vectors/protocol, so the
// committed conversation's messages from Alice are meaningful inputs) has received Alice's
// first message. Input: one byte choosing the message type (even: PreKeySignalMessage, odd:
// SignalMessage), then the message. Every input must either decrypt or fail leaving Bob's
// record byte-identical.
#include <cstdlib>

#include "crypto/random.hpp"
#include "protocol/session_cipher.hpp"
#include "unit/protocol/test_party.hpp"

namespace {

struct LiveSession {
  bc::crypto::DeterministicRng alice_rng{11};
  bc::crypto::DeterministicRng bob_rng{22};
  bc::protocol::test::Party alice{alice_rng};
  bc::protocol::test::Party bob{bob_rng};
  bc::Bytes bob_record;

  LiveSession() {
    if (!alice.start(bob.bundle())) std::abort();
    auto first =
        alice.send(bc::as_bytes(std::string_view("Hello Bob, this is the first message.")));
    if (!first) std::abort();
    auto plaintext = bob.receive(*first);
    if (!plaintext) std::abort();
    bob_record = bob.record_bytes();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static LiveSession live;
  if (size < 1) return 0;
  const bc::ByteView message(data + 1, size - 1);
  auto record = bc::protocol::SessionRecord::deserialize(live.bob_record);
  if (!record) std::abort();
  bc::crypto::DeterministicRng rng(33);
  bool ok = false;
  if (data[0] % 2 == 0) {
    ok = bc::protocol::decrypt_prekey_message(*record, live.bob.identity(),
                                              live.bob.registration_id(), live.bob, message, rng)
             .has_value();
  } else {
    ok = bc::protocol::decrypt_message(*record, message, rng).has_value();
  }
  if (!ok) {
    bc::Bytes after;
    record->serialize_to(after);
    if (after != live.bob_record) std::abort();  // a failed decrypt changed the record
  }
  return 0;
}
