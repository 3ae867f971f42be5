// Tests of the backchannel command line: exit codes, one-line errors, --json, a full flow.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "integration/relay/relay_harness.hpp"
#include "support/test_paths.hpp"

namespace bc {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct CliRun {
  int code = -1;
  std::string out;
  std::string err;
};

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = std::make_unique<test::TempDir>("bc-cli"); }

  void start_relay() {
    auto relay = test::RelayProcess::start(dir_->path() / "relay");
    ASSERT_TRUE(relay) << relay.error().message();
    relay_ = std::move(relay).value();
    url_ = "wss://127.0.0.1:" + std::to_string(relay_->port());
  }

  // run executes backchannel with `args` (already shell-quoted) for home `home`.
  CliRun run(const std::string& home, const std::string& args, const std::string& pass = "pw") {
    const fs::path out = dir_->path() / "out.txt";
    const fs::path err = dir_->path() / "err.txt";
    const std::string cmd = "BACKCHANNEL_PASSPHRASE='" + pass + "' '" +
                            (test::binary_dir() / "bin" / "backchannel").string() + "' --home '" +
                            (dir_->path() / home).string() + "' " + args + " > '" + out.string() +
                            "' 2> '" + err.string() + "' < /dev/null";
    const int status = std::system(cmd.c_str());
    CliRun r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = test::read_file(out);
    r.err = test::read_file(err);
    return r;
  }

  static json parse(const CliRun& r) {
    EXPECT_FALSE(r.out.empty()) << r.err;
    return json::parse(r.out, nullptr, false);
  }

  std::unique_ptr<test::TempDir> dir_;
  std::unique_ptr<test::RelayProcess> relay_;
  std::string url_;
};

TEST_F(CliTest, UsageErrorsExitTwoWithOneLine) {
  EXPECT_EQ(run("h", "--version").code, 0);
  EXPECT_EQ(run("h", "--help").code, 0);
  for (const char* bad : {"", "frobnicate", "send", "send alpha", "init", "relay add",
                          "intro accept", "invite accept", "contacts extra"}) {
    const CliRun r = run("h", bad);
    EXPECT_EQ(r.code, 2) << bad;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << bad << ": " << r.err;
    EXPECT_TRUE(r.err.starts_with("backchannel: ")) << r.err;
  }
}

TEST_F(CliTest, MissingHomeAndWrongPassphrase) {
  const CliRun none = run("nohome", "contacts");
  EXPECT_EQ(none.code, 2);
  EXPECT_NE(none.err.find("no Backchannel home"), std::string::npos) << none.err;
  ASSERT_EQ(run("a", "init --name alpha --kdf minimum").code, 0);
  const CliRun wrong = run("a", "--json contacts", "not-the-passphrase");
  EXPECT_EQ(wrong.code, 2);
  EXPECT_NE(wrong.err.find("wrong passphrase"), std::string::npos) << wrong.err;
  const json j = parse(wrong);
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["kind"], "auth_failed");
  EXPECT_EQ(run("a", "init --name again --kdf minimum").code, 2);  // a home exists
}

TEST_F(CliTest, CorruptedStoreIsAClearError) {
  ASSERT_EQ(run("a", "init --name alpha --kdf minimum").code, 0);
  const fs::path store = dir_->path() / "a" / "store.db";
  fs::resize_file(store, 100);
  const CliRun r = run("a", "contacts");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("damaged"), std::string::npos) << r.err;
  EXPECT_EQ(fs::file_size(store), 100U);  // no further damage
}

TEST_F(CliTest, RelayErrors) {
  start_relay();
  ASSERT_EQ(run("a", "init --name alpha --kdf minimum").code, 0);
  std::string wrong = to_hex(relay_->fingerprint());
  wrong[5] = wrong[5] == 'a' ? 'b' : 'a';
  const CliRun pinned = run("a", "relay add " + url_ + " --fingerprint " + wrong);
  EXPECT_EQ(pinned.code, 2) << pinned.err;
  const CliRun bad_fp = run("a", "relay add " + url_ + " --fingerprint xyz");
  EXPECT_EQ(bad_fp.code, 2);
  const CliRun bad_url = run("a", "relay add http://x --fingerprint " + wrong);
  EXPECT_EQ(bad_url.code, 2);
  relay_->terminate();
  const CliRun down =
      run("a", "relay add " + url_ + " --fingerprint " + to_hex(relay_->fingerprint()));
  EXPECT_EQ(down.code, 1) << down.err;
}

TEST_F(CliTest, InvitationMessagingAndVerifyThroughTheCli) {
  start_relay();
  const std::string fp = to_hex(relay_->fingerprint());
  for (const char* who : {"mediator", "alpha"}) {
    ASSERT_EQ(run(who, std::string("init --name ") + who + " --kdf minimum").code, 0);
    ASSERT_EQ(run(who, "relay add " + url_ + " --fingerprint " + fp).code, 0);
  }
  const CliRun invite = run("mediator", "--json invite create");
  ASSERT_EQ(invite.code, 0) << invite.err;
  const json inv = parse(invite);
  const std::string code = inv["code"];
  ASSERT_TRUE(code.starts_with("bc1"));
  const CliRun accepted = run("alpha", "--json invite accept " + code + " --as med");
  ASSERT_EQ(accepted.code, 0) << accepted.err;
  EXPECT_EQ(parse(accepted)["contact"]["alias"], "med");
  EXPECT_EQ(run("alpha", "invite accept " + code).code, 2);  // already a contact
  const CliRun synced = run("mediator", "--json sync");
  ASSERT_EQ(synced.code, 0) << synced.err;
  EXPECT_EQ(parse(synced)["events"][0]["event"], "contact_added");
  ASSERT_EQ(run("alpha", "send med 'hello from alpha'").code, 0);
  EXPECT_EQ(run("alpha", "send nobody hi").code, 2);
  const CliRun got = run("mediator", "sync");
  EXPECT_NE(got.out.find("hello from alpha"), std::string::npos) << got.out;
  const CliRun history = run("mediator", "--json history alpha");
  ASSERT_EQ(history.code, 0);
  const json h = parse(history);
  ASSERT_EQ(h["messages"].size(), 1U);
  EXPECT_EQ(h["messages"][0]["text"], "hello from alpha");
  EXPECT_EQ(h["messages"][0]["direction"], "in");
  const CliRun v1 = run("mediator", "--json verify alpha");
  const CliRun v2 = run("alpha", "--json verify med --confirm");
  ASSERT_EQ(v1.code, 0);
  ASSERT_EQ(v2.code, 0);
  EXPECT_EQ(parse(v1)["safety_number"], parse(v2)["safety_number"]);
  EXPECT_EQ(parse(v1)["safety_number"].get<std::string>().size(), 60U);
  const CliRun contacts = run("alpha", "--json contacts");
  EXPECT_EQ(parse(contacts)["contacts"][0]["verified"], true);
  const fs::path file = dir_->path() / "note.txt";
  { std::ofstream(file) << "a file's contents"; }
  EXPECT_EQ(run("alpha", "send med --file '" + file.string() + "'").code, 0);
  const CliRun files = run("mediator", "--json sync");
  EXPECT_EQ(parse(files)["events"][0]["message"]["kind"], "file");

  // The transcript: the chain the mediator holds with alpha, exported and checked offline; the
  // file holds hashes, never the text.
  const CliRun tx = run("mediator", "--json transcript alpha");
  ASSERT_EQ(tx.code, 0) << tx.err;
  EXPECT_EQ(parse(tx)["consistent"], true);
  EXPECT_GE(parse(tx)["received"].get<int>(), 2);  // the acceptance, the text, the file
  const fs::path exported = dir_->path() / "alpha.transcript";
  ASSERT_EQ(run("mediator", "transcript export alpha --out '" + exported.string() + "'").code, 0);
  std::stringstream body;
  body << std::ifstream(exported).rdbuf();
  EXPECT_EQ(body.str().find("hello from alpha"), std::string::npos);
  const CliRun checked = run("mediator", "--json transcript verify '" + exported.string() + "'");
  ASSERT_EQ(checked.code, 0) << checked.err;
  EXPECT_EQ(parse(checked)["entries"].size(), parse(tx)["entries"].size());
  EXPECT_GE(parse(checked)["receipts_verified"].get<int>(), 2);
  { std::ofstream(exported) << "not a transcript"; }
  EXPECT_EQ(run("mediator", "transcript verify '" + exported.string() + "'").code, 2);
  EXPECT_EQ(run("mediator", "transcript nobody").code, 2);
}

TEST_F(CliTest, DemoRunsEndToEndAndShowsOnlyCiphertextAtTheRelay) {
  const CliRun human = run("unused", "demo");
  ASSERT_EQ(human.code, 0) << human.err;
  EXPECT_NE(human.out.find("received from alpha: \"We will not strike unless attacked first.\""),
            std::string::npos)
      << human.out;
  EXPECT_NE(human.out.find("received from bravo: \"Nor will we.\""), std::string::npos);
  EXPECT_NE(human.out.find("(the same 60 digits"), std::string::npos);
  // The escrowed exchange: nothing before the second deposit, both at once after it, and a
  // certificate that checks.
  EXPECT_NE(human.out.find("has received nothing of alpha's assurance"), std::string::npos);
  EXPECT_NE(human.out.find("(released from escrow): \"Nor will we strike first.\""),
            std::string::npos);
  EXPECT_NE(human.out.find("(released from escrow): \"We will not strike first.\""),
            std::string::npos);
  EXPECT_NE(human.out.find("released both assurances at once"), std::string::npos);
  EXPECT_NE(human.out.find("the exporter's deposit is the one certified"), std::string::npos);
  EXPECT_EQ(human.out.find("RELAY FAULT"), std::string::npos);
  // What the relay is shown to hold never includes a name or the text.
  std::istringstream lines(human.out);
  int relay_lines = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.find("relay:") == std::string::npos ||
        line.find("holds for queue") == std::string::npos) {
      continue;
    }
    ++relay_lines;
    EXPECT_EQ(line.find("strike"), std::string::npos) << line;
    EXPECT_EQ(line.find("alpha"), std::string::npos) << line;
    EXPECT_EQ(line.find("bravo"), std::string::npos) << line;
  }
  EXPECT_GE(relay_lines, 3);
  const CliRun machine = run("unused", "--json demo");
  ASSERT_EQ(machine.code, 0) << machine.err;
  const json j = parse(machine);
  EXPECT_EQ(j["ok"], true);
  EXPECT_GE(j["steps"].size(), 7U);
}

TEST_F(CliTest, AssurancesThroughTheCli) {
  start_relay();
  const std::string fp = to_hex(relay_->fingerprint());
  for (const char* who : {"alpha", "bravo"}) {
    ASSERT_EQ(run(who, std::string("init --name ") + who + " --kdf minimum").code, 0);
    ASSERT_EQ(run(who, "relay add " + url_ + " --fingerprint " + fp).code, 0);
  }
  const json inv = parse(run("alpha", "--json invite create"));
  ASSERT_EQ(run("bravo", "invite accept " + inv["code"].get<std::string>() + " --as alpha").code,
            0);
  ASSERT_EQ(run("alpha", "sync").code, 0);

  for (const char* bad : {"assure", "assure frob", "assure propose bravo",
                          "assure propose bravo --text x --valid-until tomorrow", "assure show",
                          "assure export 00", "assure verify"}) {
    const CliRun r = run("alpha", bad);
    EXPECT_EQ(r.code, 2) << bad;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << bad << ": " << r.err;
  }
  const CliRun proposed =
      run("alpha",
          "--json assure propose bravo --text 'We will not strike first.' --condition 'unless "
          "attacked first' --condition 'while the line holds' --valid-until 2099-01-01 --binding");
  ASSERT_EQ(proposed.code, 0) << proposed.err;
  const json a = parse(proposed)["assurance"];
  const std::string id = a["id"];
  EXPECT_EQ(a["mode"], "binding");
  EXPECT_EQ(a["conditions"].size(), 2U);
  EXPECT_EQ(a["valid_until"], 4070908800000LL);
  const CliRun synced = run("bravo", "--json sync");
  ASSERT_EQ(synced.code, 0) << synced.err;
  EXPECT_EQ(parse(synced)["events"][0]["event"], "assurance");
  const CliRun shown = run("bravo", "assure show " + id);
  ASSERT_EQ(shown.code, 0) << shown.err;
  EXPECT_NE(shown.out.find("condition: while the line holds"), std::string::npos) << shown.out;
  EXPECT_EQ(parse(run("bravo", "--json assure ack " + id))["assurance"]["state"], "acknowledged");
  const CliRun answer = run("bravo",
                            "--json assure propose alpha --text 'Nor will we.' "
                            "--reciprocates " +
                                id);
  ASSERT_EQ(answer.code, 0) << answer.err;
  ASSERT_EQ(run("alpha", "sync").code, 0);
  const json listed = parse(run("alpha", "--json assure list"));
  ASSERT_EQ(listed["assurances"].size(), 2U);
  EXPECT_EQ(listed["assurances"][0]["state"], "reciprocated");
  EXPECT_EQ(listed["assurances"][1]["direction"], "in");

  const fs::path file = dir_->path() / "pledge.bcx";
  ASSERT_EQ(run("bravo", "assure export " + id + " --out '" + file.string() + "'").code, 0);
  const CliRun verified = run("nohome", "--json assure verify '" + file.string() + "'");
  ASSERT_EQ(verified.code, 0) << verified.err;
  EXPECT_EQ(parse(verified)["assurance"]["statement"], "We will not strike first.");
  const std::string deniable = parse(answer)["assurance"]["id"];
  const fs::path file2 = dir_->path() / "deniable.bcx";
  ASSERT_EQ(run("alpha", "assure export " + deniable + " --out '" + file2.string() + "'").code, 0);
  const CliRun refused = run("nohome", "assure verify '" + file2.string() + "'");
  EXPECT_EQ(refused.code, 2);
  EXPECT_NE(refused.err.find("proves nothing"), std::string::npos) << refused.err;
  const CliRun withdrawn = run("alpha", "--json assure withdraw " + id);
  EXPECT_EQ(parse(withdrawn)["assurance"]["state"], "withdrawn");
  EXPECT_EQ(run("alpha", "assure withdraw " + id).code, 2);
}

TEST_F(CliTest, RelayAddAcceptsASecondRelayAndRefusesAThird) {
  start_relay();
  ASSERT_EQ(run("a", "init --name alpha --kdf minimum").code, 0);
  std::vector<std::unique_ptr<test::RelayProcess>> others;
  for (int i = 0; i < 2; ++i) {
    auto relay = test::RelayProcess::start(dir_->path() / ("other" + std::to_string(i)));
    ASSERT_TRUE(relay) << relay.error().message();
    others.push_back(std::move(relay).value());
  }
  auto add = [&](const test::RelayProcess& relay) {
    return run("a", "relay add wss://127.0.0.1:" + std::to_string(relay.port()) +
                        " --fingerprint " + to_hex(relay.fingerprint()));
  };
  ASSERT_EQ(add(*relay_).code, 0);
  const CliRun second = add(*others[0]);
  EXPECT_EQ(second.code, 0) << second.err;
  const CliRun third = add(*others[1]);
  EXPECT_EQ(third.code, 1);
  EXPECT_NE(third.err.find("at most two relays"), std::string::npos) << third.err;
  EXPECT_EQ(std::count(third.err.begin(), third.err.end(), '\n'), 1) << third.err;
  const json list = parse(run("a", "--json relay list"));
  ASSERT_EQ(list["relays"].size(), 2U);
  EXPECT_EQ(list["relays"][0]["url"], url_);
}

}  // namespace
}  // namespace bc
