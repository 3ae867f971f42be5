// backchannel-relay: the store-and-forward relay server.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "core/secret.hpp"
#include "crypto/random.hpp"
#include "net/certificate.hpp"
#include "net/limits.hpp"
#include "net/server.hpp"
#include "relay/relay.hpp"
#include "relay/signing_key.hpp"
#include "store/relay_store.hpp"
#ifdef BC_RELAY_FAULTS
// backchannel-faulty-relay, a test program built from this file: see tests/integration/faults.
#include "faults/fault_injector.hpp"
#endif

namespace {
namespace fs = std::filesystem;

constexpr std::string_view kUsage =
    "usage: backchannel-relay --listen HOST:PORT --data DIR [--tls-cert F --tls-key F]\n"
    "                         [--config FILE] | --version | --help\n";

constexpr std::string_view kHelp =
    "\n"
    "Runs the Backchannel relay: durable store-and-forward mailboxes over TLS 1.3 WebSocket.\n"
    "  --listen HOST:PORT  numeric address to listen on (port 0 picks a free port)\n"
    "  --data DIR          data directory (the SQLite store, the relay's signing key, the\n"
    "                      generated certificate)\n"
    "  --tls-cert F        PEM certificate chain (with --tls-key); without both, a self-signed\n"
    "                      certificate is generated into DIR on first start and reused\n"
    "  --tls-key F         PEM private key\n"
    "  --config FILE       key=value limits (see docs/relay-transport.md)\n"
    "Prints the relay's URL, the SHA-256 fingerprint of its certificate and its Ed25519\n"
    "signing key (DIR/relay-signing.key, made on first start), which clients pin.\n"
    "SIGTERM or SIGINT drains connections and exits 0.\n";

struct Args {
  std::string listen;
  std::string data;
  std::string tls_cert;
  std::string tls_key;
  std::string config;
};

// Exit codes: 0 success, 1 runtime failure, 2 bad usage or configuration.
int usage_error(const std::string& message) {
  std::fprintf(stderr, "backchannel-relay: %s\n", message.c_str());
  std::fwrite(kUsage.data(), 1, kUsage.size(), stderr);
  return 2;
}

int runtime_error(const std::string& message) {
  std::fprintf(stderr, "backchannel-relay: %s\n", message.c_str());
  return 1;
}

template <typename T>
bc::Result<void> take_relay_number(bc::net::ConfigMap& config, std::string_view key, T& out,
                                   std::uint64_t min) {
  const auto it = config.find(key);
  if (it == config.end()) return bc::ok();
  const std::string& text = it->second;
  std::uint64_t value = 0;
  std::size_t used = 0;
  bool valid = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos &&
               text.size() <= 19;
  if (valid) {
    value = std::stoull(text, &used);
    valid = used == text.size() && value >= min;
  }
  if (!valid) {
    return bc::fail(bc::Errc::kMalformed, "config: " + std::string(key) +
                                              " must be a whole number >= " + std::to_string(min));
  }
  out = static_cast<T>(value);
  config.erase(it);
  return bc::ok();
}

// apply_relay_config moves the relay service's keys out of `config` into `relay`.
bc::Result<void> apply_relay_config(bc::net::ConfigMap& config, bc::relay::RelayConfig& relay) {
  BC_TRY(take_relay_number(config, "message_ttl_ms", relay.message_ttl_ms, 1));
  BC_TRY(take_relay_number(config, "purge_interval_ms", relay.purge_interval_ms, 1));
  BC_TRY(take_relay_number(config, "queue_max_messages", relay.queue_max_messages, 1));
  BC_TRY(take_relay_number(config, "queue_max_bytes", relay.queue_max_bytes, 1));
  BC_TRY(take_relay_number(config, "max_queues", relay.max_queues, 1));
  BC_TRY(take_relay_number(config, "max_subscriptions_per_connection",
                           relay.max_subscriptions_per_connection, 1));
  BC_TRY(take_relay_number(config, "requests_per_second", relay.requests_per_second, 1));
  BC_TRY(take_relay_number(config, "request_burst", relay.request_burst, 1));
  BC_TRY(take_relay_number(config, "push_window", relay.push_window, 1));
  BC_TRY(take_relay_number(config, "push_window_bytes", relay.push_window_bytes, 1));
  BC_TRY(take_relay_number(config, "max_batch", relay.max_batch, 1));
  BC_TRY(take_relay_number(config, "max_pending_requests", relay.max_pending_requests, 1));
  BC_TRY(take_relay_number(config, "escrow_max_deadline_ms", relay.escrow_max_deadline_ms, 1));
  BC_TRY(take_relay_number(config, "escrow_retention_ms", relay.escrow_retention_ms, 0));
  BC_TRY(take_relay_number(config, "max_escrows", relay.max_escrows, 1));
  return bc::relay::validate_relay_config(relay);
}

bc::Result<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return bc::fail(bc::Errc::kUnavailable, "cannot read config file " + path);
  std::ostringstream out;
  out << in.rdbuf();
  std::string text = out.str();
  if (text.size() > 1024 * 1024) return bc::fail(bc::Errc::kMalformed, "config file too large");
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  bc::secure_memory::harden_process();
  Args args;
#ifdef BC_RELAY_FAULTS
  std::vector<bc::test::Fault> faults;
#endif
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
#ifdef BC_RELAY_FAULTS
    if (arg == "--fault") {
      if (i + 1 >= argc) return usage_error("--fault needs a value");
      auto fault = bc::test::parse_fault(argv[++i]);
      if (!fault) return usage_error(fault.error().detail);
      faults.push_back(*fault);
      continue;
    }
#endif
    if (arg == "--version") {
      std::printf("backchannel-relay %s\n", BC_VERSION);
      return 0;
    }
    if (arg == "--help" || arg == "-h") {
      std::fwrite(kUsage.data(), 1, kUsage.size(), stdout);
      std::fwrite(kHelp.data(), 1, kHelp.size(), stdout);
      return 0;
    }
    std::string* target = nullptr;
    if (arg == "--listen") target = &args.listen;
    if (arg == "--data") target = &args.data;
    if (arg == "--tls-cert") target = &args.tls_cert;
    if (arg == "--tls-key") target = &args.tls_key;
    if (arg == "--config") target = &args.config;
    if (target == nullptr) return usage_error("unknown argument " + std::string(arg));
    if (i + 1 >= argc) return usage_error(std::string(arg) + " needs a value");
    if (!target->empty()) return usage_error(std::string(arg) + " given twice");
    *target = argv[++i];
    if (target->empty()) return usage_error(std::string(arg) + " needs a value");
  }
  if (args.listen.empty()) return usage_error("--listen is required");
  if (args.data.empty()) return usage_error("--data is required");
  if (args.tls_cert.empty() != args.tls_key.empty()) {
    return usage_error("--tls-cert and --tls-key go together");
  }
  auto listen = bc::net::parse_listen_address(args.listen);
  if (!listen) return usage_error(listen.error().detail);

  bc::net::ServerOptions options;
  options.listen = *listen;
  bc::relay::RelayConfig relay_config;
  if (!args.config.empty()) {
    auto text = read_text_file(args.config);
    if (!text) return usage_error(text.error().detail);
    auto config = bc::net::parse_config_text(*text);
    if (!config) return usage_error(config.error().detail);
    if (auto r = bc::net::apply_server_limits(*config, options.limits); !r) {
      return usage_error(r.error().detail);
    }
    if (auto r = apply_relay_config(*config, relay_config); !r) {
      return usage_error(r.error().detail);
    }
    if (!config->empty()) return usage_error("config: unknown key " + config->begin()->first);
  }

  // Signals are blocked before any thread starts, so only sigwait below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  // Each connection is a descriptor: allow as many as the hard limit permits.
  if (rlimit files{}; ::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }

  const fs::path data_dir = args.data;
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (!fs::is_directory(data_dir, ec)) {
    return runtime_error("cannot create data directory " + data_dir.string());
  }
  ::chmod(data_dir.c_str(), 0700);

  if (!args.tls_cert.empty()) {
    options.cert_pem = args.tls_cert;
    options.key_pem = args.tls_key;
  } else {
    auto paths = bc::net::ensure_self_signed(data_dir, options.listen.host);
    if (!paths) return runtime_error(paths.error().message());
    options.cert_pem = paths->cert;
    options.key_pem = paths->key;
  }
  auto fingerprint = bc::net::certificate_fingerprint(options.cert_pem);
  if (!fingerprint) return runtime_error(fingerprint.error().message());

  bc::crypto::SystemRng rng;
  auto signing_key =
      bc::relay::load_or_create_signing_key(data_dir / bc::relay::kSigningKeyFileName, rng);
  if (!signing_key) return runtime_error(signing_key.error().message());
  const std::string signing_key_hex = bc::to_hex(signing_key->public_key.view());

  auto store = bc::store::open_sqlite_store(data_dir / bc::store::kRelayDbFileName);
  if (!store) return runtime_error(store.error().message());

  auto server = bc::net::Server::create(options);
  if (!server) return runtime_error(server.error().message());
  bc::SystemClock clock;
  bc::relay::Outbox* outbox = &(*server)->outbox();
#ifdef BC_RELAY_FAULTS
  bc::test::FaultInjector injector(faults, *outbox, clock);
  outbox = &injector;
#endif
  // The service holds the server's outbox: it is declared after the server, so destroyed first.
  auto service = bc::relay::make_relay_service(relay_config, std::move(*signing_key),
                                               std::move(*store), *outbox, clock, rng);
  if (!service) return runtime_error(service.error().message());
  bc::relay::RelayService* front = service->get();
#ifdef BC_RELAY_FAULTS
  injector.attach(**service);
  front = &injector;
#endif
  (*server)->start(*front);

  const std::string host = options.listen.host.find(':') != std::string::npos
                               ? "[" + options.listen.host + "]"
                               : options.listen.host;
  std::printf(
      "backchannel-relay %s listening\nurl: wss://%s:%u\nfingerprint: %s\nsigning-key: %s\n",
      BC_VERSION, host.c_str(), static_cast<unsigned>((*server)->port()),
      bc::to_hex(*fingerprint).c_str(), signing_key_hex.c_str());
  std::fflush(stdout);

  int received = 0;
  while (sigwait(&signals, &received) != 0) {
  }
  std::printf("backchannel-relay: %s, draining\n", received == SIGTERM ? "SIGTERM" : "SIGINT");
  std::fflush(stdout);
  // Answer what was received, then close connections, then stop the writer.
  (*service)->flush();
  (*server)->stop();
  (*service)->shutdown();
  service->reset();
  std::printf("backchannel-relay: stopped\n");
  return 0;
}
