#include "apps/backchannel/cli.hpp"

#include <qrencode.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "backchannel/client.hpp"
#include "core/secret.hpp"

namespace bc::cli {
namespace {

using client::Client;
using nlohmann::json;

constexpr const char* kUsage = R"(usage: backchannel [--home DIR] [--json] COMMAND [ARGS]

Signal-protocol sessions between two parties, carried by a relay that an intermediary runs and
cannot read.

commands:
  init --name NAME [--kdf moderate|interactive|minimum]   create this home's identity
  relay add URL --fingerprint SHA256HEX                   pin and add a relay (wss://HOST:PORT)
  relay list
  invite create                                           make a one-time invitation code
  invite accept CODE [--as ALIAS]                         accept one (opens a session)
  introduce ALIAS_A ALIAS_B                               (mediator) offer two contacts to each other
  intro list | intro accept ID | intro decline ID         answer an introduction
  contacts                                                list contacts
  verify ALIAS [--confirm]                                show (and confirm) the safety number
  send ALIAS TEXT | send ALIAS --file PATH                send a message
  sync                                                    receive what is pending
  watch                                                   stay connected, print as messages arrive
  history ALIAS                                           show a conversation (and its alerts)
  alerts [ALIAS]                                          what the client found wrong with a channel
  transcript ALIAS                                        the conversation's hash chain and its consistency
  transcript export ALIAS --out FILE                      write the chain (hashes, no content) to a file
  transcript verify FILE                                  check an exported chain offline (exit 1: findings)
  config heartbeat [off|DURATION]                         heartbeats (e.g. 1h) that reveal a silent relay
  assure propose ALIAS --text T [--condition C]... [--scope S] [--valid-until DATE]
         [--binding] [--reciprocates ID]                  send an assurance (prints its id)
  assure escrow open ALIAS --deadline DURATION            open an escrowed exchange
  assure escrow deposit EXCHANGE_ID --text T [...]        deposit our side of it
  assure escrow cancel EXCHANGE_ID                        take our deposit back before release
  assure list | show ID | ack ID | withdraw ID            assurances and their lifecycle
  assure export ID --out FILE | assure verify FILE        a provable copy, checked offline
  demo                                                    run the end-to-end demonstration

The home is --home DIR, else $BACKCHANNEL_HOME, else $XDG_DATA_HOME/backchannel. The passphrase
comes from $BACKCHANNEL_PASSPHRASE, else a terminal prompt. --json prints one JSON object per
command (one per line for watch). Exit status: 0 success, 1 failure at run time, 2 bad usage
or input.
)";

// Usage is a bad command line: exit 2.
struct UsageError {
  std::string message;
};

struct Context {
  std::string home;
  bool json = false;
};

int exit_code_for(Errc code) {
  switch (code) {
    case Errc::kUnavailable:
    case Errc::kInternal:
    case Errc::kLimitExceeded:
      return 1;
    default:
      return 2;
  }
}

int report(const Context& ctx, const Error& error) {
  std::string message = error.detail.empty() ? std::string(errc_name(error.code)) : error.detail;
  std::fprintf(stderr, "backchannel: %s\n", message.c_str());
  if (ctx.json) {
    std::cout << json{{"ok", false}, {"error", message}, {"kind", errc_name(error.code)}}.dump()
              << std::endl;
  }
  return exit_code_for(error.code);
}

std::string format_time(std::int64_t ms) {
  if (ms <= 0) return "-";
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

// read_passphrase: $BACKCHANNEL_PASSPHRASE, else a prompt on the terminal with echo off.
Result<SecretBytes> read_passphrase(bool confirm) {
  if (const char* env = std::getenv("BACKCHANNEL_PASSPHRASE"); env != nullptr) {
    return SecretBytes(as_bytes(env));
  }
  FILE* tty = std::fopen("/dev/tty", "r+");
  if (tty == nullptr) {
    return fail(Errc::kMalformed, "no passphrase: set BACKCHANNEL_PASSPHRASE or run on a terminal");
  }
  auto prompt = [&](const char* text) -> SecretBytes {
    std::fputs(text, tty);
    std::fflush(tty);
    termios old{};
    const bool is_term = tcgetattr(fileno(tty), &old) == 0;
    if (is_term) {
      termios quiet = old;
      quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
      tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
    }
    SecretBytes buffer(1024);
    std::size_t n = 0;
    for (int c = std::fgetc(tty); c != EOF && c != '\n' && n < buffer.size(); c = std::fgetc(tty)) {
      buffer.expose_mut()[n++] = static_cast<std::uint8_t>(c);
    }
    if (is_term) tcsetattr(fileno(tty), TCSAFLUSH, &old);
    std::fputs("\n", tty);
    return SecretBytes(buffer.expose().first(n));
  };
  SecretBytes first = prompt("passphrase: ");
  if (confirm) {
    SecretBytes second = prompt("again: ");
    if (!ct_equal(first, second)) {
      std::fclose(tty);
      return fail(Errc::kMalformed, "the passphrases differ");
    }
  }
  std::fclose(tty);
  return first;
}

// print_qr draws a QR code with half-block characters (only on a terminal).
void print_qr(ByteView data) {
  QRcode* qr = QRcode_encodeData(static_cast<int>(data.size()), data.data(), 0, QR_ECLEVEL_L);
  if (qr == nullptr) return;
  const int w = qr->width;
  auto dark = [&](int x, int y) {
    if (x < 0 || y < 0 || x >= w || y >= w) return false;
    return (qr->data[y * w + x] & 1) != 0;
  };
  for (int y = -2; y < w + 2; y += 2) {
    std::string line;
    for (int x = -2; x < w + 2; ++x) {
      const bool top = dark(x, y);
      const bool bottom = dark(x, y + 1);
      // Light modules are drawn, dark ones left blank: reads on dark terminals.
      if (!top && !bottom)
        line += "\u2588";
      else if (!top)
        line += "\u2580";
      else if (!bottom)
        line += "\u2584";
      else
        line += " ";
    }
    std::printf("%s\n", line.c_str());
  }
  QRcode_free(qr);
}

json contact_json(const client::ContactInfo& c) {
  return json{{"alias", c.alias},
              {"name", c.name},
              {"identity_key", c.identity_key_hex},
              {"introduced_by", c.introduced_by.empty() ? json(nullptr) : json(c.introduced_by)},
              {"verified", c.verified},
              {"identity_changed", c.identity_changed},
              {"session", c.session_ready},
              {"relay", c.relay_url},
              {"added", c.added_ms}};
}

json receipts_json(const std::vector<client::ReceiptInfo>& receipts) {
  json arr = json::array();
  for (const auto& r : receipts) {
    arr.push_back({{"relay", r.relay_url},
                   {"seq", r.seq},
                   {"relay_time", r.relay_time_ms},
                   {"envelope_sha256", r.envelope_hash_hex},
                   {"signature", r.signature_hex},
                   {"batch_size", r.batch_size},
                   {"batch_index", r.batch_index},
                   {"batch_path", r.batch_path_hex},
                   {"direction", r.direction}});
  }
  return arr;
}

json message_json(const client::MessageInfo& m) {
  return json{{"alias", m.alias},
              {"direction", m.outgoing ? "out" : "in"},
              {"kind", m.kind},
              {"text", m.text},
              {"id", m.message_id_hex},
              {"sent", m.sent_ms},
              {"received", m.received_ms},
              {"status", m.status},
              {"size", m.size},
              {"receipts", receipts_json(m.receipts)}};
}

json intro_json(const client::IntroductionInfo& i) {
  return json{{"id", i.id},
              {"role", i.role},
              {"mediator", i.mediator},
              {"other", i.other},
              {"other_identity_key", i.other_identity_hex},
              {"state", i.state},
              {"created", i.created_ms}};
}

json alert_json(const client::AlertInfo& a) {
  return json{{"code", a.code},        {"alias", a.alias}, {"relay", a.relay_url},
              {"text", a.text},        {"at", a.at_ms},    {"first_seq", a.first_seq},
              {"last_seq", a.last_seq}};
}

json event_json(const client::Event& e) {
  json j{{"event", client::event_kind_name(e.kind)}, {"alias", e.alias}, {"text", e.text}};
  if (e.message) j["message"] = message_json(*e.message);
  if (e.alert) {
    // The alert's fields sit beside "event" so that a reader can match {"event":"alert","code"}.
    for (auto& [key, value] : alert_json(*e.alert).items()) {
      if (!j.contains(key)) j[key] = value;
    }
  }
  return j;
}

void print_alert(const client::AlertInfo& a) {
  std::printf("%s  !! ALERT (%s) %s\n", format_time(a.at_ms).c_str(), a.code.c_str(),
              a.text.c_str());
}

void print_message(const client::MessageInfo& m) {
  const std::string when = format_time(m.outgoing ? m.sent_ms : m.received_ms);
  if (m.kind == "undecryptable") {
    std::printf("%s  !! undecryptable message from %s: %s (kept)\n", when.c_str(), m.alias.c_str(),
                m.text.c_str());
  } else if (m.kind == "file") {
    std::printf("%s  %s %s: [file %s, %zu bytes]\n", when.c_str(), m.outgoing ? "->" : "<-",
                m.alias.c_str(), m.text.c_str(), m.size);
  } else {
    std::printf("%s  %s %s: %s\n", when.c_str(), m.outgoing ? "->" : "<-", m.alias.c_str(),
                m.text.c_str());
  }
}

void print_event(const client::Event& e) {
  if (e.kind == client::EventKind::kMessage && e.message) {
    print_message(*e.message);
  } else if (e.kind == client::EventKind::kAlert && e.alert) {
    print_alert(*e.alert);
  } else if (e.kind == client::EventKind::kWarning || e.kind == client::EventKind::kUndecryptable) {
    std::printf("!! %s\n", e.text.c_str());
  } else {
    std::printf("** %s\n", e.text.c_str());
  }
}

// Args walks the words after the command.
class Args {
 public:
  explicit Args(std::vector<std::string> words) : words_(std::move(words)) {}
  std::string positional(const char* what) {
    for (std::size_t i = 0; i < words_.size(); ++i) {
      if (!used_[i] && !words_[i].starts_with("--")) {
        used_[i] = true;
        return words_[i];
      }
      if (!used_[i] && is_valued(words_[i])) ++i;
    }
    throw UsageError{std::string("missing ") + what};
  }
  std::optional<std::string> option(const std::string& name) {
    for (std::size_t i = 0; i < words_.size(); ++i) {
      if (!used_[i] && words_[i] == name) {
        if (i + 1 >= words_.size()) throw UsageError{name + " needs a value"};
        used_[i] = used_[i + 1] = true;
        return words_[i + 1];
      }
    }
    return std::nullopt;
  }
  bool flag(const std::string& name) {
    for (std::size_t i = 0; i < words_.size(); ++i) {
      if (!used_[i] && words_[i] == name) {
        used_[i] = true;
        return true;
      }
    }
    return false;
  }
  void done() const {
    for (std::size_t i = 0; i < words_.size(); ++i) {
      if (!used_[i]) throw UsageError{"unexpected argument: " + words_[i]};
    }
  }

 private:
  static bool is_valued(const std::string& w) {
    return w == "--name" || w == "--fingerprint" || w == "--as" || w == "--file" || w == "--kdf";
  }
  std::vector<std::string> words_;
  std::vector<bool> used_ = std::vector<bool>(words_.size(), false);
};

Result<std::unique_ptr<Client>> open_client(const Context& ctx) {
  BC_ASSIGN_OR_RETURN(const SecretBytes pass, read_passphrase(false));
  return Client::open(ctx.home, pass.expose());
}

int ok_json(const Context& ctx, json j) {
  if (ctx.json) {
    j["ok"] = true;
    std::cout << j.dump() << std::endl;
  }
  return 0;
}

std::atomic<bool> g_stop{false};  // never set: watch runs until the process is signalled

// transcript_json renders a transcript check (the chain and its findings; never content).
json transcript_json(const client::TranscriptCheck& t) {
  json entries = json::array();
  for (const auto& e : t.entries) {
    entries.push_back({{"direction", e.outgoing ? "out" : "in"},
                       {"kind", e.kind},
                       {"seq", e.seq},
                       {"hash", e.hash_hex},
                       {"prev_hash", e.prev_hash_hex},
                       {"acked_seq", e.acked_seq},
                       {"relay", e.relay_url},
                       {"relay_seq", e.relay_seq},
                       {"relay_time_ms", e.relay_time_ms},
                       {"sent_ms", e.sent_ms},
                       {"received_ms", e.received_ms}});
  }
  return {{"ok", true},
          {"consistent", t.consistent},
          {"sent", t.sent},
          {"received", t.received},
          {"receipts_verified", t.receipts_verified},
          {"our_identity", t.our_identity_hex},
          {"their_identity", t.their_identity_hex},
          {"findings", t.findings},
          {"entries", entries}};
}

// print_transcript shows a transcript check for people (nothing with --json).
void print_transcript(const Context& ctx, const client::TranscriptCheck& t) {
  if (ctx.json) return;
  for (const auto& e : t.entries) {
    std::printf("%s %-3s #%-5llu %-10s %.16s  prev %.16s  acked %-5llu relay #%llu\n",
                format_time(e.outgoing ? e.sent_ms : e.received_ms).c_str(),
                e.outgoing ? "out" : "in", static_cast<unsigned long long>(e.seq), e.kind.c_str(),
                e.hash_hex.c_str(), e.prev_hash_hex.c_str(),
                static_cast<unsigned long long>(e.acked_seq),
                static_cast<unsigned long long>(e.relay_seq));
  }
  std::printf("%llu sent, %llu received: %s\n", static_cast<unsigned long long>(t.sent),
              static_cast<unsigned long long>(t.received),
              t.consistent ? "consistent" : "NOT consistent");
  if (t.receipts_verified != 0) {
    std::printf("%llu relay receipts verified\n",
                static_cast<unsigned long long>(t.receipts_verified));
  }
  for (const auto& f : t.findings) std::printf("  !! %s\n", f.c_str());
}

int run_command(Context& ctx, const std::string& command, Args& args) {
  auto fail_with = [&](const Error& e) { return report(ctx, e); };
#define BC_CLI_TRY(decl, expr)                                 \
  auto decl##_result = (expr);                                 \
  if (!decl##_result) return fail_with(decl##_result.error()); \
  auto& decl = *decl##_result

  if (command == "init") {
    const auto name = args.option("--name");
    const auto kdf = args.option("--kdf").value_or("moderate");
    args.done();
    if (!name) throw UsageError{"init needs --name NAME"};
    client::KdfCost cost = client::KdfCost::kModerate;
    if (kdf == "interactive")
      cost = client::KdfCost::kInteractive;
    else if (kdf == "minimum")
      cost = client::KdfCost::kMinimum;
    else if (kdf != "moderate")
      throw UsageError{"--kdf is moderate, interactive or minimum"};
    BC_CLI_TRY(pass, read_passphrase(true));
    BC_CLI_TRY(c, Client::init(ctx.home, pass.expose(), *name, cost));
    BC_CLI_TRY(key, c->identity_key_hex());
    if (!ctx.json)
      std::printf("initialised %s in %s\nidentity key: %s\n", name->c_str(), ctx.home.c_str(),
                  key.c_str());
    return ok_json(ctx, {{"name", *name}, {"home", ctx.home}, {"identity_key", key}});
  }
  if (command == "relay") {
    const std::string sub = args.positional("relay subcommand (add or list)");
    if (sub == "add") {
      const std::string url = args.positional("relay URL");
      const auto fp = args.option("--fingerprint");
      args.done();
      if (!fp) throw UsageError{"relay add needs --fingerprint SHA256HEX"};
      BC_CLI_TRY(c, open_client(ctx));
      BC_CLI_TRY(info, c->relay_add(url, *fp));
      if (!ctx.json)
        std::printf("relay %s added (certificate %s)\n", info.url.c_str(),
                    info.fingerprint_hex.c_str());
      if (!ctx.json) std::printf("signing key %s pinned\n", info.signing_key_hex.c_str());
      return ok_json(ctx, {{"url", info.url},
                           {"fingerprint", info.fingerprint_hex},
                           {"signing_key", info.signing_key_hex}});
    }
    if (sub == "list") {
      args.done();
      BC_CLI_TRY(c, open_client(ctx));
      BC_CLI_TRY(list, c->relays());
      json arr = json::array();
      for (const auto& r : list) {
        if (!ctx.json) std::printf("%s  %s\n", r.url.c_str(), r.fingerprint_hex.c_str());
        arr.push_back({{"url", r.url},
                       {"fingerprint", r.fingerprint_hex},
                       {"signing_key", r.signing_key_hex}});
      }
      return ok_json(ctx, {{"relays", arr}});
    }
    throw UsageError{"unknown relay subcommand: " + sub};
  }
  if (command == "invite") {
    const std::string sub = args.positional("invite subcommand (create or accept)");
    if (sub == "create") {
      args.done();
      BC_CLI_TRY(c, open_client(ctx));
      BC_CLI_TRY(inv, c->invite_create());
      if (!ctx.json) {
        std::printf("invitation (works once, until %s):\n%s\n", format_time(inv.expires_ms).c_str(),
                    inv.code.c_str());
        if (isatty(STDOUT_FILENO) != 0) print_qr(as_bytes(inv.code));
      }
      return ok_json(ctx, {{"code", inv.code}, {"id", inv.id_hex}, {"expires", inv.expires_ms}});
    }
    if (sub == "accept") {
      const std::string code = args.positional("invitation code");
      const auto alias = args.option("--as");
      args.done();
      BC_CLI_TRY(c, open_client(ctx));
      BC_CLI_TRY(contact, c->invite_accept(code, alias));
      if (!ctx.json)
        std::printf("%s is now a contact (compare safety numbers with `verify %s`)\n",
                    contact.alias.c_str(), contact.alias.c_str());
      return ok_json(ctx, {{"contact", contact_json(contact)}});
    }
    throw UsageError{"unknown invite subcommand: " + sub};
  }
  if (command == "introduce") {
    const std::string a = args.positional("first alias");
    const std::string b = args.positional("second alias");
    args.done();
    BC_CLI_TRY(c, open_client(ctx));
    BC_CLI_TRY(id, c->introduce(a, b));
    if (!ctx.json)
      std::printf("introduction %s offered to %s and %s\n", id.c_str(), a.c_str(), b.c_str());
    return ok_json(ctx, {{"id", id}, {"a", a}, {"b", b}});
  }
  if (command == "intro") {
    const std::string sub = args.positional("intro subcommand (list, accept or decline)");
    if (sub == "list") {
      args.done();
      BC_CLI_TRY(c, open_client(ctx));
      BC_CLI_TRY(list, c->introductions());
      json arr = json::array();
      for (const auto& i : list) {
        if (!ctx.json) {
          if (i.role == "mediator")
            std::printf("%s  you introduce %s  [%s]\n", i.id.c_str(), i.other.c_str(),
                        i.state.c_str());
          else
            std::printf("%s  %s offers to introduce %s  [%s]\n", i.id.c_str(), i.mediator.c_str(),
                        i.other.c_str(), i.state.c_str());
        }
        arr.push_back(intro_json(i));
      }
      if (!ctx.json && list.empty()) std::printf("no introductions\n");
      return ok_json(ctx, {{"introductions", arr}});
    }
    if (sub == "accept" || sub == "decline") {
      const std::string id = args.positional("introduction id");
      args.done();
      BC_CLI_TRY(c, open_client(ctx));
      auto r = sub == "accept" ? c->intro_accept(id) : c->intro_decline(id);
      if (!r) return fail_with(r.error());
      if (!ctx.json)
        std::printf("introduction %s %s\n", id.c_str(), sub == "accept" ? "accepted" : "declined");
      return ok_json(ctx, {{"id", id}, {"answer", sub}});
    }
    throw UsageError{"unknown intro subcommand: " + sub};
  }
  if (command == "contacts") {
    args.done();
    BC_CLI_TRY(c, open_client(ctx));
    BC_CLI_TRY(list, c->contacts());
    json arr = json::array();
    for (const auto& x : list) {
      if (!ctx.json) {
        std::printf("%-16s %s%s%s%s\n", x.alias.c_str(), x.verified ? "verified" : "not verified",
                    x.identity_changed ? ", IDENTITY CHANGED" : "",
                    x.introduced_by.empty() ? "" : (", introduced by " + x.introduced_by).c_str(),
                    x.session_ready ? "" : ", no session yet");
      }
      arr.push_back(contact_json(x));
    }
    if (!ctx.json && list.empty()) std::printf("no contacts\n");
    return ok_json(ctx, {{"contacts", arr}});
  }
  if (command == "verify") {
    const std::string alias = args.positional("alias");
    const bool confirm = args.flag("--confirm");
    args.done();
    BC_CLI_TRY(c, open_client(ctx));
    BC_CLI_TRY(sn, c->verify(alias, confirm));
    if (!ctx.json) {
      std::printf("safety number with %s:\n", alias.c_str());
      for (std::size_t i = 0; i < sn.digits.size(); i += 5) {
        std::printf("%s%s", sn.digits.substr(i, 5).c_str(), (i + 5) % 20 == 0 ? "\n" : " ");
      }
      if (isatty(STDOUT_FILENO) != 0) print_qr(sn.scannable);
      std::printf(confirm ? "recorded as compared\n"
                          : "compare it with %s out of band, then run `verify %s --confirm`\n",
                  alias.c_str(), alias.c_str());
    }
    return ok_json(ctx,
                   {{"alias", alias}, {"safety_number", sn.digits}, {"verified", sn.verified}});
  }
  if (command == "send") {
    const std::string alias = args.positional("alias");
    const auto file = args.option("--file");
    std::string text;
    if (!file) text = args.positional("message text");
    args.done();
    BC_CLI_TRY(c, open_client(ctx));
    BC_CLI_TRY(m, file ? c->send_file(alias, *file) : c->send_text(alias, text));
    if (!ctx.json) std::printf("sent to %s (%s)\n", alias.c_str(), m.message_id_hex.c_str());
    return ok_json(ctx, {{"message", message_json(m)}});
  }
  if (command == "sync") {
    args.done();
    BC_CLI_TRY(c, open_client(ctx));
    BC_CLI_TRY(events, c->sync());
    json arr = json::array();
    for (const auto& e : events) {
      if (!ctx.json) print_event(e);
      arr.push_back(event_json(e));
    }
    BC_CLI_TRY(intros, c->introductions());
    json pending = json::array();
    for (const auto& i : intros) {
      if (i.role == "party" && i.state == "offered") pending.push_back(intro_json(i));
    }
    if (!ctx.json && events.empty()) std::printf("nothing new\n");
    return ok_json(ctx, {{"events", arr}, {"pending_introductions", pending}});
  }
  if (command == "watch") {
    args.done();
    BC_CLI_TRY(c, open_client(ctx));
    // SIGINT and SIGTERM end the process at once: every change is already committed.
    auto r = c->watch(
        [&](const client::Event& e) {
          if (ctx.json) {
            std::cout << event_json(e).dump() << std::endl;
          } else {
            print_event(e);
            std::fflush(stdout);
          }
        },
        g_stop);
    if (!r) return fail_with(r.error());
    return 0;
  }
  if (command == "history") {
    const std::string alias = args.positional("alias");
    args.done();
    BC_CLI_TRY(c, open_client(ctx));
    BC_CLI_TRY(list, c->history(alias));
    BC_CLI_TRY(found, c->alerts(alias));
    json arr = json::array();
    for (const auto& m : list) {
      if (!ctx.json) print_message(m);
      arr.push_back(message_json(m));
    }
    if (!ctx.json && list.empty()) std::printf("no messages with %s\n", alias.c_str());
    json alerts = json::array();
    for (const auto& a : found) {
      if (!ctx.json) print_alert(a);
      alerts.push_back(alert_json(a));
    }
    return ok_json(ctx, {{"alias", alias}, {"messages", arr}, {"alerts", alerts}});
  }
  if (command == "config") {
    const std::string key = args.positional("setting (heartbeat)");
    if (key != "heartbeat") throw UsageError{"unknown setting: " + key};
    std::optional<std::string> value;
    try {
      value = args.positional("duration");
    } catch (const UsageError&) {
      value.reset();  // no value: show the setting
    }
    args.done();
    std::uint32_t ms = 0;
    if (value) {
      // DURATION: off, or a whole number with a unit: 90s, 15m, 1h.
      if (*value != "off") {
        std::size_t used = 0;
        unsigned long n = 0;
        try {
          n = std::stoul(*value, &used);
        } catch (const std::exception&) {
          throw UsageError{"a duration is off or a number with s, m or h (e.g. 1h)"};
        }
        const std::string unit = value->substr(used);
        const unsigned long scale = unit == "s"   ? 1000UL
                                    : unit == "m" ? 60'000UL
                                    : unit == "h" ? 3'600'000UL
                                                  : 0UL;
        if (scale == 0 || n == 0 || n > 0xffffffffUL / scale) {
          throw UsageError{"a duration is off or a number with s, m or h (e.g. 1h), under 49 days"};
        }
        ms = static_cast<std::uint32_t>(n * scale);
      }
    }
    BC_CLI_TRY(c, open_client(ctx));
    if (value) {
      auto r = c->set_heartbeat_interval(ms);
      if (!r) return fail_with(r.error());
    }
    BC_CLI_TRY(now, c->heartbeat_interval());
    if (!ctx.json) {
      if (now == 0)
        std::printf("heartbeat off\n");
      else
        std::printf("heartbeat every %u s to each contact nothing was sent to\n", now / 1000);
    }
    return ok_json(ctx, {{"heartbeat_ms", now}});
  }
  if (command == "alerts") {
    std::string alias;
    try {
      alias = args.positional("alias");
    } catch (const UsageError&) {
      alias.clear();  // no alias: every contact's alerts
    }
    args.done();
    BC_CLI_TRY(c, open_client(ctx));
    BC_CLI_TRY(found, c->alerts(alias));
    json arr = json::array();
    for (const auto& a : found) {
      if (!ctx.json) print_alert(a);
      arr.push_back(alert_json(a));
    }
    if (!ctx.json && found.empty()) std::printf("no alerts\n");
    return ok_json(ctx, {{"alerts", arr}});
  }
  if (command == "transcript") {
    const std::string first = args.positional("alias, export or verify");
    if (first == "verify") {
      const std::string path = args.positional("file");
      args.done();
      BC_CLI_TRY(check, client::Client::transcript_verify(path));
      print_transcript(ctx, check);
      const json out = transcript_json(check);
      if (ctx.json) std::printf("%s\n", out.dump().c_str());
      return check.consistent ? 0 : 1;
    }
    if (first == "export") {
      const std::string alias = args.positional("alias");
      const auto out = args.option("--out");
      args.done();
      if (!out) throw UsageError{"transcript export needs --out FILE"};
      BC_CLI_TRY(c, open_client(ctx));
      if (auto done = c->transcript_export(alias, *out); !done) return fail_with(done.error());
      if (!ctx.json) std::printf("transcript with %s written to %s\n", alias.c_str(), out->c_str());
      return ok_json(ctx, {{"alias", alias}, {"file", *out}});
    }
    args.done();
    BC_CLI_TRY(c, open_client(ctx));
    BC_CLI_TRY(check, c->transcript(first));
    BC_CLI_TRY(found, c->alerts(first));
    print_transcript(ctx, check);
    json out = transcript_json(check);
    json arr = json::array();
    for (const auto& a : found) {
      if (!ctx.json) print_alert(a);
      arr.push_back(alert_json(a));
    }
    out["alerts"] = arr;
    if (ctx.json) std::printf("%s\n", out.dump().c_str());
    return 0;
  }
#undef BC_CLI_TRY
  throw UsageError{"unknown command: " + command};
}

}  // namespace

int run(const std::vector<std::string>& all) {
  Context ctx;
  std::vector<std::string> rest;
  try {
    for (std::size_t i = 0; i < all.size(); ++i) {
      if (all[i] == "--home") {
        if (i + 1 >= all.size()) throw UsageError{"--home needs a directory"};
        ctx.home = all[++i];
      } else if (all[i] == "--json") {
        ctx.json = true;
      } else if (all[i] == "--help" || all[i] == "-h") {
        std::fputs(kUsage, stdout);
        return 0;
      } else if (all[i] == "--version") {
        std::printf("backchannel %s\n", BC_VERSION);
        return 0;
      } else {
        rest.push_back(all[i]);
      }
    }
    if (rest.empty()) throw UsageError{"no command given"};
    if (ctx.home.empty()) ctx.home = client::default_home();
    const std::string command = rest.front();
    if (command == "demo") {
      if (rest.size() > 1) throw UsageError{"demo takes no arguments"};
      return run_demo(ctx.json);
    }
    if (command == "assure") {
      return run_assure({ctx.json, [&ctx] { return open_client(ctx); },
                         [&ctx](const Error& e) { return report(ctx, e); }},
                        std::vector<std::string>(rest.begin() + 1, rest.end()));
    }
    Args args(std::vector<std::string>(rest.begin() + 1, rest.end()));
    return run_command(ctx, command, args);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "backchannel: %s (see backchannel --help)\n", e.message.c_str());
    if (ctx.json)
      std::cout << json{{"ok", false}, {"error", e.message}, {"kind", "usage"}}.dump() << std::endl;
    return 2;
  }
}

}  // namespace bc::cli
