// Assurances end to end through the real backchannel-relay binary: direct exchange, lifecycle on
// both sides, export and offline verification.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "backchannel/client.hpp"
#include "core/clock.hpp"
#include "integration/relay/relay_harness.hpp"
#include "support/test_paths.hpp"

namespace bc::client {
namespace {

namespace fs = std::filesystem;

const Bytes kPass = {'p', 'a', 's', 's'};

class AssuranceE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<test::TempDir>("bc-assure-e2e");
    auto relay = faults().empty()
                     ? test::RelayProcess::start(dir_->path() / "relay")
                     : test::RelayProcess::start_faulty(dir_->path() / "relay", faults());
    ASSERT_TRUE(relay) << relay.error().message();
    relay_ = std::move(relay).value();
    const std::string url = "wss://127.0.0.1:" + std::to_string(relay_->port());
    for (const char* name : {"alpha", "bravo"}) {
      ClientOptions options;
      options.clock = &clock_;
      auto c =
          Client::init((dir_->path() / name).string(), kPass, name, KdfCost::kMinimum, options);
      ASSERT_TRUE(c) << c.error().message();
      ASSERT_TRUE((*c)->relay_add(url, to_hex(relay_->fingerprint())));
      (std::string(name) == "alpha" ? alpha_ : bravo_) = std::move(c).value();
    }
    auto inv = alpha_->invite_create();
    ASSERT_TRUE(inv);
    ASSERT_TRUE(bravo_->invite_accept(inv->code, std::string("alpha")));
    ASSERT_TRUE(alpha_->sync());
  }

  // faults are the faulty relay's switches (none: the real relay).
  virtual std::vector<std::string> faults() const { return {}; }

  // assurance_events syncs and returns the assurance events.
  static std::vector<Event> assurance_events(Client& c) {
    auto events = c.sync();
    EXPECT_TRUE(events) << events.error().message();
    std::vector<Event> out;
    for (auto& e : *events) {
      if (e.kind == EventKind::kAssurance) out.push_back(e);
    }
    return out;
  }

  static std::string state_of(Client& c, const std::string& id) {
    auto a = c.assurance(id);
    EXPECT_TRUE(a) << a.error().message();
    return a ? a->state : "";
  }

  fs::path file(const std::string& name) const { return dir_->path() / name; }

  static std::string read(const fs::path& p) {
    std::ifstream in(p);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }

  ManualClock clock_{SystemClock().now_ms()};
  std::unique_ptr<test::TempDir> dir_;
  std::unique_ptr<test::RelayProcess> relay_;
  std::unique_ptr<Client> alpha_;
  std::unique_ptr<Client> bravo_;
};

TEST_F(AssuranceE2ETest, ReciprocalAssurancesThroughTheWholeLifecycle) {
  AssuranceTerms terms;
  terms.statement = "We will not strike first.";
  terms.conditions = {"unless attacked first"};
  terms.binding = true;
  auto mine = alpha_->assure_propose("bravo", terms);
  ASSERT_TRUE(mine) << mine.error().message();
  EXPECT_EQ(mine->state, "delivered");
  EXPECT_EQ(mine->mode, "binding");

  auto got = assurance_events(*bravo_);
  ASSERT_EQ(got.size(), 1U);
  ASSERT_TRUE(got[0].assurance);
  EXPECT_EQ(got[0].assurance->id, mine->id);
  EXPECT_FALSE(got[0].assurance->outgoing);
  EXPECT_EQ(got[0].assurance->statement, terms.statement);
  EXPECT_EQ(got[0].assurance->conditions, terms.conditions);
  EXPECT_EQ(got[0].assurance->issuer_key_hex, *alpha_->identity_key_hex());
  EXPECT_EQ(state_of(*bravo_, mine->id), "delivered");

  clock_.advance(1000);
  auto acked = bravo_->assure_ack(mine->id);
  ASSERT_TRUE(acked) << acked.error().message();
  EXPECT_EQ(acked->state, "acknowledged");
  auto ack_seen = assurance_events(*alpha_);
  ASSERT_EQ(ack_seen.size(), 1U);
  EXPECT_EQ(state_of(*alpha_, mine->id), "acknowledged");
  // Only the counterparty acknowledges, only the issuer withdraws.
  EXPECT_EQ(alpha_->assure_ack(mine->id).error().code, Errc::kConflict);
  EXPECT_EQ(bravo_->assure_withdraw(mine->id).error().code, Errc::kConflict);

  clock_.advance(1000);
  AssuranceTerms answer;
  answer.statement = "Nor will we.";
  answer.reciprocates = mine->id;
  auto theirs = bravo_->assure_propose("alpha", answer);
  ASSERT_TRUE(theirs) << theirs.error().message();
  EXPECT_EQ(theirs->reciprocates, mine->id);
  EXPECT_EQ(state_of(*bravo_, mine->id), "reciprocated");
  auto answered = assurance_events(*alpha_);
  ASSERT_EQ(answered.size(), 2U);  // bravo's assurance, and ours now reciprocated
  EXPECT_EQ(state_of(*alpha_, mine->id), "reciprocated");
  EXPECT_EQ(state_of(*alpha_, theirs->id), "delivered");

  clock_.advance(1000);
  auto withdrawn = alpha_->assure_withdraw(mine->id);
  ASSERT_TRUE(withdrawn) << withdrawn.error().message();
  EXPECT_EQ(withdrawn->state, "withdrawn");
  ASSERT_EQ(assurance_events(*bravo_).size(), 1U);
  auto seen = bravo_->assurance(mine->id);
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->state, "withdrawn");
  // Every step has its time, in order, on both sides.
  std::vector<std::string> steps;
  for (const auto& h : seen->history) steps.push_back(h.state);
  EXPECT_EQ(steps,
            (std::vector<std::string>{"delivered", "acknowledged", "reciprocated", "withdrawn"}));
  EXPECT_EQ(alpha_->assure_withdraw(mine->id).error().code, Errc::kConflict);
  auto all = alpha_->assurances();
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 2U);
}

TEST_F(AssuranceE2ETest, AnAssuranceExpiresOnBothSides) {
  AssuranceTerms terms;
  terms.statement = "No exercises near the line this week.";
  terms.valid_until_ms = clock_.now_ms() + 3'600'000;
  auto mine = alpha_->assure_propose("bravo", terms);
  ASSERT_TRUE(mine) << mine.error().message();
  ASSERT_EQ(assurance_events(*bravo_).size(), 1U);
  clock_.advance(2 * 3'600'000);
  auto expired = assurance_events(*bravo_);
  ASSERT_EQ(expired.size(), 1U);
  EXPECT_EQ(expired[0].assurance->state, "expired");
  EXPECT_EQ(state_of(*alpha_, mine->id), "expired");
  EXPECT_EQ(bravo_->assure_ack(mine->id).error().code, Errc::kConflict);
  EXPECT_EQ(alpha_->assure_withdraw(mine->id).error().code, Errc::kConflict);
}

TEST_F(AssuranceE2ETest, BindingExportVerifiesOfflineAndFailsAfterAnyOneByteChange) {
  AssuranceTerms terms;
  terms.statement = "We will not strike first.";
  terms.scope = "the northern border";
  terms.binding = true;
  auto mine = alpha_->assure_propose("bravo", terms);
  ASSERT_TRUE(mine) << mine.error().message();
  ASSERT_EQ(assurance_events(*bravo_).size(), 1U);
  const fs::path out = file("alpha-pledge.bcx");
  auto kind = bravo_->assure_export(mine->id, out.string());
  ASSERT_TRUE(kind) << kind.error().message();
  EXPECT_EQ(*kind, "assurance");

  auto v = Client::assure_verify(out.string());
  ASSERT_TRUE(v) << v.error().message();
  ASSERT_TRUE(v->assurance);
  EXPECT_EQ(v->assurance->statement, terms.statement);
  EXPECT_EQ(v->assurance->issuer_key_hex, *alpha_->identity_key_hex());
  EXPECT_EQ(v->assurance->counterparty_key_hex, *bravo_->identity_key_hex());

  // Change one character of the armored text at every position of its body: never valid.
  const std::string text = read(out);
  const auto body_start = text.find('\n') + 1;
  const auto body_end = text.find("-----END");
  int checked = 0;
  for (auto i = body_start; i < body_end; ++i) {
    if (text[i] == '\n') continue;
    std::string changed = text;
    changed[i] = changed[i] == 'A' ? 'B' : 'A';
    const fs::path bad = file("changed.bcx");
    std::ofstream(bad, std::ios::trunc) << changed;
    auto r = Client::assure_verify(bad.string());
    // The last base64 character may carry only padding bits: its change may not alter a byte.
    if (i + 2 >= body_end) continue;
    ASSERT_FALSE(r) << "a change at " << i << " still verified";
    EXPECT_TRUE(r.error().code == Errc::kAuthFailed || r.error().code == Errc::kMalformed ||
                r.error().code == Errc::kUnsupportedVersion)
        << r.error().message();
    ++checked;
  }
  EXPECT_GT(checked, 200);
}

TEST_F(AssuranceE2ETest, ADeniableAssuranceExportedByItsRecipientDoesNotVerify) {
  AssuranceTerms terms;
  terms.statement = "Off the record: we will hold back.";
  auto mine = alpha_->assure_propose("bravo", terms);
  ASSERT_TRUE(mine) << mine.error().message();
  ASSERT_EQ(assurance_events(*bravo_).size(), 1U);
  const fs::path out = file("deniable.bcx");
  ASSERT_TRUE(bravo_->assure_export(mine->id, out.string()));
  auto v = Client::assure_verify(out.string());
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, Errc::kAuthFailed);
  EXPECT_NE(v.error().message().find("deniable"), std::string::npos) << v.error().message();
}

TEST_F(AssuranceE2ETest, BadTermsAndUnknownIdsAreRefused) {
  AssuranceTerms empty;
  EXPECT_EQ(alpha_->assure_propose("bravo", empty).error().code, Errc::kMalformed);
  AssuranceTerms terms;
  terms.statement = "ok";
  EXPECT_EQ(alpha_->assure_propose("nobody", terms).error().code, Errc::kNotFound);
  terms.valid_until_ms = clock_.now_ms() - 1;
  EXPECT_EQ(alpha_->assure_propose("bravo", terms).error().code, Errc::kMalformed);
  terms.valid_until_ms.reset();
  terms.reciprocates = std::string(32, '0');
  EXPECT_EQ(alpha_->assure_propose("bravo", terms).error().code, Errc::kNotFound);
  EXPECT_EQ(alpha_->assurance("zz").error().code, Errc::kMalformed);
  EXPECT_EQ(alpha_->assurance(std::string(32, '1')).error().code, Errc::kNotFound);
  auto none = alpha_->assurances();
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());  // nothing half-made was kept
}

// ---- escrowed exchanges ----

// escrow_state syncs `c` and returns the state of exchange `id` as it sees it.
std::string escrow_state(Client& c, const std::string& id) {
  auto events = c.sync();
  EXPECT_TRUE(events) << events.error().message();
  auto list = c.escrows();
  EXPECT_TRUE(list) << list.error().message();
  for (const auto& x : *list) {
    if (x.exchange_id == id) return x.state;
  }
  return "";
}

std::vector<AssuranceInfo> incoming(Client& c) {
  std::vector<AssuranceInfo> out;
  auto all = c.assurances();
  EXPECT_TRUE(all) << all.error().message();
  for (const auto& a : *all) {
    if (!a.outgoing) out.push_back(a);
  }
  return out;
}

TEST_F(AssuranceE2ETest, EscrowReleasesBothAssurancesAtOnceWithACertificate) {
  auto opened = alpha_->escrow_open("bravo", 10 * 60 * 1000);
  ASSERT_TRUE(opened) << opened.error().message();
  EXPECT_EQ(opened->role, "opener");
  const std::string id = opened->exchange_id;
  // Bravo learns that an exchange is open, and nothing of what alpha will deposit.
  auto told = bravo_->sync();
  ASSERT_TRUE(told) << told.error().message();
  ASSERT_EQ(told->size(), 1U);
  EXPECT_EQ((*told)[0].kind, EventKind::kEscrow);
  ASSERT_TRUE((*told)[0].escrow);
  EXPECT_EQ((*told)[0].escrow->exchange_id, id);
  EXPECT_EQ((*told)[0].escrow->role, "counterparty");

  AssuranceTerms first;
  first.statement = "We will not strike unless attacked first.";
  first.binding = true;
  auto deposited = alpha_->escrow_deposit(id, first);
  ASSERT_TRUE(deposited) << deposited.error().message();
  EXPECT_EQ(deposited->state, "deposited");
  EXPECT_EQ(deposited->own_deposit_sha256.size(), 64U);
  // The relay holds it apart: nothing reaches bravo before bravo deposits.
  EXPECT_EQ(escrow_state(*bravo_, id), "open");
  EXPECT_TRUE(incoming(*bravo_).empty());
  auto held = bravo_->held_by_relays();
  ASSERT_TRUE(held) << held.error().message();
  EXPECT_TRUE(held->empty());
  EXPECT_EQ(alpha_->escrow_deposit(id, first).error().code, Errc::kConflict);  // one deposit

  AssuranceTerms answer;
  answer.statement = "Nor will we.";
  answer.binding = true;
  auto second = bravo_->escrow_deposit(id, answer);
  ASSERT_TRUE(second) << second.error().message();

  // Both now hold both, and the certificate, checked against both deposits.
  for (Client* c : {alpha_.get(), bravo_.get()}) {
    EXPECT_EQ(escrow_state(*c, id), "released");
    auto list = c->escrows();
    ASSERT_TRUE(list);
    ASSERT_EQ(list->size(), 1U);
    const EscrowInfo& x = (*list)[0];
    EXPECT_GT(x.released_ms, 0);
    EXPECT_TRUE(x.problem.empty()) << x.problem;
    EXPECT_FALSE(x.own_assurance.empty());
    EXPECT_FALSE(x.received_assurance.empty());
    auto got = incoming(*c);
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(got[0].exchange_id, id);
    EXPECT_EQ(got[0].statement, c == alpha_.get() ? answer.statement : first.statement);
    auto own = c->assurance(x.own_assurance);
    ASSERT_TRUE(own);
    EXPECT_EQ(own->state, "delivered");
    auto alerts = c->alerts("");
    ASSERT_TRUE(alerts);
    EXPECT_TRUE(alerts->empty());
  }
  // alpha's deposit hash (as alpha computed it) is the one bravo received.
  auto a_list = alpha_->escrows();
  auto b_list = bravo_->escrows();
  EXPECT_EQ((*a_list)[0].own_deposit_sha256, (*b_list)[0].received_deposit_sha256);
  EXPECT_EQ((*b_list)[0].own_deposit_sha256, (*a_list)[0].received_deposit_sha256);

  // The certificate, exported with what checks it, verifies offline.
  const fs::path out = file("release.bcx");
  auto kind = alpha_->assure_export(id, out.string());
  ASSERT_TRUE(kind) << kind.error().message();
  EXPECT_EQ(*kind, "release");
  auto v = Client::assure_verify(out.string());
  ASSERT_TRUE(v) << v.error().message();
  EXPECT_EQ(v->kind, "release");
  EXPECT_FALSE(v->relay_fault);
  EXPECT_EQ(v->relay_signing_key_hex, to_hex(relay_->signing_key()));
  EXPECT_EQ(v->released.size(), 2U);
  ASSERT_TRUE(v->escrow);
  EXPECT_EQ(v->escrow->exchange_id, id);
  EXPECT_EQ(alpha_->escrow_cancel(id).error().code, Errc::kConflict);  // released: too late

  // The deposits went around the conversation's chain: what follows raises no alert.
  ASSERT_TRUE(alpha_->send_text("bravo", "agreed"));
  ASSERT_TRUE(bravo_->send_text("alpha", "agreed"));
  for (Client* c : {alpha_.get(), bravo_.get()}) {
    auto after = c->sync();
    ASSERT_TRUE(after) << after.error().message();
    auto alerts = c->alerts("");
    ASSERT_TRUE(alerts);
    EXPECT_TRUE(alerts->empty()) << alerts->front().text;
  }
}

TEST_F(AssuranceE2ETest, EscrowExpiresOnBothSidesAndNeitherHoldsTheOthers) {
  // The relay's clock decides the deadline; the clients' clock only proposes it.
  clock_.set(SystemClock().now_ms());
  auto opened = alpha_->escrow_open("bravo", 4000);
  ASSERT_TRUE(opened) << opened.error().message();
  const std::string id = opened->exchange_id;
  AssuranceTerms terms;
  terms.statement = "We will not strike unless attacked first.";
  ASSERT_TRUE(alpha_->escrow_deposit(id, terms));
  ASSERT_EQ(escrow_state(*bravo_, id), "open");  // bravo was told, and does not deposit
  std::string a_state;
  std::string b_state;
  for (int i = 0; i < 120 && (a_state != "expired" || b_state != "expired"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    a_state = escrow_state(*alpha_, id);
    b_state = escrow_state(*bravo_, id);
  }
  EXPECT_EQ(a_state, "expired");
  EXPECT_EQ(b_state, "expired");
  EXPECT_TRUE(incoming(*bravo_).empty());
  EXPECT_TRUE(incoming(*alpha_).empty());
  auto list = alpha_->escrows();
  ASSERT_TRUE(list);
  auto own = alpha_->assurance((*list)[0].own_assurance);
  ASSERT_TRUE(own);
  EXPECT_EQ(own->state, "expired");
  EXPECT_EQ(bravo_->escrow_deposit(id, terms).error().code, Errc::kConflict);
  EXPECT_EQ(alpha_->assure_export(id, file("none.bcx").string()).error().code, Errc::kConflict);
}

TEST_F(AssuranceE2ETest, EscrowCancelTakesTheDepositBackBeforeRelease) {
  auto opened = alpha_->escrow_open("bravo", 10 * 60 * 1000);
  ASSERT_TRUE(opened) << opened.error().message();
  const std::string id = opened->exchange_id;
  ASSERT_EQ(escrow_state(*bravo_, id), "open");
  AssuranceTerms terms;
  terms.statement = "We will not strike unless attacked first.";
  auto mine = alpha_->escrow_deposit(id, terms);
  ASSERT_TRUE(mine) << mine.error().message();
  auto cancelled = alpha_->escrow_cancel(id);
  ASSERT_TRUE(cancelled) << cancelled.error().message();
  EXPECT_EQ(cancelled->state, "cancelled");
  auto own = alpha_->assurance(mine->own_assurance);
  ASSERT_TRUE(own);
  EXPECT_EQ(own->state, "withdrawn");
  EXPECT_EQ(alpha_->escrow_deposit(id, terms).error().code, Errc::kConflict);
  // Bravo's deposit alone releases nothing: alpha's was withdrawn.
  AssuranceTerms answer;
  answer.statement = "Nor will we.";
  auto second = bravo_->escrow_deposit(id, answer);
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(escrow_state(*bravo_, id), "deposited");
  EXPECT_TRUE(incoming(*bravo_).empty());
  EXPECT_EQ(escrow_state(*alpha_, id), "cancelled");
  EXPECT_TRUE(incoming(*alpha_).empty());

  // A withdrawn deposit leaves no gap in the conversation: the next message raises no alert.
  ASSERT_TRUE(alpha_->send_text("bravo", "still talking"));
  auto after = bravo_->sync();
  ASSERT_TRUE(after) << after.error().message();
  auto alerts = bravo_->alerts("");
  ASSERT_TRUE(alerts);
  EXPECT_TRUE(alerts->empty()) << alerts->front().text;
}

// A relay that certifies a release and then withholds alpha's copy: deliveries 1 (the
// invitation's acceptance, to alpha) and 2 (the escrow invitation, to bravo) and 3 (alpha's
// deposit, released to bravo) go out; from 4 on (bravo's deposit, released to alpha) nothing does.
class AssuranceWithholdingRelayTest : public AssuranceE2ETest {
 protected:
  std::vector<std::string> faults() const override { return {"withhold=4"}; }
};

TEST_F(AssuranceWithholdingRelayTest, TheCheatedSideHoldsTheCertificateAsProof) {
  auto opened = alpha_->escrow_open("bravo", 10 * 60 * 1000);
  ASSERT_TRUE(opened) << opened.error().message();
  const std::string id = opened->exchange_id;
  ASSERT_EQ(escrow_state(*bravo_, id), "open");
  AssuranceTerms terms;
  terms.statement = "We will not strike first.";
  terms.binding = true;
  ASSERT_TRUE(alpha_->escrow_deposit(id, terms));
  terms.statement = "Nor will we.";
  ASSERT_TRUE(bravo_->escrow_deposit(id, terms));
  EXPECT_EQ(escrow_state(*bravo_, id), "released");
  EXPECT_EQ(incoming(*bravo_).size(), 1U);

  EXPECT_EQ(escrow_state(*alpha_, id), "disputed");
  EXPECT_TRUE(incoming(*alpha_).empty());
  auto alerts = alpha_->alerts("bravo");
  ASSERT_TRUE(alerts) << alerts.error().message();
  ASSERT_FALSE(alerts->empty());
  EXPECT_EQ(alerts->back().code, "escrow_withheld");
  auto list = alpha_->escrows();
  ASSERT_TRUE(list);
  EXPECT_NE((*list)[0].problem.find("did not deliver"), std::string::npos) << (*list)[0].problem;

  // What alpha holds proves it: the relay's own signature over a release alpha never received.
  const fs::path out = file("proof.bcx");
  ASSERT_TRUE(alpha_->assure_export(id, out.string()));
  auto v = Client::assure_verify(out.string());
  ASSERT_TRUE(v) << v.error().message();
  EXPECT_TRUE(v->relay_fault);
  EXPECT_EQ(v->relay_signing_key_hex, to_hex(relay_->signing_key()));
  bool named = false;
  for (const auto& f : v->findings)
    named = named || f.find("received no deposit") != std::string::npos;
  EXPECT_TRUE(named);
  // A forged certificate (one byte of it changed) is no proof of anything. The export holds
  // "BCX", version, kind, then the relay URL, the relay key and the certificate, each after a
  // u32 length (docs/assurances.md).
  const std::string text = read(out);
  const auto begin = text.find('\n') + 1;
  std::string b64;
  for (const char ch : text.substr(begin, text.find("-----END") - begin)) {
    if (ch != '\n') b64 += ch;
  }
  auto content = from_base64url(b64);
  ASSERT_TRUE(content);
  const std::string url = "wss://127.0.0.1:" + std::to_string(relay_->port());
  const std::size_t cert_at = 5 + 4 + url.size() + 4 + 32 + 4;
  ASSERT_EQ(std::string(content->begin() + 9, content->begin() + 9 + url.size()), url);
  for (const std::size_t offset : {std::size_t{1}, std::size_t{40}, std::size_t{100}}) {
    Bytes forged = *content;
    forged[cert_at + offset] ^= 0x01;
    std::string armored = "-----BEGIN BACKCHANNEL EXPORT-----\n" + to_base64url(forged) +
                          "\n-----END BACKCHANNEL EXPORT-----\n";
    std::ofstream(file("forged.bcx"), std::ios::trunc) << armored;
    auto f = Client::assure_verify(file("forged.bcx").string());
    ASSERT_FALSE(f) << "certificate byte " << offset;
    EXPECT_EQ(f.error().code, Errc::kAuthFailed) << f.error().message();
  }
}

}  // namespace
}  // namespace bc::client
