// backchannel demo: a relay on loopback, a mediator and two parties, end to end, in plain words.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/backchannel/cli.hpp"
#include "backchannel/client.hpp"

namespace bc::cli {
namespace {

namespace fs = std::filesystem;
using client::Client;

// RelayProcess runs backchannel-relay on an ephemeral loopback port and stops it on destruction.
class RelayProcess {
 public:
  ~RelayProcess() { stop(); }
  Result<void> start(const fs::path& binary, const fs::path& data) {
    int out[2];
    if (::pipe(out) != 0) return fail(Errc::kUnavailable, "pipe failed");
    pid_ = ::fork();
    if (pid_ < 0) return fail(Errc::kUnavailable, "fork failed");
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      const int null = ::open("/dev/null", O_WRONLY);
      if (null >= 0) ::dup2(null, STDERR_FILENO);
      ::close(out[0]);
      ::execl(binary.c_str(), binary.c_str(), "--listen", "127.0.0.1:0", "--data", data.c_str(),
              static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    ::close(out[1]);
    FILE* in = ::fdopen(out[0], "r");
    char line[512];
    while (std::fgets(line, sizeof line, in) != nullptr) {
      std::string s(line);
      while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
      if (s.starts_with("url: ")) url = s.substr(5);
      if (s.starts_with("fingerprint: ")) {
        fingerprint = s.substr(13);
        break;
      }
    }
    std::fclose(in);
    if (url.empty() || fingerprint.empty()) {
      return fail(Errc::kUnavailable, "the relay did not start (" + binary.string() + ")");
    }
    return ok();
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  std::string url;
  std::string fingerprint;

 private:
  pid_t pid_ = -1;
};

struct Demo {
  bool json = false;
  nlohmann::json steps = nlohmann::json::array();
  int step_no = 0;

  void step(const std::string& title) {
    ++step_no;
    if (!json) std::printf("\n== %d. %s\n", step_no, title.c_str());
    steps.push_back({{"step", step_no}, {"title", title}, {"lines", nlohmann::json::array()}});
  }
  void say(const std::string& who, const std::string& text) {
    if (!json) std::printf("   %-9s %s\n", (who + ":").c_str(), text.c_str());
    steps.back()["lines"].push_back({{"who", who}, {"text", text}});
  }
};

std::string clock_time(std::int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

#define DEMO_TRY(decl, expr)                               \
  auto decl##_r = (expr);                                  \
  if (!decl##_r) return fail(std::move(decl##_r).error()); \
  auto& decl = *decl##_r

Result<void> show_relay(Demo& d, Client& c, const std::string& who) {
  DEMO_TRY(held, c.held_by_relays());
  if (held.empty()) {
    d.say("relay", "holds nothing for " + who);
    return ok();
  }
  for (const auto& h : held) {
    d.say("relay", "holds for queue " + h.queue_id_hex.substr(0, 12) + "...: envelope #" +
                       std::to_string(h.message_id) + ", " + std::to_string(h.size) +
                       " bytes, accepted " + clock_time(h.relay_time_ms) +
                       " (no name, no sender, no text)");
  }
  return ok();
}

Result<void> report_events(Demo& d, const std::string& who,
                           const std::vector<client::Event>& events) {
  if (events.empty()) d.say(who, "(nothing new)");
  for (const auto& e : events) {
    if (e.message) {
      d.say(who, "received from " + e.alias + ": \"" + e.message->text + "\"");
    } else {
      d.say(who, e.text);
    }
  }
  return ok();
}

// escrow_scene: reciprocal no-first-strike assurances through the relay's escrow, neither side
// showing its hand first (docs/assurances.md).
Result<void> escrow_scene(Demo& d, Client& alpha, Client& bravo, const fs::path& dir) {
  d.step("Neither wants to pledge first: alpha opens an escrowed exchange at the relay");
  DEMO_TRY(opened, alpha.escrow_open("bravo", 10 * 60 * 1000));
  const std::string id = opened.exchange_id;
  d.say("alpha", "opened exchange " + id.substr(0, 12) +
                     "... (deadline in 10 minutes) and told "
                     "bravo inside their session");
  DEMO_TRY(told, bravo.sync());
  BC_TRY(report_events(d, "bravo", told));

  d.step("Each deposits a binding assurance, sealed for the other; the relay holds ciphertext");
  client::AssuranceTerms pledge;
  pledge.statement = "We will not strike first.";
  pledge.conditions = {"unless attacked first"};
  pledge.binding = true;
  DEMO_TRY(a_dep, alpha.escrow_deposit(id, pledge));
  d.say("alpha", "deposited \"" + pledge.statement + "\" (signed), sha256 " +
                     a_dep.own_deposit_sha256.substr(0, 16) + "...");
  d.say("relay",
        "holds alpha's deposit apart from every queue: a padded ciphertext it cannot "
        "read, released to no one yet");
  BC_TRY(show_relay(d, bravo, "bravo"));
  DEMO_TRY(nothing, bravo.sync());
  d.say("bravo", nothing.empty() ? "has received nothing of alpha's assurance"
                                 : "(unexpected: something arrived before the release)");
  client::AssuranceTerms answer = pledge;
  answer.statement = "Nor will we strike first.";
  DEMO_TRY(b_dep, bravo.escrow_deposit(id, answer));
  d.say("bravo", "deposited \"" + answer.statement + "\" (signed), sha256 " +
                     b_dep.own_deposit_sha256.substr(0, 16) + "...");

  d.step("The second deposit releases both at once, with a signed release certificate");
  BC_TRY(show_relay(d, alpha, "alpha"));
  BC_TRY(show_relay(d, bravo, "bravo"));
  DEMO_TRY(a_got, alpha.sync());
  BC_TRY(report_events(d, "alpha", a_got));
  DEMO_TRY(b_got, bravo.sync());
  BC_TRY(report_events(d, "bravo", b_got));

  d.step("Alpha keeps the certificate; anyone can check it offline");
  const fs::path file = dir / "release.bcx";
  BC_TRY(alpha.assure_export(id, file.string()));
  DEMO_TRY(checked, Client::assure_verify(file.string()));
  for (const auto& f : checked.findings) d.say("verify", f);
  return ok();
}

Result<void> run(Demo& d, const fs::path& relay_binary, const fs::path& dir) {
  RelayProcess relay;
  d.step("The mediator starts a relay on loopback");
  BC_TRY(relay.start(relay_binary, dir / "relay"));
  d.say("mediator", "relay listening at " + relay.url);
  d.say("mediator", "its certificate's SHA-256 (which every client pins): " +
                        relay.fingerprint.substr(0, 16) + "...");

  d.step("Three people set up Backchannel, each with a home sealed by a passphrase");
  const Bytes pass = to_bytes(as_bytes("demo passphrase"));
  // The demo seals its throw-away homes at the minimum Argon2id cost to finish in seconds;
  // `backchannel init` uses the moderate cost (256 MiB) unless told otherwise.
  DEMO_TRY(mediator,
           Client::init((dir / "mediator").string(), pass, "mediator", client::KdfCost::kMinimum));
  DEMO_TRY(alpha, Client::init((dir / "alpha").string(), pass, "alpha", client::KdfCost::kMinimum));
  DEMO_TRY(bravo, Client::init((dir / "bravo").string(), pass, "bravo", client::KdfCost::kMinimum));
  for (auto* c : {mediator.get(), alpha.get(), bravo.get()}) {
    BC_TRY(c->relay_add(relay.url, relay.fingerprint));
    DEMO_TRY(name, c->name());
    DEMO_TRY(key, c->identity_key_hex());
    d.say(name, "identity key " + key.substr(0, 16) + "..., relay " + relay.url + " pinned");
  }

  d.step("Alpha and bravo each meet the mediator in person and accept an invitation code");
  DEMO_TRY(for_alpha, mediator->invite_create());
  DEMO_TRY(for_bravo, mediator->invite_create());
  d.say("mediator", "shows alpha a code (" + std::to_string(for_alpha.code.size()) +
                        " characters, also a QR code): " + for_alpha.code.substr(0, 24) + "...");
  DEMO_TRY(a_contact, alpha->invite_accept(for_alpha.code, std::string("mediator")));
  d.say("alpha", "accepted it: X3DH done, a session with " + a_contact.alias + " opened");
  DEMO_TRY(b_contact, bravo->invite_accept(for_bravo.code, std::string("mediator")));
  d.say("bravo", "accepted the other code: a session with " + b_contact.alias + " opened");
  BC_TRY(show_relay(d, *mediator, "the mediator"));
  DEMO_TRY(m_events, mediator->sync());
  BC_TRY(report_events(d, "mediator", m_events));

  d.step("The mediator introduces alpha and bravo; each is asked first");
  DEMO_TRY(intro_id, mediator->introduce("alpha", "bravo"));
  d.say("mediator", "offered introduction " + intro_id.substr(0, 8) + "... to both");
  DEMO_TRY(a_offer, alpha->sync());
  BC_TRY(report_events(d, "alpha", a_offer));
  DEMO_TRY(b_offer, bravo->sync());
  BC_TRY(report_events(d, "bravo", b_offer));
  BC_TRY(alpha->intro_accept(intro_id));
  d.say("alpha", "consents (intro accept): sends the mediator an invitation for bravo");
  BC_TRY(bravo->intro_accept(intro_id));
  d.say("bravo", "consents too");
  DEMO_TRY(m_answers, mediator->sync());
  BC_TRY(report_events(d, "mediator", m_answers));

  d.step("Each receives the other's invitation, signed by the mediator, and a session opens");
  for (int round = 0; round < 3; ++round) {
    DEMO_TRY(ea, alpha->sync());
    if (!ea.empty()) BC_TRY(report_events(d, "alpha", ea));
    DEMO_TRY(eb, bravo->sync());
    if (!eb.empty()) BC_TRY(report_events(d, "bravo", eb));
    DEMO_TRY(ca, alpha->contacts());
    DEMO_TRY(cb, bravo->contacts());
    if (ca.size() == 2 && cb.size() == 2) break;
  }
  DEMO_TRY(alpha_contacts, alpha->contacts());
  for (const auto& c : alpha_contacts) {
    if (c.alias != "mediator")
      d.say("alpha", "contact " + c.alias +
                         (c.introduced_by.empty() ? "" : ", vouched for by " + c.introduced_by));
  }
  DEMO_TRY(sa, alpha->verify("bravo", false));
  DEMO_TRY(sb, bravo->verify("alpha", false));
  d.say("alpha", "safety number with bravo: " + sa.digits.substr(0, 20) + "...");
  d.say("bravo", "safety number with alpha: " + sb.digits.substr(0, 20) + "..." +
                     (sa.digits == sb.digits ? " (the same 60 digits: compare them out of band)"
                                             : " (DIFFERENT!)"));

  d.step("Alpha writes to bravo through the relay, which cannot read it");
  const std::string text = "We will not strike unless attacked first.";
  DEMO_TRY(sent, alpha->send_text("bravo", text));
  d.say("alpha", "sent \"" + text + "\" (" + std::to_string(sent.size) + " bytes of text)");
  BC_TRY(show_relay(d, *bravo, "bravo"));
  DEMO_TRY(got, bravo->sync());
  BC_TRY(report_events(d, "bravo", got));

  d.step("Bravo replies");
  const std::string reply = "Nor will we.";
  BC_TRY(bravo->send_text("alpha", reply));
  d.say("bravo", "sent \"" + reply + "\"");
  BC_TRY(show_relay(d, *alpha, "alpha"));
  DEMO_TRY(got_reply, alpha->sync());
  BC_TRY(report_events(d, "alpha", got_reply));
  BC_TRY(show_relay(d, *alpha, "alpha"));
  d.say("mediator",
        "carried every message and read none: it holds no session with alpha and bravo's "
        "conversation");

  BC_TRY(escrow_scene(d, *alpha, *bravo, dir));

  d.step("Done: the relay stops and the demo's files are removed");
  relay.stop();
  return ok();
}

}  // namespace

int run_demo(bool json) {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  const fs::path relay_binary = self.parent_path() / "backchannel-relay";
  if (ec || !fs::exists(relay_binary)) {
    std::fprintf(stderr, "backchannel: demo needs backchannel-relay beside this program\n");
    return 1;
  }
  char tmpl[] = "/tmp/backchannel-demo-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    std::fprintf(stderr, "backchannel: cannot make a temporary directory\n");
    return 1;
  }
  const fs::path dir(tmpl);
  Demo d;
  d.json = json;
  auto r = run(d, relay_binary, dir);
  fs::remove_all(dir, ec);
  if (!r) {
    std::fprintf(stderr, "backchannel: demo failed: %s\n", r.error().message().c_str());
    if (json)
      std::cout << nlohmann::json{{"ok", false}, {"error", r.error().message()}}.dump()
                << std::endl;
    return 1;
  }
  if (json) {
    std::cout << nlohmann::json{{"ok", true}, {"steps", d.steps}}.dump() << std::endl;
  } else {
    std::printf("\ndemo finished: nothing is left running\n");
  }
  return 0;
}

}  // namespace bc::cli
