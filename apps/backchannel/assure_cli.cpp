// backchannel assure ...: assurances on the command line (docs/cli.md, docs/assurances.md).
#include <cstdio>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "apps/backchannel/cli.hpp"
#include "backchannel/client.hpp"

namespace bc::cli {
namespace {

using nlohmann::json;

struct AssureUsage {
  std::string message;
};

// Words is the argument list after `assure`: positionals, single options and repeated ones.
class Words {
 public:
  explicit Words(std::vector<std::string> words) : words_(std::move(words)) {}
  std::string positional(const char* what) {
    for (std::size_t i = 0; i < words_.size(); ++i) {
      if (used_[i]) continue;
      if (words_[i].starts_with("--")) {
        if (valued(words_[i])) ++i;
        continue;
      }
      used_[i] = true;
      return words_[i];
    }
    throw AssureUsage{std::string("missing ") + what};
  }
  std::vector<std::string> all(const std::string& name) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < words_.size(); ++i) {
      if (used_[i] || words_[i] != name) continue;
      if (i + 1 >= words_.size()) throw AssureUsage{name + " needs a value"};
      used_[i] = used_[i + 1] = true;
      out.push_back(words_[++i]);
    }
    return out;
  }
  std::optional<std::string> option(const std::string& name) {
    auto values = all(name);
    if (values.size() > 1) throw AssureUsage{name + " is given more than once"};
    if (values.empty()) return std::nullopt;
    return values.front();
  }
  bool flag(const std::string& name) {
    bool found = false;
    for (std::size_t i = 0; i < words_.size(); ++i) {
      if (!used_[i] && words_[i] == name) used_[i] = found = true;
    }
    return found;
  }
  void done() const {
    for (std::size_t i = 0; i < words_.size(); ++i) {
      if (!used_[i]) throw AssureUsage{"unexpected argument: " + words_[i]};
    }
  }

 private:
  static bool valued(const std::string& w) {
    return w == "--text" || w == "--condition" || w == "--valid-until" || w == "--scope" ||
           w == "--reciprocates" || w == "--deadline" || w == "--out";
  }
  std::vector<std::string> words_;
  std::vector<bool> used_ = std::vector<bool>(words_.size(), false);
};

std::string utc(std::int64_t ms) {
  if (ms <= 0) return "-";
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

// parse_duration_ms reads 90s, 15m, 12h, 7d (a positive whole number and one unit).
std::optional<std::int64_t> parse_duration_ms(const std::string& s) {
  if (s.size() < 2 || s.size() > 12) return std::nullopt;
  std::int64_t n = 0;
  for (std::size_t i = 0; i + 1 < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    n = n * 10 + (s[i] - '0');
  }
  if (n <= 0) return std::nullopt;
  switch (s.back()) {
    case 's':
      return n * 1000;
    case 'm':
      return n * 60'000;
    case 'h':
      return n * 3'600'000;
    case 'd':
      return n * 86'400'000;
    default:
      return std::nullopt;
  }
}

// parse_date_ms reads YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z] (UTC), or a duration from now.
std::optional<std::int64_t> parse_date_ms(const std::string& s, std::int64_t now_ms) {
  if (auto d = parse_duration_ms(s)) return now_ms + *d;
  std::tm tm{};
  const char* end = strptime(s.c_str(), "%Y-%m-%d", &tm);
  if (end == nullptr) return std::nullopt;
  if (*end == 'T') {
    const char* rest = strptime(end + 1, "%H:%M", &tm);
    if (rest == nullptr) return std::nullopt;
    if (*rest == ':') rest = strptime(rest, ":%S", &tm);
    if (rest != nullptr && *rest == 'Z') ++rest;
    end = rest;
  }
  if (end == nullptr || *end != '\0') return std::nullopt;
  return static_cast<std::int64_t>(timegm(&tm)) * 1000;
}

json assurance_json(const client::AssuranceInfo& a) {
  json history = json::array();
  for (const auto& h : a.history) history.push_back({{"state", h.state}, {"at", h.at_ms}});
  return json{{"id", a.id},
              {"alias", a.alias},
              {"direction", a.outgoing ? "out" : "in"},
              {"mode", a.mode},
              {"statement", a.statement},
              {"conditions", a.conditions},
              {"scope", a.scope.empty() ? json(nullptr) : json(a.scope)},
              {"valid_from", a.valid_from_ms},
              {"valid_until", a.valid_until_ms},
              {"reciprocates", a.reciprocates.empty() ? json(nullptr) : json(a.reciprocates)},
              {"state", a.state},
              {"history", history},
              {"exchange", a.exchange_id.empty() ? json(nullptr) : json(a.exchange_id)},
              {"issuer_key", a.issuer_key_hex},
              {"counterparty_key", a.counterparty_key_hex}};
}

void print_assurance(const client::AssuranceInfo& a, bool full) {
  std::printf("%s  %s %s  %s  [%s]  \"%s\"\n", a.id.c_str(), a.outgoing ? "->" : "<-",
              a.alias.c_str(), a.mode.c_str(), a.state.c_str(), a.statement.c_str());
  if (!full) return;
  for (const auto& c : a.conditions) std::printf("    condition: %s\n", c.c_str());
  if (!a.scope.empty()) std::printf("    scope: %s\n", a.scope.c_str());
  std::printf("    valid from %s until %s\n", utc(a.valid_from_ms).c_str(),
              utc(a.valid_until_ms).c_str());
  if (!a.reciprocates.empty()) std::printf("    reciprocates %s\n", a.reciprocates.c_str());
  if (!a.exchange_id.empty())
    std::printf("    through escrow exchange %s\n", a.exchange_id.c_str());
  std::printf("    issuer %s\n    counterparty %s\n", a.issuer_key_hex.c_str(),
              a.counterparty_key_hex.c_str());
  for (const auto& h : a.history)
    std::printf("    %-12s %s\n", h.state.c_str(), utc(h.at_ms).c_str());
}

json escrow_json(const client::EscrowInfo& x) {
  auto opt = [](const std::string& v) { return v.empty() ? json(nullptr) : json(v); };
  return json{{"exchange", x.exchange_id},
              {"alias", x.alias},
              {"role", x.role},
              {"state", x.state},
              {"deadline", x.deadline_ms},
              {"relay", x.relay_url},
              {"own_assurance", opt(x.own_assurance)},
              {"received_assurance", opt(x.received_assurance)},
              {"own_deposit_sha256", opt(x.own_deposit_sha256)},
              {"received_deposit_sha256", opt(x.received_deposit_sha256)},
              {"released", x.released_ms},
              {"problem", opt(x.problem)}};
}

void print_escrow(const client::EscrowInfo& x) {
  std::printf("%s  escrow with %s (%s)  [%s]  deadline %s\n", x.exchange_id.c_str(),
              x.alias.c_str(), x.role.c_str(), x.state.c_str(), utc(x.deadline_ms).c_str());
  if (!x.own_assurance.empty()) std::printf("    deposited %s\n", x.own_assurance.c_str());
  if (!x.received_assurance.empty()) std::printf("    received %s\n", x.received_assurance.c_str());
  if (x.released_ms > 0) std::printf("    released %s\n", utc(x.released_ms).c_str());
  if (!x.problem.empty()) std::printf("    !! %s\n", x.problem.c_str());
}

client::AssuranceTerms read_terms(Words& w) {
  client::AssuranceTerms t;
  const auto text = w.option("--text");
  if (!text) throw AssureUsage{"an assurance needs --text T"};
  t.statement = *text;
  t.conditions = w.all("--condition");
  t.scope = w.option("--scope");
  t.binding = w.flag("--binding");
  t.reciprocates = w.option("--reciprocates");
  if (const auto until = w.option("--valid-until")) {
    const auto ms = parse_date_ms(*until, static_cast<std::int64_t>(std::time(nullptr)) * 1000);
    if (!ms) throw AssureUsage{"--valid-until is YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS]Z or 7d/12h/30m"};
    t.valid_until_ms = *ms;
  }
  return t;
}

int emit(const AssureContext& ctx, json j) {
  if (ctx.json) {
    j["ok"] = true;
    std::cout << j.dump() << std::endl;
  }
  return 0;
}

int run(const AssureContext& ctx, Words& w) {
#define ASSURE_TRY(decl, expr)                                  \
  auto decl##_result = (expr);                                  \
  if (!decl##_result) return ctx.report(decl##_result.error()); \
  auto& decl = *decl##_result

  const std::string sub = w.positional("assure subcommand");
  if (sub == "escrow") {
    const std::string op = w.positional("escrow subcommand (open, deposit, cancel or list)");
    if (op == "open") {
      const std::string alias = w.positional("alias");
      const auto deadline = w.option("--deadline");
      w.done();
      if (!deadline) throw AssureUsage{"assure escrow open needs --deadline DURATION"};
      const auto ms = parse_duration_ms(*deadline);
      if (!ms) throw AssureUsage{"--deadline is a duration: 90s, 15m, 12h or 7d"};
      ASSURE_TRY(c, ctx.open());
      ASSURE_TRY(x, c->escrow_open(alias, *ms));
      if (!ctx.json) std::printf("%s\n", x.exchange_id.c_str());
      return emit(ctx, {{"escrow", escrow_json(x)}});
    }
    if (op == "deposit" || op == "cancel") {
      const std::string id = w.positional("exchange id");
      std::optional<client::AssuranceTerms> terms;
      if (op == "deposit") terms = read_terms(w);
      w.done();
      ASSURE_TRY(c, ctx.open());
      ASSURE_TRY(x, terms ? c->escrow_deposit(id, *terms) : c->escrow_cancel(id));
      if (!ctx.json) print_escrow(x);
      return emit(ctx, {{"escrow", escrow_json(x)}});
    }
    if (op == "list") {
      w.done();
      ASSURE_TRY(c, ctx.open());
      ASSURE_TRY(list, c->escrows());
      json arr = json::array();
      for (const auto& x : list) {
        if (!ctx.json) print_escrow(x);
        arr.push_back(escrow_json(x));
      }
      if (!ctx.json && list.empty()) std::printf("no escrowed exchanges\n");
      return emit(ctx, {{"escrows", arr}});
    }
    throw AssureUsage{"unknown escrow subcommand: " + op};
  }
  if (sub == "propose") {
    const std::string alias = w.positional("alias");
    const auto terms = read_terms(w);
    w.done();
    ASSURE_TRY(c, ctx.open());
    ASSURE_TRY(a, c->assure_propose(alias, terms));
    if (!ctx.json) std::printf("%s\n", a.id.c_str());
    return emit(ctx, {{"assurance", assurance_json(a)}});
  }
  if (sub == "list") {
    w.done();
    ASSURE_TRY(c, ctx.open());
    ASSURE_TRY(list, c->assurances());
    json arr = json::array();
    for (const auto& a : list) {
      if (!ctx.json) print_assurance(a, false);
      arr.push_back(assurance_json(a));
    }
    if (!ctx.json && list.empty()) std::printf("no assurances\n");
    return emit(ctx, {{"assurances", arr}});
  }
  if (sub == "show" || sub == "ack" || sub == "withdraw") {
    const std::string id = w.positional("assurance id");
    w.done();
    ASSURE_TRY(c, ctx.open());
    ASSURE_TRY(a, sub == "show"  ? c->assurance(id)
                  : sub == "ack" ? c->assure_ack(id)
                                 : c->assure_withdraw(id));
    if (!ctx.json) print_assurance(a, sub == "show");
    return emit(ctx, {{"assurance", assurance_json(a)}});
  }
  if (sub == "export") {
    const std::string id = w.positional("assurance or exchange id");
    const auto out = w.option("--out");
    w.done();
    if (!out) throw AssureUsage{"assure export needs --out FILE"};
    ASSURE_TRY(c, ctx.open());
    ASSURE_TRY(kind, c->assure_export(id, *out));
    if (!ctx.json) std::printf("%s %s written to %s\n", kind.c_str(), id.c_str(), out->c_str());
    return emit(ctx, {{"kind", kind}, {"id", id}, {"file", *out}});
  }
  if (sub == "verify") {
    const std::string file = w.positional("file");
    w.done();
    ASSURE_TRY(v, client::Client::assure_verify(file));
    json j{{"kind", v.kind},
           {"valid", true},
           {"findings", v.findings},
           {"relay_fault", v.relay_fault}};
    if (v.assurance) j["assurance"] = assurance_json(*v.assurance);
    if (v.escrow) j["escrow"] = escrow_json(*v.escrow);
    if (!v.relay_signing_key_hex.empty()) j["relay_signing_key"] = v.relay_signing_key_hex;
    json released = json::array();
    for (const auto& a : v.released) released.push_back(assurance_json(a));
    if (v.kind == "release") j["assurances"] = released;
    if (!ctx.json) {
      if (v.assurance) print_assurance(*v.assurance, true);
      for (const auto& a : v.released) print_assurance(a, true);
      for (const auto& f : v.findings)
        std::printf("%s %s\n", f.starts_with("RELAY FAULT") ? "!!" : "ok:", f.c_str());
      std::printf("valid %s%s\n", v.kind.c_str(),
                  v.relay_fault ? ": it proves the relay released unfairly" : "");
    }
    return emit(ctx, j);
  }
#undef ASSURE_TRY
  throw AssureUsage{"unknown assure subcommand: " + sub};
}

}  // namespace

int run_assure(const AssureContext& ctx, const std::vector<std::string>& words) {
  try {
    Words w(words);
    return run(ctx, w);
  } catch (const AssureUsage& e) {
    std::fprintf(stderr, "backchannel: %s (see backchannel --help)\n", e.message.c_str());
    if (ctx.json)
      std::cout << json{{"ok", false}, {"error", e.message}, {"kind", "usage"}}.dump() << std::endl;
    return 2;
  }
}

}  // namespace bc::cli
