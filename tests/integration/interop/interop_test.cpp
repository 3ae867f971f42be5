// Interop: Backchannel and libsignal-protocol-c peers, each a separate process speaking JSON lines,
// hold sessions both ways through a lossy, reordering, duplicating channel.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/bytes.hpp"
#include "integration/interop/peer_process.hpp"

namespace bc::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

enum class Impl { kLibsignal, kBackchannel };

const char* impl_name(Impl impl) {
  return impl == Impl::kLibsignal ? "libsignal-protocol-c" : "Backchannel";
}

fs::path program(Impl impl) {
  if (impl == Impl::kLibsignal) return BC_LIBSIGNAL_PEER_PATH;
  return BC_BACKCHANNEL_INTEROP_PATH;
}

// skip_reason says why a pair cannot run (the Backchannel driver is not built yet), if it cannot.
std::optional<std::string> skip_reason(Impl a, Impl b) {
  for (Impl impl : {a, b}) {
    const fs::path path = program(impl);
    if (!fs::exists(path)) return path.string() + " is not built yet";
  }
  return std::nullopt;
}

bool is_error(const json& response) { return response.is_object() && response.contains("error"); }

std::string describe(const json& response) { return response.dump(); }

// Peer is one process and the name the other side knows it by.
struct Peer {
  Peer(Impl which, std::string own_name)
      : impl(which), name(std::move(own_name)), process(program(impl)) {}
  Impl impl;
  std::string name;
  PeerProcess process;
  json call(json request) { return process.request(request); }
};

json bundle_request(const json& bundle, const std::string& peer) {
  json request = bundle;
  request["op"] = "process_bundle";
  request["peer"] = peer;
  return request;
}

std::string flip_hex_bit(const std::string& hex, std::size_t byte_index) {
  Bytes bytes = from_hex(hex).value();
  bytes.at(byte_index) ^= 0x01;
  return to_hex(bytes);
}

// protobuf_bytes_field returns the first length-delimited field `wanted` of a protobuf message
// (other fields skipped), or nothing when it is absent or the message does not parse.
std::optional<ByteView> protobuf_bytes_field(ByteView data, std::uint64_t wanted) {
  std::size_t pos = 0;
  const auto varint = [&]() -> std::optional<std::uint64_t> {
    std::uint64_t value = 0;
    for (int shift = 0; shift < 64 && pos < data.size(); shift += 7) {
      const std::uint8_t byte = data[pos++];
      value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return value;
    }
    return std::nullopt;
  };
  while (pos < data.size()) {
    const auto key = varint();
    if (!key) return std::nullopt;
    if ((*key & 7) == 0) {
      if (!varint()) return std::nullopt;
    } else if ((*key & 7) == 2) {
      const auto size = varint();
      if (!size || *size > data.size() - pos) return std::nullopt;
      if ((*key >> 3) == wanted) return data.subspan(pos, *size);
      pos += *size;
    } else {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

// ratchet_key reads the sender's ratchet key (hex) from a serialized message: a SignalMessage is
// version || protobuf { ratchetKey = 1, ... } || 8-byte MAC; a PreKeySignalMessage is
// version || protobuf { ..., message = 4 } holding such a SignalMessage.
std::string ratchet_key(int type, const std::string& hex) {
  const Bytes bytes = from_hex(hex).value();
  ByteView signal_message = bytes;
  if (type == 3) {
    const auto inner = protobuf_bytes_field(ByteView(bytes).subspan(1), 4);
    if (!inner) return {};
    signal_message = *inner;
  }
  if (signal_message.size() < 1 + 8) return {};
  const auto key =
      protobuf_bytes_field(signal_message.subspan(1, signal_message.size() - 1 - 8), 1);
  return key ? to_hex(*key) : std::string();
}

// InFlight is a message on the channel.
struct InFlight {
  int seq = 0;
  int type = 0;
  std::string ciphertext;
  std::string plaintext;
  int sent_turn = 0;
};

// Direction is one side of the channel: sender, receiver, what is in flight and delivered.
struct Direction {
  Peer* from = nullptr;
  Peer* to = nullptr;
  std::vector<InFlight> in_flight;
  std::vector<InFlight> delivered;
  int sent = 0;
  int decrypted = 0;
  int dropped = 0;
  int duplicates_refused = 0;
  int tampered_refused = 0;
  // Ratchet bookkeeping of the sender: the key it last sent with, every key it sent with, and
  // whether it has since decrypted a message under a ratchet key of the peer it had not seen
  // (after which its next message must come from a new ratchet key: a DH ratchet step).
  std::string sending_key;
  std::set<std::string> sending_keys_used;
  std::set<std::string> peer_keys_seen;
  bool must_ratchet = false;
  int ratchet_steps = 0;
};

// Schedule parameters. The bounds keep every late message within libsignal's limits (five
// receiver chains, 2,000 skipped keys per chain).
constexpr int kMessagesEachWay = 1000;
constexpr std::size_t kReorderWindow = 4;
constexpr std::size_t kMaxLeftInFlight = 2;
constexpr int kMaxAgeTurns = 3;
constexpr double kDropRate = 0.04;
constexpr double kDuplicateRate = 0.05;
constexpr double kTamperRate = 0.02;

class Conversation {
 public:
  Conversation(Peer& initiator, Peer& responder, std::uint32_t seed) : rng_(seed) {
    ab_.from = &initiator;
    ab_.to = &responder;
    ba_.from = &responder;
    ba_.to = &initiator;
  }

  // run plays the whole schedule; every check is a gtest assertion.
  void run() {
    Direction* dirs[2] = {&ab_, &ba_};
    int turn = 0;
    while (ab_.sent < kMessagesEachWay || ba_.sent < kMessagesEachWay) {
      Direction& d = *dirs[turn % 2];
      // The responder can reply only once it has a session (after its first decrypt); every
      // reply after receiving starts a new sending chain: a DH ratchet step.
      const bool can_send = &d == &ab_ || ab_.decrypted > 0;
      if (can_send) send_burst(d, turn);
      if (::testing::Test::HasFatalFailure()) return;
      deliver(d, turn, /*flush=*/false);
      if (::testing::Test::HasFatalFailure()) return;
      ++turn;
    }
    deliver(ab_, turn, /*flush=*/true);
    deliver(ba_, turn, /*flush=*/true);
  }

  const Direction& forward() const { return ab_; }
  const Direction& backward() const { return ba_; }

 private:
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  std::string random_plaintext(const Direction& d, int seq) {
    Bytes bytes(static_cast<std::size_t>(uniform(1, 300)));
    for (auto& b : bytes) b = static_cast<std::uint8_t>(uniform(0, 255));
    const std::string tag = d.from->name + "#" + std::to_string(seq) + ":";
    Bytes out(tag.begin(), tag.end());
    append(out, bytes);
    return to_hex(out);
  }

  // send_burst asks the sender for 1 to 3 messages, pipelined in one batch.
  void send_burst(Direction& d, int turn) {
    const int burst = std::min(uniform(1, 3), kMessagesEachWay - d.sent);
    std::vector<InFlight> messages;
    std::vector<json> requests;
    for (int i = 0; i < burst; ++i) {
      InFlight m;
      m.seq = d.sent + i;
      m.plaintext = random_plaintext(d, m.seq);
      m.sent_turn = turn;
      requests.push_back({{"op", "encrypt"}, {"peer", d.to->name}, {"plaintext", m.plaintext}});
      messages.push_back(std::move(m));
    }
    const std::vector<json> responses = d.from->process.request_batch(requests);
    for (std::size_t i = 0; i < messages.size(); ++i) {
      InFlight& m = messages[i];
      const json& r = responses[i];
      ASSERT_FALSE(is_error(r)) << impl_name(d.from->impl) << " encrypt #" << m.seq << ": "
                                << describe(r);
      m.type = r.at("type").get<int>();
      m.ciphertext = r.at("ciphertext").get<std::string>();
      // The initiator sends PreKeySignalMessages until it has received a reply; after that,
      // and always for the responder, SignalMessages.
      const bool initiator = &d == &ab_;
      const int expected_type = initiator && ba_.decrypted == 0 ? 3 : 2;
      ASSERT_EQ(m.type, expected_type) << impl_name(d.from->impl) << " message #" << m.seq;
      const std::string key = ratchet_key(m.type, m.ciphertext);
      ASSERT_EQ(key.size(), 66u) << "no ratchet key in message #" << m.seq;
      if (d.sending_key.empty() || d.must_ratchet) {
        ASSERT_TRUE(d.sending_keys_used.insert(key).second)
            << impl_name(d.from->impl) << " did not step its DH ratchet for message #" << m.seq;
        if (!d.sending_key.empty()) ++d.ratchet_steps;
        d.sending_key = key;
        d.must_ratchet = false;
      } else {
        ASSERT_EQ(key, d.sending_key)
            << impl_name(d.from->impl) << " changed ratchet key without a new peer key, #" << m.seq;
      }
      d.in_flight.push_back(std::move(m));
      ++d.sent;
    }
  }

  static json decrypt_request(const Direction& d, const InFlight& m,
                              const std::string& ciphertext) {
    return {
        {"op", "decrypt"}, {"peer", d.from->name}, {"type", m.type}, {"ciphertext", ciphertext}};
  }

  // Delivery is what the channel does with one message; the receiver's answers are checked
  // after the whole batch (the receiver handles requests in order).
  struct Delivery {
    enum class Kind { kGenuine, kTampered, kDuplicate } kind;
    InFlight message;
    std::size_t flipped_byte = 0;
  };

  // deliver moves messages from the channel to the receiver: reordered within the window,
  // some dropped, some preceded by a tampered copy, some followed by a duplicate. The requests
  // of one call are pipelined; every answer is then checked.
  void deliver(Direction& d, int turn, bool flush) {
    std::vector<Delivery> deliveries;
    std::vector<json> requests;
    for (;;) {
      if (d.in_flight.empty()) break;
      const bool must = flush || d.in_flight.size() > kMaxLeftInFlight ||
                        turn - d.in_flight.front().sent_turn >= kMaxAgeTurns;
      if (!must && !chance(0.5)) break;
      // Reordering: the oldest message when it is due, otherwise any within the window.
      std::size_t index = 0;
      if (turn - d.in_flight.front().sent_turn < kMaxAgeTurns) {
        const std::size_t window = std::min(kReorderWindow, d.in_flight.size());
        index = static_cast<std::size_t>(uniform(0, static_cast<int>(window) - 1));
      }
      InFlight m = d.in_flight[index];
      d.in_flight.erase(d.in_flight.begin() + static_cast<std::ptrdiff_t>(index));

      if (chance(kDropRate)) {
        ++d.dropped;
        continue;
      }
      // A tampered copy arrives first: refused, and the genuine one still decrypts after it.
      // Only SignalMessages: a PreKeySignalMessage's outer fields (registration id, prekey ids)
      // are not covered by the MAC in the v3 format, so flipping them is not an error there.
      if (m.type == 2 && chance(kTamperRate)) {
        const std::size_t size = m.ciphertext.size() / 2;
        const auto at = static_cast<std::size_t>(uniform(0, static_cast<int>(size) - 1));
        requests.push_back(decrypt_request(d, m, flip_hex_bit(m.ciphertext, at)));
        deliveries.push_back({Delivery::Kind::kTampered, m, at});
      }
      requests.push_back(decrypt_request(d, m, m.ciphertext));
      deliveries.push_back({Delivery::Kind::kGenuine, m, 0});
      d.delivered.push_back(m);

      if (chance(kDuplicateRate)) {
        const InFlight& again = d.delivered[static_cast<std::size_t>(
            uniform(0, static_cast<int>(d.delivered.size()) - 1))];
        requests.push_back(decrypt_request(d, again, again.ciphertext));
        deliveries.push_back({Delivery::Kind::kDuplicate, again, 0});
      }
    }
    if (requests.empty()) return;
    const std::vector<json> responses = d.to->process.request_batch(requests);
    for (std::size_t i = 0; i < deliveries.size(); ++i) {
      const Delivery& delivery = deliveries[i];
      const InFlight& m = delivery.message;
      const json& r = responses[i];
      switch (delivery.kind) {
        case Delivery::Kind::kTampered:
          ASSERT_TRUE(is_error(r)) << impl_name(d.to->impl) << " accepted a tampered message #"
                                   << m.seq << " (byte " << delivery.flipped_byte << ")";
          ++d.tampered_refused;
          break;
        case Delivery::Kind::kGenuine:
          ASSERT_FALSE(is_error(r))
              << impl_name(d.to->impl) << " decrypt #" << m.seq << " (type " << m.type << ") from "
              << impl_name(d.from->impl) << ": " << describe(r);
          ASSERT_EQ(r.at("plaintext").get<std::string>(), m.plaintext) << "message #" << m.seq;
          ++d.decrypted;
          // The receiver is the sender of the other direction.
          if (Direction& back = &d == &ab_ ? ba_ : ab_;
              back.peer_keys_seen.insert(ratchet_key(m.type, m.ciphertext)).second) {
            back.must_ratchet = true;
          }
          break;
        case Delivery::Kind::kDuplicate:
          ASSERT_TRUE(is_error(r)) << impl_name(d.to->impl) << " accepted a duplicate of #" << m.seq
                                   << ": " << describe(r);
          ++d.duplicates_refused;
          break;
      }
    }
  }

  std::mt19937 rng_;
  Direction ab_;
  Direction ba_;
};

struct PairCase {
  Impl initiator;
  Impl responder;
  std::uint32_t seed;
  const char* name;
};

// PrintTo names a case in gtest output.
void PrintTo(const PairCase& c, std::ostream* os) { *os << c.name; }

class InteropTest : public ::testing::TestWithParam<PairCase> {
 protected:
  void SetUp() override {
    if (auto reason = skip_reason(GetParam().initiator, GetParam().responder)) {
      GTEST_SKIP() << *reason;
    }
  }
};

// Session: bundle checks, 1,000 messages each way through the lossy channel, safety numbers.
TEST_P(InteropTest, SessionThroughLossyReorderingChannel) {
  const PairCase& c = GetParam();
  Peer alpha(c.initiator, "alpha");
  Peer bravo(c.responder, "bravo");

  const json identity = bravo.call({{"op", "identity"}});
  ASSERT_FALSE(is_error(identity)) << describe(identity);
  const json bundle = bravo.call({{"op", "bundle"}});
  ASSERT_FALSE(is_error(bundle)) << describe(bundle);
  EXPECT_EQ(bundle.at("identity_key"), identity.at("identity_key"));
  EXPECT_EQ(bundle.at("registration_id"), identity.at("registration_id"));
  EXPECT_EQ(bundle.at("device_id"), 1);
  EXPECT_EQ(bundle.at("identity_key").get<std::string>().size(), 66u);
  EXPECT_EQ(bundle.at("signed_prekey_signature").get<std::string>().size(), 128u);

  // The responder's signed prekey signature is checked by the initiator: an altered signature
  // or an altered signed prekey is refused, and the refusal leaves nothing behind.
  for (const char* field : {"signed_prekey_signature", "signed_prekey"}) {
    for (std::size_t at : {1u, 20u, 32u}) {
      json altered = bundle;
      altered[field] = flip_hex_bit(bundle.at(field).get<std::string>(), at);
      const json r = alpha.call(bundle_request(altered, "bravo"));
      EXPECT_TRUE(is_error(r)) << impl_name(c.initiator) << " accepted a bundle of "
                               << impl_name(c.responder) << " with " << field << " byte " << at
                               << " altered";
    }
  }
  const json processed = alpha.call(bundle_request(bundle, "bravo"));
  ASSERT_FALSE(is_error(processed)) << impl_name(c.initiator) << " refused the bundle of "
                                    << impl_name(c.responder) << ": " << describe(processed);
  EXPECT_EQ(processed, json({{"ok", true}}));

  Conversation conversation(alpha, bravo, c.seed);
  conversation.run();
  if (HasFatalFailure()) return;
  const Direction& ab = conversation.forward();
  const Direction& ba = conversation.backward();
  EXPECT_EQ(ab.sent, kMessagesEachWay);
  EXPECT_EQ(ba.sent, kMessagesEachWay);
  EXPECT_EQ(ab.decrypted + ab.dropped, kMessagesEachWay);
  EXPECT_EQ(ba.decrypted + ba.dropped, kMessagesEachWay);
  // The schedule really exercised every fault.
  EXPECT_GT(ab.dropped + ba.dropped, 0);
  EXPECT_GT(ab.duplicates_refused + ba.duplicates_refused, 0);
  EXPECT_GT(ab.tampered_refused + ba.tampered_refused, 0);
  for (const auto* dir : {&ab, &ba}) {
    const std::string prefix = dir == &ab ? "alpha_to_bravo_" : "bravo_to_alpha_";
    RecordProperty(prefix + "decrypted", dir->decrypted);
    RecordProperty(prefix + "dropped", dir->dropped);
    RecordProperty(prefix + "duplicates_refused", dir->duplicates_refused);
    RecordProperty(prefix + "tampered_refused", dir->tampered_refused);
    RecordProperty(prefix + "ratchet_steps", dir->ratchet_steps);
  }
  // Every reply after a new peer ratchet key stepped the DH ratchet: hundreds of steps each way.
  EXPECT_GT(ab.ratchet_steps, kMessagesEachWay / 4);
  EXPECT_GT(ba.ratchet_steps, kMessagesEachWay / 4);

  const json fa = alpha.call({{"op", "fingerprint"}, {"peer", "bravo"}});
  const json fb = bravo.call({{"op", "fingerprint"}, {"peer", "alpha"}});
  ASSERT_FALSE(is_error(fa)) << describe(fa);
  ASSERT_FALSE(is_error(fb)) << describe(fb);
  const std::string number = fa.at("safety_number").get<std::string>();
  EXPECT_EQ(number.size(), 60u);
  EXPECT_TRUE(
      std::all_of(number.begin(), number.end(), [](char ch) { return ch >= '0' && ch <= '9'; }));
  EXPECT_EQ(number, fb.at("safety_number").get<std::string>())
      << impl_name(c.initiator) << " and " << impl_name(c.responder) << " disagree";
}

// A different identity later under a known name is refused; the session keeps working.
TEST_P(InteropTest, ChangedIdentityIsRefused) {
  const PairCase& c = GetParam();
  Peer alpha(c.initiator, "alpha");
  Peer bravo(c.responder, "bravo");
  Peer impostor(c.responder, "bravo");
  ASSERT_FALSE(is_error(alpha.call(bundle_request(bravo.call({{"op", "bundle"}}), "bravo"))));
  const json hello =
      alpha.call({{"op", "encrypt"}, {"peer", "bravo"}, {"plaintext", "68656c6c6f"}});
  ASSERT_FALSE(is_error(hello)) << describe(hello);
  const json opened = bravo.call({{"op", "decrypt"},
                                  {"peer", "alpha"},
                                  {"type", hello.at("type")},
                                  {"ciphertext", hello.at("ciphertext")}});
  ASSERT_FALSE(is_error(opened)) << describe(opened);
  EXPECT_EQ(opened.at("plaintext"), "68656c6c6f");

  const json swapped = alpha.call(bundle_request(impostor.call({{"op", "bundle"}}), "bravo"));
  EXPECT_TRUE(is_error(swapped)) << impl_name(c.initiator) << " accepted a new identity for bravo";
  const json again = alpha.call({{"op", "encrypt"}, {"peer", "bravo"}, {"plaintext", "6f6b"}});
  ASSERT_FALSE(is_error(again)) << describe(again);
  const json reopened = bravo.call({{"op", "decrypt"},
                                    {"peer", "alpha"},
                                    {"type", again.at("type")},
                                    {"ciphertext", again.at("ciphertext")}});
  ASSERT_FALSE(is_error(reopened)) << describe(reopened);
  EXPECT_EQ(reopened.at("plaintext"), "6f6b");
}

// Bad requests get one {"error":...} line each and the peer keeps going.
TEST_P(InteropTest, BadRequestsAnswerErrorAndKeepGoing) {
  const PairCase& c = GetParam();
  Peer peer(c.responder, "bravo");
  for (const std::string& line :
       {std::string("not json"), std::string("[]"), std::string(R"({"op":"nope"})"),
        std::string(R"({"op":"encrypt","peer":"nobody","plaintext":"00"})"),
        std::string(R"({"op":"encrypt","peer":"x","plaintext":"zz"})"),
        std::string(R"({"op":"decrypt","peer":"x","type":2,"ciphertext":"330a"})"),
        std::string(R"({"op":"decrypt","peer":"x","type":7,"ciphertext":"00"})"),
        std::string(R"({"op":"process_bundle","peer":"x"})"),
        std::string(R"({"op":"fingerprint","peer":"unknown"})")}) {
    const std::string response = peer.process.request_line(line);
    ASSERT_EQ(response.find('\n'), std::string::npos);
    const json parsed = json::parse(response);
    EXPECT_TRUE(is_error(parsed)) << impl_name(c.responder) << " on " << line << ": " << response;
  }
  const json identity = peer.call({{"op", "identity"}});
  EXPECT_FALSE(is_error(identity)) << describe(identity);
}

INSTANTIATE_TEST_SUITE_P(
    Pairs, InteropTest,
    ::testing::Values(PairCase{Impl::kLibsignal, Impl::kLibsignal, 1, "LibsignalToLibsignal"},
                      PairCase{Impl::kBackchannel, Impl::kLibsignal, 2, "BackchannelToLibsignal"},
                      PairCase{Impl::kLibsignal, Impl::kBackchannel, 3, "LibsignalToBackchannel"},
                      PairCase{Impl::kBackchannel, Impl::kBackchannel, 4,
                               "BackchannelToBackchannel"}),
    [](const ::testing::TestParamInfo<PairCase>& param_info) {
      return std::string(param_info.param.name);
    });

}  // namespace
}  // namespace bc::test
