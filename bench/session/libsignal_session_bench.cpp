// Anchor: libsignal-protocol-c 2.3.3 (test-only driver with an OpenSSL crypto provider and
// in-memory stores that serialize the session record after every message).
#include <stdexcept>
#include <string>

#include "integration/interop/signal_support.hpp"
#include "session_bench.hpp"

namespace bc::bench {
namespace {

using interop::SignalPeer;

void setup(benchmark::State& state) {
  SignalPeer alice;
  SignalPeer bob;
  const auto& text = plaintext1k();
  std::size_t i = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const interop::SignalBundle bundle = bob.bundle();
    const std::string bob_name = "bob-" + std::to_string(i);
    const std::string alice_name = "alice-" + std::to_string(i);
    ++i;
    state.ResumeTiming();
    alice.process_bundle(bob_name, bundle);
    const auto message = alice.encrypt(bob_name, text);
    const auto plaintext = bob.decrypt(alice_name, message.type, message.data);
    if (plaintext.size() != text.size()) throw std::runtime_error("setup: wrong plaintext");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

// connect runs the handshake and one reply, so that both sides send SignalMessages.
void connect(SignalPeer& alice, SignalPeer& bob) {
  alice.process_bundle("bob", bob.bundle());
  const auto first = alice.encrypt("bob", plaintext1k());
  (void)bob.decrypt("alice", first.type, first.data);
  const auto reply = bob.encrypt("alice", plaintext1k());
  (void)alice.decrypt("bob", reply.type, reply.data);
}

void steady(benchmark::State& state) {
  SignalPeer alice;
  SignalPeer bob;
  connect(alice, bob);
  const auto& text = plaintext1k();
  for (auto _ : state) {
    const auto message = alice.encrypt("bob", text);
    benchmark::DoNotOptimize(bob.decrypt("alice", message.type, message.data));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

void pingpong(benchmark::State& state) {
  SignalPeer alice;
  SignalPeer bob;
  connect(alice, bob);
  const auto& text = plaintext1k();
  bool alice_sends = true;
  for (auto _ : state) {
    if (alice_sends) {
      const auto message = alice.encrypt("bob", text);
      benchmark::DoNotOptimize(bob.decrypt("alice", message.type, message.data));
    } else {
      const auto message = bob.encrypt("alice", text);
      benchmark::DoNotOptimize(alice.decrypt("bob", message.type, message.data));
    }
    alice_sends = !alice_sends;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
  state.counters["state_bytes"] = static_cast<double>(alice.session_record_size("bob"));
}

BENCHMARK(setup)->Name("session/libsignal/setup")->Apply(configure);
BENCHMARK(steady)->Name("session/libsignal/steady")->Apply(configure);
BENCHMARK(pingpong)->Name("session/libsignal/pingpong")->Apply(configure);

}  // namespace
}  // namespace bc::bench
