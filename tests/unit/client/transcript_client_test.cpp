// Transcript consistency in the client, against an in-process relay with the fault injector
// between transport and service: each fault the relay commits raises its alert, no message is
// lost or shown twice, and a clean run raises nothing.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "backchannel/client.hpp"
#include "client/armor.hpp"
#include "client/record.hpp"
#include "client/transcript_file.hpp"
#include "core/clock.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/random.hpp"
#include "faults/fault_injector.hpp"
#include "net/certificate.hpp"
#include "net/server.hpp"
#include "protocol/receipt.hpp"
#include "relay/relay.hpp"
#include "store/relay_store.hpp"
#include "support/test_paths.hpp"

namespace bc::client {
namespace {

namespace fs = std::filesystem;
using test::Fault;
using test::FaultKind;
const Bytes kPass = {'p', 'w'};

class TranscriptClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("bc-transcript-unit-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "tls");
  }
  // start runs the relay with these faults (deposits and deliveries counted relay-wide).
  void start(std::vector<Fault> faults) {
    auto cert = net::ensure_self_signed(dir_ / "tls", "127.0.0.1");
    ASSERT_TRUE(cert) << cert.error().message();
    net::ServerOptions options;
    options.cert_pem = cert->cert;
    options.key_pem = cert->key;
    auto server = net::Server::create(options);
    ASSERT_TRUE(server) << server.error().message();
    server_ = std::move(server).value();
    injector_ =
        std::make_unique<test::FaultInjector>(std::move(faults), server_->outbox(), relay_clock_);
    auto service =
        relay::make_relay_service(relay::RelayConfig{}, crypto::ed25519_generate(rng_),
                                  store::make_memory_relay_store(), *injector_, relay_clock_, rng_);
    ASSERT_TRUE(service) << service.error().message();
    service_ = std::move(service).value();
    injector_->attach(*service_);
    server_->start(*injector_);
    url_ = "wss://127.0.0.1:" + std::to_string(server_->port());
    fingerprint_ = to_hex(*net::certificate_fingerprint(cert->cert));
  }
  void TearDown() override {
    if (server_) server_->stop();
    if (injector_) injector_->stop();
    if (service_) service_->shutdown();
    fs::remove_all(dir_);
  }

  std::unique_ptr<Client> make(const std::string& name, Clock* clock = nullptr,
                               std::uint32_t heartbeat_ms = 0) {
    ClientOptions options;
    options.clock = clock;
    options.sync_quiet_ms = 300;
    options.heartbeat_interval_ms = heartbeat_ms;
    auto c = Client::init((dir_ / name).string(), kPass, name, KdfCost::kMinimum, options);
    EXPECT_TRUE(c) << c.error().message();
    EXPECT_TRUE((*c)->relay_add(url_, fingerprint_));
    return std::move(c).value();
  }

  // pair connects bravo to alpha (alpha's invitation: deposit 1, delivery 1).
  void pair(Client& alpha, Client& bravo) {
    auto inv = alpha.invite_create();
    ASSERT_TRUE(inv);
    ASSERT_TRUE(bravo.invite_accept(inv->code, "alpha"));
    auto added = alpha.sync();
    ASSERT_TRUE(added) << added.error().message();
    ASSERT_EQ(alpha.contacts()->size(), 1U);
  }

  static std::vector<std::string> codes(const std::vector<Event>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) {
      if (e.kind == EventKind::kAlert) out.push_back(e.alert->code);
    }
    return out;
  }
  static std::vector<std::string> texts(const std::vector<Event>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) {
      if (e.kind == EventKind::kMessage) out.push_back(e.message->text);
    }
    return out;
  }
  static std::vector<std::string> history_texts(Client& c, const std::string& alias) {
    std::vector<std::string> out;
    const auto history = c.history(alias);
    for (const auto& m : *history) out.push_back(m.text);
    return out;
  }

  fs::path dir_;
  SystemClock relay_clock_;
  crypto::SystemRng rng_;
  std::unique_ptr<net::Server> server_;
  std::unique_ptr<test::FaultInjector> injector_;
  std::unique_ptr<relay::RelayCore> service_;
  std::string url_;
  std::string fingerprint_;
};

using Strings = std::vector<std::string>;

TEST_F(TranscriptClientTest, DroppedMessageIsMissing) {
  start({Fault{FaultKind::kDrop, 3}});
  auto alpha = make("alpha");
  auto bravo = make("bravo");
  pair(*alpha, *bravo);
  ASSERT_TRUE(bravo->send_text("alpha", "one"));    // deposit 2, transcript 2
  ASSERT_TRUE(bravo->send_text("alpha", "two"));    // deposit 3: dropped
  ASSERT_TRUE(bravo->send_text("alpha", "three"));  // deposit 4
  auto got = alpha->sync();
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(texts(*got), (Strings{"one", "three"}));
  ASSERT_EQ(codes(*got), Strings{"missing"});
  const auto alerts = *alpha->alerts("bravo");
  ASSERT_EQ(alerts.size(), 1U);
  EXPECT_EQ(alerts[0].first_seq, 3U);
  EXPECT_EQ(alerts[0].last_seq, 3U);
  EXPECT_EQ(alerts[0].text.rfind("1 message from bravo is missing", 0), 0U) << alerts[0].text;
  // Bravo's next message reported the relay's receipt for the dropped one: deposit 3 of the
  // queue (the acceptance was 1, "one" 2).
  EXPECT_NE(alerts[0].text.find("the relay acknowledged deposit 3 at "), std::string::npos)
      << alerts[0].text;
  EXPECT_NE(alerts[0].text.find("but has not delivered it"), std::string::npos);
  EXPECT_EQ(alerts[0].relay_url, url_);
  EXPECT_EQ(history_texts(*alpha, "bravo"), (Strings{"one", "three"}));
}

TEST_F(TranscriptClientTest, ReorderedMessageIsShownOnceAndReported) {
  start({Fault{FaultKind::kReorder, 2}});
  auto alpha = make("alpha");
  auto bravo = make("bravo");
  pair(*alpha, *bravo);
  ASSERT_TRUE(bravo->send_text("alpha", "one"));  // delivery 2: held until the next one
  ASSERT_TRUE(bravo->send_text("alpha", "two"));
  ASSERT_TRUE(bravo->send_text("alpha", "three"));
  auto got = alpha->sync();
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(texts(*got), (Strings{"two", "one", "three"}));
  EXPECT_EQ(codes(*got), (Strings{"missing", "reordered"}));
  EXPECT_EQ(history_texts(*alpha, "bravo").size(), 3U);
}

TEST_F(TranscriptClientTest, ReplayedAfterAcknowledgementIsReplayed) {
  start({Fault{FaultKind::kReplay, 2}});
  auto alpha = make("alpha");
  auto bravo = make("bravo");
  pair(*alpha, *bravo);
  ASSERT_TRUE(bravo->send_text("alpha", "one"));
  auto first = alpha->sync();
  ASSERT_TRUE(first);
  EXPECT_EQ(texts(*first), Strings{"one"});
  EXPECT_TRUE(codes(*first).empty());
  auto second = alpha->sync();  // the relay pushes the acknowledged envelope again
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_TRUE(texts(*second).empty());
  EXPECT_EQ(codes(*second), Strings{"replayed"});
  EXPECT_EQ(history_texts(*alpha, "bravo"), Strings{"one"});
}

TEST_F(TranscriptClientTest, DuplicatedDeliveryIsReplayed) {
  start({Fault{FaultKind::kDuplicate, 2}});
  auto alpha = make("alpha");
  auto bravo = make("bravo");
  pair(*alpha, *bravo);
  ASSERT_TRUE(bravo->send_text("alpha", "one"));
  ASSERT_TRUE(bravo->send_text("alpha", "two"));
  auto got = alpha->sync();
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(texts(*got), (Strings{"one", "two"}));
  EXPECT_EQ(codes(*got), Strings{"replayed"});
}

TEST_F(TranscriptClientTest, AlteredAndTruncatedEnvelopesAreAltered) {
  start({Fault{FaultKind::kAlter, 2, 0, 64, 60}, Fault{FaultKind::kTruncate, 4, 0, 40}});
  auto alpha = make("alpha");
  auto bravo = make("bravo");
  pair(*alpha, *bravo);
  for (const char* t : {"one", "two", "three", "four"}) ASSERT_TRUE(bravo->send_text("alpha", t));
  auto got = alpha->sync();
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(texts(*got), (Strings{"two", "four"}));
  // Each changed envelope is kept as undecryptable and reported; the chain then names the gap.
  EXPECT_EQ(codes(*got), (Strings{"altered", "missing", "altered", "missing"}));
  EXPECT_EQ(history_texts(*alpha, "bravo").size(), 4U);  // two texts, two kept envelopes
}

TEST_F(TranscriptClientTest, CleanRunWithReconnectsRaisesNothing) {
  start({});
  auto alpha = make("alpha");
  auto bravo = make("bravo");
  pair(*alpha, *bravo);
  std::size_t at_alpha = 0;
  std::size_t at_bravo = 0;
  for (int round = 0; round < 6; ++round) {
    for (int i = 0; i <= round % 3; ++i) {
      ASSERT_TRUE(bravo->send_text("alpha", "b" + std::to_string(round) + std::to_string(i)));
    }
    ASSERT_TRUE(alpha->send_text("bravo", "a" + std::to_string(round)));
    auto a = alpha->sync();  // each sync is a fresh connection
    ASSERT_TRUE(a);
    EXPECT_TRUE(codes(*a).empty());
    at_alpha += texts(*a).size();
    if (round % 2 == 0) continue;  // bravo lags behind, and catches up in one go
    auto b = bravo->sync();
    ASSERT_TRUE(b);
    EXPECT_TRUE(codes(*b).empty());
    at_bravo += texts(*b).size();
  }
  EXPECT_EQ(at_alpha, 12U);
  EXPECT_EQ(at_bravo, 6U);
  EXPECT_TRUE(alpha->alerts("")->empty());
  EXPECT_TRUE(bravo->alerts("")->empty());
}

TEST_F(TranscriptClientTest, HeartbeatsRevealASilentRelay) {
  start({Fault{FaultKind::kWithhold, 3}});
  const std::int64_t t0 = SystemClock().now_ms();
  ManualClock alpha_clock(t0);
  ManualClock bravo_clock(t0);
  auto alpha = make("alpha", &alpha_clock);
  auto bravo = make("bravo", &bravo_clock, 60'000);
  pair(*alpha, *bravo);
  bravo_clock.advance(61'000);
  ASSERT_TRUE(bravo->sync());  // a heartbeat: delivery 2
  auto first = alpha->sync();
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->empty());  // a heartbeat is no message and raises nothing
  EXPECT_TRUE(alpha->history("bravo")->empty());
  alpha_clock.advance(100'000);
  auto quiet = alpha->sync();  // under two intervals: nothing to say
  ASSERT_TRUE(quiet);
  EXPECT_TRUE(codes(*quiet).empty());
  bravo_clock.advance(61'000);
  ASSERT_TRUE(bravo->sync());  // its heartbeat (delivery 3) is withheld from now on
  alpha_clock.advance(30'000);
  auto silent = alpha->sync();
  ASSERT_TRUE(silent);
  ASSERT_EQ(codes(*silent), Strings{"silent"});
  EXPECT_NE(silent->back().text.find("heartbeat every 1 min"), std::string::npos)
      << silent->back().text;
  auto again = alpha->sync();  // one alert per silence
  ASSERT_TRUE(again);
  EXPECT_TRUE(codes(*again).empty());
  EXPECT_TRUE(bravo->history("alpha")->empty());  // heartbeats show in no history
}

TEST_F(TranscriptClientTest, TranscriptExportVerifiesAndShowsWhatTheRelayDropped) {
  start({Fault{FaultKind::kDrop, 3}});
  auto alpha = make("alpha");
  auto bravo = make("bravo");
  pair(*alpha, *bravo);
  ASSERT_TRUE(bravo->send_text("alpha", "one"));
  ASSERT_TRUE(bravo->send_text("alpha", "two"));  // deposit 3: dropped
  ASSERT_TRUE(bravo->send_text("alpha", "three"));
  ASSERT_TRUE(alpha->sync());
  ASSERT_TRUE(alpha->send_text("bravo", "reply"));
  ASSERT_TRUE(bravo->sync());

  // Bravo sent everything and received the reply: its chain is whole.
  const auto at_bravo = bravo->transcript("alpha");
  ASSERT_TRUE(at_bravo) << at_bravo.error().message();
  EXPECT_TRUE(at_bravo->consistent) << ::testing::PrintToString(at_bravo->findings);
  EXPECT_GE(at_bravo->sent, 3U);
  EXPECT_EQ(at_bravo->received, 1U);

  // Alpha's chain lacks bravo's dropped message, and the export shows it offline.
  const std::string file = (dir_ / "alpha-bravo.transcript").string();
  ASSERT_TRUE(alpha->transcript_export("bravo", file));
  const auto checked = Client::transcript_verify(file);
  ASSERT_TRUE(checked) << checked.error().message();
  EXPECT_FALSE(checked->consistent);
  ASSERT_EQ(checked->findings.size(), 1U) << ::testing::PrintToString(checked->findings);
  EXPECT_NE(checked->findings[0].find("their message 3 missing"), std::string::npos)
      << checked->findings[0];
  EXPECT_EQ(checked->entries.size(), alpha->transcript("bravo")->entries.size());
  EXPECT_EQ(Client::transcript_verify((dir_ / "absent").string()).error().code, Errc::kNotFound);
}

TEST_F(TranscriptClientTest, ChangedTranscriptFileDoesNotVerify) {
  start({});
  auto alpha = make("alpha");
  auto bravo = make("bravo");
  pair(*alpha, *bravo);
  ASSERT_TRUE(bravo->send_text("alpha", "one"));
  ASSERT_TRUE(bravo->send_text("alpha", "two"));
  ASSERT_TRUE(alpha->sync());
  ASSERT_TRUE(alpha->send_text("bravo", "three"));
  const std::string file = (dir_ / "t").string();
  ASSERT_TRUE(alpha->transcript_export("bravo", file));
  const auto clean = Client::transcript_verify(file);
  ASSERT_TRUE(clean) << clean.error().message();
  EXPECT_TRUE(clean->consistent) << ::testing::PrintToString(clean->findings);
  // The relay's signed receipts travel with the chain: alpha's deposit and the two deliveries.
  EXPECT_GE(clean->receipts_verified, 3U);

  // Any changed entry breaks the recomputed hash or the chain; a damaged file is malformed.
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  auto decoded = decode_transcript_file(text.str());
  ASSERT_TRUE(decoded);
  ASSERT_FALSE(decoded->entries.empty());
  for (std::size_t i = 0; i < decoded->entries.size(); ++i) {
    TranscriptFile changed = *decoded;
    changed.entries[i].content_digest[0] ^= 1;
    const auto check = check_transcript(changed);
    EXPECT_FALSE(check.consistent) << "entry " << i;
    changed = *decoded;
    changed.entries[i].fields.acked_seq += 1;
    EXPECT_FALSE(check_transcript(changed).consistent) << "entry " << i;
  }
  ASSERT_FALSE(decoded->receipts.empty());
  for (std::size_t i = 0; i < decoded->receipts.size(); ++i) {
    TranscriptFile changed = *decoded;
    changed.receipts[i].seq += 1;  // the relay never signed this
    const auto check = check_transcript(changed);
    EXPECT_FALSE(check.consistent) << "receipt " << i;
    EXPECT_EQ(check.receipts_verified, decoded->receipts.size() - 1);
  }
  std::string damaged = text.str();
  damaged[damaged.find('\n') + 5] ^= 0x01;
  EXPECT_FALSE(decode_transcript_file(damaged));

  // Each receipt carries its place in the relay's batch, and the file keeps it whole.
  for (const FileReceipt& r : decoded->receipts) {
    EXPECT_GE(r.batch_size, 1U);
    EXPECT_LT(r.batch_index, r.batch_size);
  }
  auto again = decode_transcript_file(encode_transcript_file(*decoded));
  ASSERT_TRUE(again);
  EXPECT_EQ(check_transcript(*again).receipts_verified, decoded->receipts.size());
  for (std::size_t i = 0; i < decoded->receipts.size(); ++i) {
    EXPECT_EQ(again->receipts[i].batch_path, decoded->receipts[i].batch_path);
    TranscriptFile changed = *decoded;
    changed.receipts[i].batch_index += 1;  // another place in the batch
    EXPECT_EQ(check_transcript(changed).receipts_verified, decoded->receipts.size() - 1);
    changed = *decoded;
    changed.receipts[i].batch_path.push_back({});  // a path too long for its place
    EXPECT_EQ(check_transcript(changed).receipts_verified, decoded->receipts.size() - 1);
    changed = *decoded;
    changed.receipts[i].batch_size = 0;  // as if the signature were over the receipt alone
    EXPECT_EQ(check_transcript(changed).receipts_verified, decoded->receipts.size() - 1);
  }
}

TEST_F(TranscriptClientTest, AVersionOneFileWithReceiptsSignedAloneStillVerifies) {
  start({});
  auto alpha = make("alpha");
  auto bravo = make("bravo");
  pair(*alpha, *bravo);
  ASSERT_TRUE(bravo->send_text("alpha", "one"));
  ASSERT_TRUE(alpha->sync());
  const std::string file = (dir_ / "t").string();
  ASSERT_TRUE(alpha->transcript_export("bravo", file));
  auto decoded = decode_transcript_file(test::read_file(file));
  ASSERT_TRUE(decoded);
  ASSERT_FALSE(decoded->receipts.empty());

  // A receipt as a relay of protocol version 2 signed it: alone, over its statement.
  crypto::DeterministicRng rng(77);
  const crypto::Ed25519KeyPair old_relay = crypto::ed25519_generate(rng);
  FileReceipt r = decoded->receipts[0];
  r.relay_key = old_relay.public_key.bytes;
  protocol::Receipt statement{r.sender_id, r.envelope_hash, r.seq, r.relay_time_ms, {}, {}};
  r.signature = crypto::ed25519_sign(old_relay.private_key, protocol::receipt_message(statement));
  // The version 1 layout: the same as version 2 without each receipt's batch.
  RecordWriter w;
  w.bytes(decoded->our_identity).bytes(decoded->their_identity).i64(decoded->exported_ms);
  w.u32(static_cast<std::uint32_t>(decoded->entries.size()));
  for (const ChainEntry& e : decoded->entries) w.bytes(e.encode());
  w.u32(1);
  w.u32(r.entry).str(r.relay_url).bytes(r.relay_key).bytes(r.sender_id).u64(r.seq);
  w.i64(r.relay_time_ms).bytes(r.envelope_hash).bytes(r.signature);
  Bytes content = to_bytes(as_bytes(std::string_view("BCTX")));
  content.push_back(1);
  append(content, w.view());
  auto v1 = decode_transcript_file(armor("TRANSCRIPT", content));
  ASSERT_TRUE(v1) << v1.error().message();
  ASSERT_EQ(v1->receipts.size(), 1U);
  EXPECT_EQ(v1->receipts[0].batch_size, 0U);
  const TranscriptCheck check = check_transcript(*v1);
  EXPECT_TRUE(check.consistent) << ::testing::PrintToString(check.findings);
  EXPECT_EQ(check.receipts_verified, 1U);
  // Exported again it is a version 2 file, and the receipt still verifies alone.
  auto v2 = decode_transcript_file(encode_transcript_file(*v1));
  ASSERT_TRUE(v2);
  EXPECT_EQ(check_transcript(*v2).receipts_verified, 1U);
  // The same signature does not pass for a batch of one.
  v1->receipts[0].batch_size = 1;
  EXPECT_EQ(check_transcript(*v1).receipts_verified, 0U);
}

}  // namespace
}  // namespace bc::client
